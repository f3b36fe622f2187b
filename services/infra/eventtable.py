"""One eventsourcing events table, written and read over asyncpg.

eventsourcing's Postgres recorder writes through psycopg on a worker thread: `BEGIN`,
`LOCK TABLE ... IN EXCLUSIVE MODE`, `NOTIFY`, the `INSERT`, `COMMIT`, each a client round
trip (and a thread hop), so the table lock was held across all of them and every
writer of every process queued behind it. Here the same rows go in through one function
call, `ptsp_append_<table>(...)`, in autocommit: one statement is one transaction and one
round trip, and the writers' lock is held only for the insert itself and the commit.

What must stay as eventsourcing has it, because everything else reads this table as
eventsourcing wrote it (eventsourcing's own repository, the relay, the rebuild, the
audit chain and its hashes over the stored rows):

- the table: eventsourcing creates it (`CREATE_TABLE`), columns `originator_id uuid,
  originator_version bigint, topic text, state bytea, notification_id bigserial`, primary
  key (originator_id, originator_version);
- the rows: made by the application's own mapper (`app.mapper.to_stored_event`, with
  its transcoder, and its compressor and cipher were any configured), so a row written
  here is byte for byte what `Application.save` would have written;
- notification ids in commit order: the function takes the writers' lock before its
  insert, so one transaction gets all its ids from the sequence and commits before
  another gets any, and a reader following `notification_id` never passes a gap that a
  later commit fills (the relay and eventsourcing's notification log rely on it). It is
  a transaction-level advisory lock of the table's own (`_writers_lock`), not
  eventsourcing's `LOCK TABLE ... IN EXCLUSIVE MODE`: that mode conflicts with the SHARE
  UPDATE EXCLUSIVE that VACUUM and ANALYZE hold while they run, so every writer waited
  on autovacuum for deadlock_timeout (1 s, all intake stalled) until Postgres cancelled
  it, and the events table was never vacuumed (nor frozen: the anti-wraparound vacuum,
  which is not cancelled, would have held up writers for as long as it ran). Every write
  of these tables goes through this function (the group committer's; nothing calls
  eventsourcing's `save`), so the writers still take turns;
- a second write of the same (originator_id, originator_version) fails on the primary
  key: asyncpg's `UniqueViolationError` (the group committer turns it into 409).

`Application.save` does nothing else that matters here: after the insert it takes
snapshots (no application here enables snapshotting), puts aggregates in its cache (none
configured) and calls `_notify`/`notify` (no-ops in the base class; none overrides them).

Personal-data keys made for the new case travel in the same call (`subject_keys` rows,
services/infra/personal_data.py): a new subject costs no round trip and no commit of its
own, and a key never outlives a failed write.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg
from eventsourcing.application import Application, project_aggregate
from eventsourcing.persistence import StoredEvent

from services.infra.personal_data import SubjectKey
from services.infra.pg import fetch_clean
from services.infra.store import LOCK_TIMEOUT_SECONDS

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
_DDL_LOCK = 0x7074_7370_0004  # "ptsp" event-table functions: one DDL writer at a time
_WRITERS_LOCK_SPACE = 0x7074_7370  # "ptsp": the (int4, int4) advisory keys of the writers


def _writers_lock(table: str) -> int:
    """The second half of one events table's writers' lock key: the same in every
    process (the (int4, int4) key space is apart from the project's bigint keys)."""
    return zlib.crc32(table.encode()) - 2**31


class EventTable:
    """The events table of one eventsourcing application, on an asyncpg pool."""

    def __init__(self, app: Application[UUID], pool: asyncpg.Pool,
                 lock_timeout_seconds: int = LOCK_TIMEOUT_SECONDS) -> None:
        recorder: Any = app.recorder
        schema = getattr(recorder.datastore, "schema", "") or "public"
        table = recorder.events_table_name
        for name in (schema, table):
            if not _IDENTIFIER.match(name):  # they go into SQL text: our own names only
                raise ValueError(f"unexpected identifier for an events table: {name!r}")
        self.app = app
        self.pool = pool
        self.table = f'"{schema}"."{table}"'
        self.function = f'"{schema}"."ptsp_append_{table}"'
        self.lock_timeout_seconds = int(lock_timeout_seconds)
        self._writers_lock = _writers_lock(self.table)
        self._append = (f"SELECT {self.function}($1::uuid[], $2::bigint[], $3::text[], "
                        "$4::bytea[], $5::uuid[], $6::text[], $7::bytea[])")
        self._select = (f"SELECT originator_version, topic, state FROM {self.table} "
                        "WHERE originator_id = $1 AND originator_version > $2 "
                        "AND originator_version <= $3 ORDER BY originator_version")

    async def install(self) -> None:
        """(Re)create the append function; the table itself is eventsourcing's."""
        async with self.pool.acquire() as conn, conn.transaction():
            # Concurrent CREATE OR REPLACE of one function fails ("tuple concurrently
            # updated"): processes starting together take turns.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _DDL_LOCK)
            await conn.execute(f"""
CREATE OR REPLACE FUNCTION {self.function}(
    ids uuid[], versions bigint[], topics text[], states bytea[],
    key_ids uuid[], key_subjects text[], key_material bytea[])
RETURNS SETOF bigint
LANGUAGE plpgsql
SET lock_timeout = '{self.lock_timeout_seconds}s'
AS $$
BEGIN
    -- Before the lock: the keys need no ordering, and the lock is held for less.
    IF cardinality(key_ids) > 0 THEN
        PERFORM ptsp_store_subject_keys(key_ids, key_subjects, key_material);
    END IF;
    -- Held until this transaction ends: notification ids are handed out in commit order.
    -- Not a table lock: VACUUM and ANALYZE would hold up every writer (module doc).
    PERFORM pg_advisory_xact_lock({_WRITERS_LOCK_SPACE}, {self._writers_lock});
    RETURN QUERY
        INSERT INTO {self.table} (originator_id, originator_version, topic, state)
            SELECT * FROM unnest(ids, versions, topics, states)
        RETURNING notification_id;
END
$$""")

    def stored(self, events: Sequence[Any]) -> list[StoredEvent]:
        """Domain events as rows, through the application's own mapper."""
        return [self.app.mapper.to_stored_event(e) for e in events]

    async def append(self, rows: Sequence[StoredEvent],
                     keys: Sequence[SubjectKey] = ()) -> list[int]:
        """Insert the rows (and the keys) in one transaction, one round trip; their
        notification ids. A row already there: asyncpg.UniqueViolationError, nothing
        written."""
        records = await fetch_clean(
            self.pool, self._append,
            [r.originator_id for r in rows], [r.originator_version for r in rows],
            [r.topic for r in rows], [r.state for r in rows],
            [k.key_id for k in keys], [k.subject_id for k in keys],
            [k.wrapped for k in keys])
        return [int(r[0]) for r in records]

    async def load(self, aggregate_id: UUID, version: int | None = None) -> Any | None:
        """The aggregate from its events (up to `version`), as eventsourcing's repository
        reconstructs it; None when it has no events."""
        return project_aggregate(None, await self.events(aggregate_id, upto=version))

    async def events(self, aggregate_id: UUID, after: int = 0,
                     upto: int | None = None) -> list[Any]:
        """The aggregate's domain events after version `after` up to `upto`, in order,
        decoded by the store's own mapper."""
        records = await fetch_clean(self.pool, self._select, aggregate_id, after,
                                    upto if upto is not None else 2**62)
        to_domain_event = self.app.mapper.to_domain_event
        return [to_domain_event(StoredEvent(originator_id=aggregate_id,
                                            originator_version=r[0], topic=r[1],
                                            state=r[2]))
                for r in records]
