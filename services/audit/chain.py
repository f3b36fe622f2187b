"""The tamper-evident hash chain over every stored event.

What is hashed is what is stored: for each row of an events table its stream, position
(notification id), originator id and version, topic and the SHA-256 of its `state` bytes
exactly as written. Personal data is erased by deleting keys, never by rewriting rows, so
the chain still verifies after an erasure.

Two chains over the same records, kept in the table `audit_chain`:
- the global chain, one link per event in the order the keeper appended them (`seq`
  1, 2, 3, ...): hash = SHA-256(prev_hash || record), prev_hash of seq 1 = 64 zeros;
- the case chain, one per (stream, case id): case_hash = SHA-256(prev_case_hash ||
  record), prev_case_hash of a case's first event = 64 zeros.

The record is canonical JSON (sorted keys, no whitespace, UTF-8):
`{"originator_id":..,"originator_version":..,"position":..,"state_sha256":..,
"stream":..,"topic":..}`; `||` joins the previous hash's 32 raw bytes and the record.

`ChainKeeper` tails the event log in order and appends links (run by `System.start` like
the relay: LISTEN plus polling, one writer at a time by a transaction-level advisory
lock, idempotent: it continues from what `audit_chain` holds). At intervals it signs the
chain's head with the office key into a file outside the database (`checkpoints`).

The chain never gets shorter. The keeper keeps a high-water mark: the last link it
appended (in memory, and noted in the data dir after every batch), or at start the
highest signed checkpoint. Before each batch it checks that `audit_chain` still reaches
the mark with the same hash there. If not, someone deleted or rewrote links behind its
back (to re-chain an edited event, say): it raises an alarm, logs it, signs the mark
as an alarm checkpoint (so every verification, in any process, fails at it) and
refuses to chain or sign anything more until an operator restores the chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from services.audit import checkpoints as checkpoint_table
from services.audit.checkpoints import CheckpointLog, HighWater, Mark
from services.infra.eventlog import EventLog
from services.infra.pg import Conn
from services.infra.relay import NOTIFY_CHANNEL
from services.infra.relay import install as install_notify
from services.infra.signing import OfficeKey, canonical_json
from services.infra.tasks import cancel_and_wait

log = logging.getLogger("ptsp.audit")

GENESIS = "0" * 64
# Advisory lock keys "ptsp"+n: relay 1, chain 2, calendar DDL 3, event-table DDL 4.
CHAIN_LOCK_KEY = 0x7074_7370_0002  # one chain writer at a time, across processes
DDL_LOCK_KEY = 7074                # the same key the relay uses to serialise DDL

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_chain (
    seq bigint PRIMARY KEY,
    stream text NOT NULL,
    position bigint NOT NULL,
    case_id uuid NOT NULL,
    version bigint NOT NULL,
    topic text,
    state_sha256 text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL,
    prev_case_hash text NOT NULL,
    case_hash text NOT NULL,
    chained_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream, position)
);
CREATE INDEX IF NOT EXISTS audit_chain_case ON audit_chain (stream, case_id, seq);
"""

COLUMNS = ("seq", "stream", "position", "case_id", "version", "topic", "state_sha256",
           "prev_hash", "hash", "prev_case_hash", "case_hash")


# -- the recipe -----------------------------------------------------------------------
def state_digest(state: bytes) -> str:
    return hashlib.sha256(state).hexdigest()


def record_of(stream: str, position: int, originator_id: UUID | str, originator_version: int,
              topic: str | None, state_sha256: str) -> bytes:
    """The canonical bytes of one stored event: what both chains hash."""
    return canonical_json({
        "originator_id": str(originator_id),
        "originator_version": originator_version,
        "position": position,
        "state_sha256": state_sha256,
        "stream": stream,
        "topic": topic,
    })


def link(prev_hash: str, record: bytes) -> str:
    """SHA-256 over the previous hash's raw bytes followed by the record, as hex."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + record).hexdigest()


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str
    streams: dict[str, int]          # the last chained position of each stream


# -- the keeper -----------------------------------------------------------------------
async def install(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", DDL_LOCK_KEY)
        try:
            await conn.execute(SCHEMA)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", DDL_LOCK_KEY)


async def head(conn: asyncpg.Connection | asyncpg.Pool, streams: Sequence[str]) -> Head:
    last = await conn.fetchrow("SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1")
    if last is None:
        return Head(0, GENESIS, dict.fromkeys(streams, 0))
    positions = {}
    for s in streams:
        # The (stream, position) index answers this without a scan.
        positions[s] = int(await conn.fetchval(
            "SELECT coalesce(max(position), 0) FROM audit_chain WHERE stream = $1", s))
    return Head(int(last["seq"]), str(last["hash"]), positions)


GATHER_SECONDS = 0.05
"""After a wake, how long the keeper lets commits gather before chaining them."""


class ChainKeeper:
    """Appends every stored event to `audit_chain`, in order, and signs checkpoints."""

    def __init__(self, pool: asyncpg.Pool, eventlog: EventLog, checkpoints: CheckpointLog,
                 key: OfficeKey, every_events: int = 1000, every_seconds: float = 60.0,
                 batch: int = 1000, poll_seconds: float = 1.0,
                 gather_seconds: float = GATHER_SECONDS,
                 listen_url: str | None = None, high_water: HighWater | None = None) -> None:
        self.pool = pool
        self.listen_url = listen_url  # LISTEN there on a connection of its own; None: poll
        self.eventlog = eventlog
        self.checkpoints = checkpoints
        self.key = key
        self.high_water = high_water
        self.every_events = max(1, every_events)
        self.every_seconds = every_seconds
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.gather_seconds = gather_seconds
        self.chained = 0
        self.mark: Mark | None = None
        """The high-water mark: the chain must reach it, with this hash there."""
        self.alarm: str | None = None
        """Set once the chain was found shorter or rewritten below the mark; from then on
        the keeper neither chains nor signs."""
        self._head_seq = 0
        self._checkpoint_seq = 0
        self._checkpoint_time = time.monotonic()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._due: set[str] = set()
        """Streams to read at the next wake (a NOTIFY named their table; all on a poll)."""
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await install(self.pool)
        await checkpoint_table.install(self.pool)
        await install_notify(self.pool, list(self.eventlog.streams.values()))
        signed = await self._signed_checkpoints()
        self._checkpoint_seq = max((int(e["seq"]) for e in signed), default=0)
        self.mark = self._starting_mark(signed)
        await self.catch_up()
        self._task = asyncio.create_task(self._run(), name="audit-chain")

    async def _signed_checkpoints(self) -> list[dict[str, Any]]:
        """Every checkpoint the office signed, wherever kept; the table gets any it lacks
        (checkpoints signed before it existed, or rows deleted from it)."""
        entries = [cp.entry for cp in await checkpoint_table.signed(
            self.pool, self.checkpoints, self.key)]
        await checkpoint_table.record(self.pool, entries)
        return entries

    def _starting_mark(self, signed: list[dict[str, Any]]) -> Mark | None:
        marks = [Mark(int(e["seq"]), str(e["hash"]), dict(e.get("streams") or {}))
                 for e in signed]
        noted = self.high_water.read() if self.high_water is not None else None
        if noted is not None:
            marks.append(noted)
        return max(marks, key=lambda m: m.seq) if marks else None

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        # Seal what was stored on the way out, so a restart starts from a signed head.
        try:
            await self.catch_up()
            await self.checkpoint()
        except Exception:
            log.warning("could not sign the audit chain's head at shutdown", exc_info=True)

    def wake(self) -> None:
        self._due.update(self.eventlog.streams)
        self._wake.set()

    async def catch_up(self, streams: Sequence[str] | None = None) -> int:
        """Chain everything stored until now (in these streams; by default every one);
        returns how many links were appended. A stream is read again only while its
        reads come back full: one read that returns less has reached what was stored
        when it ran (notification ids are handed out in commit order)."""
        total = 0
        async with self._lock:
            pending = list(self.eventlog.streams if streams is None else streams)
            while self.alarm is None and pending:
                moved, full = 0, []
                for stream in pending:
                    chained = await self._pump(stream)
                    moved += chained
                    if chained >= self.batch:
                        full.append(stream)
                total += moved
                pending = full
                if moved:
                    await self._maybe_checkpoint()  # a long catch-up still signs as it goes
            await self._sign_alarm()
        return total

    async def checkpoint(self, force: bool = False) -> dict[str, Any] | None:
        """Sign the chain's head into the checkpoint file (when it moved, or `force`)."""
        if self.alarm is not None:
            return None  # never sign a chain found shortened or rewritten
        current = await head(self.pool, list(self.eventlog.streams))
        if current.seq == 0 or (current.seq <= self._checkpoint_seq and not force):
            return None
        if self.mark is not None and not await self._reaches_mark(self.pool):
            return None
        return await self._sign(current.seq, current.hash, current.streams)

    async def _sign(self, seq: int, head_hash: str, streams: dict[str, int],
                    alarm: str | None = None) -> dict[str, Any]:
        entry = await asyncio.to_thread(
            self.checkpoints.append, seq, head_hash, streams, self.key, alarm)
        self._checkpoint_seq, self._checkpoint_time = seq, time.monotonic()
        try:
            await checkpoint_table.record(self.pool, [entry])
        except Exception:  # the file holds it; the next start records it in the table
            log.warning("could not record the checkpoint at seq %d in the database", seq,
                        exc_info=True)
        return entry

    async def _reaches_mark(self, conn: Conn
                            | asyncpg.Pool) -> bool:
        """Does `audit_chain` still reach the mark, with the same hash there? Otherwise
        raise the alarm (and return False)."""
        mark = self.mark
        if mark is None or self.alarm is not None:
            return self.alarm is None
        at_mark = await conn.fetchval("SELECT hash FROM audit_chain WHERE seq = $1", mark.seq)
        if at_mark == mark.hash:
            return True
        last = await conn.fetchval("SELECT max(seq) FROM audit_chain")
        if at_mark is None:
            found = (f"audit_chain now ends at seq {last or 0}, but the keeper had chained "
                     f"up to seq {mark.seq}: links were deleted")
        else:
            found = (f"the link at seq {mark.seq} now has hash {at_mark}, not the {mark.hash} "
                     "the keeper chained: links were rewritten")
        self.alarm = (f"{found}. The chain never gets shorter: the keeper refuses to chain "
                      "again below its high-water mark and signs nothing until the chain is "
                      "restored (see `ptsp audit verify`)")
        log.error("AUDIT CHAIN ALARM: %s", self.alarm)
        return False

    async def _sign_alarm(self) -> None:
        """Sign the mark with the alarm, unless a signed checkpoint already holds it: then
        every verification, in any process, fails there."""
        mark = self.mark
        if mark is None or self.alarm is None or mark.seq <= self._checkpoint_seq:
            return
        try:
            await self._sign(mark.seq, mark.hash, mark.streams, alarm=self.alarm)
        except Exception:
            log.exception("could not sign the audit chain alarm")

    async def _pump(self, stream: str) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            # Waits for another keeper's batch to commit, then continues after it.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", CHAIN_LOCK_KEY)
            if not await self._reaches_mark(conn):
                return 0
            last = await conn.fetchrow(
                "SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1")
            seq, prev = (int(last["seq"]), str(last["hash"])) if last else (0, GENESIS)
            after = await conn.fetchval(
                "SELECT coalesce(max(position), 0) FROM audit_chain WHERE stream = $1", stream)
            rows = await self.eventlog.rows(stream, int(after), self.batch, conn)
            if not rows:
                self._head_seq = seq
                return 0
            cases = list({r.originator_id for r in rows})
            case_heads: dict[UUID, str] = {
                r["case_id"]: r["case_hash"] for r in await conn.fetch(
                    "SELECT DISTINCT ON (case_id) case_id, case_hash FROM audit_chain "
                    "WHERE stream = $1 AND case_id = ANY($2::uuid[]) ORDER BY case_id, seq DESC",
                    stream, cases)}
            records = []
            for row in rows:
                digest = state_digest(row.state)
                record = record_of(stream, row.position, row.originator_id,
                                   row.originator_version, row.topic, digest)
                seq += 1
                hashed = link(prev, record)
                prev_case = case_heads.get(row.originator_id, GENESIS)
                case_hash = link(prev_case, record)
                case_heads[row.originator_id] = case_hash
                records.append((seq, stream, row.position, row.originator_id,
                                row.originator_version, row.topic, digest, prev, hashed,
                                prev_case, case_hash))
                prev = hashed
            await conn.copy_records_to_table("audit_chain", records=records, columns=COLUMNS)
        self._head_seq = seq
        self.chained += len(rows)
        streams = dict(self.mark.streams) if self.mark is not None else {}
        streams[stream] = rows[-1].position
        self.mark = Mark(seq, prev, streams)
        if self.high_water is not None:
            try:
                self.high_water.write(self.mark)
            except OSError:
                log.warning("could not note the chain's high-water mark", exc_info=True)
        return len(rows)

    async def _maybe_checkpoint(self) -> None:
        due = self._head_seq - self._checkpoint_seq
        if due <= 0:
            return
        if due >= self.every_events or (
                time.monotonic() - self._checkpoint_time >= self.every_seconds):
            await self.checkpoint()

    async def _run(self) -> None:
        def on_notify(_conn: object, _pid: int, _channel: str, table: object) -> None:
            self._due.update(self.eventlog.notified_streams(table))
            self._wake.set()

        while True:
            listener: asyncpg.Connection | None = None
            try:
                # A connection of its own for LISTEN, never one held from the shared pool
                # (the pool's connections are for work; holding one starves the others).
                if self.listen_url:
                    listener = await asyncpg.connect(self.listen_url, timeout=10)
                    await listener.add_listener(NOTIFY_CHANNEL, on_notify)
                self._due.update(self.eventlog.streams)  # whatever was written meanwhile
                while True:
                    # Only the streams a NOTIFY named (each commit names its table): the
                    # others have nothing new, and reading each of them at every commit
                    # anywhere was most of what the keeper cost.
                    self._wake.clear()
                    due, self._due = self._due, set()
                    await self.catch_up([s for s in self.eventlog.streams if s in due])
                    await self._maybe_checkpoint()
                    if listener is not None and listener.is_closed():
                        raise ConnectionError("the LISTEN connection closed")
                    if not self._due:
                        try:
                            await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                        except TimeoutError:
                            self._due.update(self.eventlog.streams)  # the fallback: poll
                    # The commits of the next moments chained together: a read's
                    # transaction, lock and queries cost the same for one event or a
                    # hundred. Nothing waits on the chain meanwhile: a history or a
                    # verification catches up first.
                    await asyncio.sleep(self.gather_seconds)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("audit chain keeper interrupted; retrying", exc_info=True)
                await asyncio.sleep(1.0)
            finally:
                if listener is not None:
                    with contextlib.suppress(Exception):
                        await listener.close(timeout=2)
