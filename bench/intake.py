"""Intake benchmark: durable `POST /applications` per second against two baselines.

    .venv/bin/python -m bench.intake [--requests N] [--concurrency 64] [--rss-requests 100000]

One run, everything on loopback, one global deadline (`--budget`, default 285 s):

1. baselines, on a Postgres of their own (EmbeddedPostgres, same settings as `ptsp up`'s):
   - raw asyncpg: one ~500-byte row per INSERT, each its own transaction (autocommit),
     `--concurrency` connections, then a pool of 10;
   - bare eventsourcing: an `Application` with a trivial aggregate, one new aggregate per
     `save()` (one transaction), 8 threads; and, for reference, 64 aggregates per `save()`
     on one thread (what group commit can reach at best);
2. the system: `ptsp up` (embedded Postgres + NATS) in its own process, driven by a load
   generator in separate process(es) over HTTP/1.1 keep-alive, `--concurrency` clients,
   each request a distinct external_id. A `GET /health` probe (the HTTP layer alone), a
   warm-up, the measured phase (`--requests`), then more submissions until
   `--rss-requests` in all (or the deadline), and the memory of the service, its
   Postgres and its NATS apart. Every phase also reports the cores each part used and
   what else ran on the box (`others`): this machine may be shared.

A submission counts only on `201 Created`, which the service sends after the event-store
transaction has committed (synchronous_commit on, fsync on): durable. The table and the
ratios are printed and written to bench/results/intake-<date>.json. Targets (from the
issue) are reported, never asserted. Every process started here is stopped on exit,
Ctrl-C or error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing as mp
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import psutil

from bench.harness import (
    ChildProcess,
    CpuMeter,
    Deadline,
    Results,
    arguments,
    cpu_line,
    latency_summary,
    percentile,
    pg_cpu,
    proc_cpu,
    profile_path,
    ratio,
    ratios_line,
    raw_stacks,
    run_benchmark,
    start_profiler,
    stop_profiler,
    targets_lines,
)

PTSP = Path(sys.executable).with_name("ptsp")
TARGETS = {
    "submissions_per_s": 1000.0,
    "p99_ms": 100.0,
    "vs_bare_eventsourcing": 2.0,
    "rss_mb_after_100k": 400.0,
}
PAYLOAD_BYTES = 500
REQUEST_TIMEOUT = 15.0


# -- HTTP load generator (runs in its own process) --------------------------------------
def intake_body(external_id: str) -> dict[str, Any]:
    """The intake of tests/e2e/test_application_lifecycle.py, with a distinct id."""
    return {
        "channel": "oss", "external_id": external_id, "service_code": "SS-KBLI-10510",
        "applicant": {"name": "Siti Rahma", "nik": "3214010101800001", "email": "siti@example.id"},
        "business": {"name": "CV Susu Murni", "kbli": "10510", "scale": "kecil",
                     "in_industrial_estate": False, "address": "Jl. Veteran 139, Purwakarta"},
    }


_MARK = "@@EXTERNAL_ID@@"
_BODY_HEAD, _BODY_TAIL = (
    json.dumps(intake_body(_MARK), separators=(",", ":")).encode().split(_MARK.encode()))
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_CONNECTION_CLOSE = re.compile(rb"\r\nconnection:\s*close", re.IGNORECASE)


@dataclass(frozen=True)
class Phase:
    name: str
    method: str  # "POST /applications" or "GET /health"
    requests: int  # at most, for this worker
    seconds: float  # at most
    connections: int
    keep_latencies: bool


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = _CONTENT_LENGTH.search(head)
    if length is None:
        raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
    body = await reader.readexactly(int(length.group(1)))
    return status, body, _CONNECTION_CLOSE.search(head) is not None


class _Tally:
    """What one load-generator process saw during a phase."""

    def __init__(self, phase: Phase, prefix: str) -> None:
        self.phase = phase
        self.prefix = prefix
        self.next = itertools.count()
        self.stop_at = time.monotonic() + phase.seconds
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.sample: bytes | None = None

    def take(self) -> int | None:
        """The number of the next request to send; None when the phase is over."""
        if time.monotonic() >= self.stop_at:
            return None
        i = next(self.next)
        return i if i < self.phase.requests else None

    def body(self, i: int) -> bytes:
        return _BODY_HEAD + f"{self.prefix}-{self.phase.name}-{i}".encode() + _BODY_TAIL

    def answered(self, status: int, body: bytes, elapsed: float) -> None:
        self.statuses[status] += 1
        if self.phase.keep_latencies:
            self.latencies.append(elapsed)
        if self.sample is None:
            self.sample = body[:300]

    def failed(self, exc: BaseException) -> None:
        self.errors[type(exc).__name__] += 1

    async def run(self, connection: Callable[[], Awaitable[None]]) -> dict[str, Any]:
        """`phase.connections` copies of `connection`, timed; the figures of the phase."""
        cpu0, t0 = time.process_time(), time.monotonic()
        await asyncio.gather(*(connection() for _ in range(self.phase.connections)))
        return {"statuses": dict(self.statuses), "errors": dict(self.errors),
                "latencies": self.latencies, "started": t0, "ended": time.monotonic(),
                "cpu": time.process_time() - cpu0,
                "sample": self.sample.decode(errors="replace") if self.sample else None}


async def _drive_raw(host: str, port: int, token: str, prefix: str,
                     phase: Phase) -> dict[str, Any]:
    """Raw asyncio streams: each connection sends one request and waits for its answer
    (closed loop), on one keep-alive connection, until the phase's count or time is up."""
    tally = _Tally(phase, prefix)
    auth = f"Authorization: Bearer {token}\r\n".encode()
    host_header = f"Host: {host}:{port}\r\n".encode()

    def request(i: int) -> bytes:
        if phase.method == "GET /health":
            return b"GET /health HTTP/1.1\r\n" + host_header + b"\r\n"
        body = tally.body(i)
        return (b"POST /applications HTTP/1.1\r\n" + host_header + auth
                + b"Content-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n" + body)

    async def connection() -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        try:
            while (i := tally.take()) is not None:
                if writer is None:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(host, port), REQUEST_TIMEOUT)
                assert reader is not None and writer is not None
                started = time.perf_counter()
                try:
                    writer.write(request(i))
                    status, body, close = await asyncio.wait_for(
                        _read_response(reader), REQUEST_TIMEOUT)
                except (TimeoutError, OSError, asyncio.IncompleteReadError, RuntimeError) as exc:
                    tally.failed(exc)
                    writer.close()
                    reader = writer = None
                    continue
                tally.answered(status, body, time.perf_counter() - started)
                if close:
                    writer.close()
                    reader = writer = None
        finally:
            if writer is not None:
                writer.close()

    return await tally.run(connection)


async def _drive_httpx(host: str, port: int, token: str, prefix: str,
                       phase: Phase) -> dict[str, Any]:
    """The same with httpx.AsyncClient (HTTP/1.1 keep-alive), to compare client cost."""
    import httpx

    tally = _Tally(phase, prefix)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=phase.connections,
                          max_keepalive_connections=phase.connections)
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", limits=limits,
                                 timeout=REQUEST_TIMEOUT) as client:
        async def connection() -> None:
            while (i := tally.take()) is not None:
                started = time.perf_counter()
                try:
                    if phase.method == "GET /health":
                        r = await client.get("/health")
                    else:
                        r = await client.post("/applications", content=tally.body(i),
                                              headers=headers)
                except httpx.HTTPError as exc:
                    tally.failed(exc)
                    continue
                tally.answered(r.status_code, r.content, time.perf_counter() - started)

        return await tally.run(connection)


def load_worker(pipe: Any, host: str, port: int, token: str, prefix: str, client: str) -> None:
    """A load-generator process: runs the phases it is sent, answers with their figures,
    ends on None (or when its parent goes away)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    drive = _drive_raw if client == "raw" else _drive_httpx
    while True:
        if not pipe.poll(600):
            return
        phase = pipe.recv()
        if phase is None:
            return
        pipe.send(asyncio.run(drive(host, port, token, prefix, phase)))


class LoadGenerator:
    """`workers` client processes sharing `concurrency` connections."""

    def __init__(self, host: str, port: int, token: str, concurrency: int, workers: int,
                 client: str) -> None:
        self.concurrency = concurrency
        ctx = mp.get_context("spawn")
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        self.procs: list[Any] = []
        self.pipes: list[Any] = []
        for w in range(workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=load_worker, daemon=True, name=f"load-{w}",
                               args=(child, host, port, token, f"{prefix}-w{w}", client))
            proc.start()
            self.procs.append(proc)
            self.pipes.append(parent)

    def run(self, name: str, method: str, requests: int, seconds: float,
            keep_latencies: bool = True) -> dict[str, Any]:
        n = len(self.procs)
        for w, pipe in enumerate(self.pipes):
            share = requests // n + (1 if w < requests % n else 0)
            conns = self.concurrency // n + (1 if w < self.concurrency % n else 0)
            pipe.send(Phase(name, method, share, seconds, conns, keep_latencies))
        results = []
        for pipe in self.pipes:
            if not pipe.poll(seconds + REQUEST_TIMEOUT + 30):
                raise TimeoutError(f"load generator did not finish phase {name}")
            results.append(pipe.recv())
        statuses: Counter[int] = Counter()
        errors: Counter[str] = Counter()
        latencies: list[float] = []
        for r in results:
            statuses.update(r["statuses"])
            errors.update(r["errors"])
            latencies.extend(r["latencies"])
        wall = max(r["ended"] for r in results) - min(r["started"] for r in results)
        ok_status = 200 if method == "GET /health" else 201
        ok = statuses.get(ok_status, 0)
        out: dict[str, Any] = {
            "phase": name, "requests": sum(statuses.values()), "ok": ok,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "transport_errors": dict(errors), "seconds": round(wall, 3),
            "per_s": round(ok / wall, 1) if wall > 0 else 0.0,
            "client_cpu_cores": round(sum(r["cpu"] for r in results) / wall, 3) if wall else 0,
            "sample_response": next((r["sample"] for r in results if r["sample"]), None),
        }
        if keep_latencies:
            out |= latency_summary(latencies)
        return out

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError, ValueError):
                pipe.send(None)
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)


# -- the system under test: `ptsp up` in a process of its own ----------------------------
class PtspProcess:
    """`ptsp up` on a data dir of its own, and the processes it starts, apart."""

    def __init__(self, data_dir: Path, port: int, extra_env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = port
        self.extra_env = extra_env or {}
        self.child = ChildProcess("ptsp up", data_dir.parent / "ptsp-up.log")
        self.url = ""

    def start(self, timeout: float) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL")}
        env.update(self.extra_env)
        ready = self.child.start(
            [str(PTSP), "up", "--data-dir", str(self.data_dir), "--port", str(self.port)],
            env, timeout, lambda line: line.startswith("ptsp ready "))
        self.url = ready.split()[2]

    @property
    def pid(self) -> int | None:
        return self.child.pid

    def token(self) -> str:
        out = subprocess.run(
            [str(PTSP), "token", "--role", "channel", "--actor", "bench-oss-gateway",
             "--channel", "oss", "--data-dir", str(self.data_dir)],
            check=True, capture_output=True, text=True, timeout=60)
        return out.stdout.strip()

    @property
    def database_url(self) -> str:
        return str(json.loads((self.data_dir / "runtime.json").read_text())["database_url"])

    def postgres_procs(self) -> list[psutil.Process]:
        """pg_ctl detaches Postgres: find the postmaster from its pid file."""
        with contextlib.suppress(OSError, ValueError, psutil.Error):
            pid = int((self.data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[0])
            master = psutil.Process(pid)
            return [master, *master.children(recursive=True)]
        return []

    def service_procs(self) -> tuple[list[psutil.Process], list[psutil.Process]]:
        """(the service: ptsp and its children other than Postgres/NATS, NATS)."""
        assert self.child.pid is not None
        root = psutil.Process(self.child.pid)
        service, nats = [root], []
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                name = child.name()
                if "nats" in name:
                    nats.append(child)
                elif "postgres" not in name and "pg_ctl" not in name:
                    service.append(child)
        return service, nats

    def memory(self) -> dict[str, float]:
        service, nats = self.service_procs()
        mb = 1024 * 1024

        def total(procs: list[psutil.Process], field: str) -> float:
            s = 0
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    s += getattr(p.memory_full_info() if field in ("pss", "uss")
                                 else p.memory_info(), field)
            return round(s / mb, 1)

        return {"service_rss_mb": total(service, "rss"),
                "service_uss_mb": total(service, "uss"),
                "postgres_pss_mb": total(self.postgres_procs(), "pss"),
                "nats_rss_mb": total(nats, "rss")}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds so far of the service, its Postgres and its NATS: a CpuMeter's parts."""
        service, nats = self.service_procs()
        return {"service": sum(proc_cpu(p.pid) for p in service),
                "postgres": pg_cpu(self.data_dir / "postgres"),
                "nats": sum(proc_cpu(p.pid) for p in nats)}

    def stop(self, timeout: float = 40.0) -> dict[str, Any]:
        """SIGTERM and wait; past `timeout`, SIGKILL. Then stop whatever it left behind
        (its Postgres and NATS, found by their pid files)."""
        if self.child.proc is None:
            return {}
        out = self.child.stop(timeout)
        left = []
        if (self.data_dir / "postgres" / "postmaster.pid").exists():
            from services.infra.embedded import EmbeddedPostgres

            EmbeddedPostgres(self.data_dir / "postgres").stop()
            left.append("postgres")
        with contextlib.suppress(OSError, ValueError, psutil.Error):
            nats = psutil.Process(int((self.data_dir / "nats" / "nats.pid").read_text().strip()))
            if "nats-server" in nats.name():
                nats.terminate()
                try:
                    nats.wait(10)
                except psutil.TimeoutExpired:
                    nats.kill()
                left.append("nats")
        if left:
            out["left_running_and_stopped_here"] = left
        return out


def store_stats(database_url: str) -> dict[str, Any]:
    """What the event store holds, and how many commands each transaction carried: rows
    written by one transaction share its xmin."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
        table = "applications_events"
        counted = conn.execute(
            f"SELECT count(*), count(DISTINCT xmin::text) FROM {table}").fetchone()
        assert counted is not None  # an aggregate query answers one row
        rows, txns = counted
        sizes = conn.execute(
            f"SELECT n, count(*) FROM (SELECT count(*) n FROM {table} GROUP BY xmin::text) s "
            "GROUP BY n ORDER BY n").fetchall()
        commits = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    batch_sizes = sorted(itertools.chain.from_iterable([n] * c for n, c in sizes))
    weighted = sorted(itertools.chain.from_iterable([n] * (n * c) for n, c in sizes))
    return {
        "events": rows, "write_transactions": txns,
        "mean_batch": round(rows / txns, 1) if txns else 0,
        "median_batch_by_transaction": percentile(batch_sizes, 50),
        "median_batch_seen_by_a_command": percentile(weighted, 50),
        "max_batch": batch_sizes[-1] if batch_sizes else 0,
        "pg_xact_commit": commits[0] if commits else None,
    }


# -- baselines --------------------------------------------------------------------------
async def raw_asyncpg(url: str, connections: int, seconds: float, warmup: float) -> dict[str, Any]:
    """Single-row INSERT, each its own transaction (autocommit: one round trip, one commit)."""
    import asyncpg

    payload = "x" * (PAYLOAD_BYTES - 16 - 28)  # + a uuid and a short external id ≈ 500 bytes
    conns = [await asyncpg.connect(url, timeout=30) for _ in range(connections)]
    table = f"raw_rows_{connections}"
    try:
        await conns[0].execute(
            f"CREATE TABLE {table} (id uuid PRIMARY KEY, external_id text NOT NULL, "
            "payload text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())")
        counter = itertools.count()
        latencies: list[float] = []
        measuring = {"on": False, "count": 0}

        async def loop(conn: Any, until: float) -> None:
            insert = f"INSERT INTO {table} (id, external_id, payload) VALUES ($1, $2, $3)"
            while time.monotonic() < until:
                i = next(counter)
                started = time.perf_counter()
                await conn.execute(insert, uuid.uuid4(), f"raw-{i:012d}", payload)
                if measuring["on"]:
                    latencies.append(time.perf_counter() - started)
                    measuring["count"] += 1

        until = time.monotonic() + warmup + seconds
        tasks = [asyncio.create_task(loop(c, until)) for c in conns]
        await asyncio.sleep(warmup)
        measuring["on"] = True
        cpu0, t0 = time.process_time(), time.monotonic()
        await asyncio.gather(*tasks)
        wall = time.monotonic() - t0
        row_bytes = await conns[0].fetchval(
            f"SELECT avg(pg_column_size({table}.*))::int FROM {table}")
        return {"rows": measuring["count"], "seconds": round(wall, 3),
                "per_s": round(measuring["count"] / wall, 1), "row_bytes": row_bytes,
                "client_cpu_cores": round((time.process_time() - cpu0) / wall, 3),
                "connections": connections} | latency_summary(latencies)
    finally:
        for c in conns:
            with contextlib.suppress(Exception):
                await c.close(timeout=5)


_BARE: tuple[Any, Any] | None = None


def _bare_classes() -> tuple[Any, Any]:
    """A trivial aggregate and a bare Application, defined once (eventsourcing refuses a
    second class under the same topic)."""
    global _BARE
    if _BARE is None:
        from eventsourcing.application import Application
        from eventsourcing.domain import Aggregate

        class Note(Aggregate):
            def __init__(self, text: str) -> None:
                self.text = text

        class Notes(Application[UUID]):
            name = "notes"

        _BARE = (Note, Notes)
    return _BARE


def bare_eventsourcing(url: str, threads: int, seconds: float, warmup: float,
                       per_save: int = 1) -> dict[str, Any]:
    """eventsourcing alone: `threads` threads, each saving `per_save` new aggregates per
    `save()` (one transaction), as fast as it can."""
    from services.infra.store import eventsourcing_env

    Note, Notes = _bare_classes()
    app = Notes(env=eventsourcing_env(url, pool_size=max(5, threads)))
    text = "x" * 300  # the stored event (topic, timestamp, state) comes to ~500 bytes
    lock = threading.Lock()
    state = {"measuring": False, "saved": 0, "failed": 0}
    latencies: list[float] = []
    until = time.monotonic() + warmup + seconds

    def work() -> None:
        while time.monotonic() < until:
            notes = [Note(text) for _ in range(per_save)]
            started = time.perf_counter()
            try:
                app.save(*notes)
            except Exception:  # noqa: BLE001 - counted, the run goes on
                with lock:
                    state["failed"] += 1
                continue
            elapsed = time.perf_counter() - started
            with lock:
                if state["measuring"]:
                    state["saved"] += per_save
                    latencies.append(elapsed)

    try:
        workers = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
        for w in workers:
            w.start()
        time.sleep(warmup)
        with lock:
            state["measuring"] = True
        t0 = time.monotonic()
        for w in workers:
            w.join(seconds + REQUEST_TIMEOUT + 30)
        wall = time.monotonic() - t0
        recorder = app.recorder
        event_bytes = None
        with contextlib.suppress(Exception), recorder.datastore.get_connection() as conn, \
                conn.cursor() as cur:
            cur.execute(f"SELECT avg(length(state))::int FROM {recorder.events_table_name}")
            event_bytes = cur.fetchone()["avg"]
        return {"aggregates": state["saved"], "seconds": round(wall, 3),
                "per_s": round(state["saved"] / wall, 1), "threads": threads,
                "aggregates_per_save": per_save, "failed_saves": state["failed"],
                "event_state_bytes": event_bytes} | latency_summary(latencies)
    finally:
        app.close()


def _measure_cpu(pgdata: Path, baseline: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a baseline; add the cores it used (this process, Postgres) and what else ran."""
    meter = CpuMeter(lambda: {"bench_process": proc_cpu(os.getpid()), "postgres": pg_cpu(pgdata)})
    meter.start()
    result = baseline()
    # Closed backends get reaped (and counted) by the postmaster.
    result["cpu"] = meter.stop(settle=0.5)
    return result


def run_baselines(args: argparse.Namespace, deadline: Deadline, workdir: Path,
                  results: dict[str, Any]) -> None:
    from services.infra.embedded import EmbeddedPostgres

    pg = EmbeddedPostgres(workdir / "baseline-pg")
    print("baselines: starting a separate embedded Postgres ...", flush=True)
    try:
        pg.start()
        secs, warm = args.baseline_seconds, 1.0
        reserve = args.system_reserve
        deadline.check("raw asyncpg")
        print(f"baseline 1: raw asyncpg INSERT+COMMIT, {args.concurrency} connections ...",
              flush=True)
        results["raw_asyncpg"] = _measure_cpu(pg.pgdata, lambda: asyncio.run(raw_asyncpg(
            pg.url, args.concurrency, deadline.allow(secs, reserve), warm)))
        deadline.check("raw asyncpg, pool of 10")
        print("baseline 1b: raw asyncpg INSERT+COMMIT, 10 connections ...", flush=True)
        results["raw_asyncpg_10"] = _measure_cpu(pg.pgdata, lambda: asyncio.run(raw_asyncpg(
            pg.url, 10, deadline.allow(secs / 2, reserve), warm)))
        deadline.check("bare eventsourcing")
        print("baseline 2: bare eventsourcing, one aggregate per save(), 8 threads ...",
              flush=True)
        results["bare_eventsourcing"] = _measure_cpu(pg.pgdata, lambda: bare_eventsourcing(
            pg.url, 8, deadline.allow(secs, reserve), warm))
        deadline.check("bare eventsourcing, batched")
        print("reference: bare eventsourcing, 64 aggregates per save(), 1 thread ...",
              flush=True)
        results["bare_eventsourcing_batch64"] = _measure_cpu(pg.pgdata, lambda: bare_eventsourcing(
            pg.url, 1, deadline.allow(secs / 2, reserve), warm, per_save=64))
    finally:
        pg.stop()


# -- the system -------------------------------------------------------------------------
# Where the service's GIL time goes, from py-spy's raw stacks: the first matching part of
# the project wins; otherwise the deepest frame of a known layer decides.
_PARTS: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    # (name, any of these frames in the stack, and then any of these)
    ("store write thread: psycopg parameter dumping", ("GroupCommitter._write",),
     ("ListDumper", "_dump_text_sequence", "PostgresQuery.dump")),
    ("store write thread: events -> JSON (Mapper, JSONTranscoder)", ("GroupCommitter._write",),
     ("Mapper.to_stored_event", "JSONTranscoder")),
    ("store write thread: psycopg protocol, pool, transaction", ("GroupCommitter._write",
                                                                 "Application.save"), ("",)),
    ("relay (event store -> JetStream)", ("services/infra/relay.py",), ("",)),
    ("projections (JetStream -> read models)", ("projections/",), ("",)),
    ("NATS intake listener", ("services/intake/",), ("",)),
    ("POST handler body (aggregate, domain, enqueue)", ("Intake.take",
                                                        "ApplicationService.submit"), ("",)),
    ("auth dependency (token check)", ("provide_actor", "http/auth.py"), ("",)),
    ("NATS client (read loop, parser)", ("nats/",), ("",)),
    ("asyncpg (other)", ("asyncpg/",), ("",)),
    ("other executor-thread work", ("concurrent/futures/thread.py",), ("",)),
]
_LAYERS = [
    ("HTTP server: uvicorn + h11", ("h11/", "uvicorn/")),
    ("Litestar: routing, DI (anyio task group), body decode, response",
     ("litestar/", "anyio/", "msgspec", "weakref.py")),
    ("asyncio event loop + socket calls", ("asyncio/", "selectors.py")),
]


def profile_breakdown(path: Path) -> dict[str, float]:
    counts: Counter[str] = Counter()
    for stack, n in raw_stacks(path):
        part = next((name for name, first, then in _PARTS
                     if any(f in stack for f in first) and any(t in stack for t in then)), None)
        if part is None:
            frames = stack.split(";")[1:]
            part = next((name for fr in reversed(frames) for name, keys in _LAYERS
                         if any(k in fr for k in keys)), "other")
        counts[part] += n
    total = sum(counts.values()) or 1
    return {k: round(100 * v / total, 1) for k, v in counts.most_common()}


def run_system(args: argparse.Namespace, deadline: Deadline, workdir: Path,
               results: dict[str, Any]) -> None:
    from services.infra.embedded import free_port

    # The per-channel intake rate limit (PTSP_INTAKE_RATE, 50/s by default) would measure
    # the limiter, not the system: the benchmark lifts it, and says so in the JSON.
    env = {"PTSP_INTAKE_RATE": str(args.intake_rate), "PTSP_INTAKE_BURST": str(args.intake_burst)}
    ptsp = PtspProcess(workdir / "ptsp", free_port(), env)
    load: LoadGenerator | None = None
    profiler: subprocess.Popen[bytes] | None = None
    system: dict[str, Any] = {"client": args.client, "client_processes": args.workers,
                              "concurrency": args.concurrency, "ptsp_env": env}
    results["system"] = system
    completed = False
    try:
        deadline.check("ptsp up")
        print("system: ptsp up (embedded Postgres + NATS) ...", flush=True)
        t0 = time.monotonic()
        ptsp.start(timeout=deadline.allow(120, 30))
        system["startup_s"] = round(time.monotonic() - t0, 2)
        token = ptsp.token()
        host, port = "127.0.0.1", ptsp.port
        system["memory_idle"] = ptsp.memory()
        load = LoadGenerator(host, port, token, args.concurrency, args.workers, args.client)
        reserve = 35.0  # memory figures, store statistics, stopping ptsp (<= 20 s) and the rest

        deadline.check("GET /health probe")
        print("  GET /health probe (the HTTP layer alone, system idle) ...", flush=True)
        system["health_probe"] = load.run("health", "GET /health", 10**9,
                                          deadline.allow(3, reserve + 30))

        print(f"  warm-up: {args.warmup} submissions ...", flush=True)
        warm = load.run("warmup", "POST /applications", args.warmup,
                        deadline.allow(60, reserve + 30))
        system["warmup"] = warm
        if warm["ok"] == 0:
            raise RuntimeError(f"no submission accepted during warm-up: {warm}")

        deadline.check("measured phase")
        seconds = deadline.allow(args.measure_seconds, reserve + 15)
        print(f"  measured: {args.requests} submissions, {args.concurrency} clients "
              f"(at most {seconds:.0f}s) ...", flush=True)
        if args.profile and ptsp.pid is not None:
            profile_out = profile_path("intake", "")
            profiler = start_profiler(ptsp.pid, min(seconds, 20), profile_out, rate=200,
                                      options=("--threads", "--gil"))
            if profiler is not None:
                system["profile"] = str(profile_out)
        meter = CpuMeter(ptsp.cpu_seconds)
        meter.start()
        measured = load.run("measured", "POST /applications", args.requests, seconds)
        measured["cpu"] = meter.stop(also={"client": measured["client_cpu_cores"]})
        system["measured"] = measured
        system["store_after_measured"] = store_stats(ptsp.database_url)
        system["memory_after_measured"] = ptsp.memory()
        if profiler is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                profiler.wait(30)
            with contextlib.suppress(OSError):
                system["profile_gil_share_pct"] = profile_breakdown(Path(system["profile"]))

        done = sum(system[k]["ok"] for k in ("warmup", "measured"))
        remaining = max(0, args.rss_requests - done)
        seconds = deadline.allow(10**6, reserve)
        if remaining:
            print(f"  memory run: {remaining} more submissions to {args.rss_requests} "
                  f"(at most {seconds:.0f}s) ...", flush=True)
            meter.start()
            rss_run = load.run("rss", "POST /applications", remaining, seconds,
                               keep_latencies=False)
            rss_run["cpu"] = meter.stop(also={"client": rss_run["client_cpu_cores"]})
            system["rss_run"] = rss_run
            done += rss_run["ok"]
        system["submissions_total"] = done
        system["rss_requests_reached"] = done >= args.rss_requests
        system["memory_final"] = ptsp.memory()
        system["store_final"] = store_stats(ptsp.database_url)
        completed = True
    finally:
        stop_profiler(profiler)
        if load is not None:
            load.close()
        print("  stopping ptsp (SIGTERM) ...", flush=True)
        system["shutdown"] = ptsp.stop(timeout=20)
        if "killed_after_s" in system["shutdown"] or not completed:
            system["ptsp_log_tail"] = ptsp.child.log_tail()


# -- report -----------------------------------------------------------------------------
def report(results: Results, args: argparse.Namespace) -> str:
    system = results.get("system", {})
    m = system.get("measured", {})
    raw, raw10, es, es64 = (results.get(k, {}) for k in (
        "raw_asyncpg", "raw_asyncpg_10", "bare_eventsourcing", "bare_eventsourcing_batch64"))
    mem = system.get("memory_final", {})
    total = system.get("submissions_total", 0)

    sys_rate = m.get("per_s")
    ratios = {"system_vs_raw_asyncpg": ratio(sys_rate, raw.get("per_s")),
              "system_vs_raw_asyncpg_pool10": ratio(sys_rate, raw10.get("per_s")),
              "system_vs_bare_eventsourcing": ratio(sys_rate, es.get("per_s")),
              "system_vs_bare_eventsourcing_batch64": ratio(sys_rate, es64.get("per_s"))}
    results["ratios"] = ratios
    vs_bare = ratios["system_vs_bare_eventsourcing"]
    results["targets"] = {
        "submissions_per_s": {"target": f">= {TARGETS['submissions_per_s']:.0f}",
                              "measured": sys_rate,
                              "met": bool(sys_rate and sys_rate >= TARGETS["submissions_per_s"])},
        "p99_ms": {"target": f"<= {TARGETS['p99_ms']:.0f}", "measured": m.get("p99_ms"),
                   "met": bool(m.get("p99_ms") is not None and m["p99_ms"] <= TARGETS["p99_ms"])},
        "vs_bare_eventsourcing": {
            "target": f">= {TARGETS['vs_bare_eventsourcing']}x", "measured": vs_bare,
            "met": bool(vs_bare and vs_bare >= TARGETS["vs_bare_eventsourcing"])},
        "rss_mb": {"target": f"< {TARGETS['rss_mb_after_100k']:.0f} after 100,000",
                   "measured": mem.get("service_rss_mb"), "after_submissions": total,
                   "met": bool(mem.get("service_rss_mb") is not None
                               and mem["service_rss_mb"] < TARGETS["rss_mb_after_100k"]
                               and total >= 100_000)},
    }

    def row(name: str, r: dict[str, Any], unit: str, extra: str = "") -> str:
        if not r:
            return f"{name:<44} {'(not run)':>10}"
        lat = " ".join(f"{r[k]:>8.1f}" if k in r else f"{'-':>8}"
                       for k in ("p50_ms", "p95_ms", "p99_ms"))
        return f"{name:<44} {r.get('per_s', 0):>10,.0f} {unit:<13}{lat}  {extra}"

    lines = [
        "",
        f"{'':<44} {'rate':>10} {'':<13}{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}",
        row(f"system: POST /applications ({args.concurrency} clients)", m, "durable/s",
            f"client {m.get('client_cpu_cores', 0):.2f} cores"),
        row("  (sustained, in the memory run)", system.get("rss_run", {}), "durable/s",
            f"client {system.get('rss_run', {}).get('client_cpu_cores', 0):.2f} cores"),
        row("  (GET /health, same client: HTTP layer)", system.get("health_probe", {}), "req/s"),
        row(f"raw asyncpg INSERT+COMMIT ({raw.get('connections', args.concurrency)} conns)",
            raw, "rows/s", f"row {raw.get('row_bytes', '?')} B"),
        row("raw asyncpg INSERT+COMMIT (10 conns)", raw10, "rows/s"),
        row("bare eventsourcing, 1 aggregate/save, 8 thr", es, "saves/s",
            f"event {es.get('event_state_bytes', '?')} B"),
        row("  (reference: 64 aggregates/save, 1 thread)", es64, "aggregates/s"),
        "",
        ratios_line(ratios),
    ]
    disturbed = {name: r["cpu"]["others_cores"] for name, r in
                 (("raw asyncpg", raw), ("raw asyncpg 10", raw10), ("bare eventsourcing", es),
                  ("batched eventsourcing", es64)) if r.get("cpu")}
    if disturbed:
        lines.append("other load on the box during the baselines (cores): " + ", ".join(
            f"{k} {v}" for k, v in disturbed.items()))
    if system.get("shutdown", {}).get("killed_after_s"):
        lines.append(f"NOTE: ptsp did not stop within {system['shutdown']['killed_after_s']}s of "
                     "SIGTERM: killed, its Postgres/NATS stopped here (log tail in the JSON)")
    if m:
        cpu = m.get("cpu", {})
        store = system.get("store_after_measured", {})
        if m.get("ok") != m.get("requests"):
            lines.append(f"WARNING: not every request was accepted: {m.get('statuses')} (429: "
                         "the intake rate limit; see --intake-rate)")
        lines += [
            f"measured phase: {m.get('ok')} of {m.get('requests')} in {m.get('seconds')}s, "
            f"statuses {m.get('statuses')}, transport errors {m.get('transport_errors') or 0}",
            "CPU (cores) during it: " + cpu_line(cpu),
            f"group commit: {store.get('events')} events in {store.get('write_transactions')} "
            f"transactions, mean batch {store.get('mean_batch')}, median batch a command "
            f"rode in {store.get('median_batch_seen_by_a_command')}, max {store.get('max_batch')}",
        ]
    if system.get("profile_gil_share_pct"):
        lines.append("where the service's GIL time went (py-spy --gil; the profiler slows the "
                     "run):")
        lines += [f"  {v:5.1f}%  {k}" for k, v in system["profile_gil_share_pct"].items()]
    if mem:
        reached = "" if system.get("rss_requests_reached") else (
            f"  (NOT {args.rss_requests:,}: the deadline came first)")
        lines.append(
            f"memory after {total:,} submissions{reached}: service RSS "
            f"{mem.get('service_rss_mb')} MB (USS {mem.get('service_uss_mb')}), idle was "
            f"{system.get('memory_idle', {}).get('service_rss_mb')} MB; Postgres PSS "
            f"{mem.get('postgres_pss_mb')} MB, NATS RSS {mem.get('nats_rss_mb')} MB")
    lines += targets_lines(results["targets"], 24)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = arguments("intake", __doc__ or "", 285,
                  "py-spy (--gil) the service during the measured phase: raw stacks to "
                  "results/ and a breakdown by part (perturbs the figures)")
    p.add_argument("--requests", type=int, default=30_000,
                   help="submissions in the measured phase (default 30,000)")
    p.add_argument("--concurrency", type=int, default=64, help="concurrent clients (64)")
    p.add_argument("--rss-requests", type=int, default=100_000,
                   help="submissions in all before the memory figure (default 100,000)")
    p.add_argument("--warmup", type=int, default=3_000, help="warm-up submissions (3,000)")
    p.add_argument("--measure-seconds", type=float, default=40,
                   help="the measured phase stops after this even if short of --requests")
    p.add_argument("--baseline-seconds", type=float, default=6,
                   help="per baseline (6; the pool-of-10 and batched ones take half)")
    p.add_argument("--workers", type=int, default=1, help="load-generator processes (1)")
    p.add_argument("--client", choices=("raw", "httpx"), default="raw",
                   help="raw asyncio streams (default) or httpx.AsyncClient")
    p.add_argument("--intake-rate", type=float, default=1e6,
                   help="PTSP_INTAKE_RATE for the system (default 1e6: the limit lifted)")
    p.add_argument("--intake-burst", type=int, default=1_000_000,
                   help="PTSP_INTAKE_BURST for the system (default 1e6)")
    p.add_argument("--skip-baselines", action="store_true")
    p.add_argument("--skip-system", action="store_true")
    args = p.parse_args(argv)
    args.system_reserve = 0.0 if args.skip_system else 150.0

    def phases(deadline: Deadline, workdir: Path, results: Results) -> None:
        if not args.skip_baselines:
            run_baselines(args, deadline, workdir, results)
        if not args.skip_system:
            run_system(args, deadline, workdir, results)

    return run_benchmark("intake", args, TARGETS, phases, lambda results: report(results, args))


if __name__ == "__main__":
    raise SystemExit(main())
