"""The SLA clock's transitions and its table of events (services/domain/sla.py), and the
proof that the aggregates and the `sla_timers` read model move a clock the same way:
both go through `evolve_clock`, fed once by the aggregate's own `@event` methods and once
by the contract events the relay publishes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import msgspec
import pytest

from projections.sla_timers import clock_of, evolve
from services.applications.application import CONTRACTS as APPLICATION_CONTRACTS
from services.applications.domain import LicenceApplication
from services.complaints.application import CONTRACTS as COMPLAINT_CONTRACTS
from services.complaints.domain import Complaint
from services.domain.clock import JAKARTA
from services.domain.sla import (
    CLOCK_RULES,
    SlaClock,
    Span,
    evolve_clock,
    finish,
    pause,
    resume,
    start,
)


def on(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=JAKARTA)


T1, T2, T3, T4 = on("2026-03-17T10:00"), on("2026-03-20T11:00"), on("2026-04-06T09:00"), \
    on("2026-04-08T15:00")
NEVER = SlaClock()
RUNNING = SlaClock(spans=(Span(T1),))
PAUSED = SlaClock(spans=(Span(T1, T2),))


# -- the transitions ----------------------------------------------------------------
def test_a_clock_starts_once() -> None:
    assert start(NEVER, T1) == RUNNING
    assert start(RUNNING, T3) == RUNNING
    assert start(PAUSED, T3) == PAUSED


def test_a_pause_closes_the_running_span_and_keeps_the_days_used() -> None:
    assert pause(RUNNING, T2) == PAUSED
    assert PAUSED.paused_at == T2 and not PAUSED.running


def test_only_a_running_clock_pauses() -> None:
    assert pause(NEVER, T2) == NEVER
    assert pause(PAUSED, T3) == PAUSED


def test_a_resumption_opens_a_new_span() -> None:
    resumed = resume(PAUSED, T3)
    assert resumed.spans == (Span(T1, T2), Span(T3))
    assert resumed.running and resumed.paused_at is None and resumed.started_at == T1


def test_a_clock_never_started_does_not_resume_and_a_running_one_is_left_be() -> None:
    assert resume(NEVER, T3) == NEVER
    assert resume(RUNNING, T3) == RUNNING


def test_finishing_stops_the_clock_for_good() -> None:
    done = finish(RUNNING, T4)
    assert done == SlaClock(spans=(Span(T1, T4),), finished_at=T4)
    assert done.paused_at is None and not done.running


def test_finishing_a_paused_clock_keeps_the_pause() -> None:
    assert finish(PAUSED, T4) == SlaClock(spans=(Span(T1, T2),), finished_at=T4)


def test_a_case_without_a_clock_has_none_to_finish() -> None:
    assert finish(NEVER, T4) == NEVER


# -- the table ----------------------------------------------------------------------
def test_the_table_names_every_event_that_moves_a_clock() -> None:
    assert set(CLOCK_RULES) == {
        "application.file_declared_complete", "application.file_returned_for_correction",
        "application.resubmitted", "application.decided", "application.certificate_issued",
        "application.withdrawn", "complaint.received", "complaint.reclassified",
        "complaint.responded"}


@pytest.mark.parametrize("tag", ["application.escalated", "application.technically_reviewed",
                                 "complaint.classified", "complaint.closed"])
def test_any_other_event_leaves_the_clock_be(tag: str) -> None:
    assert evolve_clock(RUNNING, tag, {"at": T2}) == RUNNING


def test_an_approval_does_not_stop_the_clock_but_a_rejection_does() -> None:
    assert evolve_clock(RUNNING, "application.decided", {"outcome": "approve", "at": T2}) \
        == RUNNING
    assert evolve_clock(RUNNING, "application.decided", {"outcome": "reject", "at": T2}) \
        == finish(RUNNING, T2)


def test_a_complaint_starts_its_clock_at_receipt_and_a_suggestion_has_none() -> None:
    received = {"at": T2, "received_at": T1}
    assert evolve_clock(NEVER, "complaint.received", {**received, "kind": "complaint"}) \
        == RUNNING
    assert evolve_clock(NEVER, "complaint.received", {**received, "kind": "suggestion"}) \
        == NEVER


def test_a_reclassification_counts_from_the_decision_not_from_the_cases_receipt() -> None:
    # Issue 12: the office takes the complaint on at the decision; the receipt is recorded.
    assert evolve_clock(NEVER, "complaint.reclassified", {"at": T3, "received_at": T1}) \
        == start(NEVER, T3)


def test_instants_may_come_as_the_contracts_text() -> None:
    assert evolve_clock(NEVER, "application.file_declared_complete",
                        {"at": "2026-03-17T10:00:00+07:00"}) == RUNNING


def test_an_event_without_its_instant_is_refused_naming_the_field() -> None:
    with pytest.raises(KeyError, match="received_at"):
        evolve_clock(NEVER, "complaint.received", {"at": T3, "kind": "complaint"})
    with pytest.raises(TypeError, match="at must be an instant"):
        evolve_clock(NEVER, "application.resubmitted", {"at": 17})


# -- the aggregates and the read model agree -----------------------------------------
OSS = {"id": "oss-gateway", "role": "channel", "channel": "oss"}
OFFICER = {"id": "budi", "role": "officer"}
HEAD = {"id": "kepala", "role": "head"}
CODES = ["U1", "K1"]
ALL_MET = dict.fromkeys(CODES, True)
Step = Callable[[Any], Any]


def application() -> LicenceApplication:
    return LicenceApplication(
        channel="oss", external_id="OSS-CLOCK", service_code="SS-KBLI-10510",
        requirement_codes=CODES, sla_working_days=7, unit="perizinan",
        applicant={"name": "Siti"}, business={"name": "CV Susu"}, actor=OSS,
        at=on("2026-03-16T09:00"))


def complaint(received: str, served: str = "2026-03-15") -> Callable[[], Complaint]:
    return lambda: Complaint.receive(
        channel="whatsapp", external_id=f"wa-{received}",
        complainant={"name": "Siti", "phone": "0812345678"}, subject_matter="biaya",
        description="pungutan", service_received_on=date.fromisoformat(served),
        received_at=on(received), related_application_id=None,
        actor={"id": "wa", "role": "channel", "channel": "whatsapp"}, at=on(received))


def at(text: str) -> datetime:
    return on(f"2026-{text}")


STEPS: dict[str, Step] = {
    "verify all": lambda a: a.verify(ALL_MET, None, OFFICER, at("03-17T10:00")),
    "verify unmet": lambda a: a.verify({**ALL_MET, "K1": False}, "K1", OFFICER,
                                       at("03-17T10:00")),
    "give back": lambda a: a.return_for_correction("K1", ["K1"], OFFICER, at("03-20T11:00")),
    "resubmit": lambda a: a.resubmit(None, OSS, at("04-06T09:00")),
    "verify again": lambda a: a.verify(ALL_MET, None, OFFICER, at("04-06T10:00")),
    "review": lambda a: a.review_technically("approve", "ok", OFFICER, at("04-07T10:00")),
    "approve": lambda a: a.decide("approve", "ok", HEAD, at("04-08T10:00")),
    "reject": lambda a: a.decide("reject", "no", HEAD, at("04-08T10:00")),
    "issue": lambda a: a.issue({"number": "SS-1"}, HEAD, at("04-09T10:00")),
    "withdraw": lambda a: a.withdraw("changed my mind", OSS, at("04-10T10:00")),
    "reclassify": lambda c: c.reclassify("surat dokter", OFFICER, at("04-15T10:00")),
    "classify": lambda c: c.classify("SS-KBLI-10510", "fee", OFFICER, at("04-16T10:00")),
    "analyse": lambda c: c.analyse("pungutan", ["SP"], [], "clarification", OFFICER,
                                   at("04-17T10:00")),
    "track": lambda c: c.choose_track("internal", None, OFFICER, at("04-20T10:00")),
    "findings": lambda c: c.record_findings(["klarifikasi"], [], "proven", None, OFFICER,
                                            at("04-20T11:00")),
    "respond": lambda c: c.respond("jawaban", OFFICER, at("04-21T10:00")),
}
LATE = complaint("2026-04-14T09:00", served="2026-02-01")
HISTORIES: dict[str, tuple[Callable[[], Any], str]] = {
    "issued after a return and a resubmission":
        (application, "verify all, give back, resubmit, verify again, review, approve, issue"),
    "rejected": (application, "verify all, review, reject"),
    "returned at verification, then withdrawn": (application, "verify unmet, withdraw"),
    "withdrawn while paused": (application, "verify all, give back, withdraw"),
    "a complaint answered":
        (complaint("2026-04-01T09:00"), "classify, analyse, track, findings, respond"),
    "a late suggestion reclassified, then answered":
        (LATE, "reclassify, classify, analyse, track, findings, respond"),
    "a late suggestion acknowledged": (LATE, "respond"),
}


@pytest.mark.parametrize("history", HISTORIES)
def test_the_read_model_folds_the_same_clock_as_the_aggregate(history: str) -> None:
    """After every step, the clock the aggregate keeps equals the one the `sla_timers`
    fold makes of the contract events the relay would publish."""
    factory, steps = HISTORIES[history]
    case = factory()
    registry = (APPLICATION_CONTRACTS if isinstance(case, LicenceApplication)
                else COMPLAINT_CONTRACTS)
    doc = None
    for step in [lambda _: None, *(STEPS[name] for name in steps.split(", "))]:
        step(case)
        for event in case.collect_events():
            doc = evolve(doc, msgspec.to_builtins(registry.to_contract(event)))
        assert doc is not None
        assert clock_of(doc) == case.sla_clock
    assert case.clock == list(case.sla_clock.spans)
    assert case.finished_at == case.sla_clock.finished_at


def test_an_aggregate_may_only_name_an_event_of_the_table() -> None:
    case = application()
    with pytest.raises(KeyError, match=r"application\.file_declared_completed"):
        case.clock_after("application.file_declared_completed", at=T1)
    assert case.sla_clock == NEVER
