"""Tracking for citizens and channels, over HTTP: the PIN from intake, `GET /track/{n}?pin=`
as JSON and as a page, the same 404 for a wrong PIN and an unknown number, throttling,
no personal data, and numbers nobody can work out from `(channel, external_id)`."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from projections.runner import rebuild
from services.applications.domain import application_id, legacy_tracking_number
from services.infra.eventlog import EventLog
from services.runtime import System
from services.tracking.api import ATTEMPTS_PER_ADDRESS, ATTEMPTS_PER_NUMBER
from tests.conftest import People

pytestmark = pytest.mark.e2e

ALL_MET = dict.fromkeys(("U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4"), True)
APPLICANT = {"name": "Siti Rahmawati", "nik": "3214010101800001",
             "email": "siti.rahma@example.id", "phone": "081298765432"}
COMPLAINANT = {"name": "Bambang Sutrisno", "nik": "3214010101800009",
               "email": "bambang@example.id", "phone": "081211112222"}
PERSONAL = [*APPLICANT.values(), *COMPLAINANT.values(), "Jl. Veteran 139", "Ciseureuh",
            "budi", "lengkap, diperiksa"]
"""What no tracking answer may hold: identities, the business's address, the officer
(`budi`) and what they wrote."""
KEYED = re.compile(r"^(PRM|ADU)-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$")


def application(external_id: str) -> dict[str, Any]:
    return {"channel": "oss", "external_id": external_id, "service_code": "SS-KBLI-10510",
            "applicant": APPLICANT,
            "business": {"name": "CV Susu Murni", "kbli": "10510", "scale": "kecil",
                         "in_industrial_estate": True,
                         "address": "Jl. Veteran 139, Ciseureuh"}}


def complaint(external_id: str, **changes: Any) -> dict[str, Any]:
    return {"channel": "whatsapp", "external_id": external_id, "complainant": COMPLAINANT,
            "subject_matter": "Biaya Sertifikat Standar",
            "description": "Bambang dimintai uang Rp500.000 oleh petugas di loket.",
            "service_received_on": "2026-03-10", **changes}


def holds_no_personal_data(text: str) -> None:
    for value in PERSONAL:
        assert value.lower() not in text.lower(), f"{value!r} appears in a tracking answer"


async def submitted(http: httpx.AsyncClient, people: People, external_id: str) -> dict[str, Any]:
    r = await http.post("/applications", json=application(external_id), headers=people["oss"])
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def test_the_right_pin_shows_where_an_application_stands(
        http: httpx.AsyncClient, people: People) -> None:
    created = await submitted(http, people, "TRACK-APP-1")
    number, pin = created["tracking_number"], created["pin"]
    assert re.fullmatch(r"\d{8}", pin)
    # The same (channel, external_id) again: the same number and the same PIN.
    again = await http.post("/applications", json=application("TRACK-APP-1"),
                            headers=people["oss"])
    assert again.status_code == 200 and again.json() == created

    r = await http.get(f"/track/{number}", params={"pin": pin})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["steps"][0]["at"].startswith("2026-03-16T09:0")
    assert body["steps"][0]["at"].endswith("+07:00")
    assert body == {
        "tracking_number": number, "kind": "application", "status": "awaiting_verification",
        "status_text": "Berkas permohonan sedang diverifikasi",
        "steps": [{"step": "submitted", "at": body["steps"][0]["at"],
                   "text": "Permohonan diterima"}]}

    # Declared complete: the 7-working-day clock runs, and its end is shown.
    r = await http.post(f"/applications/{created['id']}/verification",
                        json={"results": ALL_MET, "note": "lengkap, diperiksa Budi"},
                        headers=people["officer"])
    assert r.status_code == 200, r.text
    due = r.json()["sla"]["due_at"]
    r = await http.get(f"/track/{number.lower()}", params={"pin": f" {pin} "})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "complete"
    assert body["status_text"] == "Berkas lengkap; permohonan sedang diproses"
    assert body["due_at"] == due
    assert [s["step"] for s in body["steps"]] == ["submitted", "declared_complete"]
    holds_no_personal_data(r.text)


async def test_a_complaint_and_a_suggestion_are_tracked_too(
        http: httpx.AsyncClient, people: People) -> None:
    r = await http.post("/complaints", json=complaint("TRACK-ADU-1"), headers=people["whatsapp"])
    assert r.status_code == 201, r.text
    created = r.json()
    r = await http.get(f"/track/{created['tracking_number']}", params={"pin": created["pin"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "complaint" and body["status"] == "received"
    assert body["status_text"] == "Pengaduan diterima dan menunggu penelaahan"
    assert body["due_at"]  # 14 working days from receipt
    assert [s["step"] for s in body["steps"]] == ["received"]
    holds_no_personal_data(r.text)
    assert "Biaya" not in r.text and "loket" not in r.text

    # Anonymous and late: a suggestion, with no clock.
    r = await http.post("/complaints", json=complaint(
        "TRACK-ADU-2", complainant=None, service_received_on="2026-01-02"),
        headers=people["whatsapp"])
    suggestion = r.json()
    r = await http.get(f"/track/{suggestion['tracking_number']}",
                       params={"pin": suggestion["pin"]})
    body = r.json()
    assert body["kind"] == "suggestion" and "due_at" not in body
    assert body["status_text"] == "Diterima dan dicatat sebagai saran (masukan)"


async def test_a_wrong_pin_and_an_unknown_number_answer_the_same_404(
        http: httpx.AsyncClient, people: People) -> None:
    created = await submitted(http, people, "TRACK-APP-404")
    number, pin = created["tracking_number"], created["pin"]
    wrong = f"{(int(pin) + 1) % 10**8:08d}"
    answers = [await http.get(f"/track/{n}", params={"pin": p}) for n, p in (
        (number, wrong), ("PRM-00000-00000", pin), ("ADU-ZZZZZ-ZZZZZ", pin),
        (legacy_tracking_number(uuid.uuid4()), pin), ("not-a-number", pin),
        # The complaint prefix with the application's own code: not its number.
        ("ADU" + number[3:], pin))]
    assert {r.status_code for r in answers} == {404}
    assert len({r.content for r in answers}) == 1, [r.text for r in answers]
    assert answers[0].json() == {"status_code": 404, "extra": {"rule": "not_found"},
                                 "detail": "no case has this tracking number with this PIN"}
    pages = [await http.get(f"/track/{n}", params={"pin": p}, headers={"Accept": "text/html"})
             for n, p in ((number, wrong), (number, "12345678"))]
    assert {r.status_code for r in pages} == {404} and pages[0].text == pages[1].text
    r = await http.get(f"/track/{number}")
    assert r.status_code == 422 and r.json()["extra"]["field"] == "pin"


async def test_the_number_is_not_the_one_derived_from_the_channels_reference(
        http: httpx.AsyncClient, people: People) -> None:
    created = await submitted(http, people, "TRACK-APP-GUESS")
    case_id = application_id("oss", "TRACK-APP-GUESS")
    assert created["id"] == str(case_id)  # the id still follows from it (idempotency)
    number = created["tracking_number"]
    assert KEYED.match(number), number
    assert number != legacy_tracking_number(case_id)
    assert case_id.hex[:5].upper() not in number.replace("-", "")
    r = await http.get(f"/track/{legacy_tracking_number(case_id)}",
                       params={"pin": created["pin"]})
    assert r.status_code == 404


async def test_the_page_is_in_bahasa_indonesia_and_asks_for_the_pin(
        http: httpx.AsyncClient, people: People) -> None:
    created = await submitted(http, people, "TRACK-APP-HTML")
    number, pin = created["tracking_number"], created["pin"]
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    r = await http.get(f"/track/{number}", params={"pin": pin}, headers=html)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<html lang="id">' in r.text
    assert number in r.text and "Berkas permohonan sedang diverifikasi" in r.text
    assert "Permohonan diterima" in r.text and "16 Maret 2026" in r.text
    assert r.headers["referrer-policy"] == "no-referrer"
    holds_no_personal_data(r.text)
    # No PIN yet: a form that asks for it.
    r = await http.get(f"/track/{number}", headers=html)
    assert r.status_code == 200 and 'name="pin"' in r.text
    assert "Berkas permohonan" not in r.text


async def test_attempts_on_one_number_are_throttled(
        http: httpx.AsyncClient, people: People) -> None:
    created = await submitted(http, people, "TRACK-APP-SLOW")
    number, pin = created["tracking_number"], created["pin"]
    for _ in range(ATTEMPTS_PER_NUMBER):
        assert (await http.get(f"/track/{number}", params={"pin": "00000000"})).status_code \
            in (200, 404)
    # The number's budget is spent: even the right PIN waits now.
    r = await http.get(f"/track/{number}", params={"pin": pin})
    assert r.status_code == 429, r.text
    assert int(r.headers["retry-after"]) >= 1
    assert r.json()["extra"]["rule"] == "too_many_attempts"
    page = await http.get(f"/track/{number}", params={"pin": pin},
                          headers={"Accept": "text/html"})
    assert page.status_code == 429 and "Terlalu banyak percobaan" in page.text
    # Another number is not held up by this one.
    other = await submitted(http, people, "TRACK-APP-OTHER")
    r = await http.get(f"/track/{other['tracking_number']}", params={"pin": other["pin"]})
    assert r.status_code == 200


async def test_attempts_from_one_address_are_throttled(http: httpx.AsyncClient) -> None:
    """Each attempt on another number: only the address's budget (one more a second)
    stops them, a little after its burst."""
    statuses = []
    for i in range(ATTEMPTS_PER_ADDRESS + 20):
        r = await http.get(f"/track/PRM-{i:05d}-00000", params={"pin": "12345678"})
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert r.headers["retry-after"]
            break
    assert statuses[-1] == 429 and set(statuses[:-1]) == {404}
    assert len(statuses) > ATTEMPTS_PER_ADDRESS


async def test_a_case_from_before_keeps_its_number(
        http: httpx.AsyncClient, people: People, system: System) -> None:
    """A case whose first event records no number (stored before numbers were keyed)
    keeps the one derived from its id: in its reads, its events, the read models
    rebuilt from them, and tracking."""
    created = await submitted(http, people, "TRACK-APP-OLD")
    case_id = uuid.UUID(created["id"])
    assert system.pool is not None and system.audit is not None
    table = system.audit.eventlog.streams["applications"].table
    async with system.pool.acquire() as conn:
        state = await conn.fetchval(
            f"SELECT convert_from(state, 'UTF8') FROM {table} "
            "WHERE originator_id = $1 AND originator_version = 1", case_id)
        assert '"tracking_number"' in state
        await conn.execute(
            f"UPDATE {table} SET state = convert_to((convert_from(state, 'UTF8')::jsonb "
            "- 'tracking_number')::text, 'UTF8') "
            "WHERE originator_id = $1 AND originator_version = 1", case_id)
    old = legacy_tracking_number(case_id)
    r = await http.get(f"/applications/{case_id}", headers=people["officer"])
    assert r.json()["tracking_number"] == old
    eventlog = EventLog(system.pool, system.streams())
    [first] = await eventlog.case_events("applications", case_id)
    assert first.event.tracking_number == old  # type: ignore[attr-defined]
    await rebuild(system.pool, eventlog, system.projections(), progress=False)
    r = await http.get("/cases", params={"type": "application"}, headers=people["supervisor"])
    assert [c["tracking_number"] for c in r.json()["items"]] == [old]
    r = await http.get(f"/track/{old}", params={"pin": created["pin"]})
    assert r.status_code == 200 and r.json()["tracking_number"] == old
    r = await http.get(f"/track/{created['tracking_number']}", params={"pin": created["pin"]})
    assert r.status_code == 404
