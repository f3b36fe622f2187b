"""HTTP API of the satisfaction survey (API.md, "Satisfaction survey (SKM)"). The
reports are read-model queries: `projections.api`."""

from __future__ import annotations

from litestar import Controller, Response, post
from litestar.datastructures import State
from litestar.di import Provide

from contracts.surveys import SurveyIntake, SurveyIntakeAccepted
from services.domain.actors import ALL_CHANNELS, Actor
from services.domain.policy import require_channel
from services.http.errors import intake_quota
from services.surveys.application import SurveyService


def provide_service(state: State) -> SurveyService:
    return state.surveys


class SurveysController(Controller):
    path = "/surveys"
    tags = ["surveys"]
    dependencies = {"service": Provide(provide_service, sync_to_thread=False)}

    @post("/responses", status_code=201, guards=[intake_quota])
    async def respond(self, data: SurveyIntake, actor: Actor,
                      service: SurveyService) -> Response[SurveyIntakeAccepted]:
        """One answer to the survey, from a channel for its own channel; idempotent on
        (channel, external_id): a repeat answers 200 with the same body."""
        require_channel(actor, data.channel, ALL_CHANNELS)
        response, created = await service.submit(data, actor)
        return Response(SurveyIntakeAccepted(id=str(response.id)),
                        status_code=201 if created else 200)
