"""A case found by its tracking number, and what its holder is told about it.

Where it reads from, and why: the tracking number leads to the case's id range
(`TrackingKey.id_range`), a range scan of the event store's primary key finds its first
event, the case is loaded from its events (as `GET /applications/{id}` does) for its
status, its own number and its clock, and its events give the steps with their dates.
All from the event store, never a read model: a person told their number a moment ago
finds the case at once (read models trail), the steps are the events themselves (a read
model keeps only some milestones), and it costs two indexed reads of one case's events.
Nothing is read before the PIN matches but the case itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from services.domain.clock import JAKARTA
from services.domain.sla import Sla
from services.infra.eventlog import EventLog, LoggedEvent
from services.infra.pg import Conn
from services.infra.tracking_key import TrackingKey, normalized
from services.tracking.texts import STEP_TEXT, TrackedKind, status_text, step_of
from services.tracking.views import Tracking, TrackingStep

CANDIDATES_PER_STREAM = 5
"""Ids sharing a number's bits are rare (50 bits of the id); a few are plenty."""
RUNNING = ("running", "at_risk", "breached")
"""The clock's states in which it runs: the answer carries `due_at`."""


async def candidates(conn: Conn, tables: Mapping[str, str], key: TrackingKey,
                     number: str) -> list[tuple[str, UUID]]:
    """(stream, case id) of each case whose id begins as the number says, found in the
    event store itself. `tables`: each case stream's events table. The caller keeps the
    cases whose own tracking number is `normalized(number)`."""
    span = key.id_range(number)
    if span is None:
        return []
    found: list[tuple[str, UUID]] = []
    for stream, table in tables.items():
        rows = await conn.fetch(
            f"SELECT originator_id FROM {table} WHERE originator_id BETWEEN $1 AND $2 "
            f"AND originator_version = 1 LIMIT {CANDIDATES_PER_STREAM}", *span)
        found += [(stream, r["originator_id"]) for r in rows]
    return found


class CaseSource(Protocol):
    """A case type's service, as tracking uses it (`CaseService`)."""

    @property
    def committer(self) -> Any: ...

    @property
    def calendar(self) -> Any: ...

    def sla(self, case: Any) -> Sla: ...


def kind_of(case: Any) -> TrackedKind:
    """An application, or what intake (or a reclassification) made a complaint."""
    kind = getattr(case, "kind", None)
    return "application" if kind is None else "suggestion" if kind == "suggestion" \
        else "complaint"


def steps_of(events: Sequence[LoggedEvent]) -> list[TrackingStep]:
    """The milestones among a case's events, oldest first, each at its office time (to
    the second: a person reads a date and a time)."""
    steps = []
    for logged in events:
        step = step_of(logged.tag, getattr(logged.event, "outcome", None))
        if step is not None:
            at = logged.event.at.astimezone(JAKARTA).replace(microsecond=0)
            steps.append(TrackingStep(step=step, at=at, text=STEP_TEXT[step]))
    return steps


def tracking_of(case: Any, sla: Sla, events: Sequence[LoggedEvent]) -> Tracking:
    kind = kind_of(case)
    due = sla.due_at if sla.state in RUNNING else None
    return Tracking(tracking_number=case.tracking_number, kind=kind, status=case.status,
                    status_text=status_text(kind, case.status), steps=steps_of(events),
                    due_at=due.astimezone(JAKARTA) if due is not None else None)


class Tracker:
    """`GET /track`: a number and its PIN → the case as its holder sees it, or None (an
    unknown number and a wrong PIN are the same None)."""

    def __init__(self, key: TrackingKey, pool: asyncpg.Pool, eventlog: EventLog,
                 services: Mapping[str, CaseSource]) -> None:
        self.key, self.pool, self.eventlog, self.services = key, pool, eventlog, services

    async def find(self, number: str, pin: str) -> Tracking | None:
        number = normalized(number)
        tables = {stream: self.eventlog.streams[stream].table for stream in self.services}
        async with self.pool.acquire() as conn:
            found = await candidates(conn, tables, self.key, number)
        for stream, case_id in found:
            service = self.services[stream]
            case = await service.committer.load(case_id)
            if (case is None or case.tracking_number != number
                    or not self.key.pin_matches(case.id, pin)):
                continue
            await service.calendar.current_calendar()  # every correction committed so far
            events = await self.eventlog.case_events(stream, case_id)
            return tracking_of(case, service.sla(case), events)
        return None
