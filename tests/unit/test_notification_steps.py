"""Which steps a person hears about (services/notifications/steps.py), read from the
contract events real aggregates record, and how a delivery is recorded in the case
(services/notifications/recording.py)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any

import pytest

from services.applications.application import CONTRACTS as APPLICATION_CONTRACTS
from services.applications.domain import LicenceApplication, certificate_payload
from services.complaints.application import CONTRACTS as COMPLAINT_CONTRACTS
from services.complaints.domain import Complaint
from services.domain.actors import Actor
from services.domain.clock import JAKARTA
from services.domain.errors import Forbidden, InvalidInput
from services.domain.policy import authorize
from services.notifications.recording import DELIVERY, NOTIFIER_ACTOR, Delivery, record_delivery
from services.notifications.steps import STEPS, Step, step_of

CODES = ["U1", "U2", "K1"]
OSS = {"id": "oss-gateway", "role": "channel", "channel": "oss"}
WA = {"id": "wa-gateway", "role": "channel", "channel": "whatsapp"}
OFFICER = {"id": "budi", "role": "officer", "tier": "pelaksana", "unit": "perizinan"}
DEWI = {"id": "dewi", "role": "officer", "tier": "pelaksana", "unit": "pengaduan"}
SUPERVISOR = {"id": "sri", "role": "supervisor"}
SYSTEM = NOTIFIER_ACTOR.as_record()


def on(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=JAKARTA)


def application() -> LicenceApplication:
    return LicenceApplication(
        channel="oss", external_id="OSS-N1", service_code="SS-KBLI-10510",
        requirement_codes=CODES, sla_working_days=7, unit="perizinan",
        applicant={"sealed": "..."}, business={"name": "CV Susu", "kbli": "10510"},
        actor=OSS, at=on("2026-03-16T09:00"))


def complaint(complainant: dict[str, Any] | None = None, *, late: bool = False) -> Complaint:
    return Complaint.receive(
        channel="whatsapp", external_id="WA-N1", complainant=complainant,
        subject_matter="biaya", description="dimintai uang",
        service_received_on=date(2026, 1, 2) if late else date(2026, 3, 10),
        received_at=on("2026-03-16T09:00"), related_application_id=None, actor=WA,
        at=on("2026-03-16T09:00"))


def steps(case: Any) -> list[Step]:
    contracts = (APPLICATION_CONTRACTS if isinstance(case, LicenceApplication)
                 else COMPLAINT_CONTRACTS)
    found = [step_of(contracts.to_contract(e)) for e in case.collect_events()]
    return [s for s in found if s is not None]


def test_an_application_tells_received_returned_complete_and_issued() -> None:
    a = application()
    a.verify({"U1": True, "U2": True, "K1": False}, "no facilities", OFFICER,
             on("2026-03-17T10:00"))
    a.resubmit("fixed", OSS, on("2026-03-18T09:00"))
    a.verify(dict.fromkeys(CODES, True), None, OFFICER, on("2026-03-19T10:00"))
    a.assign("budi", SUPERVISOR, on("2026-03-19T11:00"))
    a.review_technically("approve", "ok", OFFICER, on("2026-03-20T10:00"))
    a.decide("approve", "ok", SUPERVISOR, on("2026-03-23T10:00"))
    payload = certificate_payload(a, "SS-10510-2026-X", "0000000000001", on("2026-03-24T10:00"))
    a.issue({**payload, "signature": "sig-1"}, SUPERVISOR, on("2026-03-24T10:00"))

    told = steps(a)
    assert [(s.step, s.about_version) for s in told] == [
        ("received", 1), ("returned_for_correction", 2), ("complete", 4), ("issued", 8)]
    assert all(s.case_type == "application" and s.case_id == str(a.id) for s in told)
    # Only the first event knows the channel and that there is a person to write to.
    assert (told[0].channel, told[0].has_person) == ("oss", True)
    assert all(s.channel is None and s.has_person is None for s in told[1:])
    assert told[1].facts == {"unmet": ["K1"], "note": "no facilities"}
    assert told[3].facts == {"certificate_number": "SS-10510-2026-X", "signature": "sig-1"}
    assert [s.step for s in told] == [s for s in STEPS["application"] if s != "rejected"]


def test_a_rejection_is_told_with_its_reason_an_approval_is_not() -> None:
    a = application()
    a.verify(dict.fromkeys(CODES, True), None, OFFICER, on("2026-03-17T10:00"))
    a.review_technically("reject", "no", OFFICER, on("2026-03-18T10:00"))
    a.decide("reject", "facilities lacking", SUPERVISOR, on("2026-03-19T10:00"))
    assert [(s.step, s.facts) for s in steps(a)][-1] == (
        "rejected", {"reason": "facilities lacking"})

    b = application()
    b.verify(dict.fromkeys(CODES, True), None, OFFICER, on("2026-03-17T10:00"))
    b.review_technically("approve", "ok", OFFICER, on("2026-03-18T10:00"))
    b.decide("approve", "fine", SUPERVISOR, on("2026-03-19T10:00"))
    assert [s.step for s in steps(b)] == ["received", "complete"]


def test_a_complaint_tells_received_answered_and_closed() -> None:
    c = complaint({"name": "Siti", "phone": "0812345678"})
    c.classify("SS-KBLI-10510", "fee", DEWI, on("2026-03-16T10:00"))
    c.analyse("pungutan", ["SP"], [], "clarification", DEWI, on("2026-03-16T11:00"))
    c.choose_track("internal", None, DEWI, on("2026-03-16T12:00"))
    c.record_findings(["klarifikasi"], [], "proven", None, DEWI, on("2026-03-17T09:00"))
    c.respond("Uang dikembalikan.", DEWI, on("2026-03-17T10:00"))
    c.notify_complainant("whatsapp", DEWI, on("2026-03-17T11:00"))
    c.report_to_superior("laporan", DEWI, on("2026-03-17T12:00"))
    c.close("selesai", DEWI, on("2026-03-18T09:00"))

    told = steps(c)
    assert [(s.step, s.facts) for s in told] == [
        ("received", {"kind": "complaint", "reasons": []}),
        ("answered", {"text": "Uang dikembalikan."}),
        ("closed", {"note": "selesai"})]
    assert (told[0].channel, told[0].has_person) == ("whatsapp", True)


def test_a_suggestion_is_told_why_and_an_anonymous_one_has_nobody_to_write_to() -> None:
    late = steps(complaint({"name": "Siti", "email": "siti@example.id"}, late=True))[0]
    assert late.facts == {"kind": "suggestion", "reasons": ["late"]}
    assert late.has_person is True
    anonymous = steps(complaint(None))[0]
    assert anonymous.facts == {"kind": "suggestion", "reasons": ["no_identity"]}
    assert (anonymous.channel, anonymous.has_person) == ("whatsapp", False)


def test_the_notifier_s_own_record_tells_nothing() -> None:
    c = complaint({"name": "Siti", "phone": "0812345678"})
    c.record_notification(7, "received", 1, "whatsapp", SYSTEM, on("2026-03-16T09:01"))
    assert [s.step for s in steps(c)] == ["received"]


# -- recording a delivery in the case ------------------------------------------------------
def answered() -> Complaint:
    c = complaint({"name": "Siti", "email": "siti@example.id"})
    c.classify("SS-KBLI-10510", "fee", DEWI, on("2026-03-16T10:00"))
    c.analyse("pungutan", ["SP"], [], "clarification", DEWI, on("2026-03-16T11:00"))
    c.choose_track("internal", None, DEWI, on("2026-03-16T12:00"))
    c.record_findings(["klarifikasi"], [], "proven", None, DEWI, on("2026-03-17T09:00"))
    c.respond("Uang dikembalikan.", DEWI, on("2026-03-17T10:00"))
    list(c.collect_events())
    return c


def deliver(case: Any, notification: int, step: str, via: str) -> list[str]:
    request = Delivery(notification=notification, step=step, about_version=case.version,
                       via=via)
    asyncio.run(record_delivery(None, case, request, NOTIFIER_ACTOR, on("2026-03-17T10:05")))
    return [type(e).__name__ for e in case.collect_events()]


def test_the_answer_delivered_tells_the_complainant_once_per_way() -> None:
    c = answered()
    assert deliver(c, 11, "answered", "email") == ["NotificationDelivered", "ComplainantNotified"]
    assert c.notifications[-1] == {"channel": "email", "by": "notifier",
                                   "at": on("2026-03-17T10:05")}
    assert deliver(c, 11, "answered", "email") == []  # the same message reported again
    assert deliver(c, 12, "answered", "whatsapp") == ["NotificationDelivered",
                                                      "ComplainantNotified"]
    assert c.notified == [11, 12]
    # Told: the complaint may now close (with the report to the superior).
    c.report_to_superior("laporan", DEWI, on("2026-03-17T12:00"))
    c.close(None, DEWI, on("2026-03-18T09:00"))
    assert c.status == "closed"


def test_once_closed_a_delivery_is_still_recorded_but_tells_nothing_more() -> None:
    c = answered()
    c.notify_complainant("whatsapp", DEWI, on("2026-03-17T10:30"))
    c.report_to_superior("laporan", DEWI, on("2026-03-17T12:00"))
    c.close(None, DEWI, on("2026-03-18T09:00"))
    list(c.collect_events())
    assert deliver(c, 13, "answered", "email") == ["NotificationDelivered"]
    assert deliver(c, 14, "closed", "email") == ["NotificationDelivered"]


def test_an_issued_application_records_its_delivery_and_nothing_else() -> None:
    a = application()
    list(a.collect_events())
    assert deliver(a, 1, "received", "oss") == ["NotificationDelivered"]
    with pytest.raises(InvalidInput) as bad:
        a.record_notification(2, "received", 99, "oss", SYSTEM, on("2026-03-16T09:05"))
    assert bad.value.field == "about_version"


def test_only_the_system_records_a_delivery() -> None:
    authorize(DELIVERY.policy, NOTIFIER_ACTOR)
    for role in ("head", "officer", "channel"):
        with pytest.raises(Forbidden):
            authorize(DELIVERY.policy, Actor(id="x", role=role, channel="oss", unit="pengaduan"))
