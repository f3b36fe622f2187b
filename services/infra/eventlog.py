"""Reading the event store in global order, as contract events.

The relay (to JetStream), `ptsp projections rebuild` and the audit history all read the
store through here: rows straight from each application's events table with asyncpg (no
thread hops), decoded into the contract Struct consumers see by msgspec
(services/infra/transcoding.py: the same result as the application's own eventsourcing
mapper followed by the contract mapping, which it falls back to)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

import asyncpg
import msgspec
from eventsourcing.application import Application

from contracts.common import CaseEvent
from contracts.mapping import ContractRegistry
from services.infra.pg import Conn
from services.infra.transcoding import StoredDecoder


@contextlib.asynccontextmanager
async def connection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection, typed as the connection it stands for (asyncpg's pool proxy
    forwards every call to it), so that one signature takes pooled and direct ones."""
    async with pool.acquire() as proxy:
        yield cast("asyncpg.Connection", proxy)


@dataclass(frozen=True)
class Stream:
    """One event-store application and how its events travel."""

    name: str                        # "applications", "complaints", "calendar"
    store: Application[UUID]
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


class LoggedEvent(msgspec.Struct, frozen=True, dict=True):
    """One stored event: its global position in its stream and its contract form. (A
    Struct: made for every event the relay and the read models handle, where a frozen
    dataclass costs ten times as much.)"""

    stream: str
    position: int
    event: CaseEvent

    @property
    def tag(self) -> str:
        return str(self.event.__struct_config__.tag)

    @property
    def subject(self) -> str:
        return f"ptsp.{self.stream}.{self.tag}"

    @property
    def msg_id(self) -> str:
        return f"{self.stream}:{self.position}"

    @property
    def data(self) -> dict[str, Any]:
        """The event as plain JSON data (`msgspec.to_builtins`), made once however many
        read models fold it (kept in the instance's dict: `functools.cached_property`
        takes a lock on every first read, a cost on every event a rebuild folds)."""
        kept = self.__dict__
        data: dict[str, Any] | None = kept.get("data")
        if data is None:
            data = kept["data"] = msgspec.to_builtins(self.event)
        return data


class StoredRow(msgspec.Struct, frozen=True):
    """One row of an events table exactly as stored (what the audit chain hashes)."""

    stream: str
    position: int                    # notification_id: the global order in its stream
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes


class EventLog:
    def __init__(self, pool: asyncpg.Pool, streams: Sequence[Stream]) -> None:
        self.pool = pool
        self.streams = {s.name: s for s in streams}
        self.decoders = {s.name: StoredDecoder(s.store, s.contracts) for s in streams}
        self._by_table = {s.table.rsplit(".", 1)[-1].strip('"'): s.name for s in streams}

    def notified_streams(self, payload: object) -> tuple[str, ...]:
        """The streams a NOTIFY on the events channel names (its payload is the table
        written: services/infra/relay.py); every stream if it names none of them."""
        stream = self._by_table.get(str(payload))
        return (stream,) if stream else tuple(self.streams)

    async def read(self, stream: str, after: int, limit: int,
                   conn: Conn | None = None) -> list[LoggedEvent]:
        return [self.decode(row) for row in await self.rows(stream, after, limit, conn)]

    async def case_events(self, stream: str, case_id: UUID) -> list[LoggedEvent]:
        s = self.streams[stream]
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM {s.table} WHERE originator_id = $1 "
            "ORDER BY originator_version", case_id)
        return [self.decode(_row(stream, r)) for r in rows]

    async def rows(self, stream: str, after: int, limit: int,
                   conn: Conn | None = None) -> list[StoredRow]:
        """The stored rows themselves (state bytes as written), after a position."""
        sql = (f"SELECT {_COLUMNS} FROM {self.streams[stream].table} "
               "WHERE notification_id > $1 ORDER BY notification_id LIMIT $2")
        return [_row(stream, r) for r in await self._fetch(conn, sql, after, limit)]

    async def rows_by_case(self, stream: str, after: tuple[UUID, int] | None, upto: int,
                           limit: int, conn: Conn | None = None) -> list[StoredRow]:
        """The stored rows up to position `upto`, case by case (by originator id, each
        case's in version order, on the primary key's index), after the case and version
        `after`. Notification ids are handed out in commit order, so every row up to
        `upto` is there once a reader has seen `upto`."""
        table = self.streams[stream].table
        if after is None:
            sql = (f"SELECT {_COLUMNS} FROM {table} WHERE notification_id <= $1 "
                   "ORDER BY originator_id, originator_version LIMIT $2")
            return [_row(stream, r) for r in await self._fetch(conn, sql, upto, limit)]
        sql = (f"SELECT {_COLUMNS} FROM {table} WHERE notification_id <= $1 "
               "AND (originator_id, originator_version) > ($2, $3) "
               "ORDER BY originator_id, originator_version LIMIT $4")
        return [_row(stream, r) for r in await self._fetch(conn, sql, upto, *after, limit)]

    async def rows_at(self, stream: str, positions: Sequence[int],
                      conn: Conn | None = None) -> dict[int, StoredRow]:
        """The stored rows at these positions (absent ones are simply not in the answer)."""
        sql = (f"SELECT {_COLUMNS} FROM {self.streams[stream].table} "
               "WHERE notification_id = ANY($1::bigint[])")
        rows = await self._fetch(conn, sql, list(positions))
        return {int(r["notification_id"]): _row(stream, r) for r in rows}

    async def _fetch(self, conn: Conn | None, sql: str,
                     *args: Any) -> list[asyncpg.Record]:
        if conn is not None:
            return list(await conn.fetch(sql, *args))
        async with self.pool.acquire() as c:
            return list(await c.fetch(sql, *args))

    async def head(self, stream: str) -> int:
        value = await self.pool.fetchval(
            f"SELECT coalesce(max(notification_id), 0) FROM {self.streams[stream].table}")
        return int(value)

    def decode(self, row: StoredRow) -> LoggedEvent:
        """A stored row as its contract event."""
        event = self.decoders[row.stream].decode(row.topic, row.originator_id,
                                                 row.originator_version, row.state)
        return LoggedEvent(stream=row.stream, position=row.position, event=event)


_COLUMNS = "notification_id, originator_id, originator_version, topic, state"


def _row(stream: str, r: asyncpg.Record) -> StoredRow:
    position, originator_id, version, topic, state = r  # as in _COLUMNS
    return StoredRow(stream, position, originator_id, version, topic,
                     b"" if state is None else bytes(state))
