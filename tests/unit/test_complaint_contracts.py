"""Every event of the `Complaint` aggregate has a contract: it maps by name, carries a
stable tag, and round-trips through the stream's decoder."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import msgspec

from contracts import complaints as contracts
from contracts.schema import contract_schemas
from services.complaints.application import CONTRACTS, mask_identity
from services.complaints.domain import Complaint
from services.domain.actors import Actor

WIB = ZoneInfo("Asia/Jakarta")
CHANNEL = {"id": "svc-letter", "role": "channel", "channel": "letter", "tier": None, "unit": None}
OFFICER = {"id": "dewi", "role": "officer", "channel": None, "tier": "pelaksana",
           "unit": "pengaduan"}
SUPERVISOR = {"id": "sri", "role": "supervisor", "channel": None, "tier": None, "unit": None}
HEAD = {"id": "kepala", "role": "head", "channel": None, "tier": None, "unit": None}
NOTIFIER = {"id": "notifier", "role": "system", "channel": None, "tier": None, "unit": None}


def on(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, 0, tzinfo=WIB)


def every_event() -> list[object]:
    c = Complaint.receive(
        channel="letter", external_id="SRT-1", complainant={"name": "Siti", "phone": "0812345"},
        subject_matter="biaya", description="dimintai uang", service_received_on=date(2026, 2, 1),
        received_at=on(4), related_application_id=None, actor=CHANNEL, at=on(5))
    c.reclassify("surat terlambat dikirim", OFFICER, on(5, 11))
    c.classify("SS-KBLI-10510", "fee", OFFICER, on(6))
    c.analyse("pungutan", ["SP 10510"], ["bukti"], "clarification", OFFICER, on(6, 11))
    c.approve_apip("tidak selesai internal", HEAD, on(6, 12))
    c.choose_track("apip", ["Inspektorat"], OFFICER, on(9))
    c.record_findings(["investigasi"], ["petugas loket"], "proven", None, OFFICER, on(9, 10))
    c.assign("dewi", SUPERVISOR, on(9, 11))
    c.escalate("kepala_bidang", "lapor", SUPERVISOR, on(9, 12))
    c.escalate("kepala_dinas", "batas waktu", SUPERVISOR, on(9, 13), automatic=True)
    c.respond("jawaban", SUPERVISOR, on(10))
    c.record_notification(1, "answered", c.version, "letter", NOTIFIER, on(10, 10))
    c.notify_complainant("letter", SUPERVISOR, on(10, 11))
    c.report_to_superior("laporan", SUPERVISOR, on(10, 12))
    c.close(None, SUPERVISOR, on(11))
    # Personal data (UU 27/2022): confidentiality, audit hold, a refused and a done erasure.
    c.mark_confidential("pelapor meminta dirahasiakan", OFFICER, on(11, 11))
    c.place_audit_hold("pemeriksaan Inspektorat", HEAD, on(11, 12))
    c.refuse_erasure("permintaan subjek data", HEAD, on(11, 13))
    c.release_audit_hold("pemeriksaan selesai", HEAD, on(11, 14))
    c.record_erasure(["case:x"], 1, "permintaan subjek data", HEAD, on(11, 15))
    return list(c.collect_events())


def test_every_domain_event_has_a_contract_that_round_trips() -> None:
    events = every_event()
    assert {type(e).__name__ for e in events} == {t.__name__ for t in contracts.EVENT_TYPES}
    for event in events:
        contract = CONTRACTS.to_contract(event)
        decoded = CONTRACTS.decode(msgspec.json.encode(contract))
        assert decoded == contract
        assert CONTRACTS.tag_of(event) == type(contract).__struct_config__.tag
        assert decoded.case_id == str(events[0].originator_id)


def test_the_received_contract_carries_the_intake() -> None:
    received = CONTRACTS.to_contract(every_event()[0])
    assert isinstance(received, contracts.Received)
    assert received.tracking_number.startswith("ADU-")
    assert (received.kind, received.reasons) == ("suggestion", ["late"])
    assert received.at == on(5) and received.received_at == on(4)
    assert received.service_received_on == date(2026, 2, 1)
    assert received.actor.channel == "letter"


def test_an_automatic_escalation_has_the_tag_of_a_manual_one() -> None:
    escalations = [e for e in every_event() if type(e).__name__ == "Escalated"]
    tags = {CONTRACTS.tag_of(e) for e in escalations}
    assert tags == {"complaint.escalated"}
    assert [CONTRACTS.to_contract(e).automatic for e in escalations] == [False, True]


def test_tags_are_unique_and_exported_in_the_schema() -> None:
    schema = contract_schemas()
    tags = [t.__struct_config__.tag for t in contracts.EVENT_TYPES]
    assert len(set(tags)) == len(tags)
    assert all(tag.startswith("complaint.") and tag in schema["events"] for tag in tags)
    assert "ComplaintIntake" in schema["intake"]


def test_identity_is_one_rule_in_one_place() -> None:
    siti = {"name": "Siti", "phone": "0812345", "email": None}
    for role in ("officer", "supervisor", "head", "auditor"):
        assert mask_identity(siti, Actor(id="x", role=role)) == siti
    assert mask_identity(siti, Actor(id="x", role="channel", channel="letter")) == {
        "name": "***", "phone": "***", "email": None}
    assert mask_identity(None, Actor(id="x", role="channel")) is None
