"""Reading the event store in global order, as contract events.

The relay (to JetStream), `ptsp projections rebuild` and the audit history all read the
store through here: rows straight from each application's events table with asyncpg (no
thread hops), decoded by the application's own eventsourcing mapper, then mapped to the
contract Struct consumers see."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent

from contracts.mapping import ContractRegistry


@dataclass(frozen=True)
class Stream:
    """One event-store application and how its events travel."""

    name: str                        # "applications", "complaints", "calendar"
    store: Application
    contracts: ContractRegistry

    @property
    def table(self) -> str:
        recorder: Any = self.store.recorder
        schema = getattr(recorder.datastore, "schema", "") or "public"
        return f'"{schema}"."{recorder.events_table_name}"'

    @property
    def jetstream_name(self) -> str:
        return f"PTSP_{self.name.upper()}"

    @property
    def subjects(self) -> str:
        return f"ptsp.{self.name}.>"


@dataclass(frozen=True)
class LoggedEvent:
    """One stored event: its global position in its stream and its contract form."""

    stream: str
    position: int
    event: msgspec.Struct

    @property
    def tag(self) -> str:
        return self.event.__struct_config__.tag  # type: ignore[return-value]

    @property
    def subject(self) -> str:
        return f"ptsp.{self.stream}.{self.tag}"

    @property
    def msg_id(self) -> str:
        return f"{self.stream}:{self.position}"


class EventLog:
    def __init__(self, pool: asyncpg.Pool, streams: Sequence[Stream]) -> None:
        self.pool = pool
        self.streams = {s.name: s for s in streams}

    async def read(self, stream: str, after: int, limit: int,
                   conn: asyncpg.Connection | None = None) -> list[LoggedEvent]:
        s = self.streams[stream]
        sql = (f"SELECT notification_id, originator_id, originator_version, topic, state "
               f"FROM {s.table} WHERE notification_id > $1 ORDER BY notification_id LIMIT $2")
        if conn is None:
            async with self.pool.acquire() as c:
                rows = await c.fetch(sql, after, limit)
        else:
            rows = await conn.fetch(sql, after, limit)
        return [self._decode(s, row) for row in rows]

    async def case_events(self, stream: str, case_id: UUID) -> list[LoggedEvent]:
        s = self.streams[stream]
        rows = await self.pool.fetch(
            f"SELECT notification_id, originator_id, originator_version, topic, state "
            f"FROM {s.table} WHERE originator_id = $1 ORDER BY originator_version", case_id)
        return [self._decode(s, row) for row in rows]

    async def head(self, stream: str) -> int:
        value = await self.pool.fetchval(
            f"SELECT coalesce(max(notification_id), 0) FROM {self.streams[stream].table}")
        return int(value)

    @staticmethod
    def _decode(s: Stream, row: asyncpg.Record) -> LoggedEvent:
        stored = StoredEvent(originator_id=row["originator_id"],
                             originator_version=row["originator_version"],
                             topic=row["topic"], state=bytes(row["state"]))
        domain_event = s.store.mapper.to_domain_event(stored)
        return LoggedEvent(stream=s.name, position=int(row["notification_id"]),
                           event=s.contracts.to_contract(domain_event))

