"""The SLA timer read model's fold, on event lists with a fixed clock (issue: SLA and
escalation rules). Events are the contract events as plain data, as consumers see them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from projections.case_views import evolve as case_view
from projections.sla_timers import evolve, sla_view
from services.applications.domain import LicenceApplication
from services.domain.clock import JAKARTA
from services.domain.errors import RuleViolation
from services.domain.workdays import OfficeDay, WorkingCalendar
from tests.unit.gwt import given, then_raises, when

CAL = WorkingCalendar()
ID = "6b1f8a2e-0000-5000-8000-000000000001"


def ev(tag: str, at: str, **data: Any) -> dict[str, Any]:
    return {"type": tag, "case_id": ID, "version": 1, "at": f"{at}+07:00",
            "actor": {"id": "x", "role": "officer"}, **data}


def fold(*events: dict[str, Any]) -> dict[str, Any]:
    doc = None
    for e in events:
        doc = evolve(doc, e)
    assert doc is not None
    return doc


def now(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=JAKARTA)


SUBMITTED = ev("application.submitted", "2026-03-16T09:00:00", sla_working_days=7)
COMPLETE = ev("application.file_declared_complete", "2026-03-17T10:00:00")


def test_idul_fitri_2026_worked_example_on_events() -> None:
    """Given a file declared complete on 2026-03-17, the timer is due at the end of 2 Apr."""
    sla = sla_view(fold(SUBMITTED, COMPLETE), CAL, now("2026-03-26T10:00"))
    assert sla["state"] == "running"
    assert sla["due_at"] == "2026-04-03T00:00:00+07:00"
    assert sla_view(fold(SUBMITTED, COMPLETE), CAL, now("2026-04-01T08:00"))["state"] == "at_risk"
    assert sla_view(fold(SUBMITTED, COMPLETE), CAL, now("2026-04-03T00:00"))["state"] == "breached"


def test_no_clock_before_the_file_is_complete() -> None:
    returned = ev("application.file_returned_for_correction", "2026-03-17T10:00:00", unmet=["K1"])
    view = sla_view(fold(SUBMITTED, returned), CAL, now("2026-05-01T10:00"))
    assert view["state"] == "not_started"


def test_pause_while_returned_and_resume_at_resubmission() -> None:
    doc = fold(SUBMITTED, ev("application.file_declared_complete", "2026-03-25T09:00:00"),
               ev("application.file_returned_for_correction", "2026-03-27T11:00:00", unmet=["K2"]))
    assert sla_view(doc, CAL, now("2026-04-01T10:00"))["state"] == "paused"
    doc = evolve(doc, ev("application.resubmitted", "2026-04-06T09:00:00"))
    sla = sla_view(doc, CAL, now("2026-04-06T10:00"))
    assert sla["state"] == "running" and sla["due_at"] == "2026-04-14T00:00:00+07:00"


def test_issuance_in_time_is_met_and_late_is_breached() -> None:
    on_time = fold(SUBMITTED, COMPLETE, ev("application.certificate_issued", "2026-04-02T15:00:00"))
    assert sla_view(on_time, CAL, now("2026-06-01T00:00"))["state"] == "met"
    late = fold(SUBMITTED, COMPLETE, ev("application.certificate_issued", "2026-04-06T09:00:00"))
    assert sla_view(late, CAL, now("2026-06-01T00:00"))["state"] == "breached"


def test_a_rejection_in_time_meets_the_clock() -> None:
    rejected = fold(SUBMITTED, COMPLETE, ev("application.decided", "2026-03-30T10:00:00",
                                            outcome="reject", reason="x"))
    assert sla_view(rejected, CAL, now("2026-06-01T00:00"))["state"] == "met"


def test_complaint_clock_runs_14_working_days_from_receipt() -> None:
    received = ev("complaint.received", "2026-03-10T08:00:00", kind="complaint",
                  sla_working_days=14, received_at="2026-03-09T15:00:00+07:00")
    sla = sla_view(fold(received), CAL, now("2026-03-10T09:00"))
    # 10-13, 16, 17, 25, 26, 27, 30, 31 Mar, 1, 2, 6 Apr (Nyepi, Lebaran, Good Friday off).
    assert sla["started_at"] == "2026-03-09T15:00:00+07:00"
    assert sla["due_at"] == "2026-04-07T00:00:00+07:00"
    answered = fold(received, ev("complaint.responded", "2026-04-06T16:00:00", text="ok"))
    assert sla_view(answered, CAL, now("2026-05-01T00:00"))["state"] == "met"


def test_a_suggestion_has_no_clock_until_reclassified() -> None:
    suggestion = ev("complaint.received", "2026-03-10T08:00:00", kind="suggestion",
                    sla_working_days=14, received_at="2026-03-10T08:00:00+07:00")
    assert sla_view(fold(suggestion), CAL, now("2026-03-11T09:00"))["state"] == "not_started"
    doc = fold(suggestion, ev("complaint.reclassified", "2026-03-11T09:00:00", reason="x",
                              received_at="2026-03-10T08:00:00+07:00"))
    # Counted from the reclassification decision, not from receipt (issue 12).
    assert sla_view(doc, CAL, now("2026-03-11T10:00"))["started_at"] == "2026-03-11T09:00:00+07:00"


def test_a_holiday_declared_late_moves_the_deadline() -> None:
    doc = fold(SUBMITTED, COMPLETE)
    later = WorkingCalendar([OfficeDay(now("2026-03-26T00:00").date(), "holiday", "Hari jadi")])
    assert sla_view(doc, later, now("2026-03-26T10:00"))["due_at"] == "2026-04-07T00:00:00+07:00"


def test_the_case_view_records_escalations_and_time_per_tier() -> None:
    doc = None
    for e in (SUBMITTED | {"tracking_number": "PRM-1", "channel": "oss", "external_id": "1",
                           "unit": "perizinan", "service_code": "S", "business": {"name": "CV"}},
              ev("application.escalated", "2026-04-03T00:00:01", from_tier="pelaksana",
                 to_tier="kepala_seksi", reason="SLA", automatic=True, clock_span=1)):
        doc = case_view(doc, e)
    assert doc is not None and doc["tier"] == "kepala_seksi"
    assert doc["escalations"][0]["automatic"] is True
    assert doc["tier_periods"] == [{"tier": "pelaksana", "from": SUBMITTED["at"],
                                    "to": "2026-04-03T00:00:01+07:00"}]


def _app() -> LicenceApplication:
    return LicenceApplication(channel="oss", external_id="1", service_code="S",
                              requirement_codes=["U1"], sla_working_days=7, unit="perizinan",
                              applicant={}, business={}, actor={"id": "oss"},
                              at=now("2026-03-16T09:00"))


TIMER = {"id": "sla-timer", "role": "system"}


def test_a_breach_escalates_one_tier_once_per_run_of_the_clock() -> None:
    app = given(_app)
    assert when(app, lambda a: a.escalate_for_breach(1, TIMER, now("2026-04-03T00:00"))) \
        == ["Escalated"]
    assert app.tier == "kepala_seksi"
    # A second timer process sending the same command changes nothing.
    then_raises(app, lambda a: a.escalate_for_breach(1, TIMER, now("2026-04-03T00:01")),
                RuleViolation, "breach_already_escalated")


@pytest.mark.parametrize("tier", ["kepala_dinas"])
def test_no_automatic_escalation_above_the_head(tier: str) -> None:
    supervisor = {"id": "s", "role": "supervisor"}
    app = given(_app, lambda a: a.escalate(tier, "langsung ke kepala", supervisor,
                                           now("2026-03-20T10:00")))
    then_raises(app, lambda a: a.escalate_for_breach(1, TIMER, now("2026-04-03T00:00")),
                RuleViolation, "top_tier")
