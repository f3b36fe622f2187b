"""Writers in several processes at once: no event lost, none out of order.

Three writer processes (each a whole `System`, as an HTTP worker of `ptsp up` is) and
this test's own system (with the relay, the projections and the audit chain) submit
applications at the same moment, through the asyncpg append path. Meanwhile a reader
here follows the events table by `notification_id`, as the relay does. Then:

- the notification ids are 1..N without a gap (nothing rolled back here), and the
  reader saw every one of them, in order: an id is never handed out to one transaction
  while an earlier-committing one still holds a lower id, so a reader following the ids
  never passes one that commits later;
- the relay published every event to JetStream once, in store order;
- the audit hash chain over the store verifies.

And the same intakes sent by several processes at once each make one case, once."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import nats
import pytest

from contracts.applications import Applicant, ApplicationIntake, Business
from services.domain.actors import Actor
from services.runtime import System
from services.settings import Settings

pytestmark = pytest.mark.integration

WRITERS, PER_WRITER, AT_ONCE = 3, 120, 12
OSS = Actor(id="oss-gateway", role="channel", channel="oss")
CLOCK = "2026-03-16T09:00:00+07:00"


def intake(external_id: str, number: int) -> ApplicationIntake:
    return ApplicationIntake(
        channel="oss", external_id=external_id, service_code="SS-KBLI-10510",
        applicant=Applicant(name=f"Pemohon {number}", nik=f"32{number:014d}"),
        business=Business(name=f"CV {number}", kbli="10510", scale="kecil",
                          in_industrial_estate=False, address="Purwakarta"))


async def submit_all(system: System, external_ids: list[str], first: int) -> list[bool]:
    """Submit these intakes, AT_ONCE at a time; whether each created its case."""
    slots = asyncio.Semaphore(AT_ONCE)

    async def one(i: int, external_id: str) -> bool:
        async with slots:
            _, created = await system.applications.submit(intake(external_id, first + i), OSS)
            return created

    return list(await asyncio.gather(*(one(i, e) for i, e in enumerate(external_ids))))


def writer(data_dir: str, database_url: str, external_ids: list[str], first: int,
           ready: Any, go: Any, results: Any) -> None:
    """A writer process: the system as an HTTP worker builds it, then its intakes at
    `go`; puts how many it created on `results`."""
    async def run() -> int:
        settings = Settings(data_dir=Path(data_dir), simulated_clock=datetime.fromisoformat(CLOCK))
        system = System.build(settings, database_url, with_pipeline=False)
        await system.start()
        try:
            ready.release()
            await asyncio.to_thread(go.wait, 120)
            return sum(await submit_all(system, external_ids, first))
        finally:
            await system.stop()

    results.put(asyncio.run(run()))


async def start_writers(settings: Settings, database_url: str,
                        batches: list[list[str]]) -> tuple[list[Any], Any, Any]:
    """The writer processes, started one at a time (as `ptsp up` starts its workers: each
    creates missing tables, and concurrent DDL on one catalog row fails), all waiting."""
    ctx = mp.get_context("spawn")
    ready, go, results = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    procs = []
    for n, ids in enumerate(batches):
        proc = ctx.Process(target=writer, daemon=True, args=(
            str(settings.data_dir), database_url, ids, 1000 * (n + 1), ready, go, results))
        proc.start()
        procs.append(proc)
        assert await asyncio.to_thread(ready.acquire, True, 120), "a writer did not start"
    return procs, go, results


async def collect(procs: list[Any], results: Any) -> list[int]:
    created = [await asyncio.to_thread(results.get, True, 180) for _ in procs]
    for proc in procs:
        await asyncio.to_thread(proc.join, 30)
        assert proc.exitcode == 0
    return created


async def test_writers_in_several_processes_lose_nothing_and_keep_order(
        pipeline_system: System, settings: Settings, database_url: str,
        nats_server: Any) -> None:
    batches = [[f"W{n}-{i:04d}" for i in range(PER_WRITER)] for n in range(WRITERS)]
    own = [f"OWN-{i:04d}" for i in range(PER_WRITER)]
    total = PER_WRITER * (WRITERS + 1)
    procs: list[Any] = []
    seen: list[int] = []
    writing = True
    assert pipeline_system.pool is not None
    # Each insert then takes a few ms before its commit: a writer that took ids and has
    # not committed yet is then easy to catch, if it could be passed.
    await pipeline_system.pool.execute("""
        CREATE FUNCTION test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(random() * 0.006); RETURN NULL; END $$;
        CREATE TRIGGER test_slow_commit AFTER INSERT ON applications_events
            FOR EACH STATEMENT EXECUTE FUNCTION test_slow_commit();""")

    async def follow() -> None:
        """A reader following the ids, as the relay does: after the last one seen."""
        conn = await asyncpg.connect(database_url)
        try:
            last_round = False
            while True:
                last_round = not writing  # once the writes are over: read to the end
                rows = await conn.fetch(
                    "SELECT notification_id FROM applications_events "
                    "WHERE notification_id > $1 ORDER BY notification_id LIMIT 500",
                    seen[-1] if seen else 0)
                seen.extend(r[0] for r in rows)
                if not rows:
                    if last_round:
                        return
                    await asyncio.sleep(0.001)
        finally:
            await conn.close()

    try:
        procs, go, results = await start_writers(settings, database_url, batches)
        reader = asyncio.create_task(follow())
        go.set()
        mine = await submit_all(pipeline_system, own, 0)
        created = await collect(procs, results)
        writing = False
        await asyncio.wait_for(reader, 30)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()

    assert created == [PER_WRITER] * WRITERS and all(mine)
    stored = [r[0] for r in await pipeline_system.pool.fetch(
        "SELECT notification_id FROM applications_events ORDER BY notification_id")]
    assert stored == list(range(1, total + 1)), "ids with a gap"
    assert seen == stored, "the reader passed an id that committed later"

    # The relay published every event once, in store order.
    for _ in range(600):  # bounded: 30 s
        position = await pipeline_system.pool.fetchval(
            "SELECT position FROM relay_positions WHERE stream = 'applications'")
        if position == total:
            break
        await asyncio.sleep(0.05)
    assert position == total
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        info = await js.stream_info("PTSP_APPLICATIONS")
        assert info.state.messages == total
        ids = [(await js.get_msg("PTSP_APPLICATIONS", seq)).headers["Nats-Msg-Id"]
               for seq in range(1, total + 1)]
    finally:
        await nc.close()
    assert ids == [f"applications:{n}" for n in range(1, total + 1)]

    assert pipeline_system.audit is not None
    report = await pipeline_system.audit.verify()
    assert report["ok"] and report["checked"] >= total, report


async def test_the_same_intakes_from_several_processes_make_each_case_once(
        system: System, settings: Settings, database_url: str) -> None:
    same = [f"SAMA-{i:04d}" for i in range(60)]
    procs: list[Any] = []
    try:
        procs, go, results = await start_writers(settings, database_url, [same] * WRITERS)
        go.set()
        mine = await submit_all(system, same, 0)
        created = await collect(procs, results)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
    assert sum(created) + sum(mine) == len(same)  # each created once, by somebody
    assert system.pool is not None
    counts = await system.pool.fetchrow(
        "SELECT count(*) AS events, count(DISTINCT originator_id) AS cases "
        "FROM applications_events")
    assert (counts["events"], counts["cases"]) == (len(same), len(same))
    assert await system.pool.fetchval("SELECT count(*) FROM subject_keys") == len(same)
