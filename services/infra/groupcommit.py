"""Group commit: many concurrent commands, one event-store transaction.

eventsourcing's Postgres recorder takes an EXCLUSIVE lock on the events table for each
write transaction, so one command per transaction stalls at a few hundred a second. Here
every command hands its new events to one writer task, which saves whatever has queued
up (at most `max_batch` commands) in a single `save()`, on a single thread hop.

Each command keeps its own outcome: if the batch fails on a conflict (two officers on
one case, or a duplicate intake), the writer saves the batch's commands one by one, so
exactly the commands that lost get `ConcurrencyConflict` and the others are stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from services.domain.errors import ConcurrencyConflict
from services.infra.unavailable import DATABASE, Unavailable, is_connection_failure

log = logging.getLogger(__name__)

_Pending = tuple[list[Any], "asyncio.Future[None]"]


class GroupCommitter:
    def __init__(self, app: Application[Any], max_batch: int = 64) -> None:
        self.app = app
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0
        self.commands = 0

    async def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._run(), name=f"group-commit-{self.app.name}")

    async def stop(self) -> None:
        if self._writer is not None:
            # Let queued commands finish: they were accepted and their callers wait.
            while not self._queue.empty():  # noqa: ASYNC110 - a queue has no "drained" event
                await asyncio.sleep(0.01)
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None

    async def save(self, *aggregates: Any) -> None:
        """Store the aggregates' pending events, atomically for this command.
        Raises ConcurrencyConflict if another write reached one of them first."""
        events = [e for agg in aggregates for e in agg.collect_events()]
        if not events:
            return
        if self._writer is None:
            raise RuntimeError("the group committer is not running")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((events, future))
        await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                outcomes = await asyncio.to_thread(self._write, [events for events, _ in batch])
            except Exception as exc:  # the database is unreachable: every command fails
                failure: Exception = exc
                if is_connection_failure(exc):
                    log.warning("event store unreachable: %s", exc)
                    failure = Unavailable(DATABASE)
                    failure.__cause__ = exc
                else:
                    log.exception("event store write failed")
                outcomes = [failure] * len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if outcome is None:
                    future.set_result(None)
                else:
                    future.set_exception(outcome)
            self.batches += 1
            self.commands += len(batch)

    def _write(self, batch: Sequence[list[Any]]) -> list[Exception | None]:
        """Runs in a worker thread. One transaction for the whole batch; on a conflict,
        one transaction per command, to find exactly which ones lost."""
        try:
            self.app.save(*[e for events in batch for e in events])
            return [None] * len(batch)
        except IntegrityError:
            if len(batch) == 1:
                return [ConcurrencyConflict("another write reached this case first; "
                                            "read it again and retry")]
        outcomes: list[Exception | None] = []
        for events in batch:
            try:
                self.app.save(*events)
                outcomes.append(None)
            except IntegrityError:
                outcomes.append(ConcurrencyConflict(
                    "another write reached this case first; read it again and retry"))
            except Exception as exc:  # noqa: BLE001 - handed to that command's caller
                outcomes.append(exc)
        return outcomes
