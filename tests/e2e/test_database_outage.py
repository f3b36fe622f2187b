"""Postgres killed under load and started again: every request gets 201, 200 or 503 with
Retry-After, never 500, and intake works again once the database is back.

A Postgres of this test's own (the session's is shared), killed hard (SIGKILL of the
postmaster, as the finding did) while 200 submissions run over HTTP, 8 at a time."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.infra.embedded import EmbeddedPostgres, free_port

pytestmark = pytest.mark.e2e

REQUESTS, AT_ONCE, KILL_AFTER = 200, 8, 50


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "own-pg" / "data", port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def database_url(own_postgres: EmbeddedPostgres) -> str:
    return own_postgres.url


def intake(n: int) -> dict[str, object]:
    return {"channel": "oss", "external_id": f"OUT-{n}", "service_code": "SS-KBLI-10510",
            "applicant": {"name": f"Pemohon {n}", "nik": f"32140101018{n:05d}"},
            "business": {"name": f"CV {n}", "kbli": "10510", "scale": "kecil",
                         "in_industrial_estate": False, "address": "Purwakarta"}}


async def test_postgres_killed_mid_load_gives_503_never_500(
        http: httpx.AsyncClient, own_postgres: EmbeddedPostgres, token) -> None:
    oss = token("channel", "oss-gw", channel="oss")
    statuses: dict[int, int] = {}
    unavailable: list[httpx.Response] = []
    numbers = iter(range(REQUESTS))
    loaded, killed, restarted = asyncio.Event(), asyncio.Event(), asyncio.Event()
    seen = asyncio.Event()
    during: list[int] = []

    async def client() -> None:
        for n in numbers:
            if n == REQUESTS - KILL_AFTER:
                await restarted.wait()  # the last ones run against the restarted server
            r = await http.post("/applications", json=intake(n), headers=oss)
            statuses[n] = r.status_code
            if killed.is_set() and not restarted.is_set():
                during.append(r.status_code)
                if len(during) >= 2 * AT_ONCE:
                    seen.set()
            if r.status_code == 503:
                unavailable.append(r)
            if len(statuses) >= KILL_AFTER:
                loaded.set()

    async def chaos() -> None:
        await loaded.wait()
        await asyncio.to_thread(own_postgres.kill)
        killed.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(seen.wait(), 20)
        await asyncio.to_thread(own_postgres.start)
        restarted.set()

    outage = asyncio.create_task(chaos())
    await asyncio.gather(*(client() for _ in range(AT_ONCE)))
    await outage
    counts = Counter(statuses.values())
    assert restarted.is_set() and len(statuses) == REQUESTS
    assert set(counts) <= {200, 201, 503}, counts
    assert 503 in during, f"the outage was not seen: {Counter(during)}"
    for r in unavailable:
        assert int(r.headers["retry-after"]) >= 1
        assert r.json()["status_code"] == 503 and "unreachable" in r.json()["detail"]

    # Back: intake works again (the pools reconnect), and a retried 503 is stored once.
    deadline = time.monotonic() + 60
    while True:
        r = await http.post("/applications", json=intake(REQUESTS), headers=oss)
        if r.status_code == 201 or time.monotonic() > deadline:
            break
        assert r.status_code == 503, r.text
        await asyncio.sleep(0.5)
    assert r.status_code == 201, r.text
    retried = [n for n, status in statuses.items() if status == 503][:5]
    for n in retried:
        again = await http.post("/applications", json=intake(n), headers=oss)
        assert again.status_code in (200, 201), again.text
