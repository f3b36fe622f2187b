"""The yearly evaluation of the service standard: SLA compliance (summed from the twelve
monthly supervisor reports, so the two never disagree), complaint handling, and the IKM
of the year with its trend over the four quarters, each element beside the complaints of
the year (`projections.satisfaction_report` explains the pairing).

Pure over its inputs; the SLA figures depend on `now` exactly as the monthly report's do
(a deadline still running is not yet a breach). JSON, CSV and printable HTML."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import asyncpg

from contracts.vocabulary import FINDINGS_OUTCOMES
from projections import monthly_report, satisfaction_report
from projections.satisfaction_report import (
    CaseFigures,
)
from projections.survey_responses import responses_between
from services.domain.clock import JAKARTA
from services.surveys.ikm import quarter_bounds, quarters_of


def year_bounds(year: int) -> tuple[datetime, datetime]:
    return (datetime.combine(date(year, 1, 1), time(0), tzinfo=JAKARTA),
            datetime.combine(date(year + 1, 1, 1), time(0), tzinfo=JAKARTA))


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _sum(months: list[dict[str, Any]], section: str, key: str) -> int:
    return sum(int(m[section].get(key) or 0) for m in months)


def _merge(months: list[dict[str, Any]], section: str, key: str) -> dict[str, int]:
    total: Counter[str] = Counter()
    for m in months:
        total.update(m[section].get(key) or {})
    return dict(sorted(total.items()))


def compute(year: int, months: list[dict[str, Any]], responses: list[dict[str, Any]],
            cases: Mapping[str, CaseFigures],
            evaluations: Sequence[Mapping[str, Any]] = (),
            officers: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`months`: the twelve monthly reports of the year, January first; `responses`: the
    year's survey rows; `cases`: the case counts of the year (`str(year)`) and of each
    of its quarters (`YYYY-Qn`), absent ones counting none; `evaluations`: the head's
    recorded evaluations of the year and their improvement plans (`EvaluationView`s as
    plain data), shown beside the figures; `officers`: the figures per officer of the
    year (`monthly_report.officer_figures` over its twelve months)."""
    start, end = year_bounds(year)
    issued = _sum(months, "applications", "issued")
    issued_in_time = _sum(months, "applications", "issued_within_sla")
    answered = _sum(months, "complaints", "answered")
    answered_in_time = _sum(months, "complaints", "answered_within_sla")
    sla = {
        "applications": {
            "received": _sum(months, "applications", "received"),
            "issued": issued, "issued_within_sla": issued_in_time,
            "share_issued_within_sla": _share(issued_in_time, issued),
            "rejected": _sum(months, "applications", "rejected"),
            "breached": _sum(months, "applications", "breached"),
        },
        "complaints": {
            "answered": answered, "answered_within_sla": answered_in_time,
            "share_answered_within_sla": _share(answered_in_time, answered),
            "breached": _sum(months, "complaints", "breached"),
        },
        "by_month": {m["month"]: {
            "share_issued_within_sla": m["applications"].get("share_issued_within_sla"),
            "applications_breached": m["applications"].get("breached", 0),
            "share_answered_within_sla": m["complaints"].get("share_answered_within_sla"),
            "complaints_breached": m["complaints"].get("breached", 0),
        } for m in months},
    }
    complaint_handling = {
        "received": _sum(months, "complaints", "received"),
        "suggestions": _sum(months, "complaints", "suggestions"),
        "reclassified": _sum(months, "complaints", "reclassified"),
        "by_channel": _merge(months, "complaints", "by_channel"),
        "by_problem_type": _merge(months, "complaints", "by_problem_type"),
        "by_track": _merge(months, "complaints", "by_track"),
        "apip": _sum(months, "complaints", "apip"),
        "findings": {o: _merge(months, "complaints", "findings").get(o, 0)
                     for o in FINDINGS_OUTCOMES},
        "answered": answered, "answered_within_sla": answered_in_time,
        "share_answered_within_sla": _share(answered_in_time, answered),
        "suggestions_answered": _sum(months, "complaints", "suggestions_answered"),
        "breached": _sum(months, "complaints", "breached"),
        "open_at_year_end": months[-1]["complaints"].get("open_at_month_end") if months else None,
    }
    none = CaseFigures(population={}, complaints={})
    whole = satisfaction_report.compute(str(year), start, end, responses,
                                        cases.get(str(year), none))
    quarters = {}
    for q in quarters_of(year):
        report = satisfaction_report.compute(q, *quarter_bounds(q), responses,
                                             cases.get(q, none))
        quarters[q] = {"ikm": report["ikm"], "grade": report["grade"],
                       "respondents": report["respondents"],
                       "sample_sufficient": report["sample"]["sufficient"],
                       "weakest": report["weakest_first"][0] if report["respondents"] else None}
    surveyed = [q for q, v in quarters.items() if v["ikm"] is not None]
    change = (float(Decimal(str(quarters[surveyed[-1]]["ikm"]))
                    - Decimal(str(quarters[surveyed[0]]["ikm"])))
              if len(surveyed) >= 2 else None)
    satisfaction = {
        key: whole[key] for key in ("ikm", "grade", "grade_label", "respondents", "perception",
                                    "weight", "unanswered_elements", "elements",
                                    "weakest_first", "sample")
    }
    satisfaction.update({
        "quarters": quarters,
        # The seed: a survey every quarter (four times a year).
        "quarters_surveyed": len(surveyed),
        "surveyed_every_quarter": len(surveyed) == 4,
        "trend": {"first": surveyed[0] if surveyed else None,
                  "last": surveyed[-1] if surveyed else None, "change": change},
    })
    return {
        "year": year,
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "sla": sla,
        "complaint_handling": complaint_handling,
        "satisfaction": satisfaction,
        "complaints_by_problem_type": whole["complaints"]["by_problem_type"],
        "elements_vs_complaints": whole["elements_vs_complaints"],
        "by_officer": dict(officers or {}),
        "evaluations": [dict(e) for e in evaluations],
    }


async def load(conn: asyncpg.Connection, year: int, now: datetime,
               evaluations: Sequence[Mapping[str, Any]] = (),
               names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Everything the evaluation needs, from the read models; the recorded evaluations
    come from their service (`EvaluationService.of_year`), as plain data, and the
    officers' names from the staff register."""
    months = [await monthly_report.load(conn, f"{year}-{m:02d}", now, names)
              for m in range(1, 13)]
    officers = monthly_report.officer_figures(
        await monthly_report.stopped_between(conn, f"{year}-01", f"{year}-12"), names)
    start, end = year_bounds(year)
    cases = {str(year): await satisfaction_report.cases_between(conn, start, end)}
    for q in quarters_of(year):
        cases[q] = await satisfaction_report.cases_between(conn, *quarter_bounds(q))
    return compute(year, months, await responses_between(conn, start, end), cases, evaluations,
                   officers)


# -- renderings -------------------------------------------------------------------------
def to_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "metric", "key", "value"])
    for case_type in ("applications", "complaints"):
        for key, value in report["sla"][case_type].items():
            writer.writerow(["sla", case_type, key, "" if value is None else value])
    for month, figures in report["sla"]["by_month"].items():
        for key, value in figures.items():
            writer.writerow(["sla.by_month", month, key, "" if value is None else value])
    for key, value in report["complaint_handling"].items():
        if isinstance(value, dict):
            for k, n in value.items():
                writer.writerow(["complaint_handling", key, k, n])
        else:
            writer.writerow(["complaint_handling", key, "", "" if value is None else value])
    writer.writerows(satisfaction_report.summary_rows("satisfaction", report["satisfaction"]))
    for q, figures in report["satisfaction"]["quarters"].items():
        for key, value in figures.items():
            writer.writerow(["satisfaction.quarters", q, key,
                             satisfaction_report.cell(value)])
    for row in report["elements_vs_complaints"]:
        for key in ("score", "grade", "problem_type", "complaints", "shared"):
            writer.writerow(["elements_vs_complaints", row["element"], key,
                             satisfaction_report.cell(row[key])])
    for officer, figures in report["by_officer"].items():
        for key, value in figures.items():
            writer.writerow(["by_officer", officer, key, "" if value is None else value])
    for e in report["evaluations"]:
        for key in ("recorded_at", "recorded_by", "summary", "actions_done"):
            writer.writerow(["evaluations", e["id"], key, e[key]])
        for a in e["actions"]:
            writer.writerow(["evaluations.actions", e["id"], f"{a['n']}.action", a["action"]])
            writer.writerow(["evaluations.actions", e["id"], f"{a['n']}.owner", a["owner"]])
            writer.writerow(["evaluations.actions", e["id"], f"{a['n']}.due_on", a["due_on"]])
            writer.writerow(["evaluations.actions", e["id"], f"{a['n']}.done_at",
                             (a["done"] or {}).get("at", "")])
    return out.getvalue()
