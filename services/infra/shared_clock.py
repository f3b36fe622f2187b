"""One simulated clock for every process of the system: its anchor lives in Postgres.

`ptsp up --simulated-clock` sets the anchor before it starts its processes; each process
follows the row (polling every 100 ms), and a jump (`POST /admin/clock`) writes it, so
the HTTP workers, the projections and the SLA timers all read the same time.

Time in the record never goes backwards, across restarts too. The row is the stored
time: a start on the real clock keeps it too (anchored at the real time), so a later
`--simulated-clock` cannot go below what a real-clock run stamped. `ptsp up` settles its
clock with `starting_clock` before it starts anything."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from services.domain.clock import JAKARTA, SimulatedClock
from services.infra.pg import Conn

log = logging.getLogger("ptsp.clock")

"""A connection of its own or one borrowed from a pool."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS simulated_clock (
    id int PRIMARY KEY CHECK (id = 1),
    anchor timestamptz NOT NULL,
    anchor_wall double precision NOT NULL
)"""


class ClockWouldGoBack(ValueError):
    """A clock set earlier than the stored time: refused, naming the stored time."""

    def __init__(self, requested: datetime, stored: datetime) -> None:
        self.requested, self.stored = requested, stored
        super().__init__(
            f"the record's clock already stands at {_show(stored)}; "
            f"{_show(requested)} would move time in the record backwards")


@dataclass(frozen=True)
class StoredClock:
    anchor: datetime
    """The time the clock was last set to (a start or a jump)..."""
    anchor_wall: float
    """...at this wall-clock instant (Unix seconds); it has run on since."""

    def now(self) -> datetime:
        return (self.anchor + timedelta(seconds=time.time() - self.anchor_wall)).astimezone(
            JAKARTA)


async def stored(conn: Conn, lock: bool = False) -> StoredClock | None:
    """The stored clock, if any process ever published one (`lock`: FOR UPDATE, inside
    the caller's transaction)."""
    if not await conn.fetchval("SELECT to_regclass('simulated_clock') IS NOT NULL"):
        return None
    row = await conn.fetchrow("SELECT anchor, anchor_wall FROM simulated_clock WHERE id = 1"
                              + (" FOR UPDATE" if lock else ""))
    return None if row is None else StoredClock(row["anchor"], float(row["anchor_wall"]))


async def publish(conn: Conn, clock: SimulatedClock, replace: bool) -> None:
    """Write this clock's anchor; without `replace`, only if no process did first. A
    replacement that would put the stored time back raises ClockWouldGoBack (another
    process may have jumped further meanwhile)."""
    await conn.execute(SCHEMA)
    async with conn.transaction():
        if replace:
            current = await stored(conn, lock=True)
            if current is not None and current.now() > clock.now() + timedelta(milliseconds=1):
                raise ClockWouldGoBack(clock.now(), current.now())
        anchor, wall = clock.anchor
        conflict = ("DO UPDATE SET anchor = excluded.anchor, anchor_wall = excluded.anchor_wall"
                    if replace else "DO NOTHING")
        await conn.execute(
            f"INSERT INTO simulated_clock VALUES (1, $1, $2) ON CONFLICT (id) {conflict}",
            anchor, wall)


async def starting_clock(conn: Conn,
                         requested: datetime | None) -> tuple[SimulatedClock | None, str]:
    """The clock `ptsp up` runs every process on (None: the real clock), published, and
    a line saying why:

    - nothing stored: the requested simulated time, or the real clock;
    - requested earlier than the time the stored clock was last set to: ClockWouldGoBack;
    - requested, but the stored clock has run past it since: the stored clock carries on
      (never rewound by the minutes it ran);
    - not requested, and the stored clock is ahead of the real one: it carries on;
    - not requested, and the real clock is ahead: the real clock, and the stored time
      follows it from now on."""
    await conn.execute(SCHEMA)
    async with conn.transaction():
        current = await stored(conn, lock=True)
        if current is not None:
            if requested is not None and requested < current.anchor:
                raise ClockWouldGoBack(requested, current.now())
            if current.now() > (requested or datetime.now(UTC)):
                clock = SimulatedClock(current.anchor)
                clock.adopt(current.anchor.astimezone(JAKARTA), current.anchor_wall)
                return clock, f"the simulated clock carries on from {_show(current.now())}"
        if requested is None:
            now = datetime.now(UTC)
            await conn.execute(
                "INSERT INTO simulated_clock VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE "
                "SET anchor = excluded.anchor, anchor_wall = excluded.anchor_wall",
                now, now.timestamp())
            return None, "the real clock"
        clock = SimulatedClock(requested)
        anchor, wall = clock.anchor
        await conn.execute(
            "INSERT INTO simulated_clock VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE "
            "SET anchor = excluded.anchor, anchor_wall = excluded.anchor_wall", anchor, wall)
        return clock, f"the simulated clock starts at {_show(clock.now())}"


def _show(instant: datetime) -> str:
    return instant.astimezone(JAKARTA).isoformat(timespec="seconds")


async def adopt(conn: Conn, clock: SimulatedClock) -> None:
    """Follow the shared anchor when it is ahead of this process's clock (the clock only
    moves forward, so a jump made here and not yet shared is never undone)."""
    row = await conn.fetchrow("SELECT anchor, anchor_wall FROM simulated_clock WHERE id = 1")
    if row is None:
        return
    shared_now = row["anchor"] + timedelta(seconds=time.time() - row["anchor_wall"])
    if shared_now > clock.now() + timedelta(milliseconds=1):
        clock.adopt(row["anchor"].astimezone(JAKARTA), row["anchor_wall"])


async def jump(pool: asyncpg.Pool, clock: SimulatedClock, instant: datetime) -> datetime:
    async with pool.acquire() as conn:
        await adopt(conn, clock)
        result = clock.jump_to(instant)
        await publish(conn, clock, replace=True)
    return result


async def follow(pool: asyncpg.Pool, clock: SimulatedClock, interval: float = 0.1) -> None:
    while True:
        try:
            async with pool.acquire() as conn:
                await adopt(conn, clock)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.debug("clock follow failed", exc_info=True)
        await asyncio.sleep(interval)
