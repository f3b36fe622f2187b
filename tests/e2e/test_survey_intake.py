"""End to end over HTTP: survey responses (API.md, "Satisfaction survey (SKM)") — intake,
idempotence, bad scores, channels, linked cases — and who may read the reports."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from services.runtime import System
from services.surveys.domain import response_id
from tests.conftest import People

pytestmark = pytest.mark.e2e

ALL_FOUR = dict.fromkeys(("requirements", "procedure", "time", "fee", "product", "competence",
                          "behaviour", "facilities", "complaint_handling"), 4)


def answer(external_id: str = "SKM-0001", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "whatsapp", "external_id": external_id, "service_code": "SS-KBLI-10510",
        "scores": {**ALL_FOUR, "time": 3},
        "respondent": {"age_band": "30_39", "sex": "female", "education": "s1",
                       "occupation": "entrepreneur"},
    }
    body.update(changes)
    return body


async def test_a_response_is_201_and_a_repeat_200_with_the_same_body(
        http: httpx.AsyncClient, system: System, people: People) -> None:
    r = await http.post("/surveys/responses", json=answer(), headers=people["whatsapp"])
    assert r.status_code == 201, r.text
    assert r.json() == {"id": str(response_id("whatsapp", "SKM-0001"))}
    again = await http.post("/surveys/responses", json=answer(scores={"time": 1}),
                            headers=people["whatsapp"])
    assert again.status_code == 200 and again.json() == r.json()
    stored = await system.surveys.get(uuid.UUID(r.json()["id"]))
    assert stored.version == 1 and stored.scores["time"] == 3  # the repeat wrote nothing
    assert stored.respondent == answer()["respondent"]


async def test_elements_may_be_left_out_and_respondent_facts_are_optional(
        http: httpx.AsyncClient, people: People) -> None:
    r = await http.post("/surveys/responses", headers=people["whatsapp"], json=answer(
        "SKM-0002", scores={"time": 2, "complaint_handling": None}, respondent=None))
    assert r.status_code == 201, r.text
    r = await http.post("/surveys/responses", headers=people["whatsapp"], json=answer(
        "SKM-0003", respondent={"sex": "male"}, responded_at="2026-03-14T10:00:00"))
    assert r.status_code == 201, r.text


async def test_bad_scores_are_400_naming_the_field(http: httpx.AsyncClient, people: People) -> None:
    h = people["whatsapp"]
    for scores, key in (({"time": 5}, "scores.time"), ({"time": 0}, "scores.time"),
                        ({"fee": True}, "scores.fee"), ({"fee": 3.5}, "scores.fee"),
                        ({"behavior": 3}, "scores")):
        r = await http.post("/surveys/responses", json=answer("SKM-BAD", scores=scores), headers=h)
        assert r.status_code == 400, (scores, r.text)
        assert r.json()["extra"][0]["key"] == key, r.text
    r = await http.post("/surveys/responses", json=answer("SKM-BAD", scores={}), headers=h)
    assert r.status_code == 422 and r.json()["extra"]["field"] == "scores"
    missing = answer("SKM-BAD")
    del missing["scores"]
    r = await http.post("/surveys/responses", json=missing, headers=h)
    assert r.status_code == 400 and "scores" in r.text
    r = await http.post("/surveys/responses", json=answer("SKM-BAD", respondent={"sex": "x"}),
                        headers=h)
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "respondent.sex"
    r = await http.post("/surveys/responses", json=answer("SKM-BAD", service_code="NOPE"),
                        headers=h)
    assert r.status_code == 422 and r.json()["extra"]["field"] == "service_code"
    r = await http.post("/surveys/responses", headers=h,
                        json=answer("SKM-BAD", responded_at="2030-01-01T00:00:00+07:00"))
    assert r.status_code == 422 and r.json()["extra"]["field"] == "responded_at"
    r = await http.post("/surveys/responses", content=b'{"channel": "whatsapp",',
                        headers={**h, "content-type": "application/json"})
    assert r.status_code == 400


async def test_a_channel_answers_only_for_itself(http: httpx.AsyncClient, people: People) -> None:
    r = await http.post("/surveys/responses", json=answer("SKM-X", channel="email"),
                        headers=people["whatsapp"])
    assert r.status_code == 403
    for who in ("dewi", "supervisor", "auditor"):
        r = await http.post("/surveys/responses", json=answer("SKM-X"), headers=people[who])
        assert r.status_code == 403, who
    r = await http.post("/surveys/responses", json=answer("SKM-X"))
    assert r.status_code == 401
    # Any intake channel takes surveys, an application-only one too.
    r = await http.post("/surveys/responses", json=answer("SKM-OSS", channel="oss"),
                        headers=people["oss"])
    assert r.status_code == 201


async def test_a_response_may_name_the_case_it_was_about(
        http: httpx.AsyncClient, people: People) -> None:
    application = {
        "channel": "oss", "external_id": "OSS-SKM-1", "service_code": "SS-KBLI-10510",
        "applicant": {"name": "Siti"},
        "business": {"name": "CV Susu", "kbli": "10510", "scale": "kecil",
                     "in_industrial_estate": False, "address": "Jl. Veteran"}}
    r = await http.post("/applications", json=application, headers=people["oss"])
    assert r.status_code == 201
    case_id = r.json()["id"]
    r = await http.post("/surveys/responses", json=answer("SKM-CASE", case_id=case_id),
                        headers=people["whatsapp"])
    assert r.status_code == 201, r.text
    r = await http.post("/surveys/responses", headers=people["whatsapp"],
                        json=answer("SKM-NOCASE", case_id=str(uuid.uuid4())))
    assert r.status_code == 422 and r.json()["extra"]["field"] == "case_id"
    r = await http.post("/surveys/responses", json=answer("SKM-BADID", case_id="abc"),
                        headers=people["whatsapp"])
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "case_id"


async def test_reports_are_for_every_member_of_staff(
        http: httpx.AsyncClient, people: People) -> None:
    # Issue 12: evaluation results go to all staff, officers too (aggregates only).
    for who in ("supervisor", "head", "auditor", "dewi"):
        r = await http.get("/reports/satisfaction/2026-Q1", headers=people[who])
        assert r.status_code == 200, (who, r.text)
        assert {"ikm", "grade", "respondents", "elements"} <= set(r.json())
        r = await http.get("/reports/yearly/2026", headers=people[who])
        assert r.status_code == 200, (who, r.text)
    r = await http.get("/reports/satisfaction/2026-Q1", headers=people["whatsapp"])
    assert r.status_code == 403
    assert (await http.get("/reports/yearly/2026", headers=people["whatsapp"])).status_code == 403
    r = await http.get("/reports/satisfaction/2026-Q5", headers=people["supervisor"])
    assert r.status_code == 422 and r.json()["extra"]["field"] == "quarter"
    r = await http.get("/reports/yearly/26", headers=people["supervisor"])
    assert r.status_code == 422 and r.json()["extra"]["field"] == "year"
    assert (await http.get("/reports/satisfaction/2026-Q1")).status_code == 401


async def test_respondent_facts_of_a_named_case_are_sealed_and_erased_with_its_person(
        http: httpx.AsyncClient, system: System, people: People) -> None:
    # Issue 12, item 7: facts that describe a case's person are that person's data.
    application = {
        "channel": "oss", "external_id": "OSS-SKM-SEAL", "service_code": "SS-KBLI-10510",
        "applicant": {"name": "Siti", "nik": "3214015505900002"},
        "business": {"name": "CV Susu", "kbli": "10510", "scale": "kecil",
                     "in_industrial_estate": False, "address": "Jl. Veteran"}}
    r = await http.post("/applications", json=application, headers=people["oss"])
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    r = await http.post("/surveys/responses", json=answer("SKM-SEAL", case_id=case_id),
                        headers=people["whatsapp"])
    assert r.status_code == 201, r.text
    stored = await system.surveys.get(uuid.UUID(r.json()["id"]))
    envelope = stored.respondent
    assert envelope is not None and set(envelope) == {"subject", "kid", "sealed", "v"}
    assert "30_39" not in str(envelope)  # no fact in the clear in the event
    vault = system.vault
    assert vault is not None
    await vault.prefetch([envelope])
    assert vault.open(envelope) == answer()["respondent"]
    # Without a case, the facts describe nobody in particular: kept as given.
    r = await http.post("/surveys/responses", json=answer("SKM-ANON"),
                        headers=people["whatsapp"])
    anonymous = await system.surveys.get(uuid.UUID(r.json()["id"]))
    assert anonymous.respondent == answer()["respondent"]

    r = await http.post(f"/applications/{case_id}/erasure", headers=people["head"],
                        json={"reason": "permintaan subjek data"})
    assert r.status_code == 200, r.text
    await vault.prefetch([envelope])
    assert vault.open(envelope) == {"erased": True}
