"""The processes of `ptsp up`: N HTTP workers on one port (a listening socket each, the
kernel spreading connections over them), and one pipeline process (relay, projections,
SLA timers, audit chain).

Why processes: one Python process is bound by its GIL at well under the intake target,
and the pipeline's work would compete with request handling. Every process builds the
same `System`; only its role differs. The parent owns the embedded servers and stops
every child (then Postgres and NATS) on Ctrl-C / SIGTERM, or when any child dies.

Children die with their parent, `kill -9` included: they share one process group of
their own (Ctrl-C reaches the parent, which stops them in order), each asks the kernel
for SIGTERM when its parent dies (PR_SET_PDEATHSIG), and a watchdog thread checks the
parent's pid as well (the kernel's signal is Linux only, and is lost when the parent
dies before the child asked for it). Their pids go to the runtime file, so the next
`ptsp up` finds any that still run (`services.leftovers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # psutil ships no types; no stubs installed

from services.infra.shared_clock import ClockWouldGoBack, starting_clock
from services.leftovers import read_runtime, recorded, write_runtime
from services.ops.environment import ops_environment
from services.settings import Settings

log = logging.getLogger("ptsp")

HTTP, PIPELINE = "http", "pipeline"

Stop = dict[str, int | None]
"""The signal that asked the parent to stop (None: none yet), set by its handler."""


def child_command(role: str, settings: Settings, fd: int | None = None) -> list[str]:
    # The data dir resolved: `services.leftovers` knows a worker by it.
    cmd = [sys.executable, "-m", "services.cli", "_worker", "--role", role,
           "--data-dir", str(settings.data_dir.resolve()), "--port", str(settings.port),
           "--host", settings.host, "--parent", str(os.getpid())]
    if settings.simulated_clock is not None:
        cmd += ["--simulated-clock", settings.simulated_clock.isoformat()]
    if fd is not None:
        cmd += ["--fd", str(fd)]
    return cmd


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """One listening socket per HTTP worker, all on host:port with SO_REUSEPORT: the
    kernel spreads new connections evenly over them. With one shared socket, whichever
    worker woke first accepted a burst of connections (64 clients split 46/18), and the
    busier worker set the tail latency while the other idled.

    A plain bind comes first, so that a port anyone holds (another `ptsp up` included,
    whose sockets would otherwise take a share of ours) fails as it always did."""
    probe = _socket(host, port, reuse_port=False)
    port = probe.getsockname()[1]
    probe.close()
    sockets = [_socket(host, port, reuse_port=True) for _ in range(count)]
    for sock in sockets:
        sock.listen(2048)
        sock.set_inheritable(True)
    return sockets


def _socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def record_parent(runtime: Path, record: dict[str, Any]) -> None:
    """Start the runtime file: the servers' URLs, this `ptsp up`, no workers yet."""
    me = psutil.Process()
    write_runtime(runtime, {**record, **recorded(me), "workers": []})


def _record_worker(runtime: Path | None, pid: int) -> None:
    if runtime is None:
        return
    with contextlib.suppress(psutil.Error):
        record = read_runtime(runtime)
        record["workers"] = [*record.get("workers", []), recorded(psutil.Process(pid))]
        write_runtime(runtime, record)


def run(settings: Settings, db_url: str, nats_url: str, workers: int,
        runtime: Path | None = None) -> int:
    """Start the children, print the ready line once all accept work, and supervise."""
    try:
        settings = asyncio.run(_settle_clock(settings, db_url))
    except ClockWouldGoBack as exc:
        print(f"ptsp up: {exc}. Time in the record never goes backwards: start with "
              f"--simulated-clock {exc.stored.isoformat(timespec='seconds')} or later, or "
              "without --simulated-clock to carry on from there.", file=sys.stderr)
        return 2
    env = {**os.environ, "DATABASE_URL": db_url, "NATS_URL": nats_url,
           **ops_environment(settings)}  # services/ops: metrics of every process, log format
    stop: Stop = {"signal": None}

    def on_signal(signum: int, _frame: object) -> None:
        stop["signal"] = signum

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        sockets = listening_sockets(settings.host, settings.port, workers)
    except OSError as exc:
        print(f"ptsp up: cannot listen on {settings.host}:{settings.port}: {exc.strerror} "
              f"({_port_user(settings.port)})", file=sys.stderr)
        return 1
    children: list[subprocess.Popen[bytes]] = []
    try:
        # One at a time: each creates missing tables on start, and concurrent DDL on the
        # same catalog rows fails in Postgres ("tuple concurrently updated").
        commands = [(child_command(PIPELINE, settings), (), None)] + [
            (child_command(HTTP, settings, sock.fileno()), (sock.fileno(),), sock)
            for sock in sockets]
        for command, fds, handed in commands:
            # One process group for all children, not the terminal's: Ctrl-C reaches the
            # parent alone, which stops them in order.
            group = children[0].pid if children else 0
            child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                     pass_fds=fds, process_group=group)
            children.append(child)
            _record_worker(runtime, child.pid)
            if not _started(child, command[command.index("--role") + 1], stop):
                return 1
            if handed is not None:
                # The worker holds its own copy now. Ours would keep the kernel queueing
                # connections on it should the worker die: a port that accepts and never
                # answers. Closed, a dead worker's share goes to the others.
                handed.close()
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
        for sock in sockets:
            sock.close()


def _started(child: subprocess.Popen[bytes], role: str, stop: Stop) -> bool:
    """Each child prints one line (`... ready`) once it runs, or exits."""
    assert child.stdout is not None
    line = child.stdout.readline()
    if b"ready" not in line or stop["signal"] is not None:
        log.error("a ptsp process could not start: the %s worker", role)
        return False
    return True


def _wait_ready(settings: Settings, children: list[subprocess.Popen[bytes]],
                stop: Stop) -> bool:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and stop["signal"] is None:
        if any(c.poll() is not None for c in children):
            log.error("a ptsp process could not start")
            return False
        with contextlib.suppress(OSError), urllib.request.urlopen(
                f"http://{settings.host}:{settings.port}/health", timeout=1) as r:
            if json.loads(r.read()).get("status") == "ok":
                return True
        time.sleep(0.1)
    return False


def _port_user(port: int) -> str:
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN \
                    and conn.pid:
                proc = psutil.Process(conn.pid)
                return f"pid {conn.pid} listens there: {' '.join(proc.cmdline())[:200]}"
    return "another process listens there"


async def _settle_clock(settings: Settings, db_url: str) -> Settings:
    """The clock every process runs on, from `--simulated-clock` and the stored clock
    (time in the record never goes backwards: `shared_clock.starting_clock`)."""
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        clock, why = await starting_clock(conn, settings.simulated_clock)
    finally:
        await conn.close()
    log.info("ptsp up: %s", why)
    return replace(settings, simulated_clock=clock.now() if clock is not None else None)


# -- inside a child ------------------------------------------------------------------------
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCHDOG_SECONDS = 1.0
ORPHAN_GRACE_SECONDS = 30.0


def die_with_parent(parent: int | None) -> None:
    """Ask for SIGTERM when the parent dies, and watch its pid as well (see the top)."""
    if parent is None:
        return
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if os.getppid() != parent:  # it died before we asked: nobody would tell us
        raise SystemExit(f"ptsp worker: the parent `ptsp up` (pid {parent}) is gone")

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCHDOG_SECONDS)
        log.warning("the parent `ptsp up` (pid %d) is gone; stopping", parent)
        os.kill(os.getpid(), signal.SIGTERM)  # the graceful path, as from the parent
        time.sleep(ORPHAN_GRACE_SECONDS)
        os._exit(1)  # a graceful stop that hangs must not leave an orphan serving

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def worker(role: str, settings: Settings, fd: int | None, parent: int | None = None) -> int:
    import uvloop

    if role == PIPELINE:
        lower_priority(settings.pipeline_nice)  # first: threads started later inherit it
    die_with_parent(parent)
    db_url, nats_url = settings.database_url, settings.nats_url
    assert db_url, "a worker is started with DATABASE_URL"
    if role == PIPELINE:
        uvloop.run(_pipeline(settings, db_url, nats_url))
    else:
        uvloop.run(_http(settings, db_url, nats_url, fd))
    return 0


def lower_priority(nice: int) -> None:
    """This process at `nice` (never raised back if it already runs lower).

    The pipeline's work follows the requests' and may trail them by a moment; a
    request's answer may not. At equal priority, under full load, the pipeline took as
    much CPU as an HTTP worker, woke for every few events and made many small read-model
    transactions. Behind the requests, it runs when they leave the CPU, finds more
    waiting each time and does the same work in larger batches, catching up after the
    load eases; with CPU to spare (the usual case) it runs at once. Measured with
    bench/intake.py (README, "Benchmarks"): intake 1.5-1.8x under wrk's full load, less
    CPU per intake in all, the read models 10-13 s behind at the end of a 20 s burst.
    On Linux the nice value belongs to the thread, and threads inherit it from the one
    that starts them: this runs before the process starts any."""
    try:
        if nice > os.getpriority(os.PRIO_PROCESS, 0):
            os.setpriority(os.PRIO_PROCESS, 0, nice)
    except OSError as exc:  # a sandbox that forbids it: the pipeline runs level, as at 0
        log.warning("the pipeline process could not lower its priority to nice %d (%s); "
                    "it runs level with the HTTP workers", nice, exc)


async def _pipeline(settings: Settings, db_url: str, nats_url: str | None) -> None:
    from services.runtime import System

    system = System.build(settings, db_url, nats_url, with_pipeline=True, with_intake=False)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await system.start()
    settle_heap()
    print("pipeline ready", flush=True)
    try:
        await stopping.wait()
    finally:
        await system.stop()


async def _http(settings: Settings, db_url: str, nats_url: str | None, fd: int | None) -> None:
    import uvicorn

    from services.http.app import create_app
    from services.http.one_write import OneWriteHttpToolsProtocol
    from services.runtime import System

    class Server(uvicorn.Server):
        # The parent supervises signals: uvicorn must not re-raise them after shutdown.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    system = System.build(settings, db_url, nats_url, with_pipeline=False)
    config = uvicorn.Config(create_app(system), log_level="warning", access_log=False,
                            lifespan="on", http=OneWriteHttpToolsProtocol, loop="none",
                            log_config=None)  # uvicorn's loggers in our format (services/ops/logs)
    server = Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    serving = asyncio.create_task(server.serve(sockets=inherited_listener(fd)))
    while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn has no started event
        await asyncio.sleep(0.02)
    if server.started:
        settle_heap()
        print("http ready", flush=True)
    await serving


def settle_heap() -> None:
    """Once a worker has started: what start-up made (modules, the app, its routes and
    models, the calendar) lives as long as the process, so it is moved out of the
    collector's reach (`gc.freeze`). Each full collection then walks what requests
    made, not the whole heap again, and a request that happens to trigger one is not
    held up by it (measured: bench/intake.py, README "Benchmarks")."""
    gc.collect()
    gc.freeze()


def inherited_listener(fd: int | None) -> list[socket.socket] | None:
    """The parent's listening socket, as the TCP socket it is. Not uvicorn's `fd=`:
    uvicorn opens an `fd=` socket as AF_UNIX (`socket.fromfd(fd, AF_UNIX, ...)`), so the
    event loop treats its connections as a pipe's and never sets TCP_NODELAY on them;
    Nagle's algorithm then meets the client's delayed ACK and every request after the
    first on a kept-alive connection waits ~40 ms. `socket.socket(fileno=fd)` reads the
    real family from the descriptor, and uvloop sets TCP_NODELAY on every accepted TCP
    connection (tests/e2e/test_keepalive_latency.py)."""
    return [socket.socket(fileno=fd)] if fd is not None else None


def default_workers() -> int:
    return max(2, min(4, os.cpu_count() or 2))

