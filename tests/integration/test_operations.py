"""Operations (issue 15): `/metrics` in Prometheus text, `/ready`, the access log line.

Against the real system (Postgres, NATS, relay and projections running), over HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.infra.embedded import EmbeddedNats, free_port
from services.notifications.outbox import WAITING, OutboxWriter
from services.ops import metrics
from services.ops.logs import ACCESS, JsonFormatter
from services.ops.readiness import Probe
from services.ops.scrape import render
from services.runtime import System

pytestmark = pytest.mark.integration

APPLICATION = {
    "channel": "oss", "service_code": "SS-KBLI-10510",
    "applicant": {"name": "Siti Rahma Wulandari", "nik": "3214010101800001"},
    "business": {"name": "CV Susu Murni", "kbli": "10510", "scale": "kecil",
                 "in_industrial_estate": True, "address": "Purwakarta"}}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition: (name, sorted labels) → value."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


async def settle(system: System, seconds: float = 20) -> None:
    """Until the relay and every read model have caught up with the store."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        found = samples((await system.exposition()).decode())
        lags = [v for (name, _), v in found.items()
                if name in ("ptsp_relay_lag_events", "ptsp_projection_lag_events")]
        if lags and not any(lags):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the pipeline did not catch up")


async def test_metrics_need_head_or_auditor_and_count_what_happened(
        pipeline_http: httpx.AsyncClient, pipeline_system: System, people: Any) -> None:
    assert (await pipeline_http.get("/metrics")).status_code == 401
    for who in ("officer", "supervisor", "oss"):
        assert (await pipeline_http.get("/metrics", headers=people[who])).status_code == 403
    before = samples((await pipeline_http.get("/metrics", headers=people["auditor"])).text)
    created = value(before, "ptsp_intake_total", case_type="application", channel="oss",
                    outcome="created") or 0
    repeated = value(before, "ptsp_intake_total", case_type="application", channel="oss",
                     outcome="repeated") or 0
    for n in range(3):
        r = await pipeline_http.post("/applications", json={**APPLICATION, "external_id": f"M-{n}"},
                                     headers=people["oss"])
        assert r.status_code == 201, r.text
    r = await pipeline_http.post("/applications", json={**APPLICATION, "external_id": "M-0"},
                                 headers=people["oss"])
    assert r.status_code == 200
    await settle(pipeline_system)

    r = await pipeline_http.get("/metrics", headers=people["head"])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    found = samples(r.text)
    assert value(found, "ptsp_intake_total", case_type="application", channel="oss",
                 outcome="created") == created + 3
    assert value(found, "ptsp_intake_total", case_type="application", channel="oss",
                 outcome="repeated") == repeated + 1
    # Durations by route template (never the path with its id) and status.
    assert (value(found, "ptsp_http_request_duration_seconds_count", route="/applications",
                  method="POST", status="201") or 0) >= 3
    assert (value(found, "ptsp_http_request_duration_seconds_count", route="/metrics",
                  method="GET", status="403") or 0) >= 3
    # Every group commit is a batch of at least one command.
    assert (value(found, "ptsp_group_commit_batch_size_count") or 0) >= 3
    for stream in ("applications", "complaints", "calendar", "surveys"):
        assert value(found, "ptsp_relay_lag_events", stream=stream) == 0, stream
    for model in ("case_views", "sla_timers", "survey_responses", "notifications"):
        assert value(found, "ptsp_projection_lag_events", read_model=model) == 0, model
    # The notifier's outbox: e-mail waits (no SMTP host here), so does the oss channel
    # (no adapter): both in sight.
    assert (value(found, "ptsp_notifications_pending", channel="email") or 0) >= 3
    assert value(found, "ptsp_notifications_oldest_pending_seconds") is not None
    assert value(found, "ptsp_notifications_due_seconds") is not None
    assert value(found, "ptsp_cases_sla", state="at_risk") == 0
    assert value(found, "ptsp_cases_sla", state="breached") == 0
    # (The submitted applications' clocks start when their file is complete: none runs.)
    assert value(found, "ptsp_audit_chain_alarm") == 0
    assert all(name.startswith("ptsp_") for name, _ in found)


async def test_nats_intake_is_counted(pipeline_system: System, nats_server: EmbeddedNats) -> None:
    import nats

    def created() -> float:
        found = samples(render(None, False, None).decode())
        return value(found, "ptsp_intake_total", case_type="complaint", channel="whatsapp",
                     outcome="created") or 0

    def refused() -> float:
        found = samples(render(None, False, None).decode())
        return value(found, "ptsp_intake_total", case_type="complaint", channel="whatsapp",
                     outcome="refused") or 0

    before, refused_before = created(), refused()
    nc = await nats.connect(nats_server.url)
    try:
        body = {"channel": "whatsapp", "external_id": "WA-M-1", "complainant": None,
                "subject_matter": "Antrean", "description": "Antrean terlalu lama.",
                "service_received_on": "2026-03-10"}
        reply = json.loads((await nc.request("ptsp.intake.complaint.whatsapp",
                                             json.dumps(body).encode(), timeout=15)).data)
        assert reply["status_code"] == 201, reply
        reply = json.loads((await nc.request("ptsp.intake.complaint.whatsapp", b"{}",
                                             timeout=15)).data)
        assert reply["status_code"] == 400, reply
    finally:
        await nc.close()
    assert created() == before + 1
    assert refused() == refused_before + 1


async def test_sla_counts_follow_the_clock(pipeline_http: httpx.AsyncClient,
                                           pipeline_system: System, people: Any) -> None:
    r = await pipeline_http.post("/applications", json={**APPLICATION, "external_id": "SLA-1"},
                                 headers=people["oss"])
    assert r.status_code == 201
    case = r.json()["id"]
    r = await pipeline_http.post(f"/applications/{case}/verification", headers=people["officer"],
                                 json={"results": dict.fromkeys(
                                     ("U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4"), True)})
    assert r.status_code == 200, r.text   # complete: the 7 working days run
    await settle(pipeline_system)
    found = samples((await pipeline_http.get("/metrics", headers=people["auditor"])).text)
    assert value(found, "ptsp_cases_sla", state="running") == 1
    assert pipeline_system.pool is not None
    timer = await pipeline_system.pool.fetchrow(
        "SELECT at_risk_at, due_at FROM sla_timers WHERE case_id = $1::uuid", case)
    for instant, state in ((timer["at_risk_at"], "at_risk"), (timer["due_at"], "breached")):
        r = await pipeline_http.post("/admin/clock", headers=people["head"],
                                     json={"now": (instant + timedelta(minutes=1)).isoformat()})
        assert r.status_code == 200, r.text
        found = samples((await pipeline_http.get("/metrics", headers=people["auditor"])).text)
        assert value(found, "ptsp_cases_sla", state=state) == 1, state
        other = "breached" if state == "at_risk" else "at_risk"
        assert value(found, "ptsp_cases_sla", state=other) == 0, other


async def test_ready_when_everything_answers(pipeline_http: httpx.AsyncClient,
                                             pipeline_system: System) -> None:
    await settle(pipeline_system)
    r = await pipeline_http.get("/ready")   # public: no token
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready" and body["problems"] == []
    assert body["postgres"] == "ok" and body["nats"] == "ok"
    assert {"applications", "complaints", "calendar", "surveys"} <= set(body["relay_lag"])
    assert body["audit_alarm"] is None
    assert (await pipeline_http.get("/health")).json()["status"] == "ok"


async def test_not_ready_names_a_lag_over_its_threshold(system: System,
                                                        nats_server: EmbeddedNats,
                                                        people: Any, http: httpx.AsyncClient
                                                        ) -> None:
    # A system without its pipeline: what it stores is never published.
    r = await http.post("/applications", json={**APPLICATION, "external_id": "LAG-1"},
                        headers=people["oss"])
    assert r.status_code == 201
    probe = Probe(system.metrics_sources(), nats_server.url, {}, max_relay_lag=0,
                  max_projection_lag=5)
    try:
        answer = await probe.check(system.pool, system.clock.now(), None)
    finally:
        await probe.close()
    assert answer.status == "not_ready"
    assert answer.nats == "ok" and answer.postgres == "ok"
    assert answer.relay_lag["applications"] == 1
    assert answer.problems == [
        "relay: 1 stored events of stream applications not yet published (more than 0)"]


async def notifier_state(system: System) -> asyncpg.Pool:
    """The notifier's tables and its position at the store's head, as its first start
    leaves them; no notifier runs (a system without its pipeline)."""
    assert system.pool is not None
    async with system.pool.acquire() as conn:
        await OutboxWriter({s.name: s.table for s in system.streams()}).create(
            cast(asyncpg.Connection, conn))
    return system.pool


async def outbox_row(pool: asyncpg.Pool, channel: str | None, *, due_ago: float,
                     created_ago: float, status: str = "pending",
                     last_error: str | None = None) -> None:
    """A message as the step consumer writes it (`channel` None: an e-mail), `due_ago`
    seconds due (negative: due later, a failed attempt's backoff)."""
    await pool.execute(
        "INSERT INTO notification_outbox (case_type, case_id, step, about_version, "
        "destination, channel, step_at, facts, status, created_at, next_attempt_at, "
        "last_error) VALUES ('application', gen_random_uuid(), 'received', 1, $1, $2, now(), "
        "'{}', $3, now() - make_interval(secs => $4), now() - make_interval(secs => $5), $6)",
        "email" if channel is None else "channel", channel, status, created_ago, due_ago,
        last_error)


async def test_the_notifiers_backlog_is_measured(system: System, people: Any,
                                                 http: httpx.AsyncClient) -> None:
    pool = await notifier_state(system)
    r = await http.post("/applications", json={**APPLICATION, "external_id": "NOTE-1"},
                        headers=people["oss"])
    assert r.status_code == 201
    await outbox_row(pool, None, due_ago=5, created_ago=600)
    await outbox_row(pool, "whatsapp", due_ago=-60, created_ago=30)  # backing off
    await outbox_row(pool, "whatsapp", due_ago=0, created_ago=20, status="sending")
    await outbox_row(pool, "oss", due_ago=3000, created_ago=3000,  # a closed way
                     last_error=f"{WAITING}no adapter answers on ptsp.outbound.oss")
    await outbox_row(pool, "sms", due_ago=9000, created_ago=9000, status="sent")
    found = samples((await system.exposition()).decode())
    # The step consumer has not seen the new application's event yet.
    assert value(found, "ptsp_projection_lag_events", read_model="notifications") == 1
    assert value(found, "ptsp_notifications_pending", channel="email") == 1
    assert value(found, "ptsp_notifications_pending", channel="whatsapp") == 2
    assert value(found, "ptsp_notifications_pending", channel="oss") == 1
    assert value(found, "ptsp_notifications_pending", channel="sms") is None  # sent
    oldest = value(found, "ptsp_notifications_oldest_pending_seconds")
    assert oldest is not None and 3000 <= oldest < 3100
    # Due and not taken by a sender: the e-mail, 5 s (the closed way's row waits for its
    # way, the backing-off one is not due, the one being sent is taken).
    due = value(found, "ptsp_notifications_due_seconds")
    assert due is not None and 5 <= due < 100


async def test_not_ready_names_the_notifier_when_it_falls_behind(
        system: System, nats_server: EmbeddedNats, people: Any,
        http: httpx.AsyncClient) -> None:
    pool = await notifier_state(system)

    async def problems(**limits: Any) -> list[str]:
        probe = Probe(system.metrics_sources(), nats_server.url, {},
                      **{"max_relay_lag": 100, "max_projection_lag": 100, **limits})
        try:
            answer = await probe.check(system.pool, system.clock.now(), None)
        finally:
            await probe.close()
        assert answer.status == ("not_ready" if answer.problems else "ready")
        return [p for p in answer.problems if p.startswith("notifier")]

    assert await problems(max_notification_due_seconds=60) == []
    r = await http.post("/applications", json={**APPLICATION, "external_id": "NOTE-2"},
                        headers=people["oss"])
    assert r.status_code == 201
    assert await problems(max_projection_lag=0) == [
        "notifier: 1 stored events not yet turned into outbox messages (more than 0)"]
    await outbox_row(pool, "oss", due_ago=3000, created_ago=3000,  # waits for its way
                     last_error=f"{WAITING}no adapter answers on ptsp.outbound.oss")
    assert await problems(max_notification_due_seconds=60) == []
    await outbox_row(pool, None, due_ago=120, created_ago=130)
    found = await problems(max_notification_due_seconds=60)
    assert len(found) == 1 and found[0].startswith("notifier: a message due for 12"), found
    assert found[0].endswith("s has not been taken by a sender (more than 60 s)")


async def test_not_ready_when_postgres_or_nats_do_not_answer(system: System) -> None:
    nowhere = free_port()
    pool = await asyncpg.create_pool(f"postgresql://x:y@127.0.0.1:{free_port()}/db",
                                     min_size=0, max_size=1)
    probe = Probe(system.metrics_sources(), f"nats://127.0.0.1:{nowhere}", {},
                  max_relay_lag=10, max_projection_lag=10)
    try:
        answer = await probe.check(pool, system.clock.now(), "the chain was cut")
    finally:
        await probe.close()
        await pool.close()
    assert answer.status == "not_ready"
    assert answer.postgres.startswith("unreachable")
    assert answer.nats.startswith(("unreachable", "no answer"))
    assert [p.split(":")[0] for p in answer.problems] == ["postgres", "nats"]
    assert answer.audit_alarm == "the chain was cut"


async def test_an_access_line_per_request_without_personal_data(
        http: httpx.AsyncClient, people: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS)
    r = await http.post("/applications", json={**APPLICATION, "external_id": "LOG-1"},
                        headers=people["oss"])
    case = r.json()["id"]
    await http.get(f"/applications/{case}", headers=people["officer"])
    await http.get("/cases", params={"q": "3214010101800001"}, headers=people["officer"])
    await http.get("/no/such/path")
    lines = [json.loads(JsonFormatter().format(rec)) for rec in caplog.records
             if rec.name == ACCESS]
    assert [(line["method"], line["route"], line["status"]) for line in lines] == [
        ("POST", "/applications", 201), ("GET", "/applications/{case_id}", 200),
        ("GET", "/cases", 200), ("GET", "unmatched", 404)]
    assert lines[0]["actor"] == "oss-gateway" and lines[0]["role"] == "channel"
    assert lines[0]["case_id"] == case and lines[1]["case_id"] == case
    assert lines[1]["actor"] == "budi"
    assert all(line["duration_ms"] >= 0 for line in lines)
    text = "\n".join(json.dumps(line) for line in lines)
    for secret in ("Siti", "3214010101800001", "Purwakarta"):
        assert secret not in text


async def test_nats_connection_lines_carry_no_password(caplog: pytest.LogCaptureFixture
                                                       ) -> None:
    from services.intake.nats_intake import NatsIntake

    intake = NatsIntake("nats://ptsp:s3cret-pw@10.0.0.1:4222,nats://ptsp:s3cret-pw@n2:4222",
                        {})
    caplog.set_level(logging.INFO)
    await intake._disconnected()
    await intake._reconnected()
    assert "10.0.0.1:4222" in caplog.text and "s3cret-pw" not in caplog.text


def test_json_log_lines() -> None:
    record = logging.LogRecord("ptsp.relay", logging.WARNING, __file__, 1, "lag %d", (3,), None)
    record.fields = {"stream": "applications"}
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "warning" and line["logger"] == "ptsp.relay"
    assert line["message"] == "lag 3" and line["stream"] == "applications"
    assert line["time"].endswith("Z")


COUNT_IN_A_PROCESS = """
from services.ops import metrics
metrics.count_intake("complaint", "whatsapp", 201)
metrics.observe_batch(4)
"""


def test_every_process_is_counted_in_multiprocess_mode(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    for _ in range(3):
        subprocess.run([sys.executable, "-c", COUNT_IN_A_PROCESS], env=env, check=True,
                       cwd=Path(__file__).parents[2])
    found = samples(render(None, False, directory).decode())
    assert value(found, "ptsp_intake_total", case_type="complaint", channel="whatsapp",
                 outcome="created") == 3
    assert value(found, "ptsp_group_commit_batch_size_count") == 3
    assert value(found, "ptsp_group_commit_batch_size_sum") == 12


def test_intake_labels_hold_only_known_values() -> None:
    metrics.count_intake("<script>", "a-channel-nobody-knows", 422)
    found = samples(render(None, False, None).decode())
    assert (value(found, "ptsp_intake_total", case_type="other", channel="other",
                  outcome="refused") or 0) >= 1
    assert metrics.intake_outcome(429) == "rate_limited"
    assert metrics.intake_outcome(503) == "failed"
