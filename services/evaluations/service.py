"""The evaluations service: the head records a year's evaluation and its improvement plan
and marks the plan's actions done; all staff read them (`of_year` is also how a report
reads them straight from the record)."""

from __future__ import annotations

from datetime import datetime
from typing import cast
from uuid import UUID

import msgspec
from eventsourcing.utils import get_topic

from contracts import evaluations as contracts
from contracts.evaluations import (
    ActionDoneRecord,
    ActionView,
    EvaluationEntry,
    EvaluationView,
)
from contracts.mapping import ContractRegistry
from services.domain.actors import Actor
from services.domain.clock import JAKARTA, Clock
from services.domain.errors import NotFound
from services.evaluations.domain import Evaluation
from services.infra.groupcommit import GroupCommitter
from services.infra.store import EventStoreApplication
from services.infra.unavailable import DATABASE, reaching


class Evaluations(EventStoreApplication):
    name = "evaluations"


# Domain event → contract Struct (for the relay and the audit history).
CONTRACTS = ContractRegistry(contracts.EVENT_TYPES)


def view(e: Evaluation) -> EvaluationView:
    def jakarta(at: datetime) -> datetime:
        return at.astimezone(JAKARTA)

    actions = [ActionView(n=i, action=a["action"], owner=a["owner"], due_on=a["due_on"],
                          done=None if a["done"] is None else ActionDoneRecord(
                              at=jakarta(a["done"]["at"]), by=a["done"]["by"],
                              note=a["done"]["note"]))
               for i, a in enumerate(e.actions, start=1)]
    return EvaluationView(id=str(e.id), year=e.year, summary=e.summary, actions=actions,
                          recorded_at=jakarta(e.recorded_at), recorded_by=e.recorded_by,
                          actions_done=sum(a.done is not None for a in actions),
                          version=e.version)


class EvaluationService:
    def __init__(self, store: Evaluations, committer: GroupCommitter, clock: Clock) -> None:
        self.store, self.committer, self.clock = store, committer, clock

    async def record(self, entry: EvaluationEntry, by: Actor) -> EvaluationView:
        evaluation = Evaluation.record(
            entry.year, entry.summary, [msgspec.structs.asdict(a) for a in entry.actions],
            by.as_record(), self.clock.now())
        await self.committer.save(evaluation)
        return view(evaluation)

    async def mark_done(self, evaluation_id: UUID, n: int, note: str | None,
                        by: Actor) -> EvaluationView:
        """A lost race (two marks at once) is the committer's 409."""
        evaluation = await self._get(evaluation_id)
        evaluation.mark_done(n, note, by.as_record(), evaluation.stamp(self.clock.now()))
        await self.committer.save(evaluation)
        return view(evaluation)

    async def get(self, evaluation_id: UUID) -> EvaluationView:
        return view(await self._get(evaluation_id))

    async def of_year(self, year: int | None = None) -> list[EvaluationView]:
        """Every evaluation (of `year`), in the order recorded. They are few (a handful a
        year): their ids come from the store's own `Recorded` rows, no read model needed."""
        table = self.committer.table
        topic = f"{get_topic(Evaluation)}.Recorded"  # the class eventsourcing made of `@event`
        with reaching(DATABASE):
            rows = await table.pool.fetch(
                f"SELECT originator_id FROM {table.table} WHERE topic = $1 "
                "ORDER BY notification_id", topic)
            evaluations = [await self._get(row["originator_id"]) for row in rows]
        return [view(e) for e in evaluations if year is None or e.year == year]

    async def _get(self, evaluation_id: UUID) -> Evaluation:
        with reaching(DATABASE):
            evaluation = await self.committer.table.load(evaluation_id)
        if evaluation is None:
            raise NotFound(f"no evaluation {evaluation_id}")
        return cast(Evaluation, evaluation)
