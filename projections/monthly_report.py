"""The monthly supervisor report: computed from the case views and SLA timers read
models, counted by the month (Asia/Jakarta) in which each thing happened.

Pure over its inputs (the read models' docs, the calendar and `now`), so a rebuilt read
model gives a byte-identical report. JSON, CSV and a printable HTML page with inline SVG
charts (no script) are three renderings of the same dict."""

from __future__ import annotations

import csv
import html
import io
import json
from collections import Counter, defaultdict
from datetime import date, datetime, time
from typing import Any

import asyncpg

from contracts.vocabulary import CLOSED_STATUSES
from projections.sla_timers import SlaTimers, clock_of
from projections.survey_responses import responses_between
from services.domain.actors import COMPLAINT_CHANNELS, TIERS
from services.domain.clock import JAKARTA
from services.domain.sla import Sla
from services.domain.workdays import WorkingCalendar
from services.surveys import ikm


def month_bounds(month: str) -> tuple[datetime, datetime]:
    year, mon = (int(x) for x in month.split("-"))
    start = datetime.combine(date(year, mon, 1), time(0), tzinfo=JAKARTA)
    end = datetime.combine(date(year + mon // 12, mon % 12 + 1, 1), time(0), tzinfo=JAKARTA)
    return start, end


def _t(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _percentile(values: list[int], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q          # linear interpolation between closest ranks
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo), 2)


def compute(month: str, cases: list[dict[str, Any]], timers: dict[str, dict[str, Any]],
            calendar: WorkingCalendar, now: datetime,
            surveys: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    start, end = month_bounds(month)
    cutoff = min(end, now)

    def within(text: str | None) -> bool:
        t = _t(text)
        return t is not None and start <= t < end

    def finished_by(text: str | None, instant: datetime) -> bool:
        t = _t(text)
        return t is not None and t < instant

    def timer_facts(case_id: str) -> tuple[datetime, Sla] | None:
        """The deadline of a case's clock (of its last run, kept while paused) and its
        SLA now; None while it has no clock."""
        doc = timers.get(case_id)
        if not doc:
            return None
        clock = clock_of(doc)
        d = clock.deadlines(doc["limit"], calendar)
        return None if d is None else (d.due_at, clock.sla(doc["limit"], calendar, now))

    def met(case_id: str) -> bool:
        facts = timer_facts(case_id)
        return facts is not None and facts[1].state == "met"

    def breached_in_month(case_id: str) -> bool:
        """A deadline in the month, passed by the month's end, and the clock breached
        (a pause or a discharge before the deadline is no breach)."""
        facts = timer_facts(case_id)
        if facts is None:
            return False
        due, sla = facts
        return start <= due < end and due <= cutoff and sla.state == "breached"

    apps = [c for c in cases if c["type"] == "application"]
    complaints = [c for c in cases if c["type"] == "complaint"]

    issued = [a for a in apps if within(a["milestones"].get("issued"))]
    issued_in_time = sum(met(a["id"]) for a in issued)
    days_taken = [facts[1].working_days_used for a in issued
                  if (facts := timer_facts(a["id"])) is not None]

    def open_at_end(c: dict[str, Any], done: tuple[str, ...]) -> bool:
        created = _t(c["created_at"])
        return (created is not None and created < cutoff
                and not any(finished_by(c["milestones"].get(m), cutoff) for m in done))

    escalations: dict[str, dict[str, int]] = {t: {"manual": 0, "automatic": 0} for t in TIERS[1:]}
    tier_days: dict[str, float] = defaultdict(float)
    for c in cases:
        for e in c["escalations"]:
            if within(e["at"]):
                escalations[e["to_tier"]]["automatic" if e["automatic"] else "manual"] += 1
        periods = [*c["tier_periods"]]
        if c.get("status") not in CLOSED_STATUSES:
            periods.append({"tier": c["tier"], "from": c.get("tier_since", c["created_at"]),
                            "to": None})
        for p in periods:
            lo = max(_t(p["from"]) or start, start)
            hi = min(_t(p["to"]) or cutoff, cutoff)
            if hi > lo:
                tier_days[p["tier"]] += (hi - lo).total_seconds() / 86400

    received_c = [c for c in complaints if within(c.get("received_at"))]
    real = [c for c in received_c if c.get("kind") == "complaint"]
    answered = [c for c in complaints if within(c["milestones"].get("answered"))]
    answered_in_time = sum(met(c["id"]) for c in answered)

    return {
        "month": month,
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "applications": {
            "received": sum(within(a["milestones"].get("submitted")) for a in apps),
            "declared_complete": sum(within(a.get("first_declared_complete")) for a in apps),
            "issued": len(issued),
            "rejected": sum(within(a["milestones"].get("rejected")) for a in apps),
            "withdrawn": sum(within(a["milestones"].get("withdrawn")) for a in apps),
            "issued_within_sla": issued_in_time,
            "share_issued_within_sla": _share(issued_in_time, len(issued)),
            "working_days_to_issue": {"median": _percentile(days_taken, 0.5),
                                      "p90": _percentile(days_taken, 0.9)},
            "backlog_at_month_end": sum(open_at_end(a, ("issued", "rejected", "withdrawn"))
                                        for a in apps),
            "breached": sum(breached_in_month(a["id"]) for a in apps),
        },
        "complaints": {
            "received": len(real),
            "suggestions": sum(c.get("kind") == "suggestion" for c in received_c),
            "by_channel": {ch: n for ch in COMPLAINT_CHANNELS
                           if (n := sum(c["channel"] == ch for c in received_c))},
            "by_problem_type": dict(sorted(Counter(c.get("problem_type") or "unclassified"
                                                   for c in real).items())),
            "by_track": dict(sorted(Counter(c.get("track") or "none" for c in real).items())),
            "apip": sum(c.get("track") == "apip" for c in real),
            "answered": len(answered),
            "answered_within_sla": answered_in_time,
            "share_answered_within_sla": _share(answered_in_time, len(answered)),
            "open_at_month_end": sum(open_at_end(c, ("closed",)) for c in complaints
                                     if c.get("kind") == "complaint"),
            "breached": sum(breached_in_month(c["id"]) for c in complaints),
        },
        "escalations_by_tier": escalations,
        "days_per_tier": {t: round(tier_days.get(t, 0.0), 2) for t in TIERS},
        "surveys": survey_figures(surveys or []),
    }


async def load(conn: asyncpg.Connection, month: str, now: datetime) -> dict[str, Any]:
    """Everything the report needs, from the read models."""
    start, end = month_bounds(month)
    rows = await conn.fetch("SELECT doc FROM case_views WHERE created_at < $1 ORDER BY id", end)
    cases = [json.loads(r["doc"]) for r in rows]
    timer_rows = await conn.fetch(
        "SELECT t.case_id, t.doc FROM sla_timers t JOIN case_views c ON c.id = t.case_id "
        "WHERE c.created_at < $1", end)
    timers = {str(r["case_id"]): json.loads(r["doc"]) for r in timer_rows}
    surveys = await responses_between(conn, start, end)
    return compute(month, cases, timers, await SlaTimers.calendar(conn), now, surveys)


def survey_figures(responses: list[dict[str, Any]]) -> dict[str, Any]:
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
                    "surveys"):
        walk(section, "", report[section])
    return out.getvalue()


def _bars(title: str, data: dict[str, float]) -> str:
    """A horizontal bar chart as inline SVG."""
    items = list(data.items()) or [("—", 0)]
    top = max((v for _, v in items), default=0) or 1
    row, width = 22, 420
    parts = [f'<svg role="img" aria-label="{html.escape(title)}" width="{width + 200}" '
             f'height="{row * len(items) + 10}" xmlns="http://www.w3.org/2000/svg">']
    for i, (label, value) in enumerate(items):
        y = i * row + 5
        w = int(width * value / top)
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{html.escape(str(label))}</text>'
                     f'<rect x="150" y="{y}" width="{w}" height="16" fill="#2b6cb0"/>'
                     f'<text x="{155 + w}" y="{y + 13}" font-size="12">{value}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(data: dict[str, Any]) -> str:
    def cell(v: Any) -> str:
        return json.dumps(v) if isinstance(v, dict) else ("—" if v is None else str(v))

    rows = "".join(f"<tr><th>{html.escape(k.replace('_', ' '))}</th><td>"
                   f"{html.escape(cell(v))}</td></tr>" for k, v in data.items())
    return f"<table>{rows}</table>"


def to_html(report: dict[str, Any]) -> str:
    a, c = report["applications"], report["complaints"]
    esc = {t: v["manual"] + v["automatic"] for t, v in report["escalations_by_tier"].items()}
    return f"""<!doctype html>
<html lang="id"><head><meta charset="utf-8">
<title>Laporan bulanan {report['month']}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #111; }}
h1 {{ font-size: 1.4em; }} h2 {{ font-size: 1.1em; margin-top: 1.5em; border-bottom: 1px solid #999; }}
table {{ border-collapse: collapse; }} th, td {{ text-align: left; padding: 2px 12px 2px 0; }}
section {{ page-break-inside: avoid; }}
@media print {{ body {{ margin: 0; }} }}
</style></head><body>
<h1>Laporan bulanan pelayanan DPMPTSP — {report['month']}</h1>
<p>Periode {report['period']['from']} s.d. {report['period']['to']} (Asia/Jakarta)</p>
<section><h2>Permohonan (applications)</h2>{_table(a)}
{_bars("Applications", {k: a[k] for k in ("received", "declared_complete", "issued", "rejected", "breached")})}</section>
<section><h2>Pengaduan (complaints)</h2>{_table(c)}
<h3>By channel</h3>{_bars("Complaints by channel", c["by_channel"])}
<h3>By problem type</h3>{_bars("Complaints by problem type", c["by_problem_type"])}
<h3>By track</h3>{_bars("Complaints by track", c["by_track"])}</section>
<section><h2>Escalations by tier</h2>{_bars("Escalations by tier", esc)}
<h2>Days spent per tier</h2>{_bars("Days per tier", report["days_per_tier"])}</section>
<section><h2>Survei kepuasan (SKM)</h2>{_table(report["surveys"])}</section>
</body></html>
"""  # noqa: E501 - the page's template: its lines are the HTML's own
