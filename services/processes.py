"""The processes of `ptsp up`: N HTTP workers sharing one listening socket, and one
pipeline process (relay, projections, SLA timers, audit chain).

Why processes: one Python process is bound by its GIL at well under the intake target,
and the pipeline's work would compete with request handling. Every process builds the
same `System`; only its role differs. The parent owns the embedded servers and stops
every child (then Postgres and NATS) on Ctrl-C / SIGTERM, or when any child dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

from services.settings import Settings

log = logging.getLogger("ptsp")

HTTP, PIPELINE = "http", "pipeline"


def child_command(role: str, settings: Settings, fd: int | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "services.cli", "_worker", "--role", role,
           "--data-dir", str(settings.data_dir), "--port", str(settings.port),
           "--host", settings.host]
    if settings.simulated_clock is not None:
        cmd += ["--simulated-clock", settings.simulated_clock.isoformat()]
    if fd is not None:
        cmd += ["--fd", str(fd)]
    return cmd


def listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run(settings: Settings, db_url: str, nats_url: str, workers: int) -> int:
    """Start the children, print the ready line once all accept work, and supervise."""
    if settings.simulated_clock is not None:
        asyncio.run(_publish_clock(settings, db_url))
    env = {**os.environ, "DATABASE_URL": db_url, "NATS_URL": nats_url}
    stop = {"signal": None}

    def on_signal(signum: int, _frame: object) -> None:
        stop["signal"] = signum

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    sock = listening_socket(settings.host, settings.port)
    children: list[subprocess.Popen[bytes]] = []
    try:
        # One at a time: each creates missing tables on start, and concurrent DDL on the
        # same catalog rows fails in Postgres ("tuple concurrently updated").
        commands = [child_command(PIPELINE, settings)] + [
            child_command(HTTP, settings, sock.fileno()) for _ in range(workers)]
        for command in commands:
            child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                     pass_fds=(sock.fileno(),), start_new_session=True)
            children.append(child)
            if not _started(child, stop):
                return 1
        if not _wait_ready(settings, children, stop):
            return 1
        print(f"ptsp ready http://{settings.host}:{settings.port}", flush=True)
        while stop["signal"] is None:
            dead = [c for c in children if c.poll() is not None]
            if dead:
                log.error("a ptsp process exited (status %s); stopping everything",
                          dead[0].returncode)
                return 1
            time.sleep(0.2)
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        sock.close()


def _started(child: subprocess.Popen[bytes], stop: dict[str, object]) -> bool:
    """Each child prints one line (`... ready`) once it runs, or exits."""
    assert child.stdout is not None
    line = child.stdout.readline()
    if b"ready" not in line or stop["signal"] is not None:
        log.error("a ptsp process could not start: %s", " ".join(child.args[3:6]))
        return False
    return True


def _wait_ready(settings: Settings, children: list[subprocess.Popen[bytes]],
                stop: dict[str, object]) -> bool:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and stop["signal"] is None:
        if any(c.poll() is not None for c in children):
            log.error("a ptsp process could not start")
            return False
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://{settings.host}:{settings.port}/health",
                                        timeout=1) as r:
                if json.loads(r.read()).get("status") == "ok":
                    return True
        time.sleep(0.1)
    return False


async def _publish_clock(settings: Settings, db_url: str) -> None:
    """`ptsp up --simulated-clock` defines the clock for every process it starts."""
    import asyncpg

    from services.domain.clock import SimulatedClock
    from services.infra import shared_clock

    assert settings.simulated_clock is not None
    conn = await asyncpg.connect(db_url)
    try:
        await shared_clock.publish(conn, SimulatedClock(settings.simulated_clock), replace=True)
    finally:
        await conn.close()


# -- inside a child ------------------------------------------------------------------------
def worker(role: str, settings: Settings, fd: int | None) -> int:
    import uvloop

    db_url, nats_url = settings.database_url, settings.nats_url
    assert db_url, "a worker is started with DATABASE_URL"
    if role == PIPELINE:
        uvloop.run(_pipeline(settings, db_url, nats_url))
    else:
        uvloop.run(_http(settings, db_url, nats_url, fd))
    return 0


async def _pipeline(settings: Settings, db_url: str, nats_url: str | None) -> None:
    from services.runtime import System

    system = System.build(settings, db_url, nats_url, with_pipeline=True, with_intake=False)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await system.start()
    print("pipeline ready", flush=True)
    try:
        await stopping.wait()
    finally:
        await system.stop()


async def _http(settings: Settings, db_url: str, nats_url: str | None, fd: int | None) -> None:
    import uvicorn

    from services.http.app import create_app
    from services.runtime import System

    class Server(uvicorn.Server):
        # The parent supervises signals: uvicorn must not re-raise them after shutdown.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    system = System.build(settings, db_url, nats_url, with_pipeline=False)
    config = uvicorn.Config(create_app(system), fd=fd, log_level="warning", access_log=False,
                            lifespan="on", http="httptools", loop="none")
    server = Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():
        await asyncio.sleep(0.02)
    if server.started:
        print("http ready", flush=True)
    await serving


def default_workers() -> int:
    return max(2, min(4, os.cpu_count() or 2))

