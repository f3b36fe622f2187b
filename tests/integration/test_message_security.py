"""The message side is locked (issue 10, findings 1 and 8), on a real nats-server and a
real Postgres started the way `ptsp up` starts them:

- NATS refuses clients without credentials; a channel service may publish only on its
  own intake subjects, and only the relay on the event streams;
- intake over NATS is rate-limited per channel, like HTTP;
- a forged, unsigned, badly signed, out-of-order or unreadable message on an event stream
  is dead-lettered and moves no read model; later real events still project;
- events JetStream lost are read again from the event store (a gap is healed);
- the embedded Postgres refuses a connection without its password.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import nats
import nats.errors
import pytest
import pytest_asyncio
from nats.aio.client import Client

from services import cli
from services.infra import nats_auth
from services.infra.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from services.infra.event_signing import (
    MSG_ID_HEADER,
    POSITION_HEADER,
    PREV_POSITION_HEADER,
    SIGNATURE_HEADER,
)
from services.runtime import System, event_signer
from services.settings import Settings
from tests.conftest import _serve

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, intake_rate_per_second=2.0, intake_burst=10)


@pytest.fixture
def locked_nats(settings: Settings) -> Iterator[EmbeddedNats]:
    """The embedded server as `ptsp up` starts it: its users' passwords in the keys dir."""
    server = EmbeddedNats(settings.data_dir / "nats", port=free_port(),
                          keys_dir=settings.keys_dir)
    server.start()
    yield server
    server.stop()


@pytest_asyncio.fixture
async def system(settings: Settings, database_url: str,
                 locked_nats: EmbeddedNats) -> AsyncIterator[System]:
    """The whole system given the server's address only: each part connects as its own
    user (intake, relay, projections), as under `ptsp up`."""
    built = System.build(settings, database_url, nats_url=locked_nats.address)
    await built.start()
    yield built
    await built.stop()


@pytest_asyncio.fixture
async def http(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _serve(system):
        yield client


@pytest_asyncio.fixture
async def admin(locked_nats: EmbeddedNats) -> AsyncIterator[Client]:
    """A privileged connection: what an attacker who got onto the stream could send."""
    client = await nats.connect(locked_nats.url)
    yield client
    await client.close()


def application(external_id: str, channel: str = "oss") -> dict[str, Any]:
    return {"channel": channel, "external_id": external_id, "service_code": "SS-KBLI-10510",
            "applicant": {"name": "Siti Rahma", "nik": "3214010101800001"},
            "business": {"name": "CV Susu Murni", "kbli": "10510", "scale": "kecil",
                         "in_industrial_estate": False, "address": "Jl. Veteran 139"}}


async def printed(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                  argv: list[str], env: dict[str, str]) -> str:
    """What `ptsp ARGV` prints (in a thread: the command runs its own event loop)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert await asyncio.to_thread(cli.main, argv) == 0
    return capsys.readouterr().out


async def channel_client(url: str, channel: str) -> tuple[Client, list[str]]:
    """A channel service's connection, and the errors the server sends it."""
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))
    client = await nats.connect(url, inbox_prefix=nats_auth.inbox_prefix(channel),
                                error_cb=on_error)
    return client, errors


async def ask(client: Client, subject: str, body: dict[str, Any],
              seconds: float = 15) -> dict[str, Any]:
    msg = await client.request(subject, json.dumps(body).encode(), timeout=seconds)
    reply: dict[str, Any] = json.loads(msg.data)
    return reply


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {seconds} s")


async def denied(errors: list[str], subject: str) -> bool:
    for _ in range(50):  # bounded: 5 s for the server's -ERR to arrive
        # nats-py lower-cases the server's message.
        if any("permissions violation" in e.lower() and subject.lower() in e.lower()
               for e in errors):
            return True
        await asyncio.sleep(0.1)
    return False


async def case_ids(system: System) -> set[str]:
    assert system.pool is not None
    return {str(r["id"]) for r in await system.pool.fetch("SELECT id FROM case_views")}


async def dead_letters(system: System) -> list[asyncpg.Record]:
    assert system.pool is not None
    return list(await system.pool.fetch("SELECT * FROM dead_letters ORDER BY id"))


async def tracked(system: System, stream: str = "applications") -> dict[str, int]:
    assert system.pool is not None
    rows = await system.pool.fetch(
        "SELECT projection, position FROM projection_positions WHERE stream = $1", stream)
    return {r["projection"]: r["position"] for r in rows}


# -- NATS: credentials and permissions -------------------------------------------------
async def test_nats_refuses_a_client_without_credentials(locked_nats: EmbeddedNats) -> None:
    for url in (locked_nats.address,
                nats_auth.with_credentials(locked_nats.address, "channel-oss", "guess")):
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0,
                               connect_timeout=5, error_cb=_ignore)
    conf = (locked_nats.data_dir / "nats.conf")
    assert conf.stat().st_mode & 0o077 == 0  # passwords inside: its owner's only
    assert (locked_nats.keys_dir / nats_auth.SECRET_FILE).stat().st_mode & 0o077 == 0


async def _ignore(_: Exception) -> None:
    pass


async def test_a_channel_may_submit_only_on_its_own_subjects(
        system: System, locked_nats: EmbeddedNats, settings: Settings,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    url = (await printed(capsys, monkeypatch, ["nats-credentials", "--channel", "oss",
                                        "--data-dir", str(settings.data_dir)],
                         {"NATS_URL": locked_nats.address})).strip()
    assert url.startswith("nats://channel-oss:") and url.endswith(f":{locked_nats.port}")
    oss, errors = await channel_client(url, "oss")
    try:
        reply = await ask(oss, "ptsp.intake.application.oss", application("SEC-OWN"))
        assert reply["status_code"] == 201, reply
        survey = {"channel": "oss", "external_id": "SEC-SKM", "service_code": "SS-KBLI-10510",
                  "scores": {"time": 4}}
        assert (await ask(oss, "ptsp.intake.survey.oss", survey))["status_code"] == 201

        # Another channel's subject, the event stream, or the intake's own queue: refused
        # by the server, so the intake never sees them.
        for subject, body in [
                ("ptsp.intake.application.mpp_counter", application("SEC-X", "mpp_counter")),
                ("ptsp.applications.application.submitted", application("SEC-Y")),
                ("ptsp.outbound.whatsapp", {"hello": "there"})]:
            await oss.publish(subject, json.dumps(body).encode())
            await oss.flush()
            assert await denied(errors, subject), (subject, errors)
        with pytest.raises(nats.errors.TimeoutError):
            await ask(oss, "ptsp.intake.application.mpp_counter",
                      application("SEC-Z", "mpp_counter"), seconds=1)
    finally:
        await oss.close()

    # Replies come only on the channel's own inbox prefix: with the default one, a
    # channel could read every other channel's replies (they carry the tracking PIN).
    plain_errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        plain_errors.append(str(exc))
    plain = await nats.connect(url, error_cb=on_error)
    try:
        with pytest.raises(nats.errors.TimeoutError):
            await ask(plain, "ptsp.intake.application.oss", application("SEC-PLAIN"), seconds=2)
        assert await denied(plain_errors, "subscription to \"_INBOX."), plain_errors
    finally:
        await plain.close()

    # Neither the intake's nor the projections' user may publish events.
    for user in (nats_auth.INTAKE, nats_auth.PROJECTIONS, nats_auth.NOTIFIER):
        part, part_errors = await channel_client(locked_nats.url_for(user), "oss")
        try:
            await part.publish("ptsp.applications.application.submitted", b"{}")
            await part.flush()
            assert await denied(part_errors, "ptsp.applications."), user
        finally:
            await part.close()
    # SEC-OWN, and SEC-PLAIN (taken; only its reply could not be read): nothing else.
    assert system.pool is not None
    assert await system.pool.fetchval(
        "SELECT count(*) FROM applications_events WHERE originator_version = 1") == 2


async def test_an_intake_flood_over_nats_gets_429_per_channel(
        system: System, locked_nats: EmbeddedNats) -> None:
    oss, _ = await channel_client(locked_nats.url_for("channel-oss"), "oss")
    try:
        replies = await asyncio.gather(*[
            ask(oss, "ptsp.intake.application.oss", application(f"FLOOD-{i:03d}"))
            for i in range(60)])
    finally:
        await oss.close()
    accepted = [r for r in replies if r["status_code"] == 201]
    limited = [r for r in replies if r["status_code"] == 429]
    assert len(accepted) + len(limited) == 60, {r["status_code"] for r in replies}
    assert 10 <= len(accepted) <= 15, len(accepted)  # the burst, and what refilled meanwhile
    assert limited[0]["extra"]["rule"] == "rate_limited"
    assert limited[0]["extra"]["channel"] == "oss" and limited[0]["extra"]["retry_after"] >= 1
    assert "oss" in limited[0]["detail"]

    # The budget is the channel's: another channel is served meanwhile.
    mpp, _ = await channel_client(locked_nats.url_for("channel-mpp_counter"), "mpp_counter")
    try:
        reply = await ask(mpp, "ptsp.intake.application.mpp_counter",
                          application("FLOOD-MPP", "mpp_counter"))
    finally:
        await mpp.close()
    assert reply["status_code"] == 201, reply


# -- signed events ---------------------------------------------------------------------
async def test_forged_events_are_dead_lettered_and_later_events_still_project(
        system: System, http: httpx.AsyncClient, admin: Client, token, settings: Settings,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        database_url: str) -> None:
    oss = token("channel", "oss-gw", channel="oss")
    supervisor = token("supervisor", "sri")
    real = (await http.post("/applications", json=application("REAL-1"), headers=oss)).json()
    assert system.pipeline is not None
    stored_head = await system.pipeline.eventlog.head("applications")
    await eventually(lambda: _caught_up(system, stored_head))
    before = await tracked(system)
    [stored] = await system.pipeline.eventlog.read("applications", 0, 1)
    fake_id = str(uuid.uuid4())
    forged = msgspec.json.encode(msgspec.structs.replace(stored.event, case_id=fake_id))
    subject = "ptsp.applications.application.submitted"
    js = admin.jetstream()
    head = max(before.values())
    signer = event_signer(settings)
    attempts = [
        # The probe of the report: a position far ahead, no signature at all.
        {MSG_ID_HEADER: "applications:999999999990", POSITION_HEADER: "999999999990"},
        # Headers of a real message, a signature that is not the relay's.
        {MSG_ID_HEADER: "applications:999999999991", POSITION_HEADER: "999999999991",
         PREV_POSITION_HEADER: str(head), SIGNATURE_HEADER: "AAAA" * 10},
        # Even the relay's key cannot make a message jump back over what was applied.
        signer.headers(subject, "applications:999999999992", 999999999992, 0, forged),
    ]
    for headers in attempts:
        await js.publish(subject, forged, headers=headers)
    await js.publish("ptsp.applications.garbage", b"not json")  # the poison message

    # Each read model of the stream refuses all four, and says why.
    consumers = set(before)
    await eventually(lambda: _dead_count(system, 4 * len(consumers)))
    letters = await dead_letters(system)
    assert {(r["consumer"], r["reason"].split(":")[0]) for r in letters} == {
        (c, reason) for c in consumers
        for reason in ("unsigned", "bad signature", "out of order")}
    garbage = [r for r in letters if r["subject"] == "ptsp.applications.garbage"]
    assert bytes(garbage[0]["body_head"]) == b"not json" and garbage[0]["body_size"] == 8
    assert await tracked(system) == before  # no read model moved

    # Later real events still project, in the same read models.
    later = (await http.post("/applications", json=application("REAL-2"), headers=oss)).json()
    await eventually(lambda: _has(system, later["id"]))
    listed = (await http.get("/cases", headers=supervisor)).json()
    assert {i["id"] for i in listed["items"]} == {real["id"], later["id"]}
    assert fake_id not in await case_ids(system)

    out = await printed(capsys, monkeypatch, ["dead-letters", "list", "--data-dir",
                                              str(settings.data_dir)],
                        {"DATABASE_URL": database_url})
    assert "ptsp.applications.garbage" in out and "bad signature" in out
    lines = (await printed(capsys, monkeypatch, ["dead-letters", "list", "--json"],
                           {"DATABASE_URL": database_url})).splitlines()
    assert len(lines) == 4 * len(consumers)
    assert json.loads(lines[0])["body_sha256"]


async def _has(system: System, case_id: str) -> bool:
    return case_id in await case_ids(system)


async def _caught_up(system: System, head: int) -> bool:
    positions = await tracked(system)
    return bool(positions) and all(p >= head for p in positions.values())


async def _dead_count(system: System, n: int) -> bool:
    return len(await dead_letters(system)) >= n


async def test_events_lost_from_jetstream_are_read_again_from_the_event_store(
        system: System, http: httpx.AsyncClient, admin: Client, token) -> None:
    oss = token("channel", "oss-gw", channel="oss")
    pipeline = system.pipeline
    assert pipeline is not None and pipeline.runner is not None
    first = (await http.post("/applications", json=application("GAP-1"), headers=oss)).json()
    await eventually(lambda: _has(system, first["id"]))

    await pipeline.runner.stop()
    lost = (await http.post("/applications", json=application("GAP-2"), headers=oss)).json()
    kept = (await http.post("/applications", json=application("GAP-3"), headers=oss)).json()
    head = await pipeline.eventlog.head("applications")
    assert system.pool is not None

    async def relayed() -> bool:
        assert system.pool is not None
        return bool(await system.pool.fetchval(
            "SELECT position >= $1 FROM relay_positions WHERE stream = 'applications'", head))
    await eventually(relayed)
    # JetStream loses the second case's messages (a node's disk, a purge by mistake).
    js = admin.jetstream()
    info = await js.stream_info("PTSP_APPLICATIONS")
    removed = 0
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg("PTSP_APPLICATIONS", seq)
        if msg.data and json.loads(msg.data)["case_id"] == lost["id"]:
            await js.delete_msg("PTSP_APPLICATIONS", seq)
            removed += 1
    assert removed >= 1

    await pipeline.runner.start()
    await eventually(lambda: _has(system, kept["id"]))
    assert lost["id"] in await case_ids(system)  # healed from the record, not skipped
    assert pipeline.runner.healed >= removed
    assert await dead_letters(system) == []


# -- Postgres --------------------------------------------------------------------------
async def test_postgres_refuses_a_connection_without_its_password(
        postgres: EmbeddedPostgres) -> None:
    for url in (f"postgresql://postgres@{postgres.host}:{postgres.port}/postgres",
                f"postgresql://postgres:guess@{postgres.host}:{postgres.port}/postgres"):
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(url, timeout=10)
    conn = await asyncpg.connect(postgres.url, timeout=10)
    try:
        rules = await conn.fetch("SELECT type, auth_method FROM pg_hba_file_rules")
        stored = await conn.fetchval(
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'")
    finally:
        await conn.close()
    assert {r["auth_method"] for r in rules} == {"scram-sha-256"}
    assert stored.startswith("SCRAM-SHA-256$")
    password = Path(postgres.keys_dir) / "postgres-password"
    assert password.stat().st_mode & 0o077 == 0
