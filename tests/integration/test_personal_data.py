"""Personal data (UU 27/2022): sealed per data subject before it is stored, erased by
deleting the subject's key (crypto-shredding), on the real Postgres and over real HTTP.

The crypto-shredding test: cases of one person (same NIK) and of others; the events
tables never hold the plaintext; erasure through one case erases every case of that
NIK; afterwards views, the audit history and a replay of every read model show it
erased, the hash chain still verifies and the monthly report counts the same."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import asyncpg
import pytest
from cryptography.exceptions import InvalidTag

from projections import monthly_report
from projections.runner import rebuild
from services.infra.eventlog import EventLog
from services.infra.personal_data import ERASED, PersonalDataVault
from services.runtime import System

pytestmark = pytest.mark.integration

NIK = "3214010101800001"
NAME = "Siti Rahmawati"
PHONE = "081298765432"
EMAIL = "siti.rahmawati@example.id"
OTHER_NAME = "Budi Santoso"
NARRATIVE = "Petugas meminta uang pelicin Rp750.000"
SUBJECT_MATTER = "Pungutan liar di loket MPP"
ALL_MET = dict.fromkeys(("U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4"), True)
PLAINTEXT = (NAME, NIK, PHONE, EMAIL, OTHER_NAME, NARRATIVE, SUBJECT_MATTER)


# -- the vault on its own ----------------------------------------------------------------
async def test_seal_open_erase_roundtrip(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        secret = os.urandom(64)
        vault = PersonalDataVault(secret)
        await vault.attach(pool)
        subject = vault.subject_of(NIK, "ignored-with-a-nik")
        assert subject.startswith("nik:") and NIK not in subject
        assert vault.subject_of(f" {NIK} ", "x") == subject
        assert vault.subject_of(None, "case-1") == vault.subject_of("", "case-1") == "case:case-1"

        data = {"name": NAME, "nik": NIK, "phone": PHONE}
        envelope = await vault.seal(subject, data)
        assert set(envelope) == {"subject", "kid", "sealed", "v"} and envelope["v"] == 1
        assert NAME not in json.dumps(envelope) and NIK not in json.dumps(envelope)
        assert vault.open(envelope) == data
        # Every sealing has a key of its own (stored with the events that carry it; here
        # on their own): the same subject then holds several live keys.
        again = await vault.seal(subject, "teks")
        assert again["kid"] != envelope["kid"] and again["sealed"] != envelope["sealed"]
        other = await vault.seal(vault.subject_of(None, "case-2"), "lain")
        new_keys = vault.take_new_keys([envelope, again, other])
        assert [k.key_id for k in new_keys] == [
            uuid.UUID(e["kid"]) for e in (envelope, again, other)]
        assert vault.take_new_keys([envelope]) == [], "a new key is handed over once"
        await vault.store_keys(new_keys)
        assert await vault.live_keys([subject]) == 2

        # The associated data is the subject id: moved to another subject, it does not open.
        with pytest.raises(InvalidTag):
            vault.open({**envelope, "subject": "nik:someone-else"})
        stored = (await pool.fetchrow("SELECT key FROM subject_keys"))["key"]
        assert len(stored) > 32, "key material is wrapped, not stored raw"

        erased = await vault.erase(subject, "kepala", "permintaan subjek data")
        assert sorted(erased) == sorted([envelope["kid"], again["kid"]])
        assert vault.open(envelope) == ERASED and vault.open(again) == ERASED
        assert vault.open(other) == "lain"
        assert await vault.erase(subject, "kepala", "lagi") == []
        row = await pool.fetchrow("SELECT * FROM subject_keys WHERE key_id = $1::uuid",
                                  envelope["kid"])
        assert row["key"] is None and row["erased_by"] == "kepala"
        assert row["erasure_reason"] == "permintaan subjek data"
        # The subject comes back: a new key; the old envelopes stay erased. Another
        # process (an empty cache) sees the same after a prefetch, as the services do.
        back = await vault.seal(subject, "baru")
        await vault.store_keys(vault.take_new_keys([back]))
        assert back["kid"] != envelope["kid"] and vault.open(back) == "baru"
        fresh = PersonalDataVault(secret)
        fresh.pool = pool
        await fresh.prefetch([envelope, back])
        assert fresh.open(envelope) == ERASED and fresh.open(back) == "baru"
    finally:
        await pool.close()


# -- crypto-shredding through the running system -----------------------------------------
def application(external_id: str, **applicant: Any) -> dict[str, Any]:
    return {"channel": "oss", "external_id": external_id, "service_code": "SS-KBLI-10510",
            "applicant": {"name": NAME, "nik": NIK, "phone": PHONE, "email": EMAIL, **applicant},
            "business": {"name": f"CV Susu {external_id}", "kbli": "10510", "scale": "kecil",
                         "in_industrial_estate": True, "address": "Jl. Veteran 139, Purwakarta"}}


def complaint(external_id: str, complainant: dict[str, Any] | None) -> dict[str, Any]:
    return {"channel": "whatsapp", "external_id": external_id, "complainant": complainant,
            "subject_matter": SUBJECT_MATTER, "description": NARRATIVE,
            "service_received_on": "2026-03-10"}


@pytest.fixture
def people(people, token):
    """The cast, with a licensing officer at the top tier."""
    return {**people, "officer": token("officer", "budi", unit="perizinan", tier="kepala_dinas")}


async def raw_events(system: System) -> bytes:
    """Every byte of every events table, as stored."""
    assert system.pool is not None
    eventlog = EventLog(system.pool, system.streams())
    out = b""
    async with system.pool.acquire() as conn:
        for stream in eventlog.streams.values():
            for row in await conn.fetch(f"SELECT topic, state FROM {stream.table}"):
                out += row["topic"].encode() + bytes(row["state"])
    return out


async def report(system: System) -> dict[str, Any]:
    assert system.pool is not None
    async with system.pool.acquire() as conn:
        return await monthly_report.load(conn, "2026-03", system.clock.now())


async def replay(system: System) -> None:
    assert system.pool is not None
    await rebuild(system.pool, EventLog(system.pool, system.streams()),
                  system.projections(), progress=False)


async def test_crypto_shredding(http, system: System, people) -> None:
    ids = {}
    for key, body in (("app1", application("SHRED-1")), ("app2", application("SHRED-2")),
                      ("other", application("SHRED-3", name=OTHER_NAME, nik="3214010101800002",
                                            phone=None, email=None))):
        r = await http.post("/applications", json=body, headers=people["oss"])
        assert r.status_code == 201, r.text
        ids[key] = r.json()["id"]
    # The same person complains (same NIK); someone else complains without a NIK.
    r = await http.post("/complaints", headers=people["whatsapp"], json=complaint(
        "SHRED-C1", {"name": NAME, "nik": NIK, "phone": PHONE}))
    assert r.status_code == 201 and r.json()["kind"] == "complaint", r.text
    ids["c_same"] = r.json()["id"]
    r = await http.post("/complaints", headers=people["whatsapp"], json=complaint(
        "SHRED-C2", {"name": OTHER_NAME, "phone": "081211112222"}))
    assert r.status_code == 201, r.text
    ids["c_other"] = r.json()["id"]
    # Intake stays idempotent: the same (channel, external_id) again writes nothing.
    r = await http.post("/applications", json=application("SHRED-1"), headers=people["oss"])
    assert r.status_code == 200 and r.json()["id"] == ids["app1"]
    r = await http.post(f"/applications/{ids['app1']}/verification",
                        json={"results": ALL_MET}, headers=people["officer"])
    assert r.status_code == 200, r.text

    view = (await http.get(f"/applications/{ids['app1']}", headers=people["supervisor"])).json()
    assert view["applicant"] == {"name": NAME, "nik": NIK, "phone": PHONE, "email": EMAIL}
    assert view["business"]["name"] == "CV Susu SHRED-1"   # business data: not sealed
    c = (await http.get(f"/complaints/{ids['c_same']}", headers=people["supervisor"])).json()
    assert c["complainant"]["name"] == NAME and c["description"] == NARRATIVE
    assert c["subject_matter"] == SUBJECT_MATTER

    # No plaintext personal data in any events table, even before erasure.
    stored = await raw_events(system)
    for text in PLAINTEXT:
        assert text.encode() not in stored, text
    assert b"CV Susu SHRED-1" in stored
    history = await http.get(f"/cases/{ids['app1']}/history", headers=people["auditor"])
    assert history.status_code == 200, history.text
    assert history.json()[0]["data"]["applicant"]["sealed"]
    for text in PLAINTEXT:
        assert text not in history.text

    await replay(system)
    before = await report(system)
    assert before["applications"]["received"] == 3 and before["complaints"]["received"] == 2

    # Erase through the first application: every case of that NIK is erased.
    r = await http.post(f"/applications/{ids['app1']}/erasure",
                        json={"reason": "permintaan subjek data (UU 27/2022 ps. 8)"},
                        headers=people["head"])
    assert r.status_code == 200, r.text
    assert r.json()["applicant"] == {"erased": True}
    assert r.json()["personal_data_erasure"]["by"] == "kepala"
    for key in ("app1", "app2"):
        v = (await http.get(f"/applications/{ids[key]}", headers=people["auditor"])).json()
        assert v["applicant"] == {"erased": True}, key
        assert v["business"]["name"] == f"CV Susu SHRED-{key[-1]}"
    c = (await http.get(f"/complaints/{ids['c_same']}", headers=people["head"])).json()
    assert c["complainant"] == {"erased": True} and c["description"] == {"erased": True}
    assert c["subject_matter"] == {"erased": True}
    # Other people's data is untouched.
    v = (await http.get(f"/applications/{ids['other']}", headers=people["auditor"])).json()
    assert v["applicant"]["name"] == OTHER_NAME
    c = (await http.get(f"/complaints/{ids['c_other']}", headers=people["auditor"])).json()
    assert c["complainant"]["name"] == OTHER_NAME and c["description"] == NARRATIVE

    # The erasure is on record (who, why, which subject ids: no personal data).
    history = (await http.get(f"/cases/{ids['app1']}/history", headers=people["auditor"])).json()
    erased = history[-1]
    assert erased["type"] == "application.personal_data_erased"
    assert erased["actor"] == {"id": "kepala", "role": "head"}
    # One key per case of that NIK (two applications, one complaint), all erased.
    assert erased["data"]["reason"].startswith("permintaan") and erased["data"]["keys_erased"] == 3
    assert [s[:4] for s in erased["data"]["subjects"]] == ["nik:"]
    # As of its first version, the case is erased too (the key is gone, not the event).
    r = await http.get(f"/cases/{ids['app1']}", params={"as_of": "1"}, headers=people["auditor"])
    assert r.status_code == 200 and r.json()["applicant"] == {"erased": True}
    # The stored rows were never rewritten: the chain verifies.
    r = await http.get("/audit/verify", headers=people["auditor"])
    assert r.status_code == 200 and r.json()["ok"] is True, r.text
    # Replay everything: the same counts; the read models hold no personal data.
    await replay(system)
    after = await report(system)
    for part in ("applications", "complaints"):
        assert after[part] == before[part], part
    assert system.pool is not None
    async with system.pool.acquire() as conn:
        docs = " ".join(r["doc"] for r in await conn.fetch("SELECT doc::text FROM case_views"))
        flagged = await conn.fetchval(
            "SELECT doc->>'personal_data_erased' FROM case_views WHERE id = $1::uuid", ids["app1"])
    for text in PLAINTEXT:
        assert text not in docs, text
    assert flagged == "true"
    stored = await raw_events(system)
    for text in PLAINTEXT:
        assert text.encode() not in stored, text

    # Only the head erases.
    for who in ("supervisor", "auditor", "officer"):
        r = await http.post(f"/applications/{ids['other']}/erasure", json={"reason": "x"},
                            headers=people[who])
        assert r.status_code == 403, who


async def test_an_audit_hold_refuses_erasure_and_the_refusal_is_recorded(http, people) -> None:
    r = await http.post("/complaints", headers=people["whatsapp"], json=complaint(
        "HOLD-1", {"name": NAME, "phone": PHONE}))
    case = r.json()["id"]
    r = await http.post(f"/cases/{case}/audit-hold", json={"reason": "pemeriksaan Inspektorat"},
                        headers=people["auditor"])
    assert r.status_code == 200 and r.json()["audit_hold"]["reason"] == "pemeriksaan Inspektorat"
    r = await http.post(f"/complaints/{case}/erasure", json={"reason": "permintaan subjek"},
                        headers=people["head"])
    assert r.status_code == 409, r.text
    assert r.json()["extra"]["rule"] == "audit_hold"
    assert r.json()["extra"]["hold_reason"] == "pemeriksaan Inspektorat"
    history = (await http.get(f"/cases/{case}/history", headers=people["auditor"])).json()
    assert [e["type"] for e in history][-2:] == ["complaint.audit_hold_placed",
                                                 "complaint.erasure_refused"]
    assert history[-1]["data"]["reason"] == "permintaan subjek"
    assert history[-1]["data"]["hold_reason"] == "pemeriksaan Inspektorat"
    view = (await http.get(f"/complaints/{case}", headers=people["head"])).json()
    assert view["complainant"]["name"] == NAME          # nothing erased
    # Released, the erasure goes through.
    r = await http.post(f"/cases/{case}/audit-hold/release", json={"reason": "selesai"},
                        headers=people["head"])
    assert r.status_code == 200 and r.json()["audit_hold"] is None
    r = await http.post(f"/complaints/{case}/erasure", json={"reason": "permintaan subjek"},
                        headers=people["head"])
    assert r.status_code == 200 and r.json()["complainant"] == {"erased": True}
    # Holds need a reason, and the right role.
    r = await http.post(f"/cases/{case}/audit-hold", json={"reason": ""}, headers=people["head"])
    assert r.status_code == 400
    r = await http.post(f"/cases/{case}/audit-hold", json={"reason": "x"},
                        headers=people["supervisor"])
    assert r.status_code == 403


async def test_a_confidential_complaint_hides_the_identity_from_handling_staff(
        http, people) -> None:
    r = await http.post("/complaints", headers=people["whatsapp"], json=complaint(
        "CONF-1", {"name": NAME, "nik": NIK, "phone": PHONE}))
    case = r.json()["id"]
    assert (await http.get(f"/complaints/{case}", headers=people["dewi"])).json()[
        "complainant"]["name"] == NAME
    r = await http.post(f"/complaints/{case}/confidentiality",
                        json={"reason": "pelapor khawatir pembalasan"}, headers=people["dewi"])
    assert r.status_code == 200, r.text
    assert r.json()["complainant"]["name"] == "***"    # the officer who marked it, too
    assert r.json()["confidentiality"]["reason"] == "pelapor khawatir pembalasan"
    for who, sees in (("dewi", False), ("supervisor", False), ("head", True), ("auditor", True)):
        body = (await http.get(f"/complaints/{case}", headers=people[who])).json()
        assert (body["complainant"]["name"] == NAME) is sees, who
        assert (body["complainant"]["nik"] == NIK) is sees, who
        assert body["description"] == NARRATIVE, who    # the narrative is needed to handle it
    r = await http.post(f"/complaints/{case}/confidentiality", json={"reason": "lagi"},
                        headers=people["head"])
    assert r.status_code == 409 and r.json()["extra"]["rule"] == "already_confidential"
    for who in ("supervisor", "auditor", "whatsapp", "officer"):   # officer: another unit (404)
        r = await http.post(f"/complaints/{case}/confidentiality", json={"reason": "x"},
                            headers=people[who])
        assert r.status_code in (403, 404), who
