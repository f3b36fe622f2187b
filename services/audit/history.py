"""A case's history and the case as it stood at a time or version, both from the event
store itself (never from a read model): for auditors (Inspektorat, APIP)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from services.applications.application import ApplicationService
from services.audit.views import ApplicationAsOf, AsOf, CaseAsOf, ComplaintAsOf
from services.complaints.application import ComplaintService
from services.domain.actors import Actor
from services.domain.clock import JAKARTA
from services.domain.errors import InvalidInput, NotFound
from services.infra.eventlog import EventLog, LoggedEvent

# The streams whose aggregates are cases, and what a case of each is called.
CASE_STREAMS: dict[str, str] = {"applications": "application", "complaints": "complaint"}

AS_OF_HELP = ("a version number (1, 2, ...) or an ISO 8601 time such as "
              "2026-03-20T17:00:00+07:00 (without an offset: Asia/Jakarta)")


def parse_as_of(text: str) -> int | datetime:
    """A version (digits) or a time; a time without an offset is Asia/Jakarta's."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    # An unencoded "+" in a query string arrives as a space.
    candidate = text.replace(" ", "+") if "T" in text else text
    try:
        point = datetime.fromisoformat(candidate)
    except ValueError:
        raise InvalidInput("as_of", AS_OF_HELP) from None
    return point if point.tzinfo is not None else point.replace(tzinfo=JAKARTA)


def _at(event: LoggedEvent) -> datetime:
    return event.event.at


class CaseAudit:
    def __init__(self, pool: asyncpg.Pool, eventlog: EventLog, applications: ApplicationService,
                 complaints: ComplaintService,
                 catch_up: Callable[[], Awaitable[int]] | None = None) -> None:
        self.pool = pool
        self.eventlog = eventlog
        self.applications = applications
        self.complaints = complaints
        self.catch_up = catch_up

    async def locate(self, case_id: UUID) -> str:
        """The stream holding the case: applications or complaints; 404 otherwise."""
        for stream in CASE_STREAMS:
            table = self.eventlog.streams[stream].table
            if await self.pool.fetchval(
                    f"SELECT 1 FROM {table} WHERE originator_id = $1 LIMIT 1", case_id):
                return stream
        raise NotFound(f"no case {case_id}")

    async def history(self, case_id: UUID) -> list[dict[str, Any]]:
        """Every stored event of the case, oldest first, each with its chain links."""
        stream = await self.locate(case_id)
        events = await self.eventlog.case_events(stream, case_id)
        links = await self._links(stream, case_id)
        if any(e.position not in links for e in events):
            # Just written: chain it now (or, where another process keeps the chain, give
            # it a moment) rather than answer without hashes; `hash` stays null otherwise.
            if self.catch_up is not None:
                await self.catch_up()
            for _ in range(1 if self.catch_up is not None else 20):
                links = await self._links(stream, case_id)
                if all(e.position in links for e in events):
                    break
                await asyncio.sleep(0.1)
        # `data` is the contract event as stored: personal data stays sealed (and reads as
        # erased for good once its key is gone); the case's view (`state`) opens it.
        return [entry(e, links.get(e.position)) for e in events]

    async def _links(self, stream: str, case_id: UUID) -> dict[int, asyncpg.Record]:
        try:
            rows = await self.pool.fetch(
                "SELECT seq, position, prev_hash, hash, prev_case_hash, case_hash "
                "FROM audit_chain WHERE stream = $1 AND case_id = $2", stream, case_id)
        except asyncpg.UndefinedTableError:
            return {}
        return {int(r["position"]): r for r in rows}

    async def state(self, case_id: UUID, as_of: str | None, actor: Actor) -> CaseAsOf:
        """The case as it stood at `as_of` (a version or a time), rebuilt from its events;
        without `as_of`, as it stands now. The owning service's view of it."""
        stream = await self.locate(case_id)
        kind = CASE_STREAMS[stream]
        version: int | None = None
        now: datetime | None = None
        about: AsOf | None = None
        if as_of is not None:
            events = await self.eventlog.case_events(stream, case_id)
            current = events[-1].event.version
            point = parse_as_of(as_of)
            if isinstance(point, int):
                if not 1 <= point <= current:
                    raise InvalidInput("as_of", f"version {point} does not exist: the {kind} "
                                                f"has versions 1 to {current}")
                chosen = next(e for e in events if e.event.version == point)
                now = _at(chosen)
            else:
                before = [e for e in events if _at(e) <= point]
                if not before:
                    raise NotFound(f"no {kind} {case_id} as of {point.isoformat()}: it was "
                                   f"first recorded at {_at(events[0]).isoformat()}")
                chosen = max(before, key=lambda e: e.event.version)
                now = point
            version = chosen.event.version
            about = AsOf(requested=as_of, version=version, time=_at(chosen),
                         position=chosen.position, current_version=current)
        if stream == "applications":
            app = await self.applications.get(case_id, version=version)
            view = await self.applications.view(app, actor, now)
            return ApplicationAsOf(**msgspec.structs.asdict(view), case_type="application",
                                   as_of=about)
        complaint = await self.complaints.get(case_id, version=version)
        seen = await self.complaints.view(complaint, actor, now)
        return ComplaintAsOf(**msgspec.structs.asdict(seen), case_type="complaint", as_of=about)


def entry(event: LoggedEvent, chain: asyncpg.Record | None) -> dict[str, Any]:
    """One line of a case's history (API.md: position, time, type, actor, channel, data,
    hash), with the chain links that let it be re-verified."""
    ev: Any = event.event
    return {
        "position": event.position,
        "stream": event.stream,
        "version": ev.version,
        "time": ev.at.astimezone(JAKARTA),
        "recorded_at": ev.recorded_at.astimezone(JAKARTA),
        "type": event.tag,
        "actor": {"id": ev.actor.id, "role": ev.actor.role},
        "channel": ev.actor.channel,
        "data": msgspec.to_builtins(ev),
        "seq": int(chain["seq"]) if chain else None,
        "hash": chain["hash"] if chain else None,
        "prev_hash": chain["prev_hash"] if chain else None,
        "case_hash": chain["case_hash"] if chain else None,
        "prev_case_hash": chain["prev_case_hash"] if chain else None,
    }
