"""End to end over HTTP: an auditor reads a case's history and the case as it stood at a
version or a time, both rebuilt from the event store."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest

from services.runtime import System
from tests.conftest import People

pytestmark = pytest.mark.e2e

ALL_MET = dict.fromkeys(("U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4"), True)
APPLICATION: dict[str, Any] = {
    "channel": "oss", "external_id": "OSS-AUDIT-1", "service_code": "SS-KBLI-10510",
    "applicant": {"name": "Siti Rahma", "nik": "3214010101800001"},
    "business": {"name": "CV Susu Murni", "kbli": "10510", "scale": "kecil",
                 "in_industrial_estate": True, "address": "Jl. Veteran 139, Purwakarta"},
}
COMPLAINT: dict[str, Any] = {
    "channel": "whatsapp", "external_id": "WA-AUDIT-1",
    "complainant": {"name": "Siti Aminah", "phone": "081234567890"},
    "subject_matter": "Biaya Sertifikat Standar", "description": "Dimintai uang di loket.",
    "service_received_on": "2026-03-10",
}


def jump(system: System, when: str) -> None:
    from datetime import datetime

    system.clock.jump_to(datetime.fromisoformat(when))  # type: ignore[attr-defined]


async def application_with_history(http: httpx.AsyncClient, system: System,
                                   people: People) -> str:
    r = await http.post("/applications", json=APPLICATION, headers=people["oss"])
    assert r.status_code == 201, r.text
    case = r.json()["id"]
    jump(system, "2026-03-17T10:00:00+07:00")
    r = await http.post(f"/applications/{case}/verification",
                        json={"results": ALL_MET}, headers=people["officer"])
    assert r.status_code == 200, r.text
    jump(system, "2026-03-18T10:00:00+07:00")
    r = await http.post(f"/applications/{case}/escalation",
                        json={"to_tier": "kepala_seksi", "reason": "perlu kasi"},
                        headers=people["officer"])
    assert r.status_code == 200, r.text
    return str(case)


async def test_history_is_every_event_oldest_first_with_who_and_hash(
        http: httpx.AsyncClient, system: System, people: People) -> None:
    case = await application_with_history(http, system, people)
    r = await http.get(f"/cases/{case}/history", headers=people["auditor"])
    assert r.status_code == 200, r.text
    history = r.json()
    assert [e["type"] for e in history] == [
        "application.submitted", "application.file_declared_complete", "application.escalated"]
    assert [e["actor"] for e in history] == [
        {"id": "oss-gateway", "role": "channel"}, {"id": "budi", "role": "officer"},
        {"id": "budi", "role": "officer"}]
    assert [e["channel"] for e in history] == ["oss", None, None]
    assert [e["version"] for e in history] == [1, 2, 3]
    positions = [e["position"] for e in history]
    assert positions == sorted(positions) and len(set(positions)) == 3
    assert all(e["stream"] == "applications" for e in history)
    assert history[0]["time"].startswith("2026-03-16T")
    assert history[2]["time"].startswith("2026-03-18T10:00")
    assert history[0]["data"]["case_id"] == case
    # The record as stored: personal data sealed (the case's view opens it).
    assert "Siti Rahma" not in r.text
    assert history[2]["data"]["to_tier"] == "kepala_seksi"
    # Hashes: every event chained; the case chain links each to the one before it.
    assert all(len(e["hash"]) == 64 for e in history)
    assert history[0]["prev_case_hash"] == "0" * 64
    for before, after in itertools.pairwise(history):
        assert after["prev_case_hash"] == before["case_hash"]

    # The head reads it too; nobody else; an unknown case is 404.
    assert (await http.get(f"/cases/{case}/history", headers=people["head"])).status_code == 200
    for who in ("officer", "supervisor", "oss"):
        r = await http.get(f"/cases/{case}/history", headers=people[who])
        assert r.status_code == 403, (who, r.text)
    assert (await http.get(f"/cases/{case}/history")).status_code == 401
    r = await http.get("/cases/00000000-0000-4000-8000-000000000000/history",
                       headers=people["auditor"])
    assert r.status_code == 404 and r.json()["detail"]


async def test_the_case_as_of_a_version_or_a_time(
        http: httpx.AsyncClient, system: System, people: People) -> None:
    case = await application_with_history(http, system, people)
    auditor = people["auditor"]

    r = await http.get(f"/cases/{case}", params={"as_of": "1"}, headers=auditor)
    assert r.status_code == 200, r.text
    first = r.json()
    assert (first["status"], first["version"], first["tier"]) == ("awaiting_verification", 1,
                                                                  "pelaksana")
    assert first["case_type"] == "application"
    assert first["as_of"]["version"] == 1 and first["as_of"]["current_version"] == 3

    r = await http.get(f"/cases/{case}", params={"as_of": "2026-03-17T12:00:00+07:00"},
                       headers=auditor)
    assert r.status_code == 200, r.text
    then = r.json()
    assert (then["status"], then["version"], then["tier"]) == ("complete", 2, "pelaksana")
    assert then["sla"]["state"] == "running"
    # Without an offset the time is Jakarta's; an unencoded "+" (a space) is understood.
    r = await http.get(f"/cases/{case}?as_of=2026-03-18T09:59:00", headers=auditor)
    assert r.json()["version"] == 2
    r = await http.get(f"/cases/{case}?as_of=2026-03-18T10:00:05+07:00", headers=auditor)
    assert r.json()["version"] == 3 and r.json()["tier"] == "kepala_seksi"

    r = await http.get(f"/cases/{case}", headers=auditor)  # no as_of: as it stands now
    assert r.status_code == 200 and r.json()["version"] == 3 and r.json()["as_of"] is None
    now = (await http.get(f"/applications/{case}", headers=auditor)).json()
    assert {k: v for k, v in r.json().items() if k not in ("case_type", "as_of", "sla")} == {
        k: v for k, v in now.items() if k != "sla"}

    r = await http.get(f"/cases/{case}", params={"as_of": "2026-03-01T00:00:00+07:00"},
                       headers=auditor)
    assert r.status_code == 404 and "first recorded" in r.json()["detail"]
    for bad in ("9", "0", "yesterday"):
        r = await http.get(f"/cases/{case}", params={"as_of": bad}, headers=auditor)
        assert r.status_code in (400, 422), (bad, r.text)
        assert "as_of" in r.json()["detail"]
    r = await http.get(f"/cases/{case}", params={"as_of": "1"}, headers=people["officer"])
    assert r.status_code == 403


async def test_a_complaint_as_of_its_first_version(
        http: httpx.AsyncClient, system: System, people: People) -> None:
    r = await http.post("/complaints", json=COMPLAINT, headers=people["whatsapp"])
    assert r.status_code == 201, r.text
    case = r.json()["id"]
    r = await http.post(f"/complaints/{case}/classification",
                        json={"service_code": "SS-KBLI-10510", "problem_type": "fee"},
                        headers=people["dewi"])
    assert r.status_code == 200, r.text
    r = await http.get(f"/cases/{case}", params={"as_of": "1"}, headers=people["auditor"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["case_type"] == "complaint" and body["version"] == 1
    assert body["classification"] is None and body["complainant"]["name"] == "Siti Aminah"
    history = (await http.get(f"/cases/{case}/history", headers=people["auditor"])).json()
    assert [e["type"] for e in history] == ["complaint.received", "complaint.classified"]
    assert history[0]["actor"] == {"id": "wa-gateway", "role": "channel"}
    assert history[0]["channel"] == "whatsapp"


async def test_verify_an_untouched_store(
        http: httpx.AsyncClient, system: System, people: People) -> None:
    await application_with_history(http, system, people)
    r = await http.get("/audit/verify", headers=people["auditor"])
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["ok"] is True and report["first_broken"] is None
    assert report["checked"] >= 3
    assert sum(report["pending"].values()) == 0
    for who in ("officer", "supervisor", "oss"):
        assert (await http.get("/audit/verify", headers=people[who])).status_code == 403
    assert (await http.get("/audit/verify", headers=people["head"])).status_code == 200


async def test_a_clock_behind_the_case_does_not_stamp_an_event_before_its_predecessor(
        http: httpx.AsyncClient, system: System, people: People,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime

    r = await http.post("/applications", json={**APPLICATION, "external_id": "OSS-AUDIT-LAG"},
                        headers=people["oss"])
    case = r.json()["id"]
    jump(system, "2026-03-17T10:00:00+07:00")
    r = await http.post(f"/applications/{case}/verification",
                        json={"results": ALL_MET}, headers=people["officer"])
    assert r.status_code == 200, r.text
    # Another worker's clock, an hour behind this case's last event.
    behind = datetime.fromisoformat("2026-03-17T09:00:00+07:00")
    monkeypatch.setattr(system.clock, "now", lambda: behind)
    r = await http.post(f"/applications/{case}/escalation",
                        json={"to_tier": "kepala_seksi", "reason": "perlu kasi"},
                        headers=people["officer"])
    assert r.status_code == 200, r.text
    history = (await http.get(f"/cases/{case}/history", headers=people["auditor"])).json()
    times = [datetime.fromisoformat(e["time"]) for e in history]
    assert times == sorted(times) and times[-1] == times[-2]
