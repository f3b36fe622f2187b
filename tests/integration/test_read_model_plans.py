"""A read model starts empty. The first batches a pipeline applies to it are large (the
backlog at start-up) and its table small: Postgres plans their lookups as sequential
scans, then caches a generic plan like them for the statement, and keeps it while the
table grows, until the table is first analyzed. The embedded server's autovacuum looks
every 10 s (services/infra/embedded.py), not every minute: measured with
`bench.pipeline --statements`, the SLA timers' lookup read 70 pages a call over a 25 s
run, 7 with it."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import pytest

from projections.sla_timers import TABLES

pytestmark = pytest.mark.integration

LOOKUP = "PREPARE lookup(uuid[]) AS SELECT case_id, doc FROM sla_timers WHERE case_id = ANY($1)"
"""Prepared as asyncpg prepares and caches a read model's statements."""
INSERT = ("INSERT INTO sla_timers (case_id, type, working_days_limit, created_at, phase, doc) "
          "VALUES ($1, 'application', 7, now(), 'open', '{}')")


async def plan(conn: asyncpg.Connection, key: uuid.UUID) -> str:
    """How the prepared lookup of one key runs now (EXPLAIN EXECUTE: the cached plan)."""
    rows = await conn.fetch(f"EXPLAIN EXECUTE lookup(ARRAY['{key}']::uuid[])")
    return "\n".join(r[0] for r in rows)


async def test_a_growing_table_is_analyzed_and_its_lookups_use_its_key_again(
        database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SHOW autovacuum_naptime") == "10s"
        await conn.execute(TABLES)
        await conn.execute("ALTER TABLE sla_timers SET (autovacuum_enabled = false)")
        await conn.execute(LOOKUP)
        ids = [uuid.uuid4() for _ in range(3000)]
        await conn.executemany(INSERT, [(i,) for i in ids[:5]])
        for n in range(8):  # past Postgres's five custom plans: a generic one, for a page
            many = ",".join(f"'{i}'" for i in ids[n * 100:n * 100 + 100])
            await conn.execute(f"EXECUTE lookup(ARRAY[{many}]::uuid[])")
        await conn.executemany(INSERT, [(i,) for i in ids[5:]])
        await conn.execute("UPDATE sla_timers SET phase = 'finished'")
        # Grown, not analyzed: a lookup of one row reads the whole table.
        assert "Seq Scan" in await plan(conn, ids[0])

        await conn.execute("ALTER TABLE sla_timers RESET (autovacuum_enabled)")
        deadline = time.monotonic() + 60
        while not await conn.fetchval(
                "SELECT last_autoanalyze IS NOT NULL FROM pg_stat_user_tables "
                "WHERE relname = 'sla_timers'"):
            assert time.monotonic() < deadline, "autovacuum did not analyze the table"
            await asyncio.sleep(0.5)
        assert "Seq Scan" not in await plan(conn, ids[0])
        assert "sla_timers_pkey" in await plan(conn, ids[0])
    finally:
        await conn.close()
