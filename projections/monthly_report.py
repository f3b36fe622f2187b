"""The monthly supervisor report: everything counted in the month (Asia/Jakarta) in
which it happened, read from rows the read models keep per month — the month's facts
(`report_counts`, written by `case_views` as events arrive), the clocks that stopped or
missed a deadline in the month (`sla_timers`, by indexed instants) and the month's
survey answers. A request reads the month's own rows, never the history before it.

A closed month's figures do not change when later events arrive: each fact counts in
the month its event was recorded, a breach in the month of the deadline missed, and a
finished clock keeps the outcome it had. The one exception is a calendar correction
declared after the month ended, about a day before its end: it moves the deadlines of
clocks still going, and the report names it (`calendar_corrections_after_month_end`).

`compute` is pure over `MonthFacts`, so a rebuilt read model gives a byte-identical
report. JSON, CSV and a printable HTML page with inline SVG charts (no script) are
three renderings of the same dict."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from contracts.vocabulary import COMPLAINT_CHANNELS, FINDINGS_OUTCOMES, TIERS
from projections.months import month_bounds
from projections.survey_responses import responses_of_month
from services.domain.clock import JAKARTA
from services.surveys import ikm


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """The q-quantile of the values counted in `histogram` (value → how many), by linear
    interpolation between the closest ranks (as `statistics.quantiles(method=
    "inclusive")` and Postgres's `percentile_cont`), to 2 decimals."""
    n = sum(histogram.values())
    if not n:
        return None
    ordered = sorted(histogram.items())

    def nth(rank: int) -> int:
        for value, count in ordered:
            if rank < count:
                return value
            rank -= count
        raise IndexError(rank)

    k = (n - 1) * q
    lo, hi = int(k), min(int(k) + 1, n - 1)
    low = nth(lo)
    return round(low + (nth(hi) - low) * (k - lo), 2)


Key = tuple[str, str, str]
"""(case type, fact, key) of `report_counts` (`projections.case_views.facts`)."""


@dataclass(frozen=True)
class Stopped:
    """Clocks that stopped in the month, alike in all of these (one row of a GROUP BY)."""

    type: str
    stopped_by: str
    """The event that stopped it: `application.certificate_issued`, `application.decided`
    (a rejection), `application.withdrawn`, `complaint.responded`."""
    state: str
    """met, breached or withdrawn: judged on the calendar as it stood then."""
    working_days: int | None
    assignee: str | None
    """Who held the case when its clock stopped."""
    count: int


@dataclass(frozen=True)
class MonthFacts:
    """Everything the monthly report is computed from; each part read from rows of the
    month itself (or per-month totals), so its cost is the month's activity."""

    month: str
    now: datetime
    counts: Mapping[Key, int]
    """The month's facts (`report_counts`)."""
    to_date: Mapping[tuple[str, str], int]
    """(case type, fact) → count up to the month's end: `received`, `opened`, `closed`
    (what is still open at the month's end)."""
    stopped: Sequence[Stopped]
    breached: Mapping[str, int]
    """Case type → deadlines missed in the month: settled by an event (a clock paused or
    stopped past it), or passed by `now` while the clock still runs."""
    open_tier_us: Mapping[str, int]
    """Tier → microseconds in the month of cases still at it, not yet closed."""
    surveys: Sequence[Mapping[str, Any]]
    """The month's survey answers (`survey_responses.report_month`)."""
    corrections: Sequence[Mapping[str, Any]]
    """Calendar corrections declared after the month ended, of days before its end: the
    one thing that may change a closed month's figures (its deadlines)."""


def compute(facts: MonthFacts, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The report. Pure over the facts (and the officers' `names`), so a rebuilt read
    model gives the same bytes."""
    month = facts.month
    start, end = month_bounds(month)

    def count(case_type: str, fact: str, key: str | None = None) -> int:
        return sum(n for (t, f, k), n in facts.counts.items()
                   if t == case_type and f == fact and (key is None or k == key))

    def keyed(case_type: str, fact: str) -> dict[str, int]:
        return dict(sorted((k, n) for (t, f, k), n in facts.counts.items()
                           if t == case_type and f == fact and n))

    def stopped(type_: str, by: str, state: str | None = None) -> list[Stopped]:
        return [s for s in facts.stopped if s.type == type_ and s.stopped_by == by
                and (state is None or s.state == state)]

    issued = count("application", "issued")
    issued_in_time = sum(s.count for s in stopped("application",
                                                  "application.certificate_issued", "met"))
    days_to_issue: Counter[int] = Counter()
    for s in stopped("application", "application.certificate_issued"):
        if s.working_days is not None:
            days_to_issue[s.working_days] += s.count
    answered = count("complaint", "answered")
    answered_in_time = sum(s.count for s in stopped("complaint", "complaint.responded", "met"))

    received = keyed("complaint", "received_complaint")
    suggestions = keyed("complaint", "received_suggestion")
    escalations: dict[str, dict[str, int]] = {t: {"manual": 0, "automatic": 0} for t in TIERS[1:]}
    for (_, fact, key), n in facts.counts.items():
        if fact == "escalated":
            to_tier, _, how = key.partition(":")
            escalations.setdefault(to_tier, {"manual": 0, "automatic": 0})[how] += n
    tier_us: Counter[str] = Counter(facts.open_tier_us)
    for (_, fact, key), n in facts.counts.items():
        if fact == "tier_us":
            tier_us[key] += n

    def still_open(case_type: str, opened: str) -> int:
        return facts.to_date.get((case_type, opened), 0) - facts.to_date.get(
            (case_type, "closed"), 0)

    return {
        "month": month,
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "applications": {
            "received": count("application", "received"),
            "declared_complete": count("application", "declared_complete"),
            "issued": issued,
            "rejected": count("application", "rejected"),
            "withdrawn": count("application", "withdrawn"),
            "issued_within_sla": issued_in_time,
            "share_issued_within_sla": _share(issued_in_time, issued),
            "working_days_to_issue": {"median": percentile(days_to_issue, 0.5),
                                      "p90": percentile(days_to_issue, 0.9)},
            "backlog_at_month_end": still_open("application", "received"),
            "breached": facts.breached.get("application", 0),
        },
        "complaints": {
            "received": sum(received.values()),
            "suggestions": sum(suggestions.values()),
            "reclassified": count("complaint", "reclassified"),
            "by_channel": {ch: n for ch in COMPLAINT_CHANNELS
                           if (n := received.get(ch, 0) + suggestions.get(ch, 0))},
            "by_problem_type": keyed("complaint", "classified"),
            "by_track": keyed("complaint", "track"),
            "apip": count("complaint", "track", "apip"),
            "findings": {o: count("complaint", "findings", o) for o in FINDINGS_OUTCOMES},
            "answered": answered,
            "answered_within_sla": answered_in_time,
            "share_answered_within_sla": _share(answered_in_time, answered),
            "suggestions_answered": count("complaint", "suggestion_answered"),
            "open_at_month_end": still_open("complaint", "opened"),
            "breached": facts.breached.get("complaint", 0),
        },
        "escalations_by_tier": escalations,
        "days_per_tier": {t: round(tier_us.get(t, 0) / 86_400_000_000, 2) for t in TIERS},
        "by_officer": officer_figures(facts.stopped, names),
        "surveys": survey_figures(facts.surveys),
        "calendar_corrections_after_month_end": [
            {"date": str(c["date"]), "kind": c["kind"], "reason": c["reason"],
             "declared_at": c["declared_at"].astimezone(JAKARTA).isoformat(),
             "declared_by": c["declared_by"]} for c in facts.corrections],
    }


async def stopped_between(conn: asyncpg.Connection, first: str,
                          last: str) -> list[Stopped]:
    """The clocks that stopped in the months `first` to `last` (both included), counted."""
    return [Stopped(r["type"], r["stopped_by"], r["state"],
                    None if r["working_days"] < 0 else r["working_days"],
                    r["assignee"] or None, int(r["n"])) for r in await conn.fetch(
        "SELECT type, stopped_by, state, working_days, assignee, sum(n) AS n "
        "FROM sla_stopped_counts WHERE month >= $1 AND month <= $2 GROUP BY 1, 2, 3, 4, 5 "
        "HAVING sum(n) <> 0 ORDER BY 1, 2, 3, 4, 5", first, last)]


def officer_figures(stopped: Sequence[Stopped],
                    names: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Per officer (the assignee when the clock stopped): their name in the staff
    register (null for an actor it does not hold), the cases whose clock they saw
    through in the period (issued, rejected, answered; a withdrawal is the applicant's),
    the median working days those took, and how many of them had breached."""
    handled: Counter[str] = Counter()
    days: dict[str, Counter[int]] = {}
    breached: Counter[str] = Counter()
    for s in stopped:
        if s.assignee is None or s.state == "withdrawn":
            continue
        handled[s.assignee] += s.count
        if s.working_days is not None:
            days.setdefault(s.assignee, Counter())[s.working_days] += s.count
        if s.state == "breached":
            breached[s.assignee] += s.count
    return {officer: {"name": (names or {}).get(officer), "cases_handled": n,
                      "median_working_days": percentile(days.get(officer, Counter()), 0.5),
                      "breached": breached[officer]}
            for officer, n in sorted(handled.items())}


async def load(conn: asyncpg.Connection, month: str, now: datetime,
               names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The report of `month`, read from the month's own rows of the read models;
    `names`: the staff register's names by actor id, for the figures per officer."""
    return compute(await month_facts(conn, month, now), names)


async def month_facts(conn: asyncpg.Connection, month: str, now: datetime) -> MonthFacts:
    start, end = month_bounds(month)
    cutoff = min(end, now)
    counts = {(r["case_type"], r["fact"], r["key"]): int(r["n"]) for r in await conn.fetch(
        "SELECT case_type, fact, key, n FROM report_counts WHERE month = $1", month)}
    to_date = {(r["case_type"], r["fact"]): int(r["n"]) for r in await conn.fetch(
        "SELECT case_type, fact, sum(n) AS n FROM report_counts WHERE month <= $1 "
        "AND fact = ANY($2::text[]) GROUP BY 1, 2", month, ["received", "opened", "closed"])}
    stopped = await stopped_between(conn, month, month)
    breached: Counter[str] = Counter({r["type"]: int(r["n"]) for r in await conn.fetch(
        "SELECT type, n FROM sla_breach_counts WHERE month = $1", month)})
    # Clocks still running past a deadline of the month: missed from that instant on.
    for r in await conn.fetch(
            "SELECT type, count(*) AS n FROM sla_timers WHERE breach_due >= $1 "
            "AND breach_due < $2 AND breach_due <= $3 GROUP BY 1", start, end, now):
        breached[r["type"]] += int(r["n"])
    open_tier_us = {r["tier"]: int(r["us"]) for r in await conn.fetch(
        "SELECT tier, sum((extract(epoch FROM $2::timestamptz - greatest(tier_since, $1)) "
        "* 1000000)::bigint) AS us FROM case_views WHERE closed_at IS NULL "
        "AND tier_since < $2 GROUP BY 1", start, cutoff)} if cutoff > start else {}
    corrections = [dict(r) for r in await conn.fetch(
        "SELECT date, kind, reason, declared_at, declared_by FROM sla_calendar_history "
        "WHERE declared_at >= $1 AND date < $2 ORDER BY version", end, end.date())]
    return MonthFacts(month=month, now=now, counts=counts, to_date=to_date, stopped=stopped,
                      breached=breached, open_tier_us=open_tier_us,
                      surveys=await responses_of_month(conn, month), corrections=corrections)


def survey_figures(responses: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The satisfaction survey answers given in the month (the quarterly report has the
    elements): respondents, IKM and grade."""
    figures = ikm.summary([r["scores"] for r in responses])
    return {"respondents": figures["respondents"], "ikm": figures["ikm"],
            "grade": figures["grade"]}


# -- renderings -------------------------------------------------------------------------
def to_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "metric", "key", "value"])

    def walk(section: str, metric: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, v in value.items():
                if isinstance(v, dict):
                    walk(section, f"{metric}.{key}" if metric else key, v)
                else:
                    writer.writerow([section, metric or key, key if metric else "",
                                     "" if v is None else v])
        else:
            writer.writerow([section, metric, "", "" if value is None else value])

    for section in ("applications", "complaints", "escalations_by_tier", "days_per_tier",
                    "by_officer", "surveys"):
        walk(section, "", report[section])
    for c in report["calendar_corrections_after_month_end"]:
        for key in ("kind", "reason", "declared_at", "declared_by"):
            writer.writerow(["calendar_corrections_after_month_end", c["date"], key, c[key]])
    return out.getvalue()
