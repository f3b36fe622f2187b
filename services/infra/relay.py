"""The relay (outbox tail): every stored event, in order, onto JetStream.

Postgres is the record; JetStream is a transport that can be wiped and re-filled. The
relay reads each event store's notification log after its saved position, publishes
each event as its contract JSON on `ptsp.<stream>.<tag>` with `Nats-Msg-Id` =
`<stream>:<notification id>`, and only once JetStream has acknowledged every message of
the batch saves its new position. A crash between publishing and saving re-sends a
batch: the stream's duplicate window drops the repeats (and projections skip what they
applied).

Publishing is pipelined: a batch's messages are written one after another on the NATS
connection, each naming a reply subject of the relay's own (`<inbox>.<n>`), and their
acknowledgements are counted as they come back on one subscription; nothing waits for
an ack before the next message goes. (nats-py's `publish_async` does the same with a
future, a semaphore and a subscription lookup per message; this is the same protocol
without them.) The order on the stream is the store order: one connection, one writer,
messages in position order, and the server stores a connection's messages in the order
they arrive. Should a message be refused (an error ack, or no ack within
`ack_timeout`), nothing more of the batch is sent, the position does not move and the
batch is sent again from its start; messages of it already stored are dropped there as
duplicates. (Should a later message of the batch have been stored although an earlier
one was refused, the earlier one then lands after it: the projections notice by
`Ptsp-Prev-Position`, read it from the event store and skip its late copy.)

Every message is signed (services/infra/event_signing.py) and names the position of the
event before it in its stream (`Ptsp-Prev-Position`): the relay reads the store in order
from its saved position, which is always the last event it published, so the previous
position is that one, or the one before in the batch. A re-sent batch carries the same
headers again.

Wake-up: a Postgres trigger NOTIFYs `ptsp_events` with the table's name on every insert,
and the relay reads that store at once; polling every second is the fallback.
Notification ids are not gap-free (a rolled-back insert burns one), so the relay never
waits for a gap to fill; the stores hand them out in commit order
(services/infra/eventtable.py), so a later commit never fills a gap behind the relay.
Two relays may run: only the holder of a Postgres advisory lock publishes (and keeps the
positions in memory while it holds it), the other waits to take over. The lock's
connection is the only one the relay uses: it takes the NOTIFYs, the reads of the store
and the position writes (a process's connections are a budget: services/runtime.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import asyncpg
import msgspec
import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError, ServiceUnavailableError

from services.infra.event_signing import POSITION_HEADER, EventSigner
from services.infra.eventlog import EventLog, LoggedEvent, StoredRow, Stream, connection
from services.infra.tasks import cancel_and_wait

log = logging.getLogger("ptsp.relay")

RELAY_LOCK_KEY = 0x7074_7370_0001  # "ptsp" relay: one advisory lock for all relays
NOTIFY_CHANNEL = "ptsp_events"
DUPLICATE_WINDOW_SECONDS = 300.0
MAX_PENDING = 4000
"""Messages awaiting their ack at once, at most (a batch is at most this long)."""
YIELD_EVERY = 200
"""Messages written between two turns of the event loop while a batch is published."""
BURST = 10
"""Full batches of one stream in a row before the other streams get their turn."""
__all__ = ["MAX_PENDING", "POSITION_HEADER", "Relay", "RelayRefused", "encode",
           "ensure_streams", "install"]

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS relay_positions (
    stream text PRIMARY KEY,
    position bigint NOT NULL
);
CREATE OR REPLACE FUNCTION ptsp_notify_events() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('{NOTIFY_CHANNEL}', TG_TABLE_NAME);
    RETURN NULL;
END $$ LANGUAGE plpgsql;
"""


async def install(pool: asyncpg.Pool, streams: Sequence[Stream]) -> None:
    """Tables and the NOTIFY trigger on each events table (idempotent)."""
    async with connection(pool) as conn:
        await conn.execute("SELECT pg_advisory_lock(7074)")  # serialise DDL across processes
        try:
            await conn.execute(SCHEMA)
            for s in streams:
                trigger = f"ptsp_notify_{s.name}"
                await conn.execute(f"""
                    DO $$ BEGIN
                        IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '{trigger}') THEN
                            CREATE TRIGGER {trigger} AFTER INSERT ON {s.table}
                            FOR EACH STATEMENT EXECUTE FUNCTION ptsp_notify_events();
                        END IF;
                    END $$;""")
        finally:
            await conn.execute("SELECT pg_advisory_unlock(7074)")


NO_SUITABLE_PEERS = 10005
"""JetStream's "no suitable peers for placement": a cluster still forming (its nodes not
yet known to each other) cannot place a replicated stream."""
CLUSTER_FORMING_SECONDS = 60.0


async def ensure_streams(js: JetStreamContext, streams: Sequence[Stream],
                         replicas: int = 1, update: bool = True,
                         patience: float = CLUSTER_FORMING_SECONDS) -> None:
    """Each stream made, or (`update`) given this configuration if it exists. A cluster
    that is still forming (started together with us: no meta leader yet, or too few
    peers known) is waited for, up to `patience` seconds, then its error is raised."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    for s in streams:
        config = StreamConfig(name=s.jetstream_name, subjects=[s.subjects],
                              storage=StorageType.FILE, num_replicas=replicas,
                              duplicate_window=DUPLICATE_WINDOW_SECONDS)
        while True:
            try:
                await js.add_stream(config)
            except BadRequestError as exc:
                if exc.err_code == NO_SUITABLE_PEERS and loop.time() < deadline:
                    await asyncio.sleep(0.5)
                    continue
                if update:
                    await js.update_stream(config)
            except (ServiceUnavailableError, nats.errors.TimeoutError):
                if loop.time() >= deadline:
                    raise
                await asyncio.sleep(0.5)  # no JetStream meta leader yet
                continue
            break


def encode(event: LoggedEvent) -> bytes:
    return msgspec.json.encode(event.event)


class RelayRefused(Exception):
    """JetStream did not store a message of the batch (it is sent again)."""


class _PubAck(msgspec.Struct):
    """JetStream's answer to a publish: where the message is, or why it is not."""

    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    error: dict[str, object] | None = None


_ack_decoder = msgspec.json.Decoder(_PubAck)


class _Batch:
    """The acknowledgements of one batch, as they arrive: message i of the batch has
    the reply subject `<inbox>.<first + i>`."""

    def __init__(self, first: int, size: int, stream: str) -> None:
        self.first = first
        self.size = size
        self.stream = stream
        self.acked = 0
        self.refused: str | None = None
        self.done = asyncio.Event()

    def ack(self, index: int, data: bytes, status: str | None) -> None:
        if not 0 <= index < self.size or self.done.is_set():
            return  # a late ack of an earlier, abandoned batch
        reason = None
        if status is not None:
            reason = f"status {status}"  # 503: no stream takes the subject
        else:
            try:
                ack = _ack_decoder.decode(data)
            except msgspec.DecodeError:
                reason = f"unreadable ack {data[:200]!r}"
            else:
                if ack.error is not None:
                    reason = f"{ack.error}"
                elif ack.stream != self.stream:
                    reason = f"stored in {ack.stream!r}, not {self.stream!r}"
        if reason is not None:
            self.refused = f"message {index + 1} of {self.size}: {reason}"
            self.done.set()
            return
        self.acked += 1
        if self.acked == self.size:
            self.done.set()


class Relay:
    def __init__(self, pool: asyncpg.Pool, eventlog: EventLog, nc: NATS, *,
                 signer: EventSigner, batch: int = 2000, poll_seconds: float = 1.0,
                 replicas: int = 1, ack_timeout: float = 30.0) -> None:
        self.pool = pool
        self.eventlog = eventlog
        self.nc = nc
        self.signer = signer
        self.js = nc.jetstream()
        self.batch = min(batch, MAX_PENDING)
        self.poll_seconds = poll_seconds
        self.replicas = replicas
        self.ack_timeout = ack_timeout
        self.published = 0
        self.is_leader = False
        self._wake = asyncio.Event()
        self._due: set[str] = set()
        """Streams to read now (a NOTIFY named their table)."""
        self._positions: dict[str, int] = {}
        self._conn: asyncpg.Connection | None = None
        """While leading: the connection holding the lock."""
        self._task: asyncio.Task[None] | None = None
        self._inbox = ""
        self._replies: Subscription | None = None
        self._sent = 0
        self._batch: _Batch | None = None

    async def start(self) -> None:
        streams = list(self.eventlog.streams.values())
        await install(self.pool, streams)
        await ensure_streams(self.js, streams, self.replicas)
        self._inbox = self.nc.new_inbox()
        self._replies = await self.nc.subscribe(f"{self._inbox}.*", cb=self._on_reply)
        self._task = asyncio.create_task(self._run(), name="relay")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        if self._replies is not None:
            with contextlib.suppress(Exception):
                await self._replies.unsubscribe()
            self._replies = None

    def wake(self) -> None:
        self._due.update(self.eventlog.streams)
        self._wake.set()

    async def _on_reply(self, msg: Msg) -> None:
        batch = self._batch
        if batch is None:
            return
        try:
            n = int(msg.subject.rsplit(".", 1)[1])
        except ValueError:
            return
        status = msg.headers.get("Status") if msg.headers else None
        batch.ack(n - batch.first, msg.data, status)

    async def _run(self) -> None:
        while True:
            try:
                async with connection(self.pool) as conn:
                    await self._lead(conn)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("relay interrupted; retrying", exc_info=True)
                self.is_leader = False
                await asyncio.sleep(1.0)

    async def _lead(self, lock_conn: asyncpg.Connection) -> None:
        """Publish while holding the relay lock. Its connection, the relay's only one,
        also takes the NOTIFYs, the reads of the store and the position writes: no pool
        round trip (and reset) per batch, and one connection of the process's budget."""
        # Only one relay publishes; a standby polls for the lock.
        while not await lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_KEY):  # noqa: ASYNC110 - polls Postgres, no event to wait on
            await asyncio.sleep(self.poll_seconds)
        self.is_leader = True
        log.info("relay is the publisher")
        # Again at each lead: a stream deleted meanwhile (503, no stream takes the
        # subject) is made again, and publishing resumes into it.
        await ensure_streams(self.js, list(self.eventlog.streams.values()), self.replicas,
                             update=False)

        def on_notify(_conn: object, _pid: int, _channel: str, table: object) -> None:
            self._due.update(self.eventlog.notified_streams(table))
            self._wake.set()

        await lock_conn.add_listener(NOTIFY_CHANNEL, on_notify)
        try:
            # Positions as saved: only the lock holder moves them, so from here on they
            # are kept in memory too.
            self._positions = {r["stream"]: int(r["position"]) for r in await lock_conn.fetch(
                "SELECT stream, position FROM relay_positions")}
            self._conn = lock_conn
            self._due.update(self.eventlog.streams)  # whatever was written meanwhile
            while True:
                self._wake.clear()
                due, self._due = self._due, set()
                for name in self.eventlog.streams:
                    if name in due:
                        for _ in range(BURST):
                            if await self.pump(name) < self.batch:
                                break
                        else:
                            self._due.add(name)  # more there: after the other streams
                if not self._due:
                    try:
                        await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                    except TimeoutError:
                        self._due.update(self.eventlog.streams)  # the fallback: poll
        finally:
            with contextlib.suppress(Exception):
                await lock_conn.remove_listener(NOTIFY_CHANNEL, on_notify)
                await lock_conn.execute("SELECT pg_advisory_unlock($1)", RELAY_LOCK_KEY)
            self._positions = {}
            self._conn = None
            self.is_leader = False

    async def position(self, stream: str) -> int:
        if stream in self._positions:
            return self._positions[stream]
        value = await self.pool.fetchval(
            "SELECT position FROM relay_positions WHERE stream = $1", stream)
        return int(value or 0)

    async def pump(self, stream: str) -> int:
        """Publish one batch of `stream` after the saved position; returns how many."""
        after = await self.position(stream)
        rows = await self.eventlog.rows(stream, after, self.batch, self._conn)
        if not rows:
            return 0
        await self._publish(stream, rows, after)
        last = rows[-1].position
        sql = ("INSERT INTO relay_positions (stream, position) VALUES ($1, $2) "
               "ON CONFLICT (stream) DO UPDATE SET position = excluded.position")
        if self._conn is not None:
            await self._conn.execute(sql, stream, last)
        else:
            await self.pool.execute(sql, stream, last)
        if self.is_leader:
            self._positions[stream] = last
        self.published += len(rows)
        return len(rows)

    async def _publish(self, stream: str, rows: Sequence[StoredRow], prev: int) -> None:
        """Every row of the batch as a signed message, pipelined; returns once JetStream
        stored (or had) every one of them, else raises RelayRefused."""
        if self._replies is None:
            raise RuntimeError("the relay is not started")
        batch = self._batch = _Batch(self._sent + 1, len(rows), self.eventlog.streams[
            stream].jetstream_name)
        self._sent += len(rows)
        publish, sign, decode = self.nc.publish, self.signer.headers, self.eventlog.decode
        reply = f"{self._inbox}."
        try:
            for i, row in enumerate(rows):
                event = decode(row)
                body = msgspec.json.encode(event.event)
                subject = event.subject
                await publish(subject, body, reply=f"{reply}{batch.first + i}",
                              headers=sign(subject, event.msg_id, row.position, prev, body))
                prev = row.position
                if i % YIELD_EVERY == YIELD_EVERY - 1:
                    # Let the flusher send what is written and the acks be counted,
                    # while the rest of the batch is encoded.
                    await asyncio.sleep(0)
                if batch.refused is not None:
                    break  # nothing more of a refused batch: it goes again from its start
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(batch.done.wait(), self.ack_timeout)
        finally:
            self._batch = None
        if batch.refused is not None:
            raise RelayRefused(f"{stream}: JetStream refused {batch.refused}")
        if batch.acked < batch.size:
            raise RelayRefused(f"{stream}: {batch.size - batch.acked} of {batch.size} "
                               f"messages unacknowledged after {self.ack_timeout}s")
