"""The quarterly satisfaction report and the yearly evaluation, computed from read-model
docs (pure): elements beside complaints, the population served, the quarters' trend."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from projections import monthly_report, satisfaction_report, yearly_report
from services.surveys.ikm import ELEMENTS, quarter_bounds
from tests.reports import History, case_id, ev, received, submitted

Q1 = "2026-Q1"


def response(n: int, at: str, scores: dict[str, int], service: str = "SS-KBLI-10510",
             channel: str = "whatsapp") -> dict[str, Any]:
    return {"id": f"r{n}", "service_code": service, "channel": channel, "scores": scores,
            "responded_at": at}


def application(n: int, at: str) -> list[dict[str, Any]]:
    return [submitted(case_id(n), at)]


def complaint(n: int, at: str, problem_type: str | None,
              kind: str = "complaint") -> list[dict[str, Any]]:
    """Received at `at`; classified in May (the quarter counts it by receipt, under the
    type it is classified as now)."""
    cid = case_id(100 + n)
    events = [received(cid, at, kind)]
    if problem_type:
        events.append(ev(cid, 2, "complaint.classified", "2026-05-01T09:00",
                         service_code="SS-KBLI-10510", problem_type=problem_type))
    return events


RESPONSES = [
    response(1, "2026-01-05T10:00:00+07:00", dict.fromkeys(ELEMENTS, 4)),
    response(2, "2026-02-05T10:00:00+07:00", {"time": 2, "fee": 4, "behaviour": 3}),
    response(3, "2026-03-31T23:30:00+07:00", {"time": 2}, service="SS-OTHER", channel="email"),
    response(4, "2026-04-01T00:00:00+07:00", {"time": 1}),  # next quarter
]
HISTORY = History().add(
    *application(1, "2026-01-02T09:00"), *application(2, "2026-03-02T09:00"),
    *application(3, "2025-12-31T23:59"),
    *complaint(1, "2026-01-10T09:00:00+07:00", "time"),
    *complaint(2, "2026-01-11T09:00:00+07:00", "time"),
    *complaint(3, "2026-02-10T09:00:00+07:00", "other"),
    *complaint(4, "2026-02-11T09:00:00+07:00", None),
    *complaint(5, "2026-02-12T09:00:00+07:00", None, kind="suggestion"),
)
CASES = HISTORY.case_figures("2026-01", "2026-04")


def quarter(responses: list[dict[str, Any]] = RESPONSES) -> dict[str, Any]:
    return satisfaction_report.compute(Q1, *quarter_bounds(Q1), responses, CASES)


def test_the_quarter_counts_its_own_responses_and_population() -> None:
    report = quarter()
    assert report["respondents"] == 3
    # time: (4+2+2)/3 = 8/3; fee 4; behaviour 7/2; the six others 4 each.
    # perception (8/3 + 4 + 7/2 + 6*4)/9 = (205/6)/9 = 205/54 → IKM 94.91 (A)
    assert report["ikm"] == 94.91 and report["grade"] == "A"
    assert report["weakest_first"][:2] == ["time", "behaviour"]
    assert report["sample"] == {"population": 2, "required": 2, "respondents": 3,
                                "sufficient": True}
    assert report["by_channel"] == {"email": 1, "whatsapp": 2}
    assert report["by_service"]["SS-OTHER"]["ikm"] == 50.0
    assert report["by_service"]["SS-OTHER"]["sample"]["population"] == 0
    assert report["by_service"]["SS-KBLI-10510"]["respondents"] == 2


def test_elements_stand_beside_the_complaints_of_their_problem_type() -> None:
    report = quarter()
    assert report["complaints"] == {"received": 4, "by_problem_type": {
        "requirements": 0, "procedure": 0, "time": 2, "fee": 0, "product": 0,
        "facilities": 0, "competence": 0, "other": 1, "unclassified": 1}}
    rows = {r["element"]: r for r in report["elements_vs_complaints"]}
    assert [r["element"] for r in report["elements_vs_complaints"]] == report["weakest_first"]
    assert rows["time"]["problem_type"] == "time" and rows["time"]["complaints"] == 2
    assert rows["behaviour"]["problem_type"] == "other" and rows["behaviour"]["complaints"] == 1
    assert rows["complaint_handling"]["complaints"] == 1 and rows["complaint_handling"]["shared"]
    assert not rows["fee"]["shared"] and rows["fee"]["complaints"] == 0
    assert set(report["problem_type_of_element"]) == set(ELEMENTS)


def test_a_quarter_without_answers_says_so() -> None:
    report = quarter([])
    assert report["ikm"] is None and report["grade"] is None and report["respondents"] == 0
    assert report["sample"]["sufficient"] is False
    satisfaction_report.to_csv(report)


def test_the_renderings_carry_the_same_figures() -> None:
    report = quarter()
    rows = list(csv.reader(io.StringIO(satisfaction_report.to_csv(report))))
    assert rows[0] == ["section", "metric", "key", "value"]
    assert ["satisfaction", "ikm", "", "94.91"] in rows
    assert ["elements_vs_complaints", "time", "complaints", "2"] in rows
    assert ["satisfaction.elements", "time", "score", "66.67"] in rows


def month(n: int, **figures: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "month": f"2026-{n:02d}",
        "applications": {"received": 10, "issued": 8, "issued_within_sla": 6, "rejected": 1,
                         "breached": 2, "share_issued_within_sla": 0.75},
        "complaints": {"received": 3, "suggestions": 1, "by_channel": {"whatsapp": 3},
                       "by_problem_type": {"time": 2, "unclassified": 1},
                       "by_track": {"internal": 3}, "apip": 0, "answered": 2,
                       "answered_within_sla": 2, "share_answered_within_sla": 1.0,
                       "breached": 0, "open_at_month_end": n},
    }
    base.update(figures)
    return base


def test_the_year_sums_the_months_and_follows_the_quarters() -> None:
    months = [month(n) for n in range(1, 13)]
    responses = [*RESPONSES, response(5, "2026-11-05T10:00:00+07:00", dict.fromkeys(ELEMENTS, 3))]
    cases = {"2026": HISTORY.case_figures("2026-01", "2027-01"), "2026-Q1": CASES}
    report = yearly_report.compute(2026, months, responses, cases)
    assert report["sla"]["applications"]["issued"] == 96
    assert report["sla"]["applications"]["share_issued_within_sla"] == 0.75
    assert report["complaint_handling"]["by_problem_type"] == {"time": 24, "unclassified": 12}
    assert report["complaint_handling"]["open_at_year_end"] == 12
    s = report["satisfaction"]
    assert s["respondents"] == 5
    assert {q: v["ikm"] for q, v in s["quarters"].items()} == {
        "2026-Q1": 94.91, "2026-Q2": 25.0, "2026-Q3": None, "2026-Q4": 75.0}
    assert s["quarters_surveyed"] == 3 and s["surveyed_every_quarter"] is False
    assert s["trend"] == {"first": "2026-Q1", "last": "2026-Q4", "change": -19.91}
    assert s["quarters"]["2026-Q2"]["weakest"] == "time"
    assert "satisfaction.quarters,2026-Q4,ikm,75.0" in yearly_report.to_csv(report)


def test_the_monthly_report_gains_the_surveys_of_the_month() -> None:
    now = datetime.fromisoformat("2026-06-01T00:00:00+07:00")
    feb = [r for r in RESPONSES if r["responded_at"].startswith("2026-02")]
    report = History().report("2026-02", now, feb)
    # (2 + 4 + 3) / 3 = 3 → 75.00 (C)
    assert report["surveys"] == {"respondents": 1, "ikm": 75.0, "grade": "C"}
    assert History().report("2026-02", now)["surveys"] == {
        "respondents": 0, "ikm": None, "grade": None}
    assert "surveys,respondents,,1" in monthly_report.to_csv(report)
