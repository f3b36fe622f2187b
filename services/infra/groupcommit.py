"""Group commit: many concurrent commands, one event-store transaction.

Each store's events table is written under a table lock (notification ids in commit
order: services/infra/eventtable.py), so transactions on one table run one at a time.
Here every command of this process hands its new rows to one writer task per store,
which writes whatever has queued up (at most `max_batch` commands) in one call of the
table's append function: one round trip, one commit, the lock held for that insert
only. While one batch is in flight the next one gathers.

Each command keeps its own outcome: if the batch fails on a conflict (two officers on
one case, or a duplicate intake), the writer writes the batch's commands one by one, so
exactly the commands that lost get `ConcurrencyConflict` and the others are stored. A
lost connection, or the lock not granted within its timeout, is `Unavailable` (503).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import StoredEvent

from services.domain.errors import ConcurrencyConflict
from services.infra.eventtable import EventTable
from services.infra.personal_data import SubjectKey
from services.infra.store import LOCK_TIMEOUT_SECONDS
from services.infra.unavailable import DATABASE, Unavailable, is_connection_failure
from services.ops import metrics

log = logging.getLogger(__name__)

_Command = tuple[list[StoredEvent], Sequence[SubjectKey]]
_Pending = tuple[_Command, "asyncio.Future[None]"]

LOST_RACE = "another write reached this case first; read it again and retry"


class GroupCommitter:
    def __init__(self, app: Application[UUID], max_batch: int = 64,
                 lock_timeout_seconds: int = LOCK_TIMEOUT_SECONDS) -> None:
        self.app = app
        self.max_batch = max_batch
        self.lock_timeout_seconds = lock_timeout_seconds
        self._table: EventTable | None = None
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._writing = False
        self.batches = 0
        self.commands = 0

    @property
    def table(self) -> EventTable:
        """The store's events table; there once started."""
        if self._table is None:
            raise RuntimeError("the group committer is not running")
        return self._table

    async def load(self, aggregate_id: UUID, version: int | None = None) -> Any | None:
        """The aggregate (as of `version`) from the table the writes go to; None when it
        has no events. A tool that builds the services without starting them (`ptsp
        audit`) reads through eventsourcing's repository instead, on a thread."""
        if self._table is not None:
            return await self._table.load(aggregate_id, version)
        try:
            return await asyncio.to_thread(self.app.repository.get, aggregate_id,
                                           version=version)
        except AggregateNotFoundError:
            return None

    async def start(self, pool: asyncpg.Pool) -> None:
        if self._writer is None:
            self._table = EventTable(self.app, pool, self.lock_timeout_seconds)
            await self._table.install()
            self._writer = asyncio.create_task(self._run(), name=f"group-commit-{self.app.name}")

    async def stop(self) -> None:
        if self._writer is not None:
            # Let queued commands finish: they were accepted and their callers wait.
            while not self._queue.empty() or self._writing:  # noqa: ASYNC110 - no "drained" event
                await asyncio.sleep(0.01)
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None

    async def save(self, *aggregates: Any, keys: Sequence[SubjectKey] = ()) -> None:
        """Store the aggregates' pending events (and the personal-data keys their
        envelopes were sealed with), atomically for this command. Raises
        ConcurrencyConflict if another write reached one of them first."""
        events = [e for agg in aggregates for e in agg.collect_events()]
        if not events:
            return
        if self._writer is None:
            raise RuntimeError("the group committer is not running")
        # Encoded here, by the caller, while the writer's previous batch is in flight.
        rows = self.table.stored(events)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put(((rows, keys), future))
        await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._writing = True
            try:
                outcomes = await self._write([command for command, _ in batch])
            finally:
                self._writing = False
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if outcome is None:
                    future.set_result(None)
                else:
                    future.set_exception(outcome)
            self.batches += 1
            self.commands += len(batch)
            metrics.observe_batch(len(batch))  # ptsp_group_commit_batch_size (services/ops)

    async def _write(self, batch: Sequence[_Command]) -> list[Exception | None]:
        """One transaction for the whole batch; on a conflict, one per command, to find
        exactly which ones lost."""
        try:
            await self.table.append([r for rows, _ in batch for r in rows],
                                    [k for _, keys in batch for k in keys])
            return [None] * len(batch)
        except asyncpg.UniqueViolationError:
            if len(batch) == 1:
                return [ConcurrencyConflict(LOST_RACE)]
        except Exception as exc:  # noqa: BLE001 - every command of the batch gets it
            return [_failure(exc)] * len(batch)
        outcomes: list[Exception | None] = []
        for rows, keys in batch:
            try:
                await self.table.append(rows, keys)
                outcomes.append(None)
            except asyncpg.UniqueViolationError:
                outcomes.append(ConcurrencyConflict(LOST_RACE))
            except Exception as exc:  # noqa: BLE001 - handed to that command's caller
                outcomes.append(_failure(exc))
        return outcomes


def _failure(exc: Exception) -> Exception:
    """What a command's caller gets for a failed write: `Unavailable` when the database
    cannot be reached, or did not grant the table lock in time (busy: retry later, as
    eventsourcing's recorder answered); the error itself otherwise."""
    if is_connection_failure(exc) or isinstance(exc, asyncpg.LockNotAvailableError):
        log.warning("event store unreachable: %s", exc)
        failure = Unavailable(DATABASE)
        failure.__cause__ = exc
        return failure
    log.error("event store write failed", exc_info=exc)
    return exc
