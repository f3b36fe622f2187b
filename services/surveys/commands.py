"""Intake of a survey answer (API.md, "Satisfaction survey (SKM)"), declared once for
HTTP (`POST /surveys/responses`) and NATS (`ptsp.intake.survey.<channel>`)."""

from __future__ import annotations

from contracts.surveys import SurveyIntake, SurveyIntakeAccepted
from services.cases.commands import Intake
from services.domain.actors import ALL_CHANNELS
from services.surveys.domain import SurveyResponse


def accepted(_: object, response: SurveyResponse) -> SurveyIntakeAccepted:
    """The answer to (the service, the response): its id alone."""
    return SurveyIntakeAccepted(id=str(response.id))


INTAKE = Intake(
    case_type="survey", request=SurveyIntake,
    channels=ALL_CHANNELS,  # API.md: survey responses come from any of the channels
    accepted=accepted,
    summary="Answer the satisfaction survey",
    description="One answer, from a channel for its own channel; idempotent on (channel, "
                "external_id): a repeat answers 200 with the same body.")
