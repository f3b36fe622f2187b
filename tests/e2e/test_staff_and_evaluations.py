"""End to end over HTTP (issue 12): the staff register and assignment, the yearly
evaluation and its improvement plan, officers reading the reports, and an officer
token's tier in the history."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.runtime import System
from services.staff import passwords
from tests.conftest import People

pytestmark = pytest.mark.e2e

BUDI = {"actor": "budi", "name": "Budi Santoso", "role": "officer", "unit": "perizinan",
        "competences": [{"name": "Diklat PTSP", "certified_on": "2025-11-03"},
                        {"name": "Diklat OSS"}]}
APPLICATION = {
    "channel": "oss", "service_code": "SS-KBLI-10510",
    "applicant": {"name": "Siti Rahma"},
    "business": {"name": "CV Susu Murni", "kbli": "10510", "scale": "kecil",
                 "in_industrial_estate": True, "address": "Jl. Veteran 139, Purwakarta"}}


async def new_application(http: httpx.AsyncClient, people: People, external_id: str) -> str:
    r = await http.post("/applications", json={**APPLICATION, "external_id": external_id},
                        headers=people["oss"])
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


# -- the staff register -------------------------------------------------------------------
async def test_the_head_registers_staff_and_supervision_reads_the_register(
        http: httpx.AsyncClient, people: People) -> None:
    r = await http.post("/staff", json=BUDI, headers=people["head"])
    assert r.status_code == 201, r.text
    member = r.json()
    assert {k: member[k] for k in ("actor", "name", "role", "unit", "tier", "active")} == {
        "actor": "budi", "name": "Budi Santoso", "role": "officer", "unit": "perizinan",
        "tier": "pelaksana", "active": True}
    assert member["competences"] == [{"name": "Diklat PTSP", "certified_on": "2025-11-03"},
                                     {"name": "Diklat OSS", "certified_on": None}]
    # The same entry again: 200, nothing new; a changed one replaces it.
    r = await http.post("/staff", json=BUDI, headers=people["head"])
    assert r.status_code == 200
    r = await http.post("/staff", json={**BUDI, "tier": "kepala_seksi"}, headers=people["head"])
    assert (r.status_code, r.json()["tier"]) == (200, "kepala_seksi")

    for who in ("supervisor", "head", "auditor"):
        r = await http.get("/staff", headers=people[who])
        assert r.status_code == 200 and [m["actor"] for m in r.json()] == ["budi"], who
        r = await http.get("/staff/budi", headers=people[who])
        assert r.json()["tier"] == "kepala_seksi", who
    assert (await http.get("/staff/nobody", headers=people["head"])).status_code == 404
    assert (await http.get("/staff?unit=pengaduan", headers=people["head"])).json() == []
    for who, path in (("officer", "/staff"), ("oss", "/staff"), ("officer", "/staff/budi")):
        assert (await http.get(path, headers=people[who])).status_code == 403, (who, path)
    for who in ("supervisor", "auditor", "officer"):
        r = await http.post("/staff", json=BUDI, headers=people[who])
        assert r.status_code == 403, who


async def test_assignment_takes_only_a_registered_active_officer_of_the_unit(
        http: httpx.AsyncClient, people: People, system: System) -> None:
    case = await new_application(http, people, "OSS-ASSIGN")

    async def assign(officer: str) -> httpx.Response:
        return await http.post(f"/applications/{case}/assignment", json={"officer": officer},
                               headers=people["supervisor"])

    # Not registered: 422 naming `officer` (a token for that actor works all the same).
    r = await assign("budi")
    assert (r.status_code, r.json()["extra"]["field"]) == (422, "officer")
    assert "not in the staff register" in r.json()["detail"]
    await http.post("/staff", json=BUDI, headers=people["head"])
    await http.post("/staff", json={**BUDI, "actor": "dewi", "unit": "pengaduan"},
                    headers=people["head"])
    await http.post("/staff", json={**BUDI, "actor": "sri", "role": "supervisor", "unit": None},
                    headers=people["head"])
    for officer, why in (("dewi", "not of perizinan"), ("sri", "not an officer")):
        r = await assign(officer)
        assert (r.status_code, r.json()["extra"]["field"]) == (422, "officer"), officer
        assert why in r.json()["detail"]
    r = await assign("budi")
    assert (r.status_code, r.json()["assignee"]) == (200, "budi")

    # Disabled: no longer assigned; the tokens issued to them until now are revoked.
    r = await http.post("/staff/budi/disable", json={"reason": "pindah tugas"},
                        headers=people["head"])
    assert (r.status_code, r.json()["active"], r.json()["disabled_reason"]) == (
        200, False, "pindah tugas")
    r = await assign("budi")
    assert r.status_code == 422 and "disabled" in r.json()["detail"]
    r = await http.post("/staff/budi/disable", json={"reason": "lagi"}, headers=people["head"])
    assert (r.status_code, r.json()["extra"]["rule"]) == (409, "staff_member_already_disabled")
    await system.reload_revocations()
    r = await http.get(f"/applications/{case}", headers=people["officer"])  # budi's token
    assert r.status_code == 401
    # Registered again: active again.
    r = await http.post("/staff", json=BUDI, headers=people["head"])
    assert r.json()["active"] is True
    assert (await assign("budi")).status_code == 200


async def test_passwords_are_argon2id_and_checked_at_the_same_cost_for_strangers(
        system: System) -> None:
    assert system.pool is not None
    async with system.pool.acquire() as conn:
        await passwords.set_password(conn, "budi", "rahasia-susu-123")
        stored = await conn.fetchval("SELECT hash FROM staff_passwords WHERE actor = 'budi'")
        assert stored.startswith("$argon2id$")
        assert await passwords.check_password(conn, "budi", "rahasia-susu-123")
        assert not await passwords.check_password(conn, "budi", "rahasia-susu-124")
        assert not await passwords.check_password(conn, "nobody", "rahasia-susu-123")
        with pytest.raises(ValueError, match="at least 8"):
            await passwords.set_password(conn, "budi", "pendek")


# -- the yearly evaluation ------------------------------------------------------------------
EVALUATION = {
    "year": 2025, "summary": "IKM 2025: B (82,4). Unsur waktu terendah; 3 pengaduan biaya.",
    "actions": [{"action": "Sederhanakan alur verifikasi", "owner": "perizinan",
                 "due_on": "2026-06-30"},
                {"action": "Diklat ulang petugas loket", "owner": "kasi-pelayanan",
                 "due_on": "2026-09-30"}]}


async def test_the_head_records_the_evaluation_and_all_staff_read_it(
        http: httpx.AsyncClient, people: People) -> None:
    r = await http.post("/evaluations", json=EVALUATION, headers=people["head"])
    assert r.status_code == 201, r.text
    evaluation = r.json()
    assert (evaluation["year"], evaluation["recorded_by"], evaluation["actions_done"]) == (
        2025, "kepala", 0)
    assert [(a["n"], a["owner"], a["done"]) for a in evaluation["actions"]] == [
        (1, "perizinan", None), (2, "kasi-pelayanan", None)]
    for who in ("supervisor", "auditor", "officer", "dewi"):
        assert (await http.post("/evaluations", json=EVALUATION,
                                headers=people[who])).status_code == 403, who

    done = f"/evaluations/{evaluation['id']}/actions/2/done"
    r = await http.post(done, json={"note": "Dilaksanakan 12 Mei"}, headers=people["head"])
    assert r.status_code == 200, r.text
    assert r.json()["actions"][1]["done"]["note"] == "Dilaksanakan 12 Mei"
    assert r.json()["actions_done"] == 1
    r = await http.post(done, headers=people["head"])
    assert (r.status_code, r.json()["extra"]["rule"]) == (409, "action_already_done")
    missing = f"/evaluations/{evaluation['id']}/actions/3/done"
    assert (await http.post(missing, headers=people["head"])).status_code == 404
    r = await http.post(f"/evaluations/{evaluation['id']}/actions/1/done",
                        headers=people["officer"])
    assert r.status_code == 403

    for who in ("supervisor", "head", "auditor", "officer"):
        r = await http.get("/evaluations?year=2025", headers=people[who])
        assert r.status_code == 200, who
        assert [e["id"] for e in r.json()] == [evaluation["id"]], who
    assert (await http.get("/evaluations?year=2024", headers=people["head"])).json() == []
    assert (await http.get("/evaluations", headers=people["oss"])).status_code == 403


@pytest.mark.parametrize(("path", "change", "status", "field"), [
    ("/staff", {"role": "channel"}, 422, "role"),
    ("/staff", {"tier": "kepala_kantor"}, 400, "tier"),
    ("/staff", {"actor": "budi santoso"}, 400, "actor"),
    ("/staff", {"actor": 5}, 400, "actor"),
    ("/staff", {"unit": None}, 422, "unit"),
    ("/staff", {"competences": [{"name": "Diklat", "certified_on": "3 Nov"}]}, 400,
     "competences[0].certified_on"),
    ("/evaluations", {"year": 2031}, 422, "year"),   # the simulated clock stands in 2026
    ("/evaluations", {"year": 1999}, 400, "year"),
    ("/evaluations", {"summary": ""}, 400, "summary"),
    ("/evaluations", {"actions": [{"action": "x", "owner": "y"}]}, 400, "actions[0]"),
])
async def test_a_bad_entry_names_the_field(http: httpx.AsyncClient, people: People, path: str,
                                           change: dict[str, Any], status: int,
                                           field: str) -> None:
    body = BUDI if path == "/staff" else EVALUATION
    r = await http.post(path, json={**body, **change}, headers=people["head"])
    assert r.status_code == status, r.text
    extra = r.json()["extra"]
    assert (extra[0]["key"] if status == 400 else extra["field"]).startswith(field)


# -- officers read the reports (aggregates only) --------------------------------------------
async def test_officers_read_the_reports_but_not_the_queues(
        http: httpx.AsyncClient, people: People) -> None:
    for path in ("/reports/monthly/2026-03", "/reports/satisfaction/2026-Q1",
                 "/reports/yearly/2026"):
        for who in ("officer", "dewi", "kasi"):
            r = await http.get(path, headers=people[who])
            assert r.status_code == 200, (who, path, r.text)
        assert (await http.get(path, headers=people["oss"])).status_code == 403
    for path in ("/queues/escalation", "/sla"):
        assert (await http.get(path, headers=people["officer"])).status_code == 403


# -- an officer token's tier -----------------------------------------------------------------
async def test_an_officer_token_without_a_tier_acts_at_pelaksana_in_the_history(
        http: httpx.AsyncClient, people: People, token: Any) -> None:
    case = await new_application(http, people, "OSS-TIER")
    untiered = token("officer", "ani", unit="perizinan")
    r = await http.post(f"/applications/{case}/return", json={"reason": "x"}, headers=untiered)
    assert r.status_code == 409  # not complete yet: refused by the state, not the tier
    r = await http.post(f"/applications/{case}/verification",
                        json={"results": dict.fromkeys(
                            ("U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4"), True)},
                        headers=untiered)
    assert r.status_code == 200, r.text
    history = (await http.get(f"/cases/{case}/history", headers=people["auditor"])).json()
    assert history[-1]["actor"]["id"] == "ani"
    assert history[-1]["data"]["actor"]["tier"] == "pelaksana"
