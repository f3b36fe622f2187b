"""One answer to the satisfaction survey (SKM, PermenPANRB 14/2017). Pure domain: no
I/O, no wall clock.

A response is written once and never changes: it scores some or all of the nine
elements 1-4 and may carry respondent facts (age band, sex, education, occupation).
Those facts are personal data and live in one place, the `respondent` dict, so that
encrypting or erasing them later touches nothing else.

Intake is idempotent on (channel, external_id): the id is derived from it, so a second
submission collides with the first inside the event store.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, get_args

from eventsourcing.domain import Aggregate, event

from contracts.surveys import AgeBand, Education, Occupation, Sex
from contracts.vocabulary import CASE_TYPES, CHANNELS
from services.domain.clock import stated_time
from services.domain.errors import InvalidInput
from services.surveys.ikm import ELEMENTS, MAX_SCORE, MIN_SCORE

NAMESPACE = uuid.UUID("5b0f7a8e-2c4d-4e61-9f3a-7d2e1c6b8a94")

# The respondent facts and their closed vocabularies, as the contract declares them.
RESPONDENT_FACTS: dict[str, tuple[str, ...]] = {
    "age_band": get_args(AgeBand), "sex": get_args(Sex), "education": get_args(Education),
    "occupation": get_args(Occupation),
}


def response_id(channel: str, external_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"survey:{channel}:{external_id}")


def check_scores(scores: dict[str, Any]) -> dict[str, int]:
    """The answered elements only, in the regulation's order; each 1-4, at least one."""
    if not isinstance(scores, dict):
        raise InvalidInput("scores", "must be an object of element: score")
    for key in scores:
        if key not in ELEMENTS:
            raise InvalidInput(f"scores.{key}",
                               f"not a survey element; the elements are {', '.join(ELEMENTS)}")
    answered: dict[str, int] = {}
    for key in ELEMENTS:
        score = scores.get(key)
        if score is None:
            continue
        if isinstance(score, bool) or not isinstance(score, int) \
                or not MIN_SCORE <= score <= MAX_SCORE:
            raise InvalidInput(f"scores.{key}", f"must be a whole number {MIN_SCORE}-{MAX_SCORE}")
        answered[key] = score
    if not answered:
        raise InvalidInput("scores", "score at least one element")
    return answered


def check_respondent(respondent: dict[str, Any] | None) -> dict[str, str] | None:
    """The facts given (blank ones left out); None when there are none."""
    if respondent is None:
        return None
    if not isinstance(respondent, dict):
        raise InvalidInput("respondent", "must be an object or null")
    given: dict[str, str] = {}
    for key, value in respondent.items():
        if key not in RESPONDENT_FACTS:
            raise InvalidInput(f"respondent.{key}", "not a respondent fact; they are "
                               f"{', '.join(RESPONDENT_FACTS)}")
        if value is None:
            continue
        if value not in RESPONDENT_FACTS[key]:
            raise InvalidInput(f"respondent.{key}",
                               f"must be one of {', '.join(RESPONDENT_FACTS[key])}")
        given[key] = value
    return given or None


class SurveyResponse(Aggregate):
    @staticmethod
    def create_id(channel: str, external_id: str, **_: Any) -> uuid.UUID:
        return response_id(channel, external_id)

    @classmethod
    def respond(cls, channel: str, external_id: str, service_code: str,
                scores: dict[str, Any], respondent: dict[str, Any] | None,
                linked_case_id: str | None, linked_case_type: str | None,
                responded_at: datetime | None, actor: dict[str, Any],
                at: datetime,
                seal: Callable[[dict[str, str]], dict[str, Any]] | None = None,
                ) -> SurveyResponse:
        """Record an answer. `at` is when the system records it; `responded_at` when the
        respondent filled it in (default `at`): the quarter it counts in. `seal`: given
        when the response names a case, whose person the facts then describe (issue 12,
        item 7): the facts are checked in the clear, then kept sealed under that
        person's data subject, so their erasure erases these facts too."""
        if channel not in CHANNELS:
            raise InvalidInput("channel", f"must be one of {', '.join(CHANNELS)}")
        if not external_id.strip():
            raise InvalidInput("external_id", "must not be empty")
        if not service_code.strip():
            raise InvalidInput("service_code", "must name the service")
        answered = check_scores(scores)
        facts = check_respondent(respondent)
        if (linked_case_id is None) != (linked_case_type is None):
            raise InvalidInput("case_id", "a linked case needs its id and its type")
        if linked_case_type is not None and linked_case_type not in CASE_TYPES:
            raise InvalidInput("case_id", "must be an application or a complaint")
        if facts is not None and seal is not None:
            sealed: dict[str, Any] | None = seal(facts)
        else:
            sealed = facts
        return cls(channel=channel, external_id=external_id, service_code=service_code,
                   scores=answered, respondent=sealed, linked_case_id=linked_case_id,
                   linked_case_type=linked_case_type,
                   responded_at=stated_time("responded_at", responded_at, at),
                   actor=actor, at=at)

    @event("Responded")
    def __init__(self, channel: str, external_id: str, service_code: str,
                 scores: dict[str, int], respondent: dict[str, Any] | None,
                 linked_case_id: str | None, linked_case_type: str | None,
                 responded_at: datetime, actor: dict[str, Any], at: datetime) -> None:
        self.channel = channel
        self.external_id = external_id
        self.service_code = service_code
        self.scores = dict(scores)
        self.respondent = dict(respondent) if respondent is not None else None
        self.linked_case_id = linked_case_id
        self.linked_case_type = linked_case_type
        self.responded_at = responded_at
        self.recorded_at = at
