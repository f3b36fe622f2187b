"""The projection runner: JetStream durable consumers feeding read models, and the
rebuild from the event store.

Effectively-once: each read model's rows and its tracking position (projection, stream,
notification id) are written in one asyncpg transaction; anything at or below the
tracked position is skipped, so a redelivery applies nothing twice.

Ordering: the read model's tracking row, not the consumer's ack state, says where to
resume. Each time a consumer task (re)starts it re-creates its durable consumer at the
stream sequence after the last one it applied (or from the start, skipping by position,
when the stream was re-created since), so redeliveries after a crash can never let a
later event overtake an earlier one. Within a run, batches are applied one at a time and
acknowledged (AckPolicy.ALL) only after their transaction committed. One process consumes
each (read model, stream) at a time: it holds a Postgres advisory lock for it.

Trust: a message is applied only if the relay signed it (services/infra/event_signing.py)
and it follows the last event applied: its `Ptsp-Prev-Position` is the tracked position.
Anything else that reaches the stream (unsigned, badly signed, undecodable, out of order)
is recorded in `dead_letters` and acknowledged with its batch: it neither blocks the read
model nor moves it. A signed message whose previous position is beyond the tracked one
means messages went missing (a JetStream loss): the events in between are read from the
event store, the record, and applied first: a gap is healed, never skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol, cast

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from projections import dead_letters
from projections.dead_letters import DeadLetter
from services.infra.event_signing import EventSigner, Unverified
from services.infra.eventlog import EventLog, LoggedEvent, Stream, connection
from services.infra.tasks import cancel_and_wait

log = logging.getLogger("ptsp.projections")

TRACKING_SCHEMA = """
CREATE TABLE IF NOT EXISTS projection_positions (
    projection text NOT NULL,
    stream text NOT NULL,
    position bigint NOT NULL,        -- last notification id applied
    stream_seq bigint,               -- its JetStream stream sequence (null after a rebuild)
    stream_created text,             -- which incarnation of the JetStream stream
    PRIMARY KEY (projection, stream)
);
"""


class Projection(Protocol):
    """A read model: a pure fold plus its SQL."""

    @property
    def name(self) -> str: ...
    @property
    def streams(self) -> tuple[str, ...]: ...

    async def create(self, conn: asyncpg.Connection) -> None: ...
    async def drop(self, conn: asyncpg.Connection) -> None: ...
    async def apply(self, conn: asyncpg.Connection, events: Sequence[LoggedEvent]) -> None: ...


def lock_key(projection: str, stream: str = "") -> int:
    """Advisory lock of one read model (live batches and a rebuild never interleave), or
    with a stream, of its consumer (one process consumes it)."""
    name = f"{projection}/{stream}"
    return 0x5054_0000 + int(sum(ord(c) * 31**i for i, c in enumerate(name))) % 0xFFFFFF


async def install(pool: asyncpg.Pool, projections: Sequence[Projection]) -> None:
    async with connection(pool) as conn:
        await conn.execute("SELECT pg_advisory_lock(7075)")
        try:
            await conn.execute(TRACKING_SCHEMA)
            await dead_letters.install(conn)
            for p in projections:
                await p.create(conn)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(7075)")


async def apply_batch(conn: asyncpg.Connection, projection: Projection, stream: str,
                      events: Sequence[LoggedEvent], stream_seq: int | None = None,
                      stream_created: str | None = None) -> int:
    """In the caller's transaction: skip what was applied, apply the rest, move the
    tracking position. Returns how many were applied."""
    tracked = await _tracked(conn, projection, stream)
    fresh = [e for e in events if e.position > tracked]
    if fresh:
        await projection.apply(conn, fresh)
    await _track(conn, projection, stream,
                 max(tracked, events[-1].position) if events else tracked,
                 stream_seq, stream_created)
    return len(fresh)


async def _tracked(conn: asyncpg.Connection, projection: Projection, stream: str) -> int:
    """Under the read model's lock (to the end of the transaction): its tracked position."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key(projection.name))
    return int(await conn.fetchval(
        "SELECT position FROM projection_positions WHERE projection = $1 AND stream = $2",
        projection.name, stream) or 0)


async def _track(conn: asyncpg.Connection, projection: Projection, stream: str, position: int,
                 stream_seq: int | None, stream_created: str | None) -> None:
    await conn.execute(
        "INSERT INTO projection_positions "
        "(projection, stream, position, stream_seq, stream_created) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (projection, stream) DO UPDATE SET "
        "position = excluded.position, stream_seq = excluded.stream_seq, "
        "stream_created = excluded.stream_created",
        projection.name, stream, position, stream_seq, stream_created)


@dataclass(frozen=True)
class Delivered:
    """A message the relay signed: its event and the position of the one before it."""

    event: LoggedEvent
    prev: int
    letter: DeadLetter
    """How to record it should it turn out out of order."""


def check(signer: EventSigner, stream: Stream, msg: Msg) -> Delivered | DeadLetter:
    """A delivered message as a signed event, or as the dead letter it is."""
    letter = DeadLetter(msg.subject, msg.headers, msg.data, "", msg.metadata.sequence.stream)
    try:
        signed = signer.verify(msg.subject, msg.headers, msg.data)
        event = stream.contracts.decode(msg.data)
    except Unverified as exc:
        return replace(letter, reason=exc.reason)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return replace(letter, reason=f"undecodable: {exc}")
    return Delivered(LoggedEvent(stream=stream.name, position=signed.position, event=event),
                     signed.prev, letter)


async def heal(conn: asyncpg.Connection, eventlog: EventLog, stream: str, after: int,
               upto: int, batch: int) -> list[LoggedEvent]:
    """The stored events after `after` up to `upto`: what JetStream lost in between."""
    healed: list[LoggedEvent] = []
    while after < upto:
        events = [e for e in await eventlog.read(stream, after, batch, conn=conn)
                  if e.position <= upto]
        if not events:
            break
        healed += events
        after = events[-1].position
    return healed


async def apply_delivered(conn: asyncpg.Connection, projection: Projection, stream: str,
                          delivered: Sequence[Delivered | DeadLetter], eventlog: EventLog,
                          stream_seq: int | None, stream_created: str | None,
                          heal_batch: int = 500) -> tuple[int, int, int]:
    """In the caller's transaction: apply each signed message that follows the last one
    applied (healing a gap from the event store first), dead-letter the rest, move the
    tracking position. Returns (applied, healed, dead-lettered)."""
    last = await _tracked(conn, projection, stream)
    fresh: list[LoggedEvent] = []
    healed = refused = 0
    for item in delivered:
        if isinstance(item, DeadLetter):
            await dead_letters.record(conn, projection.name, stream, item)
            refused += 1
            continue
        if item.event.position <= last:
            continue  # applied already: a redelivery
        if item.prev < last:
            reason = (f"out of order: position {item.event.position} follows {item.prev}, "
                      f"but {last} was applied")
            await dead_letters.record(conn, projection.name, stream,
                                      replace(item.letter, reason=reason))
            refused += 1
            continue
        if item.prev > last:
            gap = await heal(conn, eventlog, stream, last, item.prev, heal_batch)
            fresh += gap
            healed += len(gap)
            if gap:
                last = gap[-1].position
            if last != item.prev:
                reason = f"gap: position {item.prev} is not in the event store"
                await dead_letters.record(conn, projection.name, stream,
                                          replace(item.letter, reason=reason))
                refused += 1
                continue
        fresh.append(item.event)
        last = item.event.position
    if fresh:
        await projection.apply(conn, fresh)
    await _track(conn, projection, stream, last, stream_seq, stream_created)
    return len(fresh), healed, refused


class ProjectionRunner:
    def __init__(self, pool: asyncpg.Pool, nc: NATS, streams: Sequence[Stream],
                 projections: Sequence[Projection], *, signer: EventSigner,
                 batch: int = 500) -> None:
        self.pool = pool
        self.nc = nc
        self.js = nc.jetstream()
        self.streams = {s.name: s for s in streams}
        self.eventlog = EventLog(pool, streams)
        self.signer = signer
        self.projections = list(projections)
        self.batch = batch
        self.applied = 0
        self.healed = 0
        self.dead_lettered = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._owner: PoolConnectionProxy[asyncpg.Record] | None = None
        """The one connection holding every consumer lock this runner has."""
        self._owner_use = asyncio.Lock()
        self._generation = 0
        """Of `_owner`: a lock taken on an earlier connection went with it."""

    async def start(self) -> None:
        self._stopping = False
        await install(self.pool, self.projections)
        for p in self.projections:
            for stream in p.streams:
                self._tasks.append(asyncio.create_task(
                    self._consume(p, self.streams[stream]), name=f"projection-{p.name}-{stream}"))

    async def stop(self) -> None:
        # nats-py's fetch can turn a cancellation into a timeout, so a flag ends the
        # loops too; a batch under way finishes or rolls back, never half-applies.
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        self._tasks.clear()
        async with self._owner_use:
            owner, self._owner = self._owner, None
            if owner is not None:  # back to the pool, which unlocks all on release
                with contextlib.suppress(Exception):
                    await self.pool.release(owner)

    # One process consumes each (read model, stream): it holds a session lock for it.
    # All of a runner's locks are held on one connection (a process's connections are
    # a budget: services/runtime.py); each batch takes a pooled one for its transaction.
    # The locks spare duplicate work only: a second consumer of the same read model
    # would wait on its transaction lock and skip what the first applied.
    async def _own(self, key: int) -> int:
        """Take the lock `key`; the owner connection's generation if taken, else 0."""
        async with self._owner_use:
            if self._owner is None or self._owner.is_closed():
                if self._owner is not None:  # gone, and every lock with it
                    with contextlib.suppress(Exception):
                        await self.pool.release(self._owner)
                self._owner = None
                self._owner = await self.pool.acquire()
                self._generation += 1
            taken = await self._owner.fetchval("SELECT pg_try_advisory_lock($1)", key)
            return self._generation if taken else 0

    def _owns(self, generation: int) -> bool:
        return (generation == self._generation and self._owner is not None
                and not self._owner.is_closed())

    async def _disown(self, key: int, generation: int) -> None:
        async with self._owner_use:
            if self._owns(generation) and self._owner is not None:
                with contextlib.suppress(Exception):
                    await self._owner.execute("SELECT pg_advisory_unlock($1)", key)

    async def _consume(self, projection: Projection, stream: Stream) -> None:
        key = lock_key(projection.name, stream.name)
        while not self._stopping:
            try:
                # Others stand by, trying every second.
                while not (generation := await self._own(key)):  # noqa: ASYNC110 - polls Postgres, no event to wait on
                    await asyncio.sleep(1.0)
                try:
                    await self._consume_owned(projection, stream, generation)
                finally:
                    await self._disown(key, generation)
            except asyncio.CancelledError:
                raise
            except NotFoundError:
                await asyncio.sleep(0.5)  # the stream is not there yet: the relay makes it
            except Exception:
                log.warning("projection %s on %s interrupted; resuming from its tracking",
                            projection.name, stream.name, exc_info=True)
                await asyncio.sleep(1.0)

    async def _consume_owned(self, projection: Projection, stream: Stream,
                             generation: int) -> None:
        """Consume while the lock taken under `generation` is held."""
        durable = f"{projection.name}-{stream.name}"
        info = await self.js.stream_info(stream.jetstream_name)
        created = info.created.isoformat() if info.created else ""
        row = await self.pool.fetchrow(
            "SELECT stream_seq, stream_created FROM projection_positions "
            "WHERE projection = $1 AND stream = $2", projection.name, stream.name)
        config = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.ALL, ack_wait=30,
                                max_ack_pending=self.batch, max_deliver=-1,
                                deliver_policy=DeliverPolicy.ALL)
        if row and row["stream_seq"] and row["stream_created"] == created:
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = row["stream_seq"] + 1
        with contextlib.suppress(NotFoundError):
            await self.js.delete_consumer(stream.jetstream_name, durable)
        sub = await self.js.pull_subscribe(stream.subjects, durable=durable,
                                           stream=stream.jetstream_name, config=config)
        while not self._stopping and self._owns(generation):
            try:
                msgs = await sub.fetch(self.batch, timeout=1.0)
            except (TimeoutError, NatsTimeout):
                continue
            if not msgs:
                continue
            delivered = [check(self.signer, stream, m) for m in msgs]
            last_seq = msgs[-1].metadata.sequence.stream
            async with connection(self.pool) as conn, conn.transaction():
                applied, healed, refused = await apply_delivered(
                    conn, projection, stream.name, delivered, self.eventlog, last_seq,
                    created, self.batch)
            self.applied += applied
            self.healed += healed
            self.dead_lettered += refused
            if refused:
                log.warning("projection %s on %s: %d message(s) refused and dead-lettered "
                            "(`ptsp dead-letters list`)", projection.name, stream.name, refused)
            if healed:
                log.warning("projection %s on %s: %d event(s) missing from JetStream read "
                            "from the event store", projection.name, stream.name, healed)
            await msgs[-1].ack()  # AckPolicy.ALL: acknowledges the whole batch


async def rebuild(pool: asyncpg.Pool, eventlog: EventLog, projections: Sequence[Projection],
                  batch: int = 5000, progress: bool = True) -> dict[str, int]:
    """Drop each read model and fold it again from the event store (not from JetStream),
    all in one transaction: readers see the old read models until the new ones are
    complete, and live consumers wait on each read model's lock meanwhile.

    The store is read once: each batch of events is decoded once and handed to every
    read model that takes its stream (the next batch is read meanwhile)."""
    await install(pool, projections)
    counts = {p.name: 0 for p in projections}
    declared = list(dict.fromkeys(s for p in projections for s in p.streams))
    # The calendar first: deadlines are then computed once, on the final calendar.
    streams = sorted(declared, key=lambda s: s != "calendar")
    totals = {s: await eventlog.head(s) for s in streams}
    async with contextlib.AsyncExitStack() as stack:
        conn = await stack.enter_async_context(connection(pool))
        # A second connection reads ahead, if one is free now: taken before the read
        # models' locks, as live consumers holding pooled connections wait on those.
        reader = await _spare(pool, stack)
        await stack.enter_async_context(conn.transaction())
        for p in sorted(projections, key=lambda p: lock_key(p.name)):  # one order: no deadlock
            await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key(p.name))
        for p in projections:
            await p.drop(conn)
            await p.create(conn)
            await conn.execute("DELETE FROM projection_positions WHERE projection = $1", p.name)
        for stream in streams:
            takers = [p for p in projections if stream in p.streams]
            rows = await eventlog.rows(stream, 0, batch, reader or conn)
            while rows:
                after = rows[-1].position
                ahead = (asyncio.create_task(eventlog.rows(stream, after, batch, reader))
                         if reader is not None and len(rows) == batch else None)
                try:
                    events = [eventlog.decode(r) for r in rows]
                    for p in takers:
                        counts[p.name] += await apply_batch(conn, p, stream, events)
                except BaseException:
                    if ahead is not None:
                        await cancel_and_wait(ahead)
                    raise
                if progress:
                    _progress(stream, after, totals[stream])
                rows = (await ahead if ahead is not None
                        else await eventlog.rows(stream, after, batch, conn)
                        if len(rows) == batch else [])
    if progress:
        print(f"\r{', '.join(f'{n}: {c} events' for n, c in counts.items())}{' ' * 20}",
              file=sys.stderr)
    return counts


async def _spare(pool: asyncpg.Pool,
                 stack: contextlib.AsyncExitStack) -> asyncpg.Connection | None:
    """A pooled connection if one is free right away (released with `stack`), else None."""
    try:
        proxy = await pool.acquire(timeout=0.05)
    except TimeoutError:
        return None
    stack.push_async_callback(pool.release, proxy)
    return cast("asyncpg.Connection", proxy)


def _progress(stream: str, position: int, total: int) -> None:
    width = 30
    filled = int(width * position / total) if total else width
    print(f"\r{stream} [{'#' * filled}{'.' * (width - filled)}] {position}/{total}",
          end="", file=sys.stderr, flush=True)
