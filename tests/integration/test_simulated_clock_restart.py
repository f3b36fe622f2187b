"""Time in the record never goes backwards across restarts: the clock `ptsp up` starts
on is settled against the stored one (the probe rewound it from 5 May to 17 March by
restarting with the first run's `--simulated-clock`). Far-future dates keep the real
clock behind the simulated one whatever day the tests run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import asyncpg
import pytest
import pytest_asyncio

from services.domain.clock import SimulatedClock
from services.infra import shared_clock
from services.infra.shared_clock import ClockWouldGoBack, starting_clock

pytestmark = pytest.mark.integration

MARCH = datetime.fromisoformat("2041-03-17T09:00:00+07:00")
MAY = datetime.fromisoformat("2041-05-05T09:00:00+07:00")


@pytest_asyncio.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    yield pool
    await pool.close()


async def start(pool: asyncpg.Pool, requested: datetime | None
                ) -> tuple[SimulatedClock | None, str]:
    async with pool.acquire() as conn:
        return await starting_clock(conn, requested)


async def test_a_restart_earlier_than_the_stored_time_is_refused(pool: asyncpg.Pool) -> None:
    clock, _ = await start(pool, MARCH)
    assert clock is not None and abs(clock.now() - MARCH) < timedelta(seconds=5)
    await shared_clock.jump(pool, clock, MAY)  # POST /admin/clock

    with pytest.raises(ClockWouldGoBack) as refused:
        await start(pool, MARCH)
    assert "already stands at 2041-05-05T09:00" in str(refused.value)
    assert refused.value.stored >= MAY

    # Later than the stored time: taken as asked.
    clock, why = await start(pool, MAY + timedelta(days=1))
    assert clock is not None and clock.now() >= MAY + timedelta(days=1)
    assert "starts at 2041-05-06" in why


async def test_the_same_flag_again_carries_on_rather_than_rewind(pool: asyncpg.Pool) -> None:
    first, _ = await start(pool, MARCH)
    assert first is not None
    async with pool.acquire() as conn:
        # The first run ran on for an hour (its anchor an hour of wall time ago).
        _, wall = first.anchor
        await conn.execute("UPDATE simulated_clock SET anchor_wall = $1", wall - 3600)
    again, why = await start(pool, MARCH)  # the same flag, as a reader re-runs a command
    assert again is not None and again.now() >= MARCH + timedelta(hours=1)
    assert "carries on from 2041-03-17T10:00" in why
    # Without the flag, a stored clock ahead of the real one carries on too.
    again, why = await start(pool, None)
    assert again is not None and again.now() >= MARCH + timedelta(hours=1)


async def test_a_real_clock_run_is_stored_so_a_later_simulated_one_cannot_go_below_it(
        pool: asyncpg.Pool) -> None:
    clock, why = await start(pool, None)
    assert clock is None and why == "the real clock"
    with pytest.raises(ClockWouldGoBack):
        await start(pool, datetime.fromisoformat("2020-03-17T09:00:00+07:00"))
    # A simulated time after the stored real one is taken as asked.
    clock, _ = await start(pool, MARCH)
    assert clock is not None and clock.now() >= MARCH


async def test_a_process_cannot_publish_the_shared_clock_back(pool: asyncpg.Pool) -> None:
    """Two processes jumping at once: the later publication of an earlier time loses."""
    ahead, _ = await start(pool, MAY)
    assert ahead is not None
    behind = SimulatedClock(MARCH)
    async with pool.acquire() as conn:
        with pytest.raises(ClockWouldGoBack):
            await shared_clock.publish(conn, behind, replace=True)
        await shared_clock.publish(conn, behind, replace=False)  # a no-op: one is stored
        await shared_clock.adopt(conn, behind)
    assert behind.now() >= MAY
