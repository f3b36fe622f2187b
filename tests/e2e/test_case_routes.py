"""The routes the command tables make: typed and documented in the OpenAPI document, the
views in the API's field order, and the SLA timer's escalation run like any other row."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from contracts.applications import Applicant, ApplicationIntake, Business
from services.applications.commands import COMMANDS
from services.domain.actors import Actor
from services.domain.errors import Forbidden, InvalidInput, RuleViolation

pytestmark = pytest.mark.e2e

ALL_MET = dict.fromkeys(("U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4"), True)
APPLICATION_FIELDS = [
    "id", "tracking_number", "status", "service_code", "unit", "channel", "external_id",
    "applicant", "business", "procedure_classification", "fee", "tier", "assignee", "submitted_at",
    "declared_complete_at", "sla", "unmet_requirements", "verifications", "review",
    "decision", "certificate", "withdrawal", "audit_hold", "personal_data_erasure", "version"]
COMPLAINT_FIELDS = [
    "id", "tracking_number", "kind", "reason", "reasons", "intake_reasons", "status", "unit",
    "channel", "external_id", "complainant", "subject_matter", "description",
    "confidentiality", "audit_hold", "personal_data_erasure", "service_received_on",
    "received_at", "recorded_at", "related_application", "tier", "tier_history", "assignee",
    "sla", "reclassification", "classification", "analysis", "findings", "apip_approval",
    "track",
    "agencies", "track_history", "response", "notifications", "superior_reports", "closure",
    "version"]


def intake(external_id: str) -> dict[str, Any]:
    return {"channel": "oss", "external_id": external_id, "service_code": "SS-KBLI-10510",
            "applicant": {"name": "Siti Rahma"},
            "business": {"name": "CV Susu Murni", "kbli": "10510", "scale": "kecil",
                         "in_industrial_estate": True, "address": "Purwakarta"}}


async def test_every_case_route_documents_its_bodies_and_errors(http) -> None:
    schema = (await http.get("/schema/openapi.json")).json()
    names = schema["components"]["schemas"]
    commands = {path: ops["post"] for path, ops in schema["paths"].items()
                if path.startswith(("/applications/{case_id}/", "/complaints/{case_id}/"))}
    assert len(commands) == 10 + 12 + 3  # the two tables, erasure twice, confidentiality
    for path, op in commands.items():
        answer = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert answer["$ref"].rsplit("/", 1)[-1] in names, path
        assert {"401", "403", "404", "409"} <= set(op["responses"]), path
        assert op["summary"], path
    issuance = commands["/applications/{case_id}/issuance"]["responses"]["200"]
    assert issuance["content"]["application/json"]["schema"]["$ref"].endswith(
        "IssuedApplicationView")
    assert "`issuance_requires_approval`" in commands[
        "/applications/{case_id}/issuance"]["responses"]["409"]["description"]
    assert "requestBody" in commands["/complaints/{case_id}/track"]
    assert list(names["ApplicationView"]["properties"]) == APPLICATION_FIELDS
    assert list(names["ComplaintView"]["properties"]) == COMPLAINT_FIELDS
    for path in ("/applications", "/complaints", "/surveys/responses"):
        answers = schema["paths"][path]["post"]["responses"]
        assert answers["201"]["content"] and answers["200"]["content"], path


async def test_views_answer_in_the_api_s_field_order(http, token) -> None:
    oss, officer = token("channel", "oss-gw", channel="oss"), token(
        "officer", "budi", unit="perizinan", tier="pelaksana")
    case = (await http.post("/applications", json=intake("ROUTES-1"), headers=oss)).json()
    assert list(case) == ["id", "tracking_number", "status", "pin"]
    r = await http.post(f"/applications/{case['id']}/verification", json={"results": ALL_MET},
                        headers=officer)
    assert r.status_code == 200 and list(r.json()) == APPLICATION_FIELDS
    wa = token("channel", "wa-gw", channel="whatsapp")
    r = await http.post("/complaints", headers=wa, json={
        "channel": "whatsapp", "external_id": "ROUTES-C1", "complainant": None,
        "subject_matter": None, "description": "saran", "service_received_on": "2026-03-10"})
    assert list(r.json()) == ["id", "tracking_number", "kind", "reason", "reasons", "pin"]
    r = await http.get(f"/complaints/{r.json()['id']}", headers=token("head", "kepala"))
    assert list(r.json()) == COMPLAINT_FIELDS


async def test_a_refused_role_is_403_naming_the_policy_s_rule_whatever_the_case(
        http, token) -> None:
    officer = token("officer", "dewi", unit="pengaduan", tier="kepala_dinas")
    for case in (uuid.uuid4(), uuid.uuid4()):  # unknown cases: the role decides first
        r = await http.post(f"/complaints/{case}/apip-approval", json={"reason": "x"},
                            headers=officer)
        assert r.status_code == 403 and r.json()["extra"]["rule"] == (
            "apip_approval_requires_head")
    r = await http.post(f"/complaints/{uuid.uuid4()}/apip-approval", json={"reason": "x"},
                        headers=token("head", "kepala"))
    assert r.status_code == 404


async def test_the_sla_timer_escalates_through_the_case_service(system) -> None:
    app, _ = await system.applications.submit(ApplicationIntake(
        channel="oss", external_id="ROUTES-SLA", service_code="SS-KBLI-10510",
        applicant=Applicant(name="Siti"),
        business=Business(name="CV Susu", kbli="10510", scale="kecil",
                          in_industrial_estate=False, address="Purwakarta")),
        Actor(id="oss-gw", role="channel", channel="oss"))
    await system.escalate_for_breach("application", app.id, 1)
    escalated = await system.applications.get(app.id)
    assert escalated.tier == "kepala_seksi" and escalated.breach_escalations == [1]
    with pytest.raises(RuleViolation) as again:
        await system.escalate_for_breach("application", app.id, 1)
    assert again.value.rule == "breach_already_escalated"
    # Only the system's timer runs that row, whoever else asks.
    with pytest.raises(Forbidden):
        await system.applications.do(COMMANDS["breach-escalation"], app.id,
                                     Actor(id="kepala", role="head"), clock_span=2)
    # Called from Python, a request is checked as a body is, naming the field.
    with pytest.raises(InvalidInput) as bad:
        await system.applications.do(COMMANDS["escalation"], app.id,
                                     Actor(id="kepala", role="head"), to_tier="x", reason="r")
    assert bad.value.field == "to_tier"
