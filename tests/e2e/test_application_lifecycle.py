"""End to end over HTTP: an application from intake to a verifiable certificate."""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from typing import Any

import httpx
import pytest

from tests.certificates import forged_signature
from tests.conftest import People
from tests.intake import idempotent_intake

pytestmark = pytest.mark.e2e

ALL_MET = dict.fromkeys(("U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4"), True)


def intake(external_id: str = "OSS-0001", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "oss", "external_id": external_id, "service_code": "SS-KBLI-10510",
        "applicant": {"name": "Siti Rahma", "nik": "3214010101800001", "email": "siti@example.id"},
        "business": {"name": "CV Susu Murni", "kbli": "10510", "scale": "kecil",
                     "in_industrial_estate": True, "address": "Jl. Veteran 139, Purwakarta"},
    }
    body.update(changes)
    return body


async def submit(http: httpx.AsyncClient, people: People, **changes: Any) -> dict[str, Any]:
    r = await http.post("/applications", json=intake(**changes), headers=people["oss"])
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def test_full_lifecycle_to_a_verifiable_certificate(
        http: httpx.AsyncClient, people: People) -> None:
    created = await submit(http, people)
    case = created["id"]
    assert created["status"] == "awaiting_verification"
    assert created["tracking_number"].startswith("PRM-")

    # One requirement unmet: back to the applicant, the clock has not started.
    r = await http.post(f"/applications/{case}/verification",
                        json={"results": {**ALL_MET, "K2": False}, "note": "struktur organisasi"},
                        headers=people["officer"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "returned_for_correction"
    assert r.json()["unmet_requirements"] == ["K2"]
    assert r.json()["sla"]["state"] == "not_started"

    r = await http.post(f"/applications/{case}/resubmission", json={"note": "dilengkapi"},
                        headers=people["oss"])
    assert r.json()["status"] == "awaiting_verification"

    r = await http.post(f"/applications/{case}/verification", json={"results": ALL_MET},
                        headers=people["officer"])
    body = r.json()
    assert body["status"] == "complete"
    assert body["sla"]["state"] == "running"
    assert body["fee"] == 0

    r = await http.post(f"/applications/{case}/technical-review",
                        json={"recommendation": "approve", "note": "sarana produksi sesuai"},
                        headers=people["officer"])
    assert r.json()["status"] == "reviewed"

    r = await http.post(f"/applications/{case}/decision",
                        json={"outcome": "approve", "reason": "memenuhi standar"},
                        headers=people["supervisor"])
    assert r.json()["status"] == "approved"

    r = await http.post(f"/applications/{case}/issuance", headers=people["supervisor"])
    assert r.status_code == 200, r.text
    issued = r.json()
    assert issued["status"] == "issued"
    assert len(issued["nib"]) == 13
    # No NIB came with the intake: a stand-in, marked as such (OSS issues the real one).
    assert issued["nib_source"] == "derived"
    assert issued["certificate"]["nib_source"] == "derived"
    assert issued["sla"]["state"] == "met"

    url = httpx.URL(issued["verification_url"])
    r = await http.get(url.path, params=dict(url.params))
    assert r.status_code == 200
    assert r.json()["valid"] is True
    assert r.json()["business_name"] == "CV Susu Murni"
    assert r.json()["nib_source"] == "derived"

    # A forged copy (wrong signature in the QR link) is not valid.
    r = await http.get(url.path, params={"sig": "AAAA" + url.params["sig"][4:]})
    assert r.json()["valid"] is False

    r = await http.get(f"/applications/{case}", headers=people["auditor"])
    assert r.json()["certificate"]["certificate_number"] == issued["certificate_number"]


async def test_revoked_certificate_is_no_longer_valid(
        http: httpx.AsyncClient, people: People) -> None:
    case = (await submit(http, people, external_id="OSS-REV"))["id"]
    url = f"/applications/{case}"
    await http.post(f"{url}/verification", json={"results": ALL_MET}, headers=people["officer"])
    await http.post(f"{url}/technical-review", json={"recommendation": "approve"},
                    headers=people["officer"])
    await http.post(f"{url}/decision", json={"outcome": "approve"}, headers=people["supervisor"])
    issued = await http.post(f"{url}/issuance", headers=people["supervisor"])
    number = issued.json()["certificate_number"]
    r = await http.post(f"/applications/{case}/certificate-revocation",
                        json={"reason": "izin dicabut"}, headers=people["head"])
    assert r.status_code == 200
    r = await http.get(f"/certificates/{number}")
    assert r.json()["valid"] is False and r.json()["revoked"]["reason"] == "izin dicabut"
    assert (await http.get("/certificates/SS-10510-2026-NOTACERTIFICATE")).status_code == 404


async def issue(http: httpx.AsyncClient, people: People, external_id: str,
                **changes: Any) -> dict[str, Any]:
    case = (await submit(http, people, external_id=external_id, **changes))["id"]
    url = f"/applications/{case}"
    for path, body, who in (("verification", {"results": ALL_MET}, "officer"),
                            ("technical-review", {"recommendation": "approve"}, "officer"),
                            ("decision", {"outcome": "approve"}, "supervisor")):
        r = await http.post(f"{url}/{path}", json=body, headers=people[who])
        assert r.status_code == 200, r.text
    r = await http.post(f"{url}/issuance", headers=people["supervisor"])
    assert r.status_code == 200, r.text
    issued: dict[str, Any] = r.json()
    return issued


async def test_certificate_numbers_and_nibs_cannot_be_worked_out(
        http: httpx.AsyncClient, people: People) -> None:
    first, second = (await issue(http, people, "OSS-RND-1"), await issue(http, people, "OSS-RND-2"))
    for issued in (first, second):
        number = issued["certificate_number"]
        assert re.fullmatch(r"SS-10510-\d{4}-[A-Z2-7]{34}", number), number
        # What could be derived from the case alone (its id in base32) names nothing.
        case_code = base64.b32encode(uuid.UUID(issued["id"]).bytes).decode().rstrip("=")
        derivable = number.rsplit("-", 1)[0] + "-" + case_code
        assert (await http.get(f"/certificates/{derivable}")).status_code == 404
    assert first["nib"] != second["nib"]
    assert first["certificate_number"][-8:] != second["certificate_number"][-8:]


async def test_the_public_check_names_the_business_only_to_the_copy_holder(
        http: httpx.AsyncClient, people: People) -> None:
    issued = await issue(http, people, "OSS-NAME")
    number, sig = issued["certificate_number"], issued["certificate"]["signature"]
    bare = (await http.get(f"/certificates/{number}")).json()
    assert bare["valid"] is True and bare["business_name"] is None
    forged = (await http.get(f"/certificates/{number}",
                             params={"sig": forged_signature(sig)})).json()
    assert forged["valid"] is False and forged["business_name"] is None
    held = (await http.get(f"/certificates/{number}", params={"sig": sig})).json()
    assert held["valid"] is True and held["business_name"] == "CV Susu Murni"


async def test_intake_is_idempotent_on_channel_and_external_id(
        http: httpx.AsyncClient, people: People) -> None:
    await idempotent_intake(http, "/applications", intake("OSS-DUP"), people["oss"],
                            "mpp_counter", people["mpp"])


async def test_concurrent_duplicates_create_one_case(
        http: httpx.AsyncClient, people: People) -> None:
    responses = await asyncio.gather(*[
        http.post("/applications", json=intake("OSS-RACE"), headers=people["oss"])
        for _ in range(10)
    ])
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json()["id"] for r in responses}) == 1


async def test_two_officers_at_once_one_wins_the_other_gets_409(
        http: httpx.AsyncClient, people: People) -> None:
    case = (await submit(http, people, external_id="OSS-TWO"))["id"]
    results = await asyncio.gather(
        *(http.post(f"/applications/{case}/verification", json={"results": ALL_MET},
                    headers=people[who]) for who in ("officer", "officer2")))
    assert sorted(r.status_code for r in results) == [200, 409]
    loser = next(r for r in results if r.status_code == 409).json()
    assert loser["extra"]["rule"] in ("concurrent_write_lost",
                                      "verification_not_allowed_when_complete")
    state = (await http.get(f"/applications/{case}", headers=people["supervisor"])).json()
    assert state["status"] == "complete" and len(state["verifications"]) == 1


@pytest.mark.parametrize(("step", "body", "who", "rule"), [
    ("issuance", None, "supervisor", "issuance_requires_approval"),
    ("decision", {"outcome": "approve"}, "supervisor",
     "decision_not_allowed_when_awaiting_verification"),
    ("technical-review", {"recommendation": "approve"}, "officer",
     "technical_review_not_allowed_when_awaiting_verification"),
    ("resubmission", {}, "oss", "resubmission_not_allowed_when_awaiting_verification"),
])
async def test_steps_out_of_order_are_409_naming_the_rule(
        http: httpx.AsyncClient, people: People, step: str, body: dict[str, Any] | None,
        who: str, rule: str) -> None:
    case = (await submit(http, people, external_id=f"OSS-ORDER-{step}"))["id"]
    r = await http.post(f"/applications/{case}/{step}", json=body, headers=people[who])
    assert r.status_code == 409, r.text
    assert r.json()["extra"]["rule"] == rule


async def test_verifying_twice_is_409(http: httpx.AsyncClient, people: People) -> None:
    case = (await submit(http, people, external_id="OSS-TWICE"))["id"]
    assert (await http.post(f"/applications/{case}/verification", json={"results": ALL_MET},
                            headers=people["officer"])).status_code == 200
    r = await http.post(f"/applications/{case}/verification", json={"results": ALL_MET},
                        headers=people["officer"])
    assert r.status_code == 409


async def test_bad_input_names_the_field(http: httpx.AsyncClient, people: People) -> None:
    h = {**people["oss"], "content-type": "application/json"}
    r = await http.post("/applications", content=b'{"channel": "oss",', headers=h)
    assert r.status_code == 400
    r = await http.post("/applications", json=intake(service_code="NOPE"), headers=people["oss"])
    assert r.status_code == 422 and r.json()["extra"]["field"] == "service_code"
    bad_kbli = intake()
    bad_kbli["business"] = {**bad_kbli["business"], "kbli": "10-510"}
    r = await http.post("/applications", json=bad_kbli, headers=people["oss"])
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "business.kbli"
    r = await http.post("/applications", json=intake(business={"name": "x"}), headers=people["oss"])
    assert r.status_code == 400 and "business" in r.json()["extra"][0]["key"]
    missing = intake()
    del missing["applicant"]
    r = await http.post("/applications", json=missing, headers=people["oss"])
    assert r.status_code == 400 and "applicant" in r.text
    r = await http.post("/applications", json=intake(channel="fax"), headers=people["oss"])
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "channel"
    too_big = b'{"x": "' + b"a" * (1024 * 1024) + b'"}'
    r = await http.post("/applications", content=too_big, headers=h)
    assert r.status_code == 413
    case = (await submit(http, people, external_id="OSS-BAD"))["id"]
    r = await http.post(f"/applications/{case}/verification", json={"results": {"U1": True}},
                        headers=people["officer"])
    assert r.status_code == 422 and r.json()["extra"]["field"] == "results"
    r = await http.get(f"/applications/{case[:-1]}0", headers=people["officer"])
    assert r.status_code == 404


async def test_every_write_needs_a_token_and_the_right_role(
        http: httpx.AsyncClient, people: People) -> None:
    assert (await http.post("/applications", json=intake())).status_code == 401
    r = await http.post("/applications", json=intake(),
                        headers={"Authorization": "Bearer forged.token"})
    assert r.status_code == 401
    # A channel submits only for its own channel.
    r = await http.post("/applications", json=intake(channel="web_mpp"), headers=people["oss"])
    assert r.status_code == 403
    case = (await submit(http, people, external_id="OSS-ROLES"))["id"]
    # An officer of another unit: the case is not theirs to see, answered like an unknown one.
    r = await http.post(f"/applications/{case}/verification", json={"results": ALL_MET},
                        headers=people["dewi"])
    assert r.status_code == 404 and r.json()["detail"] == f"no application {case}"
    r = await http.post(f"/applications/{case}/verification", json={"results": ALL_MET},
                        headers=people["auditor"])
    assert r.status_code == 403
    assert (await http.get("/health")).status_code == 200
    assert (await http.get("/services")).status_code == 200


async def test_catalogue_lists_the_seed_requirements(http: httpx.AsyncClient) -> None:
    services = (await http.get("/services")).json()
    kbli = next(s for s in services if s["kbli"] == "10510")
    assert kbli["fee"] == 0 and kbli["sla_working_days"] == 7 and kbli["unit"] == "perizinan"
    groups = [r["group"] for r in kbli["requirements"]]
    assert groups.count("general") == 4 and groups.count("special") == 4
    assert kbli["information"], "the fifth general item is shown as information"


# -- issue 12: the NIB, the procedure, scale and location -----------------------------------
async def test_a_business_keeps_the_nib_oss_gave_it_across_its_applications(
        http: httpx.AsyncClient, people: People) -> None:
    business = {**intake()["business"], "nib": "9120304050607"}
    first = await issue(http, people, "OSS-NIB-1", business=business)
    second = await issue(http, people, "OSS-NIB-2", business=business)
    assert first["nib"] == second["nib"] == "9120304050607"
    assert first["nib_source"] == second["nib_source"] == "given"
    assert first["business"]["nib"] == "9120304050607"
    # The certificate signs the NIB and where it came from; the public check shows both.
    r = await http.get(f"/certificates/{first['certificate_number']}")
    assert (r.json()["valid"], r.json()["nib"], r.json()["nib_source"]) == (
        True, "9120304050607", "given")
    # A NIB is 13 digits.
    r = await http.post("/applications", headers=people["oss"], json=intake(
        "OSS-NIB-BAD", business={**business, "nib": "12345"}))
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "business.nib"


async def test_the_procedure_classification_is_kept_with_the_case(
        http: httpx.AsyncClient, people: People) -> None:
    case = (await submit(http, people, external_id="OSS-PROC", procedure_classification=7))["id"]
    view = (await http.get(f"/applications/{case}", headers=people["officer"])).json()
    assert view["procedure_classification"] == 7
    r = await http.post("/applications", headers=people["oss"],
                        json=intake("OSS-PROC-BAD", procedure_classification=5))
    assert r.status_code == 422 and r.json()["extra"]["field"] == "procedure_classification"
    plain = (await submit(http, people, external_id="OSS-PROC-NONE"))["id"]
    view = (await http.get(f"/applications/{plain}", headers=people["officer"])).json()
    assert view["procedure_classification"] is None and view["business"]["nib"] is None


@pytest.mark.parametrize(("business", "code", "rule"), [
    ({"scale": "besar"}, "U1", "scale_not_small_or_medium"),
    ({"scale": "mikro"}, "U1", "scale_not_small_or_medium"),
    ({"in_industrial_estate": False}, "U4", "not_in_industrial_estate"),
])
async def test_a_requirement_marked_met_against_the_business_is_refused(
        http: httpx.AsyncClient, people: People, business: dict[str, Any], code: str,
        rule: str) -> None:
    case = (await submit(http, people, external_id=f"OSS-{code}-{len(str(business))}",
                         business={**intake()["business"], **business}))["id"]
    r = await http.post(f"/applications/{case}/verification", json={"results": ALL_MET},
                        headers=people["officer"])
    assert r.status_code == 422, r.text
    assert (r.json()["extra"]["rule"], r.json()["extra"]["field"]) == (rule, f"results.{code}")
    view = (await http.get(f"/applications/{case}", headers=people["officer"])).json()
    assert (view["status"], view["version"]) == ("awaiting_verification", 1)
    # Marked unmet, the file goes back to the applicant as for any other requirement.
    r = await http.post(f"/applications/{case}/verification",
                        json={"results": {**ALL_MET, code: False}}, headers=people["officer"])
    assert r.json()["status"] == "returned_for_correction"


async def test_outside_an_industrial_estate_u4_is_met_only_on_the_stated_ground(
        http: httpx.AsyncClient, people: People) -> None:
    case = (await submit(http, people, external_id="OSS-P65",
                         business={**intake()["business"], "in_industrial_estate": False}))["id"]
    ground = "Industri kecil di luar kawasan industri (Pasal 65 PP 5/2021)"
    r = await http.post(f"/applications/{case}/verification",
                        json={"results": ALL_MET, "exceptions": {"U4": ground}},
                        headers=people["officer"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "complete"
    assert r.json()["verifications"][-1]["exceptions"] == {"U4": ground}
