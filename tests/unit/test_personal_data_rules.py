"""Personal data rules without a database: sealing with a subject key in memory, the
associated data, masking of confidential complaints, and the new events' contracts."""

from __future__ import annotations

import os
from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.applications.application import CONTRACTS
from services.applications.domain import LicenceApplication
from services.complaints.application import mask_identity
from services.domain.actors import Actor
from services.domain.errors import RuleViolation
from services.infra.personal_data import ERASED, PersonalDataVault, VaultUnavailable

WIB = ZoneInfo("Asia/Jakarta")
AT = datetime(2026, 3, 16, 9, tzinfo=WIB)
CHANNEL = {"id": "oss-gw", "role": "channel", "channel": "oss", "tier": None, "unit": None}
HEAD = {"id": "kepala", "role": "head", "channel": None, "tier": None, "unit": None}


def vault_with_key(subject: str) -> tuple[PersonalDataVault, dict]:
    vault = PersonalDataVault(os.urandom(64))
    key = AESGCM(AESGCM.generate_key(bit_length=256))
    vault._keys["k1"] = key
    return vault, vault._seal_with("k1", key, subject, {"name": "Siti", "nik": "3214010101800001"})


def test_seal_open_and_wrong_associated_data() -> None:
    vault, envelope = vault_with_key("nik:abc")
    assert vault.open(envelope) == {"name": "Siti", "nik": "3214010101800001"}
    assert "Siti" not in envelope["sealed"]
    with pytest.raises(InvalidTag):
        vault.open({**envelope, "subject": "nik:other"})
    with pytest.raises(InvalidTag):
        vault.open({**envelope, "sealed": envelope["sealed"][:-4] + "AAAA"})
    vault._forget("k1")
    assert vault.open(envelope) == ERASED
    assert vault.open({"name": "plain"}) == {"name": "plain"}   # not an envelope: as is
    with pytest.raises(VaultUnavailable):
        vault.open({**envelope, "kid": "never-loaded"})


def test_subject_ids_hide_the_nik() -> None:
    a, b = PersonalDataVault(os.urandom(64)), PersonalDataVault(os.urandom(64))
    nik = "3214010101800001"
    assert a.subject_of(nik, "c1") == a.subject_of(nik, "c2") != b.subject_of(nik, "c1")
    assert nik not in a.subject_of(nik, "c1")
    assert a.subject_of(None, "c1") != a.subject_of(None, "c2")


def test_confidential_identity_is_masked_for_handling_staff() -> None:
    who = {"name": "Siti", "phone": "0812", "email": None}
    for role, sees in (("officer", False), ("supervisor", False), ("head", True),
                       ("auditor", True), ("channel", False)):
        shown = mask_identity(who, Actor(id="x", role=role), confidential=True)
        assert (shown == who) is sees, role
        if not sees:
            assert shown == {"name": "***", "phone": "***", "email": None}
    assert mask_identity(who, Actor(id="x", role="officer")) == who
    assert mask_identity(dict(ERASED), Actor(id="x", role="channel")) == ERASED


def test_application_personal_data_events_have_contracts() -> None:
    app = LicenceApplication(
        channel="oss", external_id="E-1", service_code="SS-KBLI-10510",
        requirement_codes=["U1"], sla_working_days=7, unit="perizinan",
        applicant={"subject": "case:x", "kid": "k", "sealed": "AAAA", "v": 1},
        business={"name": "CV", "kbli": "10510"}, actor=CHANNEL, at=AT)
    app.place_audit_hold("pemeriksaan", HEAD, AT)
    with pytest.raises(RuleViolation):
        app.record_erasure(["case:x"], 1, "permintaan", HEAD, AT)
    app.refuse_erasure("permintaan", HEAD, AT)
    app.release_audit_hold("selesai", HEAD, AT)
    app.record_erasure(["case:x"], 1, "permintaan", HEAD, AT)
    assert app.personal_data_erasure["subjects"] == ["case:x"]
    tags = []
    for event in app.collect_events():
        contract = CONTRACTS.to_contract(event)
        assert CONTRACTS.decode(msgspec.json.encode(contract)) == contract
        tags.append(CONTRACTS.tag_of(event))
    assert tags[1:] == ["application.audit_hold_placed", "application.erasure_refused",
                        "application.audit_hold_released", "application.personal_data_erased"]
