"""The satisfaction report (SKM/IKM) of a quarter (or any period): the IKM and its grade,
each element's score weakest first, and beside each element the complaints of the same
period whose problem type belongs to it — where improvement plans come from.

Computed from the survey responses read model and the case views' per-month counts
(applications received = the population served; complaints received, by the problem
type they are classified under now: `report_counts`' `by_receipt`), so its cost is the
period's survey answers and a few count rows per month, never the cases themselves. Pure
over its inputs and independent of the clock, so a rebuilt read model gives a
byte-identical report. JSON, CSV and a printable HTML page with inline SVG charts are
renderings of the same dict.

Complaint problem type ↔ survey element. The eight problem types are the components of
the service standard; seven name an element outright. `other` holds what is left — in
practice how officers behaved and how complaints were handled — so it stands beside both
`behaviour` and `complaint_handling` (marked `shared`: the same complaints, not twice as
many):

    requirements → requirements     procedure → procedure     time → time
    fee → fee                       product → product         competence → competence
    facilities → facilities         other → behaviour, complaint_handling
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from contracts.vocabulary import PROBLEM_TYPES
from projections.months import month_of
from projections.survey_responses import responses_between
from services.surveys import ikm

PROBLEM_TYPE_OF_ELEMENT: dict[str, str] = {
    "requirements": "requirements", "procedure": "procedure", "time": "time", "fee": "fee",
    "product": "product", "competence": "competence", "behaviour": "other",
    "facilities": "facilities", "complaint_handling": "other",
}
UNCLASSIFIED = "unclassified"


def _t(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class CaseFigures:
    """What the report needs of the cases of a period."""

    population: Mapping[str, int]
    """Applications received in the period, by service code: the people served."""
    complaints: Mapping[str, int]
    """Complaints received in the period, by the problem type they are classified under
    now (`unclassified` while they are not)."""


def compute(period: str, start: datetime, end: datetime, responses: list[dict[str, Any]],
            cases: CaseFigures) -> dict[str, Any]:
    """The report of [start, end). `responses`: survey rows (service_code, channel,
    scores; anything outside the period is ignored); `cases`: the period's counts."""
    def within(text: str | None) -> bool:
        t = _t(text)
        return t is not None and start <= t < end

    responses = [r for r in responses if within(r["responded_at"])]
    counted = cases.complaints
    by_problem_type: dict[str, int] = {p: counted.get(p, 0) for p in PROBLEM_TYPES}
    if counted.get(UNCLASSIFIED):
        by_problem_type[UNCLASSIFIED] = counted[UNCLASSIFIED]

    overall = ikm.summary([r["scores"] for r in responses],
                          population=sum(cases.population.values()))
    side_by_side = [
        {"element": key, **{k: overall["elements"][key][k]
                            for k in ("name", "average", "score", "grade", "answers")},
         "problem_type": PROBLEM_TYPE_OF_ELEMENT[key],
         "complaints": by_problem_type[PROBLEM_TYPE_OF_ELEMENT[key]],
         "shared": PROBLEM_TYPE_OF_ELEMENT[key] == "other"}
        for key in overall["weakest_first"]
    ]
    populations = cases.population
    services = sorted({r["service_code"] for r in responses}
                      | {code for code, n in populations.items() if code and n})
    by_service = {
        code: ikm.summary([r["scores"] for r in responses if r["service_code"] == code],
                          population=populations.get(code, 0))
        for code in services
    }
    return {
        "period": period,
        "from": start.isoformat(),
        "to": end.isoformat(),
        **overall,
        "complaints": {"received": sum(counted.values()), "by_problem_type": by_problem_type},
        "elements_vs_complaints": side_by_side,
        "by_service": by_service,
        "by_channel": dict(sorted(Counter(r["channel"] for r in responses).items())),
        "problem_type_of_element": PROBLEM_TYPE_OF_ELEMENT,
    }


async def cases_between(conn: asyncpg.Connection, start: datetime,
                        end: datetime) -> CaseFigures:
    """The case counts of [start, end) (whole months, Asia/Jakarta), summed from the
    months' rows of `report_counts`."""
    first, last = month_of(start), month_of(end)
    rows = await conn.fetch(
        "SELECT case_type, fact, key, sum(n) AS n FROM report_counts WHERE month >= $1 "
        "AND month < $2 AND fact = ANY($3::text[]) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        first, last, ["received", "by_receipt"])
    population = {r["key"]: int(r["n"]) for r in rows
                  if r["case_type"] == "application" and r["fact"] == "received" and r["n"]}
    complaints = {r["key"]: int(r["n"]) for r in rows
                  if r["case_type"] == "complaint" and r["fact"] == "by_receipt" and r["n"]}
    return CaseFigures(population=population, complaints=complaints)


async def load(conn: asyncpg.Connection, quarter: str) -> dict[str, Any]:
    """The report of `YYYY-Qn`, from the read models."""
    start, end = ikm.quarter_bounds(quarter)
    return compute(quarter, start, end, await responses_between(conn, start, end),
                   await cases_between(conn, start, end))


# -- renderings -------------------------------------------------------------------------
def cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return value


def summary_rows(section: str, report: dict[str, Any]) -> list[list[Any]]:
    """The headline figures and each element (weakest first) as CSV rows."""
    rows = [[section, key, "", cell(report[key])]
            for key in ("ikm", "grade", "grade_label", "respondents", "perception", "weight",
                        "unanswered_elements")]
    rows += [[section, "sample", key, cell(value)] for key, value in report["sample"].items()]
    for key, element in report["elements"].items():
        rows += [[f"{section}.elements", key, field, cell(value)]
                 for field, value in element.items()]
    return rows


def to_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "metric", "key", "value"])
    writer.writerows(summary_rows("satisfaction", report))
    writer.writerow(["complaints", "received", "", report["complaints"]["received"]])
    for problem_type, n in report["complaints"]["by_problem_type"].items():
        writer.writerow(["complaints", "by_problem_type", problem_type, n])
    for row in report["elements_vs_complaints"]:
        for key in ("score", "grade", "problem_type", "complaints", "shared"):
            writer.writerow(["elements_vs_complaints", row["element"], key, cell(row[key])])
    for code, service in report["by_service"].items():
        for key in ("ikm", "grade", "respondents"):
            writer.writerow(["by_service", code, key, cell(service[key])])
        writer.writerow(["by_service", code, "sample_sufficient",
                         cell(service["sample"]["sufficient"])])
    for channel, n in report["by_channel"].items():
        writer.writerow(["by_channel", channel, "", n])
    return out.getvalue()
