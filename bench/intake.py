"""Intake benchmark: the issue's load, from outside, against a raw baseline in the same run.

    .venv/bin/python -m bench.intake [--seconds 20] [--connections 64] [--profile]

One run, everything on loopback, one global deadline (`--budget`, default 200 s):

1. `ptsp up` as an operator starts it (default workers: 2 HTTP workers and the pipeline
   process, with the relay, the projections and the audit chain live), on an embedded
   Postgres and NATS of its own, the intake rate limit raised through its documented
   settings (PTSP_INTAKE_RATE, PTSP_INTAKE_BURST);
2. the baseline, on the same Postgres while the system idles: a raw asyncpg loop of
   single-row INSERT + COMMIT (autocommit: one round trip, one commit each) of a
   ~500-byte row on ONE connection;
3. `POST /applications` with wrk: `--connections` kept-alive connections for `--seconds`,
   every request a distinct applicant (a distinct NIK, so a new personal-data subject
   each) and a distinct external id, after a short warm-up; then the same for
   `POST /complaints` (a complainant with a NIK: a complaint, not a suggestion);
4. the baseline again (the ratio is taken against the mean of both: the box is shared);
5. how long after the load stops the relay and every read model have caught up (the
   pipeline runs behind the requests: PTSP_PIPELINE_NICE), the CPU each process spent on
   the phase's requests including that catch-up, and whether every 2xx is in the event
   store.

During each wrk phase the CPU of each process is read: every HTTP worker, the pipeline,
Postgres (the postmaster, its backends, and those that exited), NATS, wrk, and what else
ran on the box (`others`). wrk (Debian package `wrk`) must be installed
(`apt-get install wrk`). `--profile` samples one HTTP worker with py-spy during the
applications phase, or the complaints one with `--profile-kind complaints`
(`.venv/bin/pip install py-spy`; it slows the run).

A request counts only on 2xx: 201 comes after the event-store transaction has committed
(synchronous_commit on, fsync on): durable. Targets (issue 11) are reported, never
asserted: ≥ 0.35× the baseline, p99 ≤ 100 ms, zero non-2xx, for both case types.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from bench.harness import (
    ROOT,
    ChildProcess,
    Deadline,
    Results,
    arguments,
    pg_cpu,
    profile_path,
    ratio,
    raw_stacks,
    run_benchmark,
    start_profiler,
    stop_profiler,
)

TARGETS = {"vs_raw_insert_commit": 0.35, "p99_ms": 100.0, "non_2xx": 0}
PAYLOAD_BYTES = 500
WRK_TIMEOUT = "10s"  # a slow answer is measured, not dropped as a timeout


# -- the load: wrk, with a Lua script that makes every body distinct ----------------------
def wrk_script(kind: str, token: str, run: str, today: str) -> str:
    """wrk's Lua: a distinct external id and NIK per request; each thread counts the
    statuses it saw; `done` prints one JSON line (`WRK_JSON {...}`) for this script."""
    if kind == "applications":
        body = ('{"channel":"oss","external_id":"%s","service_code":"SS-KBLI-10510",'
                '"applicant":{"name":"Pemohon %s","nik":"%s","email":"p%s@example.id"},'
                '"business":{"name":"CV %s","kbli":"10510","scale":"kecil",'
                '"in_industrial_estate":false,"address":"Jl. Veteran 139, Purwakarta"}}')
        fill = "ext, n, nik, n, n"
    else:
        body = ('{"channel":"whatsapp","external_id":"%s","complainant":{"name":"Pelapor %s",'
                '"nik":"%s","phone":"081234567890"},"subject_matter":"Antrean loket MPP",'
                '"description":"Antrean %s terlalu lama","service_received_on":"'
                + today + '"}')
        fill = "ext, n, nik, n"
    return f"""
local threads = {{}}
local token = "{token}"
local run = "{run}"

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  statuses = {{}}
  wrk.method = "POST"
  wrk.path = "/{kind}"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local n = string.format("%02d%09d", tid, counter)
  local ext = run .. "-" .. n
  -- 16 digits: "32", the run's 3, the thread's 2, the counter's 9
  local nik = "32" .. string.sub(run, -3) .. n
  return wrk.format(nil, nil, nil, string.format('{body}', {fill}))
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total, parts = {{}}, {{}}
  for _, t in ipairs(threads) do
    for code, count in pairs(t:get("statuses")) do
      total[code] = (total[code] or 0) + count
    end
  end
  for code, count in pairs(total) do
    parts[#parts + 1] = string.format('"%d":%d', code, count)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {{"duration_us":%d,"requests":%d,"statuses":{{%s}},' ..
    '"errors":{{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}},' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%d}}\\n',
    summary.duration, summary.requests, table.concat(parts, ","),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


def run_wrk(url: str, script: Path, seconds: float, connections: int,
            threads: int) -> tuple[dict[str, Any], subprocess.Popen[str]]:
    """Start wrk; the caller meters CPU meanwhile and then calls `wrk_result`."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed: `apt-get install wrk` (Debian package)")
    proc = subprocess.Popen(
        [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
         "--timeout", WRK_TIMEOUT, "-s", str(script), url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return {"connections": connections, "threads": threads, "seconds": seconds}, proc


def wrk_result(meta: dict[str, Any], proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=meta["seconds"] + 60)
    line = next((x for x in out.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result (exit {proc.returncode}):\n{out[-2000:]}")
    r = json.loads(line.removeprefix("WRK_JSON "))
    wall = r["duration_us"] / 1e6
    statuses = Counter({int(k): v for k, v in r["statuses"].items()})
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
    errors = {k: v for k, v in r["errors"].items() if v and k != "status"}
    return meta | {
        "requests": r["requests"], "ok_2xx": ok, "non_2xx": r["requests"] - ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "socket_errors": errors, "wall_s": round(wall, 2),
        "per_s": round(ok / wall, 1) if wall else 0.0,
        **{f"{q}_ms": round(r[f"{q}_us"] / 1000, 2) for q in ("p50", "p90", "p99", "max")},
        "mean_ms": round(r["mean_us"] / 1000, 2),
    }


# -- the baseline -------------------------------------------------------------------------
async def raw_insert_commit(url: str, seconds: float) -> dict[str, Any]:
    """Single-row INSERT, each its own transaction (autocommit), on ONE connection."""
    import asyncpg

    payload = "x" * (PAYLOAD_BYTES - 16 - 28)  # + a uuid and a short external id ≈ 500 B
    conn = await asyncpg.connect(url, timeout=30)
    table = f"bench_raw_{uuid.uuid4().hex[:8]}"
    try:
        await conn.execute(f"CREATE TABLE {table} (id uuid PRIMARY KEY, external_id text "
                           "NOT NULL, payload text NOT NULL, created_at timestamptz NOT NULL "
                           "DEFAULT now())")
        insert = f"INSERT INTO {table} (id, external_id, payload) VALUES ($1, $2, $3)"
        for i in range(200):  # warm: the plan, the connection, the table's first pages
            await conn.execute(insert, uuid.uuid4(), f"warm-{i}", payload)
        latencies: list[float] = []
        n, t0 = 0, time.monotonic()
        until = t0 + seconds
        while time.monotonic() < until:
            started = time.perf_counter()
            await conn.execute(insert, uuid.uuid4(), f"raw-{n:012d}", payload)
            latencies.append(time.perf_counter() - started)
            n += 1
        wall = time.monotonic() - t0
        latencies.sort()
        return {"rows": n, "seconds": round(wall, 2), "per_s": round(n / wall, 1),
                "p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
                "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3)}
    finally:
        with contextlib.suppress(Exception):
            await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.close()


# -- the system under test ------------------------------------------------------------------
class Ptsp:
    """`ptsp up` from this tree (python -m services.cli, so the tree the benchmark sits in
    is the one measured), on a data dir of its own."""

    def __init__(self, data_dir: Path, port: int, env: dict[str, str],
                 flags: list[str]) -> None:
        self.data_dir, self.port, self.env, self.flags = data_dir, port, env, flags
        self.child = ChildProcess("ptsp up", data_dir.parent / "ptsp-up.log")

    def cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "services.cli", *args, "--data-dir", str(self.data_dir)]

    def start(self, timeout: float) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL")}
        ready = self.child.start(self.cli("up", "--port", str(self.port), *self.flags),
                                 env | self.env, timeout,
                                 lambda line: line.startswith("ptsp ready "), cwd=ROOT)
        return ready.split()[2]

    def token(self, channel: str) -> str:
        out = subprocess.run(
            self.cli("token", "--role", "channel", "--actor", f"bench-{channel}",
                     "--channel", channel), cwd=ROOT, check=True, capture_output=True,
            text=True, timeout=60)
        return out.stdout.strip()

    @property
    def database_url(self) -> str:
        return str(json.loads((self.data_dir / "runtime.json").read_text())["database_url"])

    def processes(self) -> dict[str, psutil.Process]:
        """Each part by name: http-1, http-2, pipeline, up (the supervisor), nats."""
        assert self.child.pid is not None
        root = psutil.Process(self.child.pid)
        parts = {"up": root}
        n = 0
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                cmd = " ".join(child.cmdline())
                if "nats-server" in child.name() or "nats-server" in cmd:
                    parts["nats"] = child
                elif "--role http" in cmd:
                    n += 1
                    parts[f"http-{n}"] = child
                elif "--role pipeline" in cmd:
                    parts["pipeline"] = child
        return parts

    def stop(self) -> dict[str, Any]:
        out = self.child.stop(30)
        # Whatever it left (a killed `ptsp up`): its Postgres and NATS, by their pid files.
        if (self.data_dir / "postgres" / "postmaster.pid").exists():
            from services.infra.embedded import EmbeddedPostgres

            EmbeddedPostgres(self.data_dir / "postgres").stop()
            out["postgres_left_running_and_stopped_here"] = True
        return out


def connections_per_worker(parts: dict[str, psutil.Process], port: int) -> dict[str, int]:
    """The clients' connections each HTTP worker holds (the kernel hands each accepted
    connection to whichever worker accepts first: a lopsided spread shows here)."""
    out = {}
    for name, proc in parts.items():
        if name.startswith("http-"):
            with contextlib.suppress(psutil.Error):
                out[name] = sum(1 for c in proc.net_connections(kind="tcp")
                                if c.laddr and c.laddr.port == port
                                and c.status == psutil.CONN_ESTABLISHED)
    return out


def cpu_per_request(cores: dict[str, float], per_s: float) -> dict[str, float]:
    """CPU milliseconds each part spent per durable request: a figure that holds better
    than the rate when other work shares the box (the rate falls, the cost stays)."""
    parts = {k: v for k, v in cores.items() if k not in ("others", "idle", "up")}
    out = {k: round(1000 * v / per_s, 3) for k, v in parts.items()} if per_s else {}
    out["system"] = round(sum(v for k, v in out.items() if k != "wrk"), 3)
    return out


class ProcessCpu:
    """Cores used by each process of the system (and wrk, and the rest of the box). Enter
    it before wrk starts, stop it once wrk has been waited for."""

    def __init__(self, ptsp: Ptsp) -> None:
        self.ptsp = ptsp
        self.procs = ptsp.processes()
        self.pgdata = ptsp.data_dir / "postgres"

    def _read(self) -> dict[str, float]:
        out = {}
        for name, p in self.procs.items():
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                out[name] = t.user + t.system
        out["postgres"] = pg_cpu(self.pgdata)
        # wrk is read once it has exited and been reaped: our children's times.
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        out["wrk"] = children.ru_utime + children.ru_stime
        return out

    def __enter__(self) -> ProcessCpu:
        self.t0, self.idle0, self.c0 = time.monotonic(), psutil.cpu_times().idle, self._read()
        return self

    def spent(self) -> dict[str, float]:
        """CPU seconds each part has used since entry (the system's only)."""
        c1 = self._read()
        return {k: c1[k] - self.c0[k] for k in c1 if k in self.c0 and k not in ("up", "wrk")}

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self.t0
        c1 = self._read()
        idle = (psutil.cpu_times().idle - self.idle0) / wall
        cores = {k: round((c1[k] - self.c0[k]) / wall, 2) for k in c1 if k in self.c0}
        busy = (os.cpu_count() or 1) - idle
        cores["others"] = round(max(0.0, busy - sum(cores.values())), 2)
        cores["idle"] = round(idle, 2)
        return cores

    def __exit__(self, *_: object) -> None:
        pass


async def store_figures(url: str) -> dict[str, Any]:
    """What the store holds and how the group committer batched it (rows written by one
    transaction share an xmin), the vault's keys, and the relay's lag behind the store."""
    import asyncpg

    conn = await asyncpg.connect(url, timeout=30)
    try:
        out: dict[str, Any] = {}
        for table in ("applications_events", "complaints_events"):
            rows, txns, head = await conn.fetchrow(
                f"SELECT count(*), count(DISTINCT xmin::text), coalesce(max(notification_id), 0)"
                f" FROM {table}")
            out[table] = {"events": rows, "write_transactions": txns, "head": head,
                          "mean_batch": round(rows / txns, 1) if txns else 0}
        out["subject_keys"] = await conn.fetchval("SELECT count(*) FROM subject_keys")
        with contextlib.suppress(asyncpg.PostgresError):
            positions = dict(await conn.fetch("SELECT stream, position FROM relay_positions"))
            for stream in ("applications", "complaints"):
                out[f"{stream}_events"]["relay_position"] = positions.get(stream)
        out["connections"] = dict(await conn.fetch(
            "SELECT coalesce(nullif(state, ''), 'background'), count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() GROUP BY 1"))
        return out
    finally:
        await conn.close()


_HEADS = ("(VALUES ('applications', (SELECT coalesce(max(notification_id), 0) FROM "
          "applications_events)), ('complaints', (SELECT coalesce(max(notification_id), 0) "
          "FROM complaints_events))) AS h(stream, head)")
_BEHIND = (
    f"SELECT (SELECT coalesce(sum(greatest(h.head - coalesce(r.position, 0), 0)), 0) "
    f"        FROM {_HEADS} LEFT JOIN relay_positions r USING (stream)), "
    # every read model and consumer that follows a case stream (the notifier included)
    f"       (SELECT coalesce(max(behind), 0) FROM (SELECT sum(greatest(h.head - p.position, "
    f"        0)) AS behind FROM {_HEADS} JOIN projection_positions p USING (stream) "
    f"        GROUP BY p.projection) AS b)")


async def _behind(conn: Any) -> dict[str, int]:
    relay, read_models = await conn.fetchrow(_BEHIND)
    return {"relay": int(relay), "read_models": int(read_models)}


async def events_behind(url: str) -> dict[str, int]:
    """How many stored events of the case streams the relay, and the read model furthest
    behind, have not handled yet."""
    import asyncpg

    conn = await asyncpg.connect(url, timeout=30)
    try:
        return await _behind(conn)
    finally:
        await conn.close()


async def wait_caught_up(url: str, seconds: float) -> dict[str, float | None]:
    """Seconds from now until the relay has published everything in both stores, and
    until every read model following them has applied it all (None: not within
    `seconds`). The pipeline runs behind the requests (PTSP_PIPELINE_NICE): what it has
    not done when the load stops is done here, before anything else is measured."""
    import asyncpg

    conn = await asyncpg.connect(url, timeout=30)
    t0 = time.monotonic()
    out: dict[str, float | None] = {"relay": None, "read_models": None}
    try:
        while time.monotonic() - t0 < seconds and None in out.values():
            for name, n in (await _behind(conn)).items():
                if out[name] is None and n == 0:
                    out[name] = round(time.monotonic() - t0, 2)
            await asyncio.sleep(0.05)
        return out
    finally:
        await conn.close()


# -- py-spy: where one HTTP worker's time goes --------------------------------------------
_PARTS = [  # (name, frame texts): the innermost frame that matches one decides
    ("event store write (group commit, encoding, asyncpg)", ("groupcommit.py",
                                                             "eventtable.py")),
    ("personal-data vault (keys, sealing)", ("personal_data.py",)),
    ("auth (token check)", ("http/auth.py",)),
    ("intake (validation, aggregate, view)", ("services/applications/",
                                              "services/complaints/", "services/cases/")),
    ("Litestar (routing, DI, body, response)", ("litestar/",)),
    ("uvicorn/httptools", ("uvicorn/",)),
]


def profile_breakdown(path: Path) -> dict[str, float]:
    """Shares of the main thread's samples (py-spy --idle): idle in the event loop, or
    busy, by part."""
    counts: Counter[str] = Counter()
    for stack, n in raw_stacks(path):
        frames = stack.split(";")
        if not frames[0].startswith("_run_module_as_main"):
            continue  # other threads: the watchdog, idle executor threads
        if frames[-1].startswith("Runner.run"):
            counts["idle (event loop waiting)"] += n
            continue
        counts[next((part for f in reversed(frames) for part, keys in _PARTS
                     if any(k in f for k in keys)), "other")] += n
    total = sum(counts.values()) or 1
    return {k: round(100 * v / total, 1) for k, v in counts.most_common()}


# -- the run ----------------------------------------------------------------------------
def run(args: argparse.Namespace, deadline: Deadline, workdir: Path, results: Results) -> None:
    from services.infra.embedded import free_port

    env = {"PTSP_INTAKE_RATE": str(args.intake_rate), "PTSP_INTAKE_BURST": str(args.intake_burst)}
    ptsp = Ptsp(workdir / "ptsp", free_port(), env,
                ["--workers", str(args.workers)] if args.workers else [])
    results["ptsp_env"] = env
    profiler: subprocess.Popen[bytes] | None = None
    try:
        print("ptsp up (embedded Postgres + NATS, default workers) ...", flush=True)
        t0 = time.monotonic()
        url = ptsp.start(timeout=deadline.allow(120, 60))
        results["startup_s"] = round(time.monotonic() - t0, 1)
        parts = ptsp.processes()
        results["processes"] = sorted(parts)
        tokens = {"applications": ptsp.token("oss"), "complaints": ptsp.token("whatsapp")}
        db = ptsp.database_url

        def baseline(name: str) -> None:
            print(f"baseline ({name}): raw asyncpg INSERT+COMMIT, one connection, same "
                  "Postgres ...", flush=True)
            results[name] = asyncio.run(raw_insert_commit(
                db, deadline.allow(args.baseline_seconds, 40)))

        baseline("baseline_before")
        today = datetime.now().strftime("%Y-%m-%d")
        run_id = f"{int(time.time()) % 1000:03d}"
        for kind in ("applications", "complaints"):
            script = workdir / f"{kind}.lua"
            script.write_text(wrk_script(kind, tokens[kind], run_id, today))
            warm = workdir / f"{kind}-warm.lua"
            warm.write_text(wrk_script(kind, tokens[kind], f"{int(run_id) + 500:03d}", today))
            deadline.check(f"POST /{kind}")
            print(f"POST /{kind}: warm-up {args.warmup_seconds:.0f}s ...", flush=True)
            meta, proc = run_wrk(url, warm, args.warmup_seconds, args.connections, args.threads)
            results[f"{kind}_warmup"] = wrk_result(meta, proc)
            asyncio.run(wait_caught_up(db, 30))  # the measured phase starts with no backlog
            seconds = deadline.allow(args.seconds, 40)
            print(f"POST /{kind}: {args.connections} connections, {seconds:.0f}s (wrk) ...",
                  flush=True)
            whole = ProcessCpu(ptsp).__enter__()  # the phase and its catch-up after
            meta, proc = run_wrk(url, script, seconds, args.connections, args.threads)
            if args.profile and kind == args.profile_kind and "http-1" in parts:
                out = profile_path("intake", f"-http-worker-{kind}")
                profiler = start_profiler(parts["http-1"].pid, seconds - 2, out, rate=250,
                                          options=("--idle",))
                if profiler is not None:
                    results["profile"] = str(out)
            with ProcessCpu(ptsp) as cpu:
                time.sleep(min(2.0, seconds / 4))
                spread = connections_per_worker(parts, ptsp.port)
                measured = wrk_result(meta, proc)
                measured["connections_per_worker"] = spread
                measured["cpu_cores"] = cores = cpu.stop()
                measured["cpu_ms_per_2xx"] = cpu_per_request(cores, measured["per_s"])
            results[kind] = measured
            if profiler is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    profiler.wait(20)
                with contextlib.suppress(OSError):
                    results["profile_share_pct"] = profile_breakdown(Path(results["profile"]))
                profiler = None
            caught_up = asyncio.run(wait_caught_up(db, 60))
            results[f"{kind}_relay_caught_up_s"] = caught_up["relay"]
            results[f"{kind}_read_models_caught_up_s"] = caught_up["read_models"]
            if measured.get("ok_2xx"):
                # the whole cost of the phase's requests, what the pipeline did after included
                measured["cpu_ms_per_2xx_with_catch_up"] = {
                    k: round(1000 * v / measured["ok_2xx"], 3) for k, v in whole.spent().items()}
        baseline("baseline_after")
        results["store"] = asyncio.run(store_figures(db))
        results["rss_mb"] = {name: round(p.memory_info().rss / 2**20)
                             for name, p in ptsp.processes().items() if name != "up"}
    finally:
        stop_profiler(profiler)
        print("stopping ptsp (SIGTERM) ...", flush=True)
        results["shutdown"] = ptsp.stop()
        if "error" in results or not results.get("complaints"):
            results["ptsp_log_tail"] = ptsp.child.log_tail(3000)


def report(results: Results) -> str:
    before = results.get("baseline_before", {}).get("per_s")
    after = results.get("baseline_after", {}).get("per_s")
    base = (before + after) / 2 if before and after else before or after
    results["baseline_per_s"] = base
    lines = ["", f"{'':<34}{'2xx/s':>9}{'ratio':>8}{'p50':>8}{'p90':>8}{'p99 ms':>8}"
                 f"{'non-2xx':>9}"]
    targets: dict[str, Any] = {}
    store = results.get("store", {})
    for kind in ("applications", "complaints"):
        m = results.get(kind)
        if not m:
            lines.append(f"POST /{kind:<28}(not run)")
            continue
        r = ratio(m["per_s"], base)
        m["ratio_vs_raw_insert_commit"] = r
        lines.append(f"POST /{kind:<28}{m['per_s']:>9,.0f}{r or 0:>8.2f}{m['p50_ms']:>8.1f}"
                     f"{m['p90_ms']:>8.1f}{m['p99_ms']:>8.1f}{m['non_2xx']:>9}")
        targets[kind] = {
            "ratio >= 0.35": bool(r and r >= TARGETS["vs_raw_insert_commit"]),
            "p99 <= 100 ms": m["p99_ms"] <= TARGETS["p99_ms"],
            "zero non-2xx": m["non_2xx"] == 0 and not m["socket_errors"]}
    for name in ("baseline_before", "baseline_after"):
        b = results.get(name)
        if b:
            lines.append(f"{'raw INSERT+COMMIT, 1 conn (' + name[9:] + ')':<34}{b['per_s']:>9,.0f}"
                         f"{'1.00':>8}{b['p50_ms']:>8.2f}{'':>8}{b['p99_ms']:>8.2f}")
    lines.append("")
    for kind in ("applications", "complaints"):
        m = results.get(kind)
        if not m:
            continue
        cpu = m.get("cpu_cores", {})
        lines.append(f"POST /{kind}: {m['ok_2xx']} of {m['requests']} 2xx in {m['wall_s']}s, "
                     f"statuses {m['statuses']}, socket errors {m['socket_errors'] or 0}")
        lines.append("  CPU (cores): " + ", ".join(f"{k} {v}" for k, v in cpu.items()))
        cost = m.get("cpu_ms_per_2xx", {})
        lines.append("  CPU ms per 2xx: " + ", ".join(f"{k} {v}" for k, v in cost.items()))
        if m.get("cpu_ms_per_2xx_with_catch_up"):
            lines.append("  CPU ms per 2xx, with the catch-up after the load: " + ", ".join(
                f"{k} {v}" for k, v in m["cpu_ms_per_2xx_with_catch_up"].items()))
        if cost.get("system"):
            # What the box could carry if CPU were the only limit and nothing else ran.
            m["cpu_bound_estimate_per_s"] = round(
                1000 * (os.cpu_count() or 1) / (cost["system"] + cost.get("wrk", 0)))
            lines.append(f"  if the {os.cpu_count()} cores were the system's and wrk's alone "
                         f"(CPU the only limit): about {m['cpu_bound_estimate_per_s']:,}/s")
        lines.append(f"  connections per HTTP worker: {m.get('connections_per_worker')}")
        s = store.get(f"{kind}_events", {})
        if s:
            lines.append(f"  store: {s['events']} events in {s['write_transactions']} "
                         f"transactions (mean batch {s['mean_batch']}); caught up after "
                         f"the load: relay {results.get(f'{kind}_relay_caught_up_s')} s, "
                         f"read models {results.get(f'{kind}_read_models_caught_up_s')} s")
            accepted = sum(results.get(k, {}).get("statuses", {}).get("201", 0)
                           for k in (f"{kind}_warmup", kind))
            lines.append(f"  durable: {accepted} answered 201, {s['events']} events stored")
    if store.get("connections"):
        lines.append(f"Postgres sessions at the end: {store['connections']}")
    if results.get("rss_mb"):
        lines.append(f"RSS at the end (MB): {results['rss_mb']}")
    if results.get("profile_share_pct"):
        lines.append("one HTTP worker's main thread, py-spy --idle (share of samples):")
        lines += [f"  {v:5.1f}%  {k}" for k, v in results["profile_share_pct"].items()]
    results["targets"] = targets
    lines.append("targets (reported, not asserted): " + "; ".join(
        f"{kind}: " + ", ".join(f"{t} {'met' if ok else 'NOT met'}" for t, ok in ts.items())
        for kind, ts in targets.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = arguments("intake", __doc__ or "", 200,
                  "py-spy (--idle) one HTTP worker during one phase (--profile-kind)")
    p.add_argument("--profile-kind", choices=("applications", "complaints"),
                   default="applications", help="the phase --profile samples (applications)")
    p.add_argument("--seconds", type=float, default=20, help="each measured wrk phase (20)")
    p.add_argument("--warmup-seconds", type=float, default=3, help="wrk warm-up (3)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    p.add_argument("--baseline-seconds", type=float, default=5, help="each baseline (5)")
    p.add_argument("--workers", type=int, default=0,
                   help="`ptsp up --workers` (default: its own default, 2 on 2 cores)")
    p.add_argument("--intake-rate", type=float, default=1e6,
                   help="PTSP_INTAKE_RATE (default 1e6: the limit lifted)")
    p.add_argument("--intake-burst", type=int, default=1_000_000,
                   help="PTSP_INTAKE_BURST (default 1e6)")
    args = p.parse_args(argv)
    return run_benchmark("intake", args, TARGETS,
                         lambda d, w, r: run(args, d, w, r), report)


if __name__ == "__main__":
    raise SystemExit(main())
