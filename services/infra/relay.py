"""The relay (outbox tail): every stored event, in order, onto JetStream.

Postgres is the record; JetStream is a transport that can be wiped and re-filled. The
relay reads each event store's notification log after its saved position, publishes
each event as its contract JSON on `ptsp.<stream>.<tag>` with `Nats-Msg-Id` =
`<stream>:<notification id>` (asynchronous publishes, all acks awaited), and only then
saves its new position. A crash between publishing and saving re-sends a batch: the
stream's duplicate window drops the repeats (and projections skip what they applied).

Every message is signed (services/infra/event_signing.py) and names the position of the
event before it in its stream (`Ptsp-Prev-Position`): the relay reads the store in order
from its saved position, which is always the last event it published, so the previous
position is that one, or the one before in the batch. A re-sent batch carries the same
headers again.

Wake-up: a Postgres trigger NOTIFYs `ptsp_events` on every insert; polling every second
is the fallback. Notification ids are not gap-free (a rolled-back insert burns one), so
the relay never waits for a gap to fill. Two relays may run: only the holder of a
Postgres advisory lock publishes, the other waits to take over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import asyncpg
import msgspec
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError

from services.infra.event_signing import POSITION_HEADER, EventSigner
from services.infra.eventlog import EventLog, LoggedEvent, Stream, connection
from services.infra.tasks import cancel_and_wait

log = logging.getLogger("ptsp.relay")

RELAY_LOCK_KEY = 0x7074_7370_0001  # "ptsp" relay: one advisory lock for all relays
NOTIFY_CHANNEL = "ptsp_events"
DUPLICATE_WINDOW_SECONDS = 300.0
__all__ = ["POSITION_HEADER", "Relay", "encode", "ensure_streams", "install"]

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


async def ensure_streams(js: JetStreamContext, streams: Sequence[Stream],
                         replicas: int = 1) -> None:
    for s in streams:
        config = StreamConfig(name=s.jetstream_name, subjects=[s.subjects],
                              storage=StorageType.FILE, num_replicas=replicas,
                              duplicate_window=DUPLICATE_WINDOW_SECONDS)
        try:
            await js.add_stream(config)
        except BadRequestError:
            await js.update_stream(config)


def encode(event: LoggedEvent) -> bytes:
    return msgspec.json.encode(event.event)


class Relay:
    def __init__(self, pool: asyncpg.Pool, eventlog: EventLog, nc: NATS, *,
                 signer: EventSigner, batch: int = 2000, poll_seconds: float = 1.0,
                 replicas: int = 1) -> None:
        self.pool = pool
        self.eventlog = eventlog
        self.nc = nc
        self.signer = signer
        self.js = nc.jetstream(publish_async_max_pending=4000)
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.replicas = replicas
        self.published = 0
        self.is_leader = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        streams = list(self.eventlog.streams.values())
        await install(self.pool, streams)
        await ensure_streams(self.js, streams, self.replicas)
        self._task = asyncio.create_task(self._run(), name="relay")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                async with connection(self.pool) as lock_conn:
                    await self._lead(lock_conn)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("relay interrupted; retrying", exc_info=True)
                self.is_leader = False
                await asyncio.sleep(1.0)

    async def _lead(self, lock_conn: asyncpg.Connection) -> None:
        # Only one relay publishes; a standby polls for the lock.
        while not await lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_KEY):  # noqa: ASYNC110 - polls Postgres, no event to wait on
            await asyncio.sleep(self.poll_seconds)
        self.is_leader = True
        log.info("relay is the publisher")

        def on_notify(*_: object) -> None:
            self._wake.set()

        await lock_conn.add_listener(NOTIFY_CHANNEL, on_notify)
        try:
            while True:
                self._wake.clear()
                moved = 0
                for name in self.eventlog.streams:
                    moved += await self.pump(name)
                if moved == 0:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
        finally:
            with contextlib.suppress(Exception):
                await lock_conn.remove_listener(NOTIFY_CHANNEL, on_notify)
                await lock_conn.execute("SELECT pg_advisory_unlock($1)", RELAY_LOCK_KEY)
            self.is_leader = False

    async def position(self, stream: str) -> int:
        value = await self.pool.fetchval(
            "SELECT position FROM relay_positions WHERE stream = $1", stream)
        return int(value or 0)

    async def pump(self, stream: str) -> int:
        """Publish one batch of `stream` after the saved position; returns how many."""
        after = await self.position(stream)
        events = await self.eventlog.read(stream, after, self.batch)
        if not events:
            return 0
        futures = []
        prev = after
        for e in events:
            body = encode(e)
            headers = self.signer.headers(e.subject, e.msg_id, e.position, prev, body)
            futures.append(await self.js.publish_async(e.subject, body, headers=headers))
            prev = e.position
        await asyncio.gather(*futures)  # every ack, or the batch is re-sent
        await self.pool.execute(
            "INSERT INTO relay_positions (stream, position) VALUES ($1, $2) "
            "ON CONFLICT (stream) DO UPDATE SET position = excluded.position",
            stream, events[-1].position)
        self.published += len(events)
        return len(events)
