"""The survey response's rules as given / when / then on the `SurveyResponse` aggregate,
its contract, and the read model's fold."""

from __future__ import annotations

import typing
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from contracts import surveys as contracts
from projections.survey_responses import evolve
from services.domain.errors import InvalidInput
from services.surveys.application import CONTRACTS
from services.surveys.domain import RESPONDENT_FACTS, SurveyResponse, response_id
from services.surveys.ikm import ELEMENTS
from tests.unit.gwt import given

WIB = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 3, 31, 16, 0, tzinfo=WIB)
CHANNEL = {"id": "wa-gateway", "role": "channel", "channel": "whatsapp", "tier": None,
           "unit": None}


def respond(**changes: Any) -> SurveyResponse:
    args: dict[str, Any] = {
        "channel": "whatsapp", "external_id": "SKM-1", "service_code": "SS-KBLI-10510",
        "scores": {"requirements": 4, "time": 3, "fee": None},
        "respondent": {"age_band": "30_39", "sex": "female", "education": None},
        "linked_case_id": None, "linked_case_type": None, "responded_at": None,
        "actor": CHANNEL, "at": NOW,
    }
    args.update(changes)
    return SurveyResponse.respond(**args)


def test_a_response_records_the_answered_elements_and_the_respondent_once() -> None:
    response = given(respond)
    assert response.id == response_id("whatsapp", "SKM-1")
    assert response.scores == {"requirements": 4, "time": 3}  # null: not answered
    assert response.respondent == {"age_band": "30_39", "sex": "female"}
    assert response.responded_at == NOW and response.recorded_at == NOW
    assert response.version == 1
    [event] = respond().collect_events()
    assert type(event).__name__ == "Responded"


def test_the_id_is_the_submission_so_a_repeat_is_the_same_response() -> None:
    assert respond().id == respond(scores={"time": 1}).id
    assert respond().id != respond(channel="email").id
    assert respond().id != respond(external_id="SKM-2").id


@pytest.mark.parametrize(("changes", "field"), [
    ({"scores": {}}, "scores"),
    ({"scores": {"time": None}}, "scores"),
    ({"scores": {"time": 5}}, "scores.time"),
    ({"scores": {"time": 0}}, "scores.time"),
    ({"scores": {"time": True}}, "scores.time"),
    ({"scores": {"time": 3.5}}, "scores.time"),
    ({"scores": {"behavior": 3}}, "scores.behavior"),
    ({"respondent": {"sex": "x"}}, "respondent.sex"),
    ({"respondent": {"name": "Siti"}}, "respondent.name"),
    ({"channel": "pigeon"}, "channel"),
    ({"external_id": " "}, "external_id"),
    ({"service_code": ""}, "service_code"),
    ({"linked_case_id": "abc"}, "case_id"),
    ({"responded_at": NOW + timedelta(minutes=5)}, "responded_at"),
    ({"responded_at": NOW.replace(tzinfo=None)}, "responded_at"),
])
def test_invalid_answers_are_refused_naming_the_field(changes: dict[str, Any],
                                                      field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        respond(**changes)
    assert raised.value.field == field


def test_a_paper_form_counts_when_it_was_filled_in() -> None:
    earlier = datetime(2026, 3, 2, 9, 0, tzinfo=WIB)
    assert given(lambda: respond(responded_at=earlier)).responded_at == earlier
    # A channel's clock a little ahead is skew, not the future.
    assert respond(responded_at=NOW + timedelta(seconds=30)).responded_at > NOW


def test_no_respondent_facts_is_none() -> None:
    assert respond(respondent=None).respondent is None
    assert respond(respondent={"sex": None}).respondent is None


# -- the contract --------------------------------------------------------------------------
def test_the_contract_vocabularies_are_the_domains() -> None:
    fields = {f.name: f.type for f in msgspec.structs.fields(contracts.Respondent)}
    for fact, values in RESPONDENT_FACTS.items():
        literal = next(a for a in typing.get_args(fields[fact]) if a is not type(None))
        assert typing.get_args(literal) == values, fact
    assert tuple(f.name for f in msgspec.structs.fields(contracts.Scores)) == ELEMENTS


def test_the_event_maps_to_its_contract_and_round_trips() -> None:
    response = respond(linked_case_id="3f0e6f0e-1111-4a4a-9b9b-000000000001",
                       linked_case_type="application")
    [event] = response.collect_events()
    contract = CONTRACTS.to_contract(event)
    assert CONTRACTS.tag_of(event) == "survey.responded"
    assert CONTRACTS.decode(msgspec.json.encode(contract)) == contract
    data = msgspec.to_builtins(contract)
    assert data["case_id"] == str(response.id) and data["scores"] == {"requirements": 4, "time": 3}
    assert data["respondent"] == {"age_band": "30_39", "sex": "female"}
    assert data["linked_case_type"] == "application" and data["actor"]["channel"] == "whatsapp"

    row = evolve(None, data)
    assert row is not None
    assert row["quarter"] == "2026-Q1" and row["month"] == "2026-03"
    assert "respondent" not in row  # personal data stays in the event store
    assert evolve(row, {**data, "type": "survey.something_later"}) == row


def test_the_intake_contract_refuses_what_the_domain_would() -> None:
    decode = msgspec.json.Decoder(contracts.SurveyIntake).decode
    body = b'{"channel": "email", "external_id": "E1", "service_code": "X", "scores": %s}'
    assert decode(body % b'{"time": 4, "fee": null}').scores.time == 4
    for bad, where in ((b'{"time": 5}', "$.scores.time"), (b'{"time": true}', "$.scores.time"),
                       (b'{"behavior": 3}', "$.scores")):
        with pytest.raises(msgspec.ValidationError, match=rf"`\{where}`"):
            decode(body % bad)
