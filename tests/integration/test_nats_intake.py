"""Intake over NATS (API.md, "NATS") on a real nats-server and a real Postgres: request /
reply, idempotence, refused and kept messages, and a server restart in mid-stream."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import nats
import nats.errors
import pytest
import pytest_asyncio
from nats.aio.client import Client

from services.applications.domain import application_id
from services.infra.embedded import EmbeddedNats
from services.intake.nats_intake import NatsIntake, case_types
from services.runtime import System
from services.settings import Settings

pytestmark = pytest.mark.integration

APPLICATION = "ptsp.intake.application.oss"
COMPLAINT = "ptsp.intake.complaint.whatsapp"


def application(external_id: str = "OSS-NATS-1", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "oss", "external_id": external_id, "service_code": "SS-KBLI-10510",
        "applicant": {"name": "Siti Rahma", "nik": "3214010101800001"},
        "business": {"name": "CV Susu Murni", "kbli": "10510", "scale": "kecil",
                     "in_industrial_estate": False, "address": "Jl. Veteran 139, Purwakarta"},
    }
    body.update(changes)
    return body


def complaint(external_id: str = "WA-NATS-1", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "whatsapp", "external_id": external_id,
        "complainant": {"name": "Siti Aminah", "phone": "081234567890"},
        "subject_matter": "Dimintai biaya untuk Sertifikat Standar yang gratis",
        "description": "Petugas meminta uang administrasi di loket MPP.",
        "service_received_on": "2026-03-10",
    }
    body.update(changes)
    return body


async def ask(nc: Client, subject: str, body: dict[str, Any] | bytes,
              headers: dict[str, str] | None = None) -> dict[str, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    msg = await nc.request(subject, data, timeout=15, headers=headers)
    reply: dict[str, Any] = json.loads(msg.data)
    return reply


async def first_versions(database_url: str, table: str = "applications_events") -> int:
    """Cases created, counted in the event store itself."""
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(
            f"SELECT count(*) FROM {table} WHERE originator_version = 1"))
    finally:
        await conn.close()


async def rejected_rows(database_url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return list(await conn.fetch("SELECT * FROM intake_rejected ORDER BY id"))
    finally:
        await conn.close()


@pytest_asyncio.fixture
async def intake_system(settings: Settings, database_url: str,
                        nats_server: EmbeddedNats) -> AsyncIterator[System]:
    built = System.build(settings, database_url, nats_server.url, with_pipeline=False)
    await built.start()
    yield built
    await built.stop()


@pytest_asyncio.fixture
async def nc(nats_server: EmbeddedNats) -> AsyncIterator[Client]:
    client = await nats.connect(nats_server.url)
    yield client
    await client.close()


# -- accepted, idempotent -----------------------------------------------------------
async def test_an_application_is_accepted_with_id_and_tracking_number(
        intake_system: System, nc: Client) -> None:
    reply = await ask(nc, APPLICATION, application())
    assert reply["status_code"] == 201, reply
    assert reply["id"] == str(application_id("oss", "OSS-NATS-1"))
    assert reply["tracking_number"].startswith("PRM-")
    assert reply["status"] == "awaiting_verification"
    app = await intake_system.applications.get(application_id("oss", "OSS-NATS-1"))
    assert app.channel == "oss" and app.tracking_number == reply["tracking_number"]
    # The reply carries the PIN as the HTTP answer does (the same intake declaration).
    assert reply["pin"] == intake_system.applications.tracking.pin(app.id)


async def test_the_same_message_again_is_the_same_case(intake_system: System, nc: Client,
                                                        database_url: str) -> None:
    first = await ask(nc, APPLICATION, application("OSS-TWICE"))
    again = await ask(nc, APPLICATION, application("OSS-TWICE"))
    assert first["status_code"] == 201 and again["status_code"] == 200
    assert {k: v for k, v in again.items() if k != "status_code"} == \
        {k: v for k, v in first.items() if k != "status_code"}

    replies = await asyncio.gather(*[ask(nc, APPLICATION, application("OSS-RACE"))
                                     for _ in range(20)])
    assert sorted(r["status_code"] for r in replies) == [200] * 19 + [201]
    assert len({r["id"] for r in replies}) == 1
    assert await first_versions(database_url) == 2  # OSS-TWICE and OSS-RACE, once each


async def test_a_complaint_is_accepted_and_a_suggestion_says_why(intake_system: System,
                                                                 nc: Client) -> None:
    reply = await ask(nc, COMPLAINT, complaint())
    assert reply["status_code"] == 201, reply
    assert reply["kind"] == "complaint" and reply["reason"] is None and reply["reasons"] == []
    again = await ask(nc, COMPLAINT, complaint())
    assert again["status_code"] == 200 and again["id"] == reply["id"]

    suggestion = await ask(nc, "ptsp.intake.complaint.complaint_box",
                           complaint("BOX-1", channel="complaint_box", subject_matter=None))
    assert suggestion["status_code"] == 201
    assert suggestion["kind"] == "suggestion" and suggestion["reason"] == "no_subject_matter"
    complaint_case = await intake_system.complaints.get(uuid.UUID(reply["id"]))
    assert complaint_case.channel == "whatsapp"


# -- refused --------------------------------------------------------------------------
async def test_malformed_json_is_refused_and_kept(intake_system: System, nc: Client,
                                                  database_url: str) -> None:
    payload = b'{"channel": "oss",'
    reply = await ask(nc, APPLICATION, payload, headers={"X-Trace": "abc-1"})
    assert reply["status_code"] == 400 and reply["extra"]["rule"] == "malformed_json"
    assert reply["detail"]
    [row] = await rejected_rows(database_url)
    assert row["subject"] == APPLICATION and row["body_bytes"] == len(payload)
    assert row["body_redacted"] is None  # not JSON: nothing of it is kept
    assert row["status_code"] == 400 and row["detail"] == reply["detail"]
    assert json.loads(row["headers"])["X-Trace"] == "abc-1"
    assert row["received_at"] is not None
    assert await first_versions(database_url) == 0


async def test_wrong_types_name_the_field_and_are_kept(intake_system: System, nc: Client,
                                                       database_url: str) -> None:
    bad = application()
    bad["business"] = {**bad["business"], "kbli": 10510}
    reply = await ask(nc, APPLICATION, bad)
    assert reply["status_code"] == 400, reply
    assert reply["extra"]["field"] == "business.kbli" and "`str`" in reply["extra"]["reason"]

    missing = application()
    del missing["applicant"]
    reply = await ask(nc, APPLICATION, missing)
    assert reply["status_code"] == 400 and reply["extra"]["field"] == "applicant"

    reply = await ask(nc, APPLICATION, application(business={"name": "x"}))
    assert reply["status_code"] == 400 and reply["extra"]["field"].startswith("business.")

    reply = await ask(nc, APPLICATION, b"[1, 2]")
    assert reply["status_code"] == 400 and reply["extra"]["field"] == "$"

    rows = await rejected_rows(database_url)
    assert [r["status_code"] for r in rows] == [400] * 4
    kept = json.loads(rows[0]["body_redacted"])
    # The shape and the values that say nothing about a person stay, for the operator...
    assert kept["business"]["kbli"] == 10510 and kept["external_id"] == "OSS-NATS-1"
    # ...the person's own values are only their kind and size.
    assert kept["applicant"] == {"name": "<text: 10 chars>", "nik": "<text: 16 chars>"}
    assert await first_versions(database_url) == 0
    await no_personal_data_kept(database_url)


async def no_personal_data_kept(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        everything = await conn.fetchval("SELECT string_agg(r::text, ' ') FROM intake_rejected r")
    finally:
        await conn.close()
    for personal in ("Siti", "3214010101800001", "Veteran", "081234567890", "Aminah"):
        assert personal not in everything


async def test_a_huge_message_is_kept_small(intake_system: System, nc: Client,
                                            database_url: str) -> None:
    garbage = b"x" * 900_000
    assert (await ask(nc, APPLICATION, garbage))["status_code"] == 400
    wrong = json.dumps(application(applicant={"name": "Siti " * 180_000}, kbli=1)).encode()
    assert (await ask(nc, APPLICATION, wrong))["status_code"] == 400
    rows = await rejected_rows(database_url)
    assert [r["body_bytes"] for r in rows] == [len(garbage), len(wrong)]
    assert rows[0]["body_redacted"] is None
    assert json.loads(rows[1]["body_redacted"])["applicant"]["name"] == "<text: 900000 chars>"
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval("SELECT pg_total_relation_size('intake_rejected')")
    finally:
        await conn.close()
    assert stored < 200_000


async def test_a_wide_message_is_kept_truncated(intake_system: System, nc: Client,
                                                database_url: str) -> None:
    wide = application(business={f"f{i}": "x" for i in range(2000)})
    reply = await ask(nc, APPLICATION, wide)
    assert reply["status_code"] == 400
    [row] = await rejected_rows(database_url)
    assert row["truncated"] and len(row["body_redacted"]) < 60_000


async def test_a_deeply_nested_message_is_refused_naming_the_limit(
        intake_system: System, nc: Client) -> None:
    reply = await ask(nc, APPLICATION, b"[" * 5000 + b"]" * 5000)
    assert reply["status_code"] == 400 and reply["extra"] == {"rule": "nesting_too_deep",
                                                                "limit": 64}


async def test_old_rejects_are_purged_after_the_retention_period(
        intake_system: System, nc: Client, database_url: str) -> None:
    await ask(nc, APPLICATION, b"not json")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE intake_rejected SET received_at = now() - interval '31 days'")
    finally:
        await conn.close()
    await ask(nc, APPLICATION, b"not json either")
    rows = await rejected_rows(database_url)
    assert [r["body_bytes"] for r in rows] == [len(b"not json either")]


async def test_well_formed_but_invalid_is_422_and_not_kept(intake_system: System, nc: Client,
                                                           database_url: str) -> None:
    reply = await ask(nc, APPLICATION, application(service_code="NOPE"))
    assert reply["status_code"] == 422 and reply["extra"]["field"] == "service_code"
    assert await rejected_rows(database_url) == []


async def test_the_subject_channel_must_be_the_body_channel(intake_system: System,
                                                            nc: Client, database_url: str) -> None:
    reply = await ask(nc, "ptsp.intake.application.mpp_counter", application("OSS-X"))
    assert reply["status_code"] == 403 and reply["extra"]["field"] == "channel"
    # A channel that does not take this case type at all.
    reply = await ask(nc, "ptsp.intake.application.whatsapp",
                      application("WA-X", channel="whatsapp"))
    assert reply["status_code"] == 403
    reply = await ask(nc, "ptsp.intake.complaint.oss", complaint("OSS-C", channel="oss"))
    assert reply["status_code"] == 403
    assert await first_versions(database_url) == 0


async def test_a_survey_response_is_accepted_from_any_channel(intake_system: System,
                                                              nc: Client) -> None:
    body = {"channel": "oss", "external_id": "SKM-NATS-1", "service_code": "SS-KBLI-10510",
            "scores": {"time": 4, "fee": 3}}
    reply = await ask(nc, "ptsp.intake.survey.oss", body)
    assert reply["status_code"] == 201, reply
    assert set(reply) == {"status_code", "id"}
    again = await ask(nc, "ptsp.intake.survey.oss", body)
    assert again == {**reply, "status_code": 200}
    response = await intake_system.surveys.get(uuid.UUID(reply["id"]))
    assert response.scores == {"time": 4, "fee": 3} and response.channel == "oss"

    reply = await ask(nc, "ptsp.intake.survey.whatsapp", {**body, "channel": "whatsapp"})
    assert reply["status_code"] == 201  # a complaint channel answers surveys too
    reply = await ask(nc, "ptsp.intake.survey.email", body)
    assert reply["status_code"] == 403 and reply["extra"]["field"] == "channel"
    reply = await ask(nc, "ptsp.intake.survey.oss", {**body, "scores": {"time": 5}})
    assert reply["status_code"] == 400 and reply["extra"]["field"] == "scores.time"
    reply = await ask(nc, "ptsp.intake.survey.oss", {**body, "scores": {}})
    assert reply["status_code"] == 422 and reply["extra"]["field"] == "scores"

    without = NatsIntake("nats://unused", case_types(intake_system.applications,
                                                     intake_system.complaints))
    reply = await without.answer("ptsp.intake.survey.oss", json.dumps(body).encode())
    assert reply["status_code"] == 404 and reply["extra"]["case_type"] == "survey"


async def test_a_refused_message_with_no_reply_subject_is_kept(
        intake_system: System, nc: Client, database_url: str) -> None:
    await nc.publish(APPLICATION, b"not json at all")
    await nc.publish("ptsp.intake.survey.oss", b"{}")
    await nc.flush()
    rows: list[asyncpg.Record] = []
    for _ in range(100):  # bounded: 5 s
        rows = await rejected_rows(database_url)
        if len(rows) == 2:
            break
        await asyncio.sleep(0.05)
    assert sorted((r["subject"], r["status_code"]) for r in rows) == [
        (APPLICATION, 400), ("ptsp.intake.survey.oss", 400)]


async def test_before_complaints_exist_their_intake_is_404(intake_system: System) -> None:
    intake = NatsIntake("nats://unused", case_types(intake_system.applications, None))
    reply = await intake.answer(COMPLAINT, json.dumps(complaint()).encode())
    assert reply["status_code"] == 404 and reply["extra"]["case_type"] == "complaint"
    reply = await intake.answer(APPLICATION, b"{")
    assert reply["status_code"] == 400


# -- a server restart in mid-stream ---------------------------------------------------
@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_a_server_restart_mid_stream_loses_nothing_and_doubles_nothing(
        how: str, settings: Settings, database_url: str, own_nats: EmbeddedNats) -> None:
    n, concurrency = 200, 20
    system = System.build(settings, database_url, own_nats.url, with_pipeline=False)
    await system.start()
    async def quiet(_: Exception) -> None:  # the sender's reconnect attempts fail, as meant
        pass

    sender = await nats.connect(own_nats.url, max_reconnect_attempts=-1, error_cb=quiet,
                                reconnect_time_wait=0.1)  # type: ignore[arg-type]
    slots = asyncio.Semaphore(concurrency)
    done: list[dict[str, Any]] = []
    retries = 0

    async def send(i: int) -> None:
        nonlocal retries
        data = json.dumps(application(f"OSS-STREAM-{i:04d}")).encode()
        async with slots:
            for _ in range(120):  # bounded: at most ~120 × 1 s
                try:
                    msg = await sender.request(APPLICATION, data, timeout=1)
                except (TimeoutError, nats.errors.Error):
                    retries += 1
                    await asyncio.sleep(0.1)
                    continue
                reply = json.loads(msg.data)
                assert reply["status_code"] in (200, 201), reply
                done.append(reply)
                return
            raise AssertionError(f"request {i} never answered")

    async def restart() -> int:
        for _ in range(600):  # bounded: 30 s
            if len(done) >= n // 3:
                break
            await asyncio.sleep(0.05)
        at = len(done)
        await asyncio.to_thread(own_nats.stop if how == "stop" else own_nats.kill)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(own_nats.start)  # same port, same store dir
        return at

    try:
        results = await asyncio.wait_for(
            asyncio.gather(restart(), *[send(i) for i in range(n)]), timeout=180)
    finally:
        await sender.close()
        await system.stop()
    restarted_at = results[0]
    assert 0 < restarted_at < n, "the restart did not happen mid-stream"
    assert len(done) == n
    ids = {r["id"] for r in done}
    assert ids == {str(application_id("oss", f"OSS-STREAM-{i:04d}")) for i in range(n)}
    assert await first_versions(database_url) == n  # nothing lost, nothing twice
    assert retries > 0, "no request was caught by the restart"


async def test_bodies_kept_whole_by_an_older_version_are_redacted_on_upgrade(
        database_url: str) -> None:
    from services.intake import rejects

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("""
            CREATE TABLE intake_rejected (
                id bigserial PRIMARY KEY, received_at timestamptz NOT NULL DEFAULT now(),
                subject text NOT NULL, headers jsonb, payload bytea NOT NULL,
                status_code integer NOT NULL, detail text NOT NULL)""")
        old = json.dumps(application()).encode()
        await conn.execute("INSERT INTO intake_rejected (subject, payload, status_code, detail)"
                           " VALUES ($1, $2, 400, 'x')", APPLICATION, old)
        await rejects.install(conn, 1024 * 1024)
        await rejects.install(conn, 1024 * 1024)  # again: nothing left to do
        [row] = await conn.fetch("SELECT * FROM intake_rejected")
    finally:
        await conn.close()
    assert "payload" not in list(row.keys())  # a Record's `in` looks at its values
    assert row["body_bytes"] == len(old)
    assert json.loads(row["body_redacted"])["applicant"]["nik"] == "<text: 16 chars>"
    await no_personal_data_kept(database_url)
