"""The monthly report's facts folded in memory from contract events (as plain data), for
the unit tests of the report rules: the same pure folds the read models run
(`case_views.evolve`/`facts`, `sla_timers.evolve`/`judge`), summed as
`monthly_report.month_facts` sums their rows in SQL. The integration tests check that
the SQL reading of the real read models gives the same report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from projections import case_views, monthly_report, sla_timers
from projections.monthly_report import MonthFacts, Stopped
from projections.months import month_bounds, month_of
from projections.satisfaction_report import CaseFigures
from services.domain.workdays import WorkingCalendar

Doc = dict[str, Any]
ACTOR = {"id": "budi", "role": "officer", "channel": None, "tier": None, "unit": "perizinan"}


class History:
    """Contract events as plain data, folded as they come."""

    def __init__(self, calendar: WorkingCalendar | None = None) -> None:
        self.calendar = calendar or WorkingCalendar()
        self.cases: dict[str, Doc] = {}
        self.timers: dict[str, Doc] = {}
        self.counts: Counter[tuple[str, str, str, str]] = Counter()

    def add(self, *events: Doc) -> History:
        for e in events:
            before = self.cases.get(e["case_id"])
            after = case_views.evolve(before, e)
            for month, case_type, fact, key, n in case_views.facts(before, after, e):
                self.counts[(month, case_type, fact, key)] += n
            self.cases[e["case_id"]] = after
            timer = sla_timers.evolve(self.timers.get(e["case_id"]), e)
            if timer is not None:
                self.timers[e["case_id"]] = timer
        return self

    def facts(self, month: str, now: datetime,
              responses: Sequence[Doc] = ()) -> MonthFacts:
        start, end = month_bounds(month)
        cutoff = min(end, now)
        judged = {i: sla_timers.judge(d, self.calendar) for i, d in self.timers.items()}
        stopped: Counter[tuple[str, str, str, int | None, str | None]] = Counter()
        breached: Counter[str] = Counter()
        for case_id, doc in self.timers.items():
            j = judged[case_id]
            finished = sla_timers.clock_of(doc).finished_at
            if finished is not None and start <= finished < end:
                stopped[(doc["type"], doc["stopped_by"], j.phase, j.working_days_used,
                         doc.get("assignee"))] += 1
            if j.breached_at is not None and start <= j.breached_at < end:
                breached[doc["type"]] += 1
            if j.breach_due is not None and start <= j.breach_due < end and j.breach_due <= now:
                breached[doc["type"]] += 1
        open_us: Counter[str] = Counter()
        for doc in self.cases.values():
            since = datetime.fromisoformat(doc["tier_since"])
            if not doc.get("closed_at") and since < cutoff and start < cutoff:
                open_us[doc["tier"]] += (cutoff - max(since, start)) // datetime.resolution
        return MonthFacts(
            month=month, now=now,
            counts={(t, f, k): n for (m, t, f, k), n in self.counts.items() if m == month},
            to_date=_to_date(self.counts, month),
            stopped=[Stopped(*key, n) for key, n in sorted(stopped.items(), key=str)],
            breached=breached, open_tier_us=open_us,
            surveys=[r for r in responses if r.get("report_month", month) == month],
            corrections=[{"date": c.date, "kind": c.kind, "reason": c.reason,
                          "declared_at": c.declared_at, "declared_by": "kepala"}
                         for c in self.calendar.history
                         if c.declared_at is not None and c.declared_at >= end
                         and c.date < end.date()])

    def report(self, month: str, now: datetime, responses: Sequence[Doc] = ()) -> Doc:
        return monthly_report.compute(self.facts(month, now, responses))

    def case_figures(self, first: str, last: str) -> CaseFigures:
        """As `satisfaction_report.cases_between` sums them: the months [first, last)."""
        population: Counter[str] = Counter()
        complaints: Counter[str] = Counter()
        for (m, t, f, k), n in self.counts.items():
            if first <= m < last and t == "application" and f == "received":
                population[k] += n
            if first <= m < last and t == "complaint" and f == "by_receipt":
                complaints[k] += n
        return CaseFigures(population={k: n for k, n in population.items() if n},
                           complaints={k: n for k, n in complaints.items() if n})


def _to_date(counts: Counter[tuple[str, str, str, str]], month: str) -> dict[tuple[str, str], int]:
    total: Counter[tuple[str, str]] = Counter()
    for (m, t, f, _), n in counts.items():
        if m <= month and f in ("received", "opened", "closed"):
            total[(t, f)] += n
    return dict(total)


def ev(case_id: str, version: int, tag: str, at: str, **data: Any) -> Doc:
    """A contract event as plain data; `at` in Asia/Jakarta (`YYYY-MM-DDTHH:MM`)."""
    at = at if "+" in at else at + ":00+07:00"
    return {"type": tag, "case_id": case_id, "version": version, "at": at,
            "recorded_at": at, "actor": ACTOR, **data}


def submitted(case_id: str, at: str, version: int = 1) -> Doc:
    return ev(case_id, version, "application.submitted", at, channel="oss",
              external_id=case_id, service_code="SS-KBLI-10510",
              tracking_number=f"PRM-{case_id[-4:]}", unit="perizinan", sla_working_days=7,
              applicant={}, business={"name": "CV Susu", "kbli": "10510"})


def received(case_id: str, at: str, kind: str = "complaint", channel: str = "whatsapp",
             received_at: str | None = None) -> Doc:
    e = ev(case_id, 1, "complaint.received", at, channel=channel, external_id=case_id,
           tracking_number=f"ADU-{case_id[-4:]}", unit="pengaduan", sla_working_days=14,
           kind=kind, reasons=[] if kind == "complaint" else ["late"], complainant=None,
           subject_matter=None, description="-", service_received_on="2026-01-01")
    return {**e, "received_at": received_at or e["at"]}


def application(case_id: str, *steps: tuple[str, str, dict[str, Any]],
                submitted_at: str = "2026-03-02T08:00") -> list[Doc]:
    """An application's events: submitted, then each (tag suffix, at, fields)."""
    return [submitted(case_id, submitted_at),
            *(ev(case_id, n, f"application.{tag}", at, **data)
              for n, (tag, at, data) in enumerate(steps, start=2))]


def case_id(n: int) -> str:
    return f"6b1f8a2e-0000-5000-8000-{n:012d}"


def all_months(events: Iterable[Doc]) -> list[str]:
    return sorted({month_of(e["at"]) for e in events})
