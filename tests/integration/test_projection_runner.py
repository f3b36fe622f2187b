"""Projection consumers across processes: one runner consumes each stream (for its read models),
holding all its locks on one connection; a second runner stands by and takes over when
the first stops, from where the read models' tracking says, nothing lost or twice."""

from __future__ import annotations

import asyncio
import time

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from projections.runner import ProjectionRunner, lock_key, rebuild_key
from services.runtime import System, event_signer
from tests.history import OSS, application_intake
from tests.readmodels import caught_up

pytestmark = pytest.mark.integration


async def lock_holders(system: System, runner: ProjectionRunner) -> dict[tuple[str, str], int]:
    """Which backend holds each consumer lock of these read models."""
    assert system.pool is not None
    keys = {lock_key(c.name, c.stream.name): (c.name, c.stream.name) for c in runner.consumers}
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
    assert set(held) == {(c.name, c.stream.name) for c in first.consumers}
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


async def positions(system: System, stream: str) -> dict[str, int]:
    assert system.pool is not None
    rows = await system.pool.fetch(
        "SELECT projection, position FROM projection_positions WHERE stream = $1", stream)
    return {r["projection"]: r["position"] for r in rows}


async def test_one_consumer_feeds_every_read_model_of_a_stream(
        pipeline_system: System, nats_server) -> None:
    system = pipeline_system
    pipeline = system.pipeline
    assert pipeline is not None and pipeline.runner is not None
    await system.applications.submit(application_intake(0), OSS)
    await caught_up(system)
    by_stream = {c.stream.name: c.name for c in pipeline.runner.consumers}
    assert by_stream["applications"] == "case_views+sla_timers"
    assert by_stream["calendar"] == "sla_timers"
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        # A read model's consumer of its own, from before they shared one, goes once the
        # shared one starts.
        await js.add_consumer("PTSP_APPLICATIONS", ConsumerConfig(
            durable_name="case_views-applications", ack_policy=AckPolicy.ALL))
        await pipeline.runner.stop()
        await pipeline.runner.start()
        await system.applications.submit(application_intake(1), OSS)
        await caught_up(system)
        durables = {c.name for c in await js.consumers_info("PTSP_APPLICATIONS")}
    finally:
        await nc.close()
    # The notifier's outbox has a consumer of its own (its own pool and NATS user).
    assert durables == {"case_views+sla_timers-applications", "notifications-applications"}
    head = await pipeline.eventlog.head("applications")
    assert await positions(system, "applications") == {
        "case_views": head, "sla_timers": head, "notifications": head}


async def test_a_read_model_being_rebuilt_is_left_out_and_catches_up_after(
        pipeline_system: System) -> None:
    """A rebuild of the SLA timers holds them for as long as it takes: the case views of
    the same stream keep up meanwhile, and the SLA timers catch up once it commits, with
    no further event to carry them (from the event store)."""
    system = pipeline_system
    pipeline = system.pipeline
    assert pipeline is not None and system.pool is not None
    await system.applications.submit(application_intake(0), OSS)
    await caught_up(system)
    before = (await positions(system, "applications"))["sla_timers"]
    async with system.pool.acquire() as rebuilding, rebuilding.transaction():
        # As `rebuild` holds them: its rebuild lock, then the read model's.
        await rebuilding.execute("SELECT pg_advisory_xact_lock($1)", rebuild_key("sla_timers"))
        await rebuilding.execute("SELECT pg_advisory_xact_lock($1)", lock_key("sla_timers"))
        for n in range(1, 4):
            await system.applications.submit(application_intake(n), OSS)
        head = await pipeline.eventlog.head("applications")
        deadline = time.monotonic() + 15
        while (await positions(system, "applications"))["case_views"] < head:
            assert time.monotonic() < deadline, "the case views waited on the rebuild"
            await asyncio.sleep(0.05)
        assert await system.pool.fetchval("SELECT count(*) FROM case_views") == 4
        assert (await positions(system, "applications"))["sla_timers"] == before
    await caught_up(system, seconds=15)
    assert await system.pool.fetchval("SELECT count(*) FROM sla_timers") == 4
