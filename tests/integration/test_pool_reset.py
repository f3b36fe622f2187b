"""services/infra/pg.py: a pooled connection goes back to its pool reset, as asyncpg does
by default (session state, such as an advisory lock a relay or a consumer held, never
outlives the use that took it), unless the one statement it ran was marked as leaving
nothing behind (`fetch_clean`: the event store's append and a case's load), which
saves a round trip per write batch and per load. On real Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.infra.pg import create_pool, fetch_clean

pytestmark = pytest.mark.integration

LOCK = 0x7074_7370_7465_7374  # a key no part of the system uses


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    # One connection: each use below gets the connection the use before gave back.
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        yield pool
    finally:
        await pool.close()


async def application_name(pool: asyncpg.Pool) -> str:
    async with pool.acquire() as conn:
        return str(await conn.fetchval("SHOW application_name"))


async def test_a_use_that_took_session_state_is_reset(pool: asyncpg.Pool,
                                                      database_url: str) -> None:
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK)
        await conn.execute("SET application_name = 'relay holding its lock'")
    assert await application_name(pool) != "relay holding its lock"
    other = await asyncpg.connect(database_url)
    try:  # the lock went with the reset: another session takes it at once
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", LOCK)
    finally:
        await other.close()


async def test_a_plain_fetch_is_reset_too(pool: asyncpg.Pool) -> None:
    await pool.fetch("SELECT set_config('application_name', 'left behind', false)")
    assert await application_name(pool) != "left behind"


async def test_a_clean_statement_goes_back_without_the_reset(pool: asyncpg.Pool) -> None:
    # The mark promises the statement left nothing; this one breaks the promise, which
    # makes the skipped reset visible.
    rows = await fetch_clean(pool, "SELECT set_config('application_name', 'kept', false) AS v")
    assert [r["v"] for r in rows] == ["kept"]
    assert await application_name(pool) == "kept"
    # The mark is for that one use: the next use is reset again.
    assert await application_name(pool) != "kept"


async def test_a_failed_clean_statement_is_not_marked(pool: asyncpg.Pool) -> None:
    with pytest.raises(asyncpg.DivisionByZeroError):
        await fetch_clean(pool, "SELECT 1 / 0")
    async with pool.acquire() as conn:
        assert conn.clean is False  # so it went back reset, as any use
        assert await conn.fetchval("SELECT 1") == 1
