"""The notifier's backlog as `/metrics` and `/ready` read it (services/ops/scrape.py
`read_backlog`) costs the same whatever waits in the outbox: an office without an SMTP
host keeps every e-mail waiting, for ever.

Measured before: one grouped scan of every not-yet-sent row, 7 ms at 20,000 rows, 43 ms
at 200,000, 232 ms at 1,000,000 on an idle box; `/ready` has a 2 s deadline, so a long
enough backlog would have taken every replica out of traffic. Now each way's count stops
at a cap, and the oldest and the longest-due message are index probes: checked here on
the plan itself, on real Postgres."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from services.notifications import outbox
from services.ops.scrape import BACKLOG_SQL, read_backlog

pytestmark = pytest.mark.integration

WAITING_EMAILS = 3000


async def add(conn: asyncpg.Connection, n: int, destination: str, channel: str | None, *,
              status: str = outbox.PENDING, age_s: float = 0.0, due_in_s: float = 0.0,
              last_error: str | None = None) -> None:
    await conn.execute(
        "INSERT INTO notification_outbox (case_type, case_id, step, about_version, "
        "destination, channel, step_at, facts, status, created_at, next_attempt_at, "
        "last_error) SELECT 'application', gen_random_uuid(), 'received', 1, $1, $2, now(), "
        "'{}', $3, now() - make_interval(secs => $4 + i), "
        "now() + make_interval(secs => $5 - i), $6 FROM generate_series(0, $7 - 1) i",
        destination, channel, status, age_s, due_in_s, last_error, n)


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    try:
        await outbox.install(conn)
        # No SMTP host: every e-mail waits (the default `ptsp up`), the oldest 1 h old.
        await add(conn, WAITING_EMAILS, outbox.EMAIL, "oss", age_s=600, due_in_s=-600,
                  last_error=outbox.NO_SMTP_HOST)
        await add(conn, 5, outbox.CHANNEL, "oss", age_s=30, due_in_s=-30)  # due 30-34 s
        await add(conn, 2, outbox.CHANNEL, "whatsapp", due_in_s=60,  # backing off
                  last_error="attempt 1: timed out")
        await add(conn, 1, outbox.CHANNEL, None)  # its channel not known yet
        await add(conn, 1, outbox.CHANNEL, "whatsapp", status=outbox.SENDING)
        await add(conn, 4, outbox.CHANNEL, "sms", status=outbox.SENT, age_s=9000)
        await add(conn, 2, outbox.EMAIL, "oss", status=outbox.DEAD, age_s=9000)
        await conn.execute("VACUUM ANALYZE notification_outbox")
        yield conn
    finally:
        await conn.close()


async def test_the_backlog_by_way_its_oldest_and_its_longest_due(conn) -> None:
    backlog = await read_backlog(conn)
    assert backlog is not None
    assert backlog.pending == {outbox.EMAIL: WAITING_EMAILS, "oss": 5, "whatsapp": 3,
                               "unknown": 1}
    assert 600 + WAITING_EMAILS - 1 <= backlog.oldest_seconds < 600 + WAITING_EMAILS + 60
    # Due: the channel rows (34 s at most); not the waiting e-mail, not the backing off.
    assert 34 <= backlog.due_seconds < 34 + 60


async def test_a_way_is_counted_up_to_the_cap_and_the_rest_stays_exact(conn) -> None:
    backlog = await read_backlog(conn, cap=100)
    assert backlog is not None
    assert backlog.pending == {outbox.EMAIL: 100, "oss": 5, "whatsapp": 3, "unknown": 1}
    assert backlog.oldest_seconds >= 600 + WAITING_EMAILS - 1
    assert 34 <= backlog.due_seconds < 34 + 60


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


async def test_the_waiting_e_mail_is_read_no_further_than_the_cap(conn) -> None:
    cap = 100
    ways = list(outbox.WAYS)
    explained = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {BACKLOG_SQL}", ways, cap)
    plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]
    scans = [n for n in nodes(plan) if n.get("Relation Name") == "notification_outbox"]
    assert scans and not [n for n in scans if n["Node Type"] == "Seq Scan"]
    # The most any probe of the outbox read (rows x loops of one scan node): the cap.
    read = max(n["Actual Rows"] * n["Actual Loops"] for n in scans)
    assert read <= cap + 2 * len(ways), read
