"""The typed shapes of the reports (contracts/reports.py) mirror the dicts the report
modules compute key for key: converted at the HTTP boundary, a report encodes to the very
bytes of its dict, and a report that drifts from its shape fails here."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import msgspec
import pytest

from contracts.evaluations import ActionDoneRecord, ActionView, EvaluationView
from contracts.reports import MonthlyReport, SatisfactionReport, YearlyReport
from projections import satisfaction_report, yearly_report
from projections.satisfaction_report import CaseFigures
from services.domain.workdays import WorkingCalendar
from services.surveys.ikm import ELEMENTS, quarter_bounds
from tests.reports import History

CALENDAR = WorkingCalendar()
NOW = datetime.fromisoformat("2026-06-01T00:00:00+07:00")
ACTOR = {"id": "budi", "role": "officer", "channel": None, "tier": None, "unit": "perizinan"}
APP, LATE_APP, COMPLAINT, SUGGESTION = (f"6b1f8a2e-0000-5000-8000-00000000000{n}"
                                        for n in range(1, 5))


def ev(case_id: str, version: int, tag: str, at: str, **data: Any) -> dict[str, Any]:
    return {"type": tag, "case_id": case_id, "version": version, "at": at + "+07:00",
            "recorded_at": at + "+07:00", "actor": ACTOR, **data}


def submitted(case_id: str, at: str) -> dict[str, Any]:
    return ev(case_id, 1, "application.submitted", at, channel="oss", external_id=case_id,
              service_code="SS-KBLI-10510", tracking_number=f"PTSP-{case_id[-1]}",
              unit="perizinan", sla_working_days=7, business={"name": "CV", "kbli": "10510"})


def received(case_id: str, at: str, kind: str) -> dict[str, Any]:
    return ev(case_id, 1, "complaint.received", at, channel="whatsapp", external_id=case_id,
              tracking_number=f"ADU-{case_id[-1]}", unit="pengaduan", sla_working_days=14,
              kind=kind, reasons=[] if kind == "complaint" else ["no_identity"],
              received_at=at + "+07:00")


EVENTS = [
    submitted(APP, "2026-03-02T09:00:00"),
    ev(APP, 2, "application.file_declared_complete", "2026-03-03T10:00:00", results={}),
    ev(APP, 3, "application.certificate_issued", "2026-03-06T10:00:00", certificate={}),
    submitted(LATE_APP, "2026-03-02T09:30:00"),
    ev(LATE_APP, 2, "application.file_declared_complete", "2026-03-03T10:00:00", results={}),
    ev(LATE_APP, 3, "application.escalated", "2026-03-20T10:00:00", from_tier="pelaksana",
       to_tier="kepala_seksi", reason="batas waktu", automatic=True, clock_span=1),
    received(COMPLAINT, "2026-03-04T08:00:00", "complaint"),
    ev(COMPLAINT, 2, "complaint.classified", "2026-03-04T09:00:00",
       service_code="SS-KBLI-10510", problem_type="fee"),
    ev(COMPLAINT, 3, "complaint.track_chosen", "2026-03-05T09:00:00", track="internal"),
    ev(COMPLAINT, 4, "complaint.responded", "2026-03-09T09:00:00", text="jawaban"),
    received(SUGGESTION, "2026-03-04T08:30:00", "suggestion"),
]
RESPONSES = [
    {"id": "r1", "service_code": "SS-KBLI-10510", "channel": "oss",
     "scores": dict.fromkeys(ELEMENTS, 4), "responded_at": "2026-03-05T10:00:00+07:00"},
    {"id": "r2", "service_code": "SS-KBLI-10510", "channel": "whatsapp",
     "scores": {"time": 2, "fee": 3}, "responded_at": "2026-03-06T10:00:00+07:00"},
]


def history() -> History:
    return History(CALENDAR).add(*EVENTS)


def same_bytes(report: dict[str, Any], shape: type[msgspec.Struct]) -> None:
    assert msgspec.json.encode(msgspec.convert(report, shape)) == msgspec.json.encode(report)


@pytest.mark.parametrize("month", ["2026-03", "2026-01"])
def test_the_monthly_report_keeps_its_bytes(month: str) -> None:
    report = history().report(month, NOW, RESPONSES)
    if month == "2026-03":
        assert report["applications"]["issued"] == 1 and report["complaints"]["received"] == 1
    same_bytes(report, MonthlyReport)


FIGURES = CaseFigures(population={"SS-KBLI-10510": 2}, complaints={"fee": 1})


@pytest.mark.parametrize("responses", [RESPONSES, []])
def test_the_satisfaction_report_keeps_its_bytes(responses: list[dict[str, Any]]) -> None:
    report = satisfaction_report.compute("2026-Q1", *quarter_bounds("2026-Q1"), responses,
                                         FIGURES)
    same_bytes(report, SatisfactionReport)


EVALUATION = msgspec.to_builtins(EvaluationView(
    id="6b1f8a2e-0000-5000-8000-0000000000e1", year=2026, summary="Waktu perlu dipercepat",
    actions=[ActionView(n=1, action="Tambah petugas loket", owner="kepala_seksi",
                        due_on=date(2026, 9, 1), done=ActionDoneRecord(
                            at=datetime.fromisoformat("2026-08-20T10:00:00+07:00"),
                            by="kepala", note=None)),
             ActionView(n=2, action="SOP baru", owner="perizinan", due_on=date(2026, 12, 1),
                        done=None)],
    recorded_at=datetime.fromisoformat("2026-07-01T10:00:00+07:00"), recorded_by="kepala",
    actions_done=1, version=2))


def test_the_yearly_report_keeps_its_bytes() -> None:
    months = [history().report(f"2026-{m:02d}", NOW, RESPONSES) for m in range(1, 13)]
    report = yearly_report.compute(2026, months, RESPONSES, {"2026": FIGURES}, [EVALUATION])
    same_bytes(report, YearlyReport)
    same_bytes(yearly_report.compute(2026, [], [], {}), YearlyReport)
    rows = yearly_report.to_csv(report)
    assert f"evaluations.actions,{EVALUATION['id']},2.action,SOP baru" in rows


def test_a_report_that_drifts_from_its_shape_is_refused() -> None:
    report = history().report("2026-03", NOW)
    report["applications"]["issued"] = "one"
    with pytest.raises(msgspec.ValidationError, match=r"applications\.issued"):
        msgspec.convert(report, MonthlyReport)
