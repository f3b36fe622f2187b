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
acknowledged (AckPolicy.ALL) only after their transactions committed. A runner's read
models that take a stream share one consumer of it (`Consumer`): each message is fetched,
checked and decoded once, then applied to each read model in a transaction of its own
(side by side, each tracking its own position). One process consumes each stream for a
runner's read models at a time: it holds a Postgres advisory lock for it.

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
import functools
import gc
import logging
import multiprocessing
import os
import sys
import threading
from collections import deque
from collections.abc import AsyncGenerator, Callable, Coroutine, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar, cast
from uuid import UUID

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
from services.infra.eventlog import EventLog, LoggedEvent, StoredRow, Stream, connection
from services.infra.pg import mark_clean
from services.infra.tasks import cancel_and_wait

log = logging.getLogger("ptsp.projections")

Folded = TypeVar("Folded")
Folded_co = TypeVar("Folded_co", covariant=True)

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
    async def apply(self, conn: asyncpg.Connection, events: Sequence[LoggedEvent]) -> None:
        """Fold a batch of events into the read model, in the caller's transaction: each
        row the batch touches read once and written once."""


class Rebuildable(Projection, Protocol):
    """A read model `rebuild` can fold anew from the event store."""

    async def rebuilding(self, conn: asyncpg.Connection) -> Rebuilding[Any]:
        """The read model being folded anew into its empty tables, in the rebuild's
        transaction."""


class Folder(Protocol[Folded_co]):
    """The pure half of a read model's rebuild: whole cases folded into their rows."""

    def fold(self, events: Sequence[LoggedEvent]) -> Folded_co:
        """The rows of these whole cases and what they add to the read model's counts.
        No I/O and no state of its own, and picklable: it may run in a worker process
        (`rebuild`), on a copy."""


class Rebuilding(Protocol[Folded]):
    """A read model folded anew into empty tables, whole cases at a time: every event of
    a case comes in one batch, in order, and no row of the case is stored yet. So each
    row is made once and written once, with nothing read back; what the read model
    counts across cases is summed over the whole rebuild and written at the end."""

    @property
    def folder(self) -> Folder[Folded]: ...
    async def write(self, conn: asyncpg.Connection, folded: Folded) -> None:
        """A batch's rows (as `folder` folded them), in the rebuild's transaction; its
        counts kept for `finish`."""
    async def finish(self, conn: asyncpg.Connection) -> None:
        """What every case folded adds to the counts."""


def lock_key(projection: str, stream: str = "") -> int:
    """Advisory lock of one read model (live batches and a rebuild never interleave), or
    with a stream, of its consumer (one process consumes it)."""
    name = f"{projection}/{stream}"
    return 0x5054_0000 + int(sum(ord(c) * 31**i for i, c in enumerate(name))) % 0xFFFFFF


def rebuild_key(projection: str) -> int:
    """Advisory lock a rebuild of the read model holds exclusively, and a live batch
    applying to it shared: a batch that cannot take it shared leaves the read model,
    being rebuilt, to catch up afterwards, and goes on with the others of its stream."""
    return lock_key(f"{projection}#rebuild")


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


# A batch waits on another live batch of the read model (it holds the lock briefly),
# never on a rebuild of it (it holds both locks for as long as it takes).
_LOCK_UNLESS_REBUILDING = (
    "SELECT CASE WHEN pg_try_advisory_xact_lock_shared($1) "
    "THEN pg_advisory_xact_lock($2) IS NOT NULL ELSE false END")


async def _tracked(conn: asyncpg.Connection, projection: Projection, stream: str) -> int | None:
    """Under the read model's lock (to the end of the transaction): its tracked position;
    None while it is being rebuilt."""
    if not await conn.fetchval(_LOCK_UNLESS_REBUILDING, rebuild_key(projection.name),
                               lock_key(projection.name)):
        return None
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


def stream_sequence(msg: Msg) -> int:
    """A JetStream message's stream sequence, read from its reply subject as nats-py's
    `msg.metadata` reads it, without the rest (a timestamp and three objects made for
    every message each consumer takes). Either form of the subject: `$JS.ACK.<stream>.
    <consumer>.<delivered>.<sseq>...` (9 tokens) or, with a domain and an account hash,
    `$JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>.<sseq>...` (11 or more)."""
    tokens = msg.reply.split(".", 8) if msg.reply else []
    if len(tokens) == 9 and tokens[0] == "$JS" and tokens[1] == "ACK":
        # The 9th piece holds the rest of a longer subject: one split, either form.
        rest = tokens[8].count(".")
        if rest == 0:
            return int(tokens[5])
        if rest >= 2:
            return int(tokens[7])
    return msg.metadata.sequence.stream  # anything else: nats-py says (or raises)


def check(signer: EventSigner, stream: Stream, msg: Msg) -> Delivered | DeadLetter:
    """A delivered message as a signed event, or as the dead letter it is."""
    letter = DeadLetter(msg.subject, msg.headers, msg.data, "", stream_sequence(msg))
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


@dataclass(frozen=True)
class Applied:
    """What one live batch did (to one read model, or summed over a consumer's)."""

    applied: int = 0
    healed: int = 0
    refused: int = 0
    skipped: tuple[str, ...] = ()
    """The read models left out: being rebuilt."""


async def apply_delivered(conn: asyncpg.Connection, projection: Projection, stream: str,
                          delivered: Sequence[Delivered | DeadLetter], eventlog: EventLog,
                          stream_seq: int | None, stream_created: str | None,
                          heal_batch: int = 500, upto: int = 0) -> Applied:
    """In the caller's transaction, unless the read model is being rebuilt: apply each
    signed message that follows the last one applied (healing a gap from the event store
    first), dead-letter the rest, heal up to position `upto` (what it missed while it was
    being rebuilt), move the tracking position."""
    last = await _tracked(conn, projection, stream)
    if last is None:
        return Applied(skipped=(projection.name,))
    unapplied: list[LoggedEvent] = []
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
            unapplied += gap
            healed += len(gap)
            if gap:
                last = gap[-1].position
            if last != item.prev:
                reason = f"gap: position {item.prev} is not in the event store"
                await dead_letters.record(conn, projection.name, stream,
                                          replace(item.letter, reason=reason))
                refused += 1
                continue
        unapplied.append(item.event)
        last = item.event.position
    if last < upto:
        gap = await heal(conn, eventlog, stream, last, upto, heal_batch)
        unapplied += gap
        healed += len(gap)
        if gap:
            last = gap[-1].position
    if unapplied:
        await projection.apply(conn, unapplied)
    await _track(conn, projection, stream, last, stream_seq, stream_created)
    return Applied(len(unapplied), healed, refused)


@dataclass(frozen=True)
class Consumer:
    """The read models of a runner that take one stream, fed by one durable JetStream
    consumer: each message is fetched, checked and decoded once, and applied to each in a
    transaction of its own (each tracks its own position)."""

    stream: Stream
    members: tuple[Projection, ...]

    @property
    def name(self) -> str:
        """Of the consumer: its members' names (one read model's alone, as it was)."""
        return "+".join(p.name for p in self.members)


def consumers(streams: dict[str, Stream], projections: Sequence[Projection]) -> list[Consumer]:
    """One consumer per stream any of `projections` takes."""
    declared = dict.fromkeys(s for p in projections for s in p.streams)
    return [Consumer(streams[s], tuple(p for p in projections if s in p.streams))
            for s in declared]


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
        self.consumers = consumers(self.streams, self.projections)
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
        for consumer in self.consumers:
            self._tasks.append(asyncio.create_task(
                self._consume(consumer), name=f"projection-{consumer.name}-{consumer.stream.name}"))

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

    # One process consumes each stream for the read models of a consumer: it holds a
    # session lock for it.
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

    async def _consume(self, consumer: Consumer) -> None:
        key = lock_key(consumer.name, consumer.stream.name)
        while not self._stopping:
            try:
                # Others stand by, trying every second.
                while not (generation := await self._own(key)):  # noqa: ASYNC110 - polls Postgres, no event to wait on
                    await asyncio.sleep(1.0)
                try:
                    await self._consume_owned(consumer, generation)
                finally:
                    await self._disown(key, generation)
            except asyncio.CancelledError:
                raise
            except NotFoundError:
                await asyncio.sleep(0.5)  # the stream is not there yet: the relay makes it
            except Exception:
                log.warning("projection %s on %s interrupted; resuming from its tracking",
                            consumer.name, consumer.stream.name, exc_info=True)
                await asyncio.sleep(1.0)

    async def _consume_owned(self, consumer: Consumer, generation: int) -> None:
        """Consume while the lock taken under `generation` is held."""
        stream, names = consumer.stream, [p.name for p in consumer.members]
        durable = f"{consumer.name}-{stream.name}"
        info = await self.js.stream_info(stream.jetstream_name)
        created = info.created.isoformat() if info.created else ""
        rows = await self.pool.fetch(
            "SELECT stream_seq, stream_created FROM projection_positions "
            "WHERE stream = $1 AND projection = ANY($2::text[])", stream.name, names)
        config = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.ALL, ack_wait=30,
                                max_ack_pending=self.batch, max_deliver=-1,
                                deliver_policy=DeliverPolicy.ALL)
        # From where the read model furthest behind left off, if each has applied this
        # incarnation of the stream (else from the start, skipping by position).
        if len(rows) == len(names) and all(
                r["stream_seq"] and r["stream_created"] == created for r in rows):
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = min(r["stream_seq"] for r in rows) + 1
        # Ours is made anew; a read model's consumer of its own, before they shared
        # one, would hold on to the stream's messages for nothing.
        alone = [f"{name}-{stream.name}" for name in names] if len(names) > 1 else []
        for name in (durable, *alone):
            with contextlib.suppress(NotFoundError):
                await self.js.delete_consumer(stream.jetstream_name, name)
        sub = await self.js.pull_subscribe(stream.subjects, durable=durable,
                                           stream=stream.jetstream_name, config=config)
        behind = 0
        """The last position delivered while a read model was left out (being rebuilt):
        it catches up to there at the next batch, or when the stream goes quiet."""
        last_seq: int | None = None
        while not self._stopping and self._owns(generation):
            try:
                msgs = await sub.fetch(self.batch, timeout=1.0)
            except (TimeoutError, NatsTimeout):
                msgs = []
            if not msgs and not behind:
                continue
            delivered = [check(self.signer, stream, m) for m in msgs]
            if msgs:
                last_seq = stream_sequence(msgs[-1])
            done = await self._apply(consumer, delivered, last_seq, created, behind)
            self.applied += done.applied
            self.healed += done.healed
            self.dead_lettered += done.refused
            positions = [d.event.position for d in delivered if isinstance(d, Delivered)]
            behind = max([behind, *positions]) if done.skipped else 0
            if done.refused:
                log.warning("projection %s on %s: %d message(s) refused and dead-lettered "
                            "(`ptsp dead-letters list`)", consumer.name, stream.name,
                            done.refused)
            if done.healed:
                log.warning("projection %s on %s: %d event(s) missing from JetStream read "
                            "from the event store", consumer.name, stream.name, done.healed)
            if msgs:
                await msgs[-1].ack()  # AckPolicy.ALL: acknowledges the whole batch


    async def _apply(self, consumer: Consumer, delivered: Sequence[Delivered | DeadLetter],
                     last_seq: int | None, created: str, behind: int) -> Applied:
        """A batch applied to each read model of the consumer in a transaction of its
        own, side by side: a case view is visible once its own rows are in, without
        waiting on the SLA timers' (or on another stream's batch of them)."""

        async def apply_to(member: Projection) -> Applied:
            async with connection(self.pool) as conn:
                async with conn.transaction():
                    done = await apply_delivered(
                        conn, member, consumer.stream.name, delivered, self.eventlog,
                        last_seq, created, self.batch, behind)
                # Its locks were the transaction's: nothing left on the connection.
                mark_clean(conn)
            return done

        results = await asyncio.gather(*(apply_to(m) for m in consumer.members),
                                       return_exceptions=True)
        for result in results:  # raised once every transaction has ended
            if isinstance(result, BaseException):
                raise result
        done = [r for r in results if isinstance(r, Applied)]
        return Applied(applied=sum(d.applied for d in done), healed=sum(d.healed for d in done),
                       refused=sum(d.refused for d in done),
                       skipped=tuple(name for d in done for name in d.skipped))


async def rebuild(pool: asyncpg.Pool, eventlog: EventLog, projections: Sequence[Rebuildable],
                  batch: int = 5000, progress: bool = True,
                  workers: int | None = None) -> dict[str, int]:
    """Drop each read model and fold it again from the event store (not from JetStream),
    all in one transaction: readers see the old read models until the new ones are
    complete, and live batches leave them out meanwhile (`rebuild_key`): they catch up
    from the event store once it commits.

    The store is read once, whole cases at a time (`_whole_cases`: each case's events
    together, in order, about `batch` events a read), up to each stream's head when the
    rebuild began. Each batch is decoded once and folded by every read model that takes
    its stream (`Rebuilding`): every row is made once and copied in once, with nothing
    read back, and the indexes are built once the rows are in. A case's rows are the
    same whatever batch its events come in; what a read model counts across cases is a
    sum, the same in any order (tests/integration/test_projections.py compares a
    rebuild with the read models applied live). Each stream's position is then the
    head it was read to, in the same transaction.

    The work goes on side by side: the next batch is read (on a second connection, if
    one is free), batches are decoded and folded by `workers` processes (`Folding`; by
    default one per CPU, up to 4; with 0, or on a single CPU, by one thread), and the
    rows folded are written in the transaction, by this process."""
    await install(pool, projections)
    counts = {p.name: 0 for p in projections}
    declared = list(dict.fromkeys(s for p in projections for s in p.streams))
    # The calendar first: deadlines are then computed once, on the final calendar.
    streams = sorted(declared, key=lambda s: s != "calendar")
    heads = {s: await eventlog.head(s) for s in streams}
    async with contextlib.AsyncExitStack() as stack:
        conn = await stack.enter_async_context(connection(pool))
        # A second connection reads ahead, if one is free now: taken before the read
        # models' locks, as live consumers holding pooled connections wait on those.
        reader = await _spare(pool, stack)
        await stack.enter_async_context(conn.transaction())
        # Every read model's rebuild lock, then every read model's lock, each in one
        # order: live batches skip a read model being rebuilt, and wait for none.
        ordered = sorted(projections, key=lambda p: lock_key(p.name))
        for key in [rebuild_key(p.name) for p in ordered] + [lock_key(p.name) for p in ordered]:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", key)
        # The indexes are built by this backend alone: the rebuild's own workers have the
        # other cores (Postgres would start helpers for the larger tables' indexes).
        await conn.execute("SET LOCAL max_parallel_maintenance_workers = 0")
        for p in projections:
            await p.drop(conn)
        existing = await _tables(conn)
        for p in projections:
            await p.create(conn)
            await conn.execute("DELETE FROM projection_positions WHERE projection = $1", p.name)
        # Indexes are built once the rows are in (a sort each), not kept up row by row.
        deferred = await _drop_indexes(conn, await _tables(conn) - existing)
        folding = stack.enter_context(Folding(eventlog, workers))
        for stream in streams:
            takers = [p for p in projections if stream in p.streams]
            if not heads[stream]:
                continue
            # Made after the streams before (the calendar) are written.
            models = [await p.rebuilding(conn) for p in takers]
            folders = [m.folder for m in models]
            done = 0
            folded: deque[asyncio.Future[list[Any]]] = deque()
            try:
                async with contextlib.aclosing(_whole_cases(
                        eventlog, stream, heads[stream], batch, conn, reader)) as batches:
                    async for rows in batches:
                        folded.append(folding.fold(rows, folders))
                        if len(folded) > folding.ahead:
                            await _write(conn, models, await folded.popleft())
                        done += len(rows)
                        if progress:  # the head: about as many events as the stream has
                            _progress(stream, done, heads[stream])
                while folded:
                    await _write(conn, models, await folded.popleft())
            finally:
                for future in folded:
                    future.cancel()
            for p, model in zip(takers, models, strict=True):
                await model.finish(conn)
                await _track(conn, p, stream, heads[stream], None, None)
                counts[p.name] += done
        for definition in deferred:
            await conn.execute(definition)
    if progress:
        print(f"\r{', '.join(f'{n}: {c} events' for n, c in counts.items())}{' ' * 20}",
              file=sys.stderr)
    return counts


async def _tables(conn: asyncpg.Connection) -> set[str]:
    """The tables of the current schema."""
    return {r["name"] for r in await conn.fetch(
        "SELECT oid::regclass::text AS name FROM pg_class "
        "WHERE relkind = 'r' AND relnamespace = current_schema()::regnamespace")}


async def _drop_indexes(conn: asyncpg.Connection, tables: set[str]) -> list[str]:
    """Drop the indexes of these tables but the unique ones (keys, and what an upsert's
    conflict needs) and those of constraints: their definitions, to make them again."""
    rows = await conn.fetch(
        "SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS definition "
        "FROM pg_index i WHERE indrelid = ANY($1::regclass[]) AND NOT indisunique "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
        "ORDER BY 1", sorted(tables))
    for r in rows:
        await conn.execute(f"DROP INDEX {r['name']}")
    return [r["definition"] for r in rows]


class Folding:
    """Where a rebuild's batches are decoded and folded, beside the process that reads
    and writes them: worker processes, forked so that each has the event log's decoders
    as they are (they hold the stores' mappers, which do not pickle), each batch and its
    folders sent pickled and its rows sent back; or, with no workers, one thread (the
    folding then overlaps only the reads and writes, which wait on Postgres)."""

    def __init__(self, eventlog: EventLog, workers: int | None = None) -> None:
        if workers is None:
            cpus = os.cpu_count() or 1
            workers = min(cpus, 4) if cpus > 1 else 0
        if not sys.platform.startswith("linux"):
            workers = 0  # forking is Linux's to rely on (macOS has it, but not safely)
        self.executor: Executor
        self._call: Callable[[Any, Sequence[Folder[Any]]], list[Any]]
        if workers and (others := [t.name for t in threading.enumerate()
                                   if t is not threading.current_thread()]):
            # A fork copies one thread: a lock another thread holds at that instant stays
            # held in the child for ever. The caller should have stopped them (`ptsp
            # projections rebuild` closes eventsourcing's connection pools first).
            log.warning("rebuild: forking %d worker processes beside %d other threads (%s)",
                        workers, len(others), ", ".join(others[:5]))
        if workers:
            self.executor = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("fork"),
                initializer=_adopt, initargs=(eventlog,))
            self._call = _fold_in_worker
        else:
            self.executor = ThreadPoolExecutor(1, thread_name_prefix="rebuild-fold")
            self._call = functools.partial(_fold, eventlog)
        self.workers = workers
        self.ahead = max(1, workers)
        """Batches being folded while the oldest one's rows are written."""

    def fold(self, rows: Sequence[StoredRow],
             folders: Sequence[Folder[Any]]) -> asyncio.Future[list[Any]]:
        """One batch (of one stream) decoded and folded by each folder."""
        batch = _pack(rows) if self.workers else rows
        return asyncio.get_running_loop().run_in_executor(self.executor, self._call, batch,
                                                          folders)

    def __enter__(self) -> Folding:
        # What lives now is left out of the collector's passes until the rebuild ends:
        # they would go over it again and again as the batches come and go (and copy
        # every page of it into each worker forked).
        gc.freeze()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.executor.shutdown(wait=True, cancel_futures=True)
        finally:
            gc.unfreeze()


_worker_eventlog: EventLog | None = None
"""In a worker process of `Folding`: the event log it was forked with."""


def _adopt(eventlog: EventLog) -> None:
    global _worker_eventlog  # one per worker process, set as it starts
    _worker_eventlog = eventlog
    # A batch makes tens of thousands of dicts, freed by their counts as it ends: the
    # collector's automatic passes over them (a sixth of a worker's time) find nothing
    # to free. It runs once a batch instead (`_fold_in_worker`), over what is left.
    gc.disable()


Packed = tuple[str, list[int], bytes, list[int], list[str], list[bytes]]
"""A batch of stored rows of one stream as columns (the originator ids' bytes end to
end): pickled in a tenth of the time the rows take."""


def _pack(rows: Sequence[StoredRow]) -> Packed:
    return (rows[0].stream, [r.position for r in rows],
            b"".join(r.originator_id.bytes for r in rows),
            [r.originator_version for r in rows], [r.topic for r in rows],
            [r.state for r in rows])


def _unpack(packed: Packed) -> list[StoredRow]:
    stream, positions, ids, versions, topics, states = packed
    return [StoredRow(stream, position, UUID(bytes=ids[16 * i:16 * i + 16]), version, topic,
                      state)
            for i, (position, version, topic, state)
            in enumerate(zip(positions, versions, topics, states, strict=True))]


def _fold_in_worker(packed: Packed, folders: Sequence[Folder[Any]]) -> list[Any]:
    if _worker_eventlog is None:
        raise RuntimeError("not a rebuild's worker process")
    try:
        return _fold(_worker_eventlog, _unpack(packed), folders)
    finally:
        gc.collect()


def _fold(eventlog: EventLog, rows: Sequence[StoredRow],
          folders: Sequence[Folder[Any]]) -> list[Any]:
    """One batch decoded once and folded by each read model."""
    events = [eventlog.decode(r) for r in rows]
    return [folder.fold(events) for folder in folders]


async def _write(conn: asyncpg.Connection, models: Sequence[Rebuilding[Any]],
                 folded: Sequence[Any]) -> None:
    for model, rows in zip(models, folded, strict=True):
        await model.write(conn, rows)


async def _whole_cases(eventlog: EventLog, stream: str, upto: int, batch: int,
                       conn: asyncpg.Connection,
                       reader: asyncpg.Connection | None,
                       ) -> AsyncGenerator[list[StoredRow], None]:
    """The stream's rows up to position `upto`, case by case, in batches of whole cases:
    about `batch` rows each (a case that goes on past a read waits for the next one; a
    case longer than a read makes a longer batch). With a `reader` connection the next
    read is under way while the caller works on a batch (on `conn`, otherwise)."""

    def read(after: StoredRow | None) -> Coroutine[Any, Any, list[StoredRow]]:
        key = None if after is None else (after.originator_id, after.originator_version)
        return eventlog.rows_by_case(stream, key, upto, batch, reader or conn)

    held: list[StoredRow] = []
    rows = await read(None)
    while rows:
        more = len(rows) == batch
        ahead = asyncio.create_task(read(rows[-1])) if reader is not None and more else None
        try:
            # The last case read may go on in the next read: it waits for it.
            cut = len(rows)
            while more and cut and rows[cut - 1].originator_id == rows[-1].originator_id:
                cut -= 1
            if not cut and held and held[-1].originator_id == rows[0].originator_id:
                held += rows  # one case longer than a read
            else:
                ready, held = held + rows[:cut], rows[cut:]
                if ready:
                    yield ready
        except BaseException:
            if ahead is not None:
                await cancel_and_wait(ahead)
            raise
        rows = (await ahead if ahead is not None
                else await read(rows[-1]) if more else [])
    if held:
        yield held


async def _spare(pool: asyncpg.Pool,
                 stack: contextlib.AsyncExitStack) -> asyncpg.Connection | None:
    """A pooled connection if one is free right away (released with `stack`), else None."""
    try:
        proxy = await pool.acquire(timeout=0.05)
    except TimeoutError:
        return None
    stack.push_async_callback(pool.release, proxy)
    return cast("asyncpg.Connection", proxy)


def _progress(stream: str, done: int, total: int) -> None:
    width = 30
    filled = min(width, int(width * done / total)) if total else width
    print(f"\r{stream} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
          end="", file=sys.stderr, flush=True)
