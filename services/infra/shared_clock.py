"""One simulated clock for every process of the system: its anchor lives in Postgres.

`ptsp up --simulated-clock` sets the anchor before it starts its processes; each process
follows the row (polling every 100 ms), and a jump (`POST /admin/clock`) writes it, so
the HTTP workers, the projections and the SLA timers all read the same time."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta

import asyncpg

from services.domain.clock import JAKARTA, SimulatedClock

log = logging.getLogger("ptsp.clock")

SCHEMA = """
CREATE TABLE IF NOT EXISTS simulated_clock (
    id int PRIMARY KEY CHECK (id = 1),
    anchor timestamptz NOT NULL,
    anchor_wall double precision NOT NULL
)"""


async def publish(conn: asyncpg.Connection, clock: SimulatedClock, replace: bool) -> None:
    """Write this clock's anchor; without `replace`, only if no process did first."""
    await conn.execute(SCHEMA)
    anchor, wall = clock.anchor
    conflict = "DO UPDATE SET anchor = excluded.anchor, anchor_wall = excluded.anchor_wall" \
        if replace else "DO NOTHING"
    await conn.execute(f"INSERT INTO simulated_clock VALUES (1, $1, $2) ON CONFLICT (id) {conflict}",
                       anchor, wall)


async def adopt(conn: asyncpg.Connection, clock: SimulatedClock) -> None:
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
