"""A sender claims each open way's due rows by an ordered scan of that way's own rows:
e-mail waiting by the thousand (no SMTP host: the default `ptsp up`) is never read while
channel messages are claimed, and the rows written while e-mail cannot go say why.

Measured before (bench/pipeline.py with pg_stat_statements): with e-mail waiting, every
claim read all of it, 17 ms a claim and a third of a core of Postgres at 660 commands/s,
growing with the backlog. Here the plan itself is checked: what the claim's index scan
reads, on real Postgres."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from services.notifications import outbox
from services.notifications.sender import BATCH, CLAIM

pytestmark = pytest.mark.integration

WAITING_EMAILS = 3000
CHANNEL_ROWS = 5


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    try:
        await outbox.install(conn)
        await conn.execute(
            "INSERT INTO notification_outbox (case_type, case_id, step, about_version, "
            "destination, channel, step_at, facts, next_attempt_at) "
            "SELECT 'application', gen_random_uuid(), 'received', 1, $1, 'oss', now(), "
            "'{}', now() - make_interval(secs => n) FROM generate_series(1, $2) n",
            outbox.EMAIL, WAITING_EMAILS)
        await conn.execute(
            "INSERT INTO notification_outbox (case_type, case_id, step, about_version, "
            "destination, channel, step_at, facts) "
            "SELECT 'application', gen_random_uuid(), 'received', 1, $1, 'oss', now(), '{}' "
            "FROM generate_series(1, $2)", outbox.CHANNEL, CHANNEL_ROWS)
        await conn.execute("ANALYZE notification_outbox")
        yield conn
    finally:
        await conn.close()


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


async def test_claiming_channel_messages_reads_no_waiting_e_mail(
        conn: asyncpg.Connection) -> None:
    query = CLAIM.format(where="AND (channel IS NULL OR NOT channel = ANY($4::text[]))")
    # EXPLAIN ANALYZE runs the claim: the channel rows are claimed by it.
    explained = await conn.fetchval(
        f"EXPLAIN (ANALYZE, FORMAT JSON) {query}", 42, BATCH, outbox.CHANNEL, [])
    [plan] = json.loads(explained)
    scans = [n for n in nodes(plan["Plan"]) if n.get("Relation Name") == "notification_outbox"]
    read = sum(n["Actual Rows"] * n.get("Actual Loops", 1) + n.get("Rows Removed by Filter", 0)
               for n in scans)
    # The claim's own rows, and the update finding each by id: nowhere near the e-mail.
    assert read <= 3 * CHANNEL_ROWS, json.dumps(plan, indent=1)
    assert any(n.get("Index Name") == "notification_outbox_due_by_way" for n in scans)
    assert await conn.fetchval(
        "SELECT count(*) FROM notification_outbox WHERE claimed_by = 42") == CHANNEL_ROWS


async def test_the_e_mail_way_is_claimed_in_order_of_due(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        claimed = await conn.fetch(CLAIM.format(where=""), 7, BATCH, outbox.EMAIL)
        assert len(claimed) == BATCH
        assert {r["destination"] for r in claimed} == {outbox.EMAIL}
        assert {r["status"] for r in claimed} == {outbox.SENDING}
        assert {r["claimed_by"] for r in claimed} == {7}
        due = sorted((r["next_attempt_at"], r["id"]) for r in claimed)
        oldest = await conn.fetch(
            "SELECT next_attempt_at, id FROM notification_outbox WHERE destination = $1 "
            "ORDER BY next_attempt_at, id LIMIT $2", outbox.EMAIL, BATCH)
        assert due == [(r["next_attempt_at"], r["id"]) for r in oldest]
