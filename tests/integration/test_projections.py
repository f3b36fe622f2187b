"""Events over JetStream to the read models: effectively-once through faults, and a
rebuild from the event store reproduces them byte for byte.

On real Postgres and a real nats-server, both started by the tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import nats
import pytest
import pytest_asyncio

from projections import monthly_report, yearly_report
from projections.runner import rebuild
from services.infra.embedded import EmbeddedNats
from services.runtime import System
from services.settings import Settings
from tests.history import generate, months_between
from tests.readmodels import caught_up

pytestmark = pytest.mark.integration

REPORT_NOW = datetime.fromisoformat("2027-01-01T00:00:00+07:00")


async def snapshot(system: System, months: list[str]) -> dict[str, Any]:
    """Everything a reader can see: every read-model row and every report rendering."""
    pool = system.pool
    assert pool is not None
    async with pool.acquire() as conn:
        cases = [tuple(r) for r in await conn.fetch("SELECT * FROM case_views ORDER BY id")]
        timers = [tuple(r) for r in await conn.fetch("SELECT * FROM sla_timers ORDER BY case_id")]
        # The per-month facts and the counts the lists' totals read; a count back at zero
        # is as good as no row.
        counts = {table: [tuple(r) for r in await conn.fetch(
                      f"SELECT * FROM {table} WHERE n <> 0 ORDER BY {key}")]
                  for table, key in (("report_counts", "month, case_type, fact, key"),
                                     ("case_counts", "type, status, tier, unit, assignee"),
                                     ("sla_counts", "type, unit, tier, assignee, phase"),
                                     ("sla_stopped_counts", "month, type, stopped_by, state, "
                                                            "working_days, assignee"),
                                     ("sla_breach_counts", "month, type"))}
        reports = {}
        for month in months:
            report = await monthly_report.load(conn, month, REPORT_NOW)
            reports[month] = (json.dumps(report, sort_keys=True), monthly_report.to_csv(report))
        for year in sorted({m[:4] for m in months}):
            report = await yearly_report.load(conn, int(year), REPORT_NOW)
            reports[year] = (json.dumps(report, sort_keys=True), yearly_report.to_csv(report))
        # A rebuild builds the indexes once the rows are in: the same ones.
        indexes = [tuple(r) for r in await conn.fetch(
            "SELECT tablename, indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = current_schema() ORDER BY 1, 2")]
    return {"case_views": cases, "sla_timers": timers, "counts": counts, "reports": reports,
            "indexes": indexes}


async def rebuilt(system: System, **options: Any) -> None:
    pipeline = system.pipeline
    assert pipeline is not None and system.pool is not None
    await rebuild(system.pool, pipeline.eventlog, pipeline.runner.projections, progress=False,
                  **options)


@pytest_asyncio.fixture
async def own_pipeline(settings: Settings, database_url: str, own_nats: EmbeddedNats):
    built = System.build(settings, database_url, nats_url=own_nats.url)
    await built.start()
    yield built
    await built.stop()


async def test_rebuild_reproduces_read_models_and_reports_byte_for_byte(
        pipeline_system: System) -> None:
    start = pipeline_system.clock.now()
    counts = await generate(pipeline_system, applications=1400, complaints=600, months=4)
    assert counts["applications"] == 1400
    await pipeline_system.pipeline.watcher.stop()  # no more automatic escalations: history is final
    await caught_up(pipeline_system)
    months = months_between(start, pipeline_system.clock.now())
    live = await snapshot(pipeline_system, months)
    assert len(live["case_views"]) >= 1400 + 500
    report = json.loads(live["reports"][months[1]][0])
    assert report["applications"]["received"] > 0 and report["complaints"]["received"] > 0
    assert any(row[8] != "pelaksana" for row in live["case_views"]), "breaches escalated some cases"

    # Folded by worker processes, then by a thread in reads so short that cases run on
    # past one read (and some take more than one).
    await rebuilt(pipeline_system, workers=2)
    assert await snapshot(pipeline_system, months) == live
    await rebuilt(pipeline_system, workers=0, batch=3)
    assert await snapshot(pipeline_system, months) == live


async def test_faults_lose_nothing_and_apply_nothing_twice(own_pipeline: System,
                                                           own_nats: EmbeddedNats) -> None:
    system = own_pipeline
    pipeline = system.pipeline
    assert pipeline is not None and pipeline.relay is not None and pipeline.runner is not None
    start = system.clock.now()

    # The relay is killed mid-batch, then comes back.
    work = asyncio.create_task(generate(system, applications=300, complaints=100, months=1, seed=1))
    await asyncio.sleep(0.3)
    await pipeline.relay.stop()
    await asyncio.sleep(0.3)
    await pipeline.relay.start()
    # A projection is killed mid-batch (its transaction rolls back), then comes back.
    await asyncio.sleep(0.2)
    await pipeline.runner.stop()
    await asyncio.sleep(0.3)
    await pipeline.runner.start()
    await asyncio.wait_for(work, 90)
    print("phase: generated with relay and projection restarts", flush=True)

    # NATS stops for a while; the services keep taking work (Postgres is the record).
    own_nats.stop()
    system.clock.jump_to(system.clock.now() + timedelta(days=1))
    await asyncio.wait_for(generate(system, applications=100, complaints=50, months=1, seed=2), 60)
    print("phase: generated while NATS was down", flush=True)
    await asyncio.sleep(1.0)
    own_nats.start()

    # Redeliver everything: the relay re-sends the whole store and every consumer starts over.
    await asyncio.wait_for(pipeline.relay.stop(), 10)
    await asyncio.wait_for(pipeline.runner.stop(), 10)
    print("phase: stopped for redelivery", flush=True)
    await system.pool.execute("DELETE FROM relay_positions")
    nc = await nats.connect(own_nats.url)
    js = nc.jetstream()
    for info in await js.streams_info():
        for consumer in await js.consumers_info(info.config.name):
            await js.delete_consumer(info.config.name, consumer.name)
    await nc.close()
    await asyncio.wait_for(pipeline.relay.start(), 10)
    await asyncio.wait_for(pipeline.runner.start(), 10)
    print("phase: redelivering", flush=True)

    await pipeline.watcher.stop()
    await caught_up(system, seconds=120)
    months = months_between(start, system.clock.now())
    live = await snapshot(system, months)

    # Nothing missing, nothing twice: one view per case in the event store ...
    stored_cases = 0
    async with system.pool.acquire() as conn:
        for table in ("applications_events", "complaints_events"):
            stored_cases += await conn.fetchval(
                f"SELECT count(DISTINCT originator_id) FROM {table}")
        versions = await conn.fetch("SELECT (doc->>'version')::int AS v, id FROM case_views")
        for row in versions:
            expected = await conn.fetchval(
                "SELECT max(originator_version) FROM (SELECT originator_id, originator_version "
                "FROM applications_events UNION ALL SELECT originator_id, originator_version "
                "FROM complaints_events) e WHERE originator_id = $1", row["id"])
            assert row["v"] == expected
    assert len(live["case_views"]) == stored_cases
    # ... and exactly what a fresh rebuild from the event store gives.
    await rebuilt(system)
    assert await snapshot(system, months) == live


async def complete_application(http: httpx.AsyncClient, token: Callable[..., dict[str, str]],
                               external_id: str) -> tuple[str, str]:
    """An application submitted and found complete (on the simulated clock's first day):
    its id, and the date its answer is due."""
    body = {"channel": "oss", "external_id": external_id, "service_code": "SS-KBLI-10510",
            "applicant": {"name": "Siti"},
            "business": {"name": "CV Susu", "kbli": "10510", "scale": "kecil",
                         "in_industrial_estate": True, "address": "Jl. Veteran"}}
    case = (await http.post("/applications", json=body,
                            headers=token("channel", "oss-gw", channel="oss"))).json()["id"]
    results = dict.fromkeys(("U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4"), True)
    r = await http.post(f"/applications/{case}/verification", json={"results": results},
                        headers=token("officer", "budi", unit="perizinan"))
    assert r.status_code == 200, r.text
    return str(case), str(r.json()["sla"]["due_at"])


async def test_moving_the_clock_past_a_deadline_breaches_and_escalates_once(
        pipeline_http, pipeline_system: System, token) -> None:
    http = pipeline_http
    head, supervisor = token("head", "kepala"), token("supervisor", "sri")
    case, due = await complete_application(http, token, "LATE-1")
    assert due.startswith("2026-04-02")  # complete 16 Mar 2026: Nyepi and Lebaran in between

    # A second timer process races the first: still one escalation.
    from projections.escalation_queues import BreachWatcher
    second = BreachWatcher(pipeline_system.pool, pipeline_system.clock,
                           pipeline_system.pipeline.escalate, interval=0.05)
    await second.start()
    r = await http.post("/admin/clock", json={"now": due}, headers=head)
    assert r.status_code == 200
    moved = time.monotonic()
    while time.monotonic() - moved < 5:
        state = (await http.get(f"/applications/{case}", headers=supervisor)).json()
        if state["tier"] == "kepala_seksi":
            break
        await asyncio.sleep(0.05)
    took = time.monotonic() - moved
    await asyncio.sleep(1.0)
    await second.stop()
    state = (await http.get(f"/applications/{case}", headers=supervisor)).json()
    assert state["tier"] == "kepala_seksi" and state["sla"]["state"] == "breached"
    assert took < 5, took  # bounded wait; the README records the measured time
    events = await pipeline_system.pool.fetch(
        "SELECT topic FROM applications_events WHERE originator_id = $1::uuid", case)
    assert sum("Escalated" in e["topic"] for e in events) == 1

    # The list and the queue show it: breached, at the tier above.
    await caught_up(pipeline_system)
    queue = (await http.get("/queues/escalation", params={"tier": "kepala_seksi"},
                            headers=supervisor)).json()
    assert queue["items"][0]["id"] == case and queue["items"][0]["sla"]["state"] == "breached"
    breached = (await http.get("/sla", params={"state": "breached"}, headers=supervisor)).json()
    assert [i["id"] for i in breached["items"]] == [case]


async def test_a_holiday_declared_late_recomputes_open_deadlines(
        pipeline_http, pipeline_system: System, token) -> None:
    http = pipeline_http
    head, supervisor = token("head", "kepala"), token("supervisor", "sri")
    case, before = await complete_application(http, token, "CAL-1")
    r = await http.post("/calendar/days", headers=head, json={
        "date": "2026-03-25", "kind": "holiday", "reason": "Hari jadi Kabupaten (contoh)"})
    assert r.status_code == 201
    after = (await http.get(f"/applications/{case}", headers=supervisor)).json()["sla"]["due_at"]
    assert after > before
    await caught_up(pipeline_system)
    listing = (await http.get("/sla", headers=supervisor)).json()
    assert listing["items"][0]["sla"]["due_at"] == after
    assert listing["calendar_corrections"][0]["reason"].startswith("Hari jadi")
