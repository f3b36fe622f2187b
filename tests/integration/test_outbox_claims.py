"""A sender claims each open way's due rows by an ordered scan of that way's own rows:
e-mail waiting by the thousand (no SMTP host: the default `ptsp up`) is never read while
channel messages are claimed, nor are the messages of a channel whose adapter does not
answer (its way closed), and the rows written while e-mail cannot go say why.

Measured before (bench/pipeline.py with pg_stat_statements): with e-mail waiting, every
claim read all of it, 17 ms a claim and a third of a core of Postgres at 660 commands/s,
growing with the backlog; later, with the `oss` channel's messages waiting (no adapter
listening), 2.5 ms a claim (176 pages) after 15 s at 300 commands/s, growing alike. Here
the plan itself is checked: what the claim's index scans read, on real Postgres."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import asyncpg
import pytest

from services.notifications import outbox
from services.notifications.sender import BATCH, CLAIM_CHANNELS, CLAIM_EMAIL

pytestmark = pytest.mark.integration

WAITING_EMAILS = 3000
WAITING_ON_CLOSED_CHANNEL = 3000
CHANNEL_ROWS = 5
CLOSED, OPEN = "oss", "web_dpmptsp"


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
            "SELECT 'application', gen_random_uuid(), 'received', 1, $1, $3, now(), '{}' "
            "FROM generate_series(1, $2)", outbox.CHANNEL, CHANNEL_ROWS, OPEN)
        # Waiting on a closed channel, due for longer than the open channel's rows.
        await conn.execute(
            "INSERT INTO notification_outbox (case_type, case_id, step, about_version, "
            "destination, channel, step_at, facts, next_attempt_at, last_error) "
            "SELECT 'application', gen_random_uuid(), 'received', 1, $1, $3, now(), '{}', "
            "now() - make_interval(secs => n), $4 FROM generate_series(1, $2) n",
            outbox.CHANNEL, WAITING_ON_CLOSED_CHANNEL, CLOSED, f"{outbox.WAITING}no adapter")
        await conn.execute("ANALYZE notification_outbox")
        yield conn
    finally:
        await conn.close()


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def rows_read(plan: dict[str, Any]) -> int:
    """What the plan's scans of the outbox read: rows returned and rows filtered out."""
    return sum(n["Actual Rows"] * n.get("Actual Loops", 1) + n.get("Rows Removed by Filter", 0)
               for n in nodes(plan["Plan"]) if n.get("Relation Name") == "notification_outbox")


async def claim_explained(conn: asyncpg.Connection, ways: list[str]) -> dict[str, Any]:
    # EXPLAIN ANALYZE runs the claim: the rows it finds are claimed by it.
    explained = await conn.fetchval(
        f"EXPLAIN (ANALYZE, FORMAT JSON) {CLAIM_CHANNELS}", 42, BATCH, ways)
    [plan] = json.loads(explained)
    return cast(dict[str, Any], plan)


async def test_claiming_channel_messages_reads_no_waiting_e_mail_nor_a_closed_channel(
        conn: asyncpg.Connection) -> None:
    open_ways = [w for w in outbox.CHANNEL_WAYS if w != CLOSED]
    plan = await claim_explained(conn, open_ways)
    # The claim's own rows, and the update finding each by id: nowhere near the e-mail
    # or the closed channel's rows (an index descent per way; EXPLAIN rounds each loop's
    # rows, hence a row per way at most on top).
    assert rows_read(plan) <= 3 * CHANNEL_ROWS + len(open_ways), json.dumps(plan, indent=1)
    assert "notification_outbox_due_by_channel" in json.dumps(plan)
    claimed = await conn.fetch(
        "SELECT channel, count(*) AS n FROM notification_outbox WHERE claimed_by = 42 "
        "GROUP BY channel")
    assert {r["channel"]: r["n"] for r in claimed} == {OPEN: CHANNEL_ROWS}


async def test_each_open_channel_is_claimed_up_to_a_batch_in_order_of_due(
        conn: asyncpg.Connection) -> None:
    # The closed channel opens again: its rows are claimed too, oldest due first, a
    # batch of them; the other channel's rows alongside.
    await claim_explained(conn, list(outbox.CHANNEL_WAYS))
    claimed = await conn.fetch(
        "SELECT channel, next_attempt_at, id FROM notification_outbox WHERE claimed_by = 42")
    by_channel: dict[str, list[Any]] = {}
    for r in claimed:
        by_channel.setdefault(r["channel"], []).append((r["next_attempt_at"], r["id"]))
    assert {c: len(rows) for c, rows in by_channel.items()} == {OPEN: CHANNEL_ROWS,
                                                                CLOSED: BATCH}
    oldest = await conn.fetch(
        "SELECT next_attempt_at, id FROM notification_outbox WHERE channel = $1 "
        "AND destination = $2 ORDER BY next_attempt_at, id LIMIT $3",
        CLOSED, outbox.CHANNEL, BATCH)
    assert sorted(by_channel[CLOSED]) == [(r["next_attempt_at"], r["id"]) for r in oldest]


async def test_the_e_mail_way_is_claimed_in_order_of_due(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        claimed = await conn.fetch(CLAIM_EMAIL, 7, BATCH)
        assert len(claimed) == BATCH
        assert {r["destination"] for r in claimed} == {outbox.EMAIL}
        assert {r["status"] for r in claimed} == {outbox.SENDING}
        assert {r["claimed_by"] for r in claimed} == {7}
        due = sorted((r["next_attempt_at"], r["id"]) for r in claimed)
        oldest = await conn.fetch(
            "SELECT next_attempt_at, id FROM notification_outbox WHERE destination = $1 "
            "ORDER BY next_attempt_at, id LIMIT $2", outbox.EMAIL, BATCH)
        assert due == [(r["next_attempt_at"], r["id"]) for r in oldest]
