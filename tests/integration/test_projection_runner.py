"""Projection consumers across processes: one runner consumes each (read model, stream),
holding all its locks on one connection; a second runner stands by and takes over when
the first stops, from where the read models' tracking says, nothing lost or twice."""

from __future__ import annotations

import asyncio
import time

import nats
import pytest

from projections.runner import ProjectionRunner, lock_key
from services.runtime import System, event_signer
from tests.history import OSS, application_intake
from tests.readmodels import caught_up

pytestmark = pytest.mark.integration


async def lock_holders(system: System, runner: ProjectionRunner) -> dict[tuple[str, str], int]:
    """Which backend holds each consumer lock of these read models."""
    assert system.pool is not None
    keys = {lock_key(p.name, s): (p.name, s) for p in runner.projections for s in p.streams}
    rows = await system.pool.fetch(
        "SELECT pid, (classid::bigint << 32) | objid::bigint AS key FROM pg_locks "
        "WHERE locktype = 'advisory' AND objsubid = 1 AND granted")
    return {keys[r["key"]]: r["pid"] for r in rows if r["key"] in keys}


async def test_a_standby_runner_takes_over_and_the_locks_sit_on_one_connection(
        pipeline_system: System, nats_server) -> None:
    system = pipeline_system
    pipeline = system.pipeline
    assert pipeline is not None and pipeline.runner is not None and system.pool is not None
    first = pipeline.runner
    for n in range(5):
        await system.applications.submit(application_intake(n), OSS)
    await caught_up(system)
    held = await lock_holders(system, first)
    assert set(held) == {(p.name, s) for p in first.projections for s in p.streams}
    assert len(set(held.values())) == 1, "every consumer lock on one connection"

    nc = await nats.connect(nats_server.url)
    standby = ProjectionRunner(system.pool, nc, system.streams(), system.projections(),
                               signer=event_signer(system.settings))
    await standby.start()
    try:
        await asyncio.sleep(1.5)
        assert await lock_holders(system, first) == held, "the standby took nothing"
        await first.stop()
        deadline = time.monotonic() + 15
        while set((await lock_holders(system, standby)).values()) in (set(), set(held.values())):
            assert time.monotonic() < deadline, "the standby did not take over"
            await asyncio.sleep(0.1)
        for n in range(5, 10):
            await system.applications.submit(application_intake(n), OSS)
        pipeline.runner = standby  # what `caught_up` waits on
        await caught_up(system)
        assert await system.pool.fetchval("SELECT count(*) FROM case_views") == 10
        assert len(set((await lock_holders(system, standby)).values())) == 1
    finally:
        await standby.stop()
        await nc.close()
        pipeline.runner = first
