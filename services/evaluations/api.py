"""HTTP API of the yearly evaluation (API.md, "Additions"): the head records it and marks
its plan's actions done; all staff read it (the seed: results go to all staff)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.params import Parameter

from contracts.evaluations import ActionDoneNote, EvaluationEntry, EvaluationView
from services.domain.actors import Actor
from services.domain.policy import EVALUATION_READERS, EVALUATION_WRITERS, require_role
from services.evaluations.service import EvaluationService


class EvaluationsController(Controller):
    path = "/evaluations"
    tags = ["evaluation"]

    @post("/", status_code=201)
    async def record(self, data: EvaluationEntry, actor: Actor,
                     state: State) -> EvaluationView:
        """The head records the year's evaluation of the service standard and the SOP,
        and the improvement plan: actions, each with its owner and due date."""
        require_role(actor, *EVALUATION_WRITERS)
        evaluations: EvaluationService = state.evaluations
        return await evaluations.record(data, actor)

    @get("/")
    async def list_evaluations(
            self, actor: Actor, state: State,
            year: Annotated[int | None, Parameter(ge=2000, le=2100)] = None,
    ) -> list[EvaluationView]:
        """The evaluations (of `year`), in the order recorded, with their plans' progress."""
        require_role(actor, *EVALUATION_READERS)
        evaluations: EvaluationService = state.evaluations
        return await evaluations.of_year(year)

    @post("/{evaluation_id:uuid}/actions/{n:int}/done", status_code=200)
    async def action_done(self, evaluation_id: UUID, n: int, actor: Actor, state: State,
                          data: ActionDoneNote | None = None) -> EvaluationView:
        """Action `n` (numbered from 1, as the evaluation lists them) is done; once (409
        `action_already_done`). The body `{note?}` may be left out."""
        require_role(actor, *EVALUATION_WRITERS)
        evaluations: EvaluationService = state.evaluations
        return await evaluations.mark_done(evaluation_id, n,
                                           data.note if data is not None else None, actor)
