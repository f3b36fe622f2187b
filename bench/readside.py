"""Read-side benchmark: the supervision lists and the reports at a million cases.

    .venv/bin/python -m bench.readside [--cases 1000000] [--months 24] [--samples 200]

Everything on loopback, on an embedded Postgres of its own, one global deadline
(`--budget`). In order:

1. **A bulk history** of `--cases` cases over `--months` months before `--now`: 70%
   applications (issued, rejected, withdrawn, returned and resubmitted, some late and
   escalated for the breach) and 30% complaints (a fifth of them suggestions; classified,
   analysed, findings, track, answer, complainant told, superior told, closed; some late
   and escalated). Each case is made by the aggregates themselves (their own methods and
   rules, on the case's own times) and its events are written as stored events through
   each application's own mapper with `COPY` (the rows `save()` would write), in
   `--workers` processes. Cases whose next step would come after `--now` stay open there:
   the office's backlog. People are synthetic and stored unsealed (no vault): the read
   side never reads them.
2. **Rebuild** of every read model from the event store (`projections.runner.rebuild`),
   the case views and the SLA timers in two processes side by side; then `VACUUM
   (ANALYZE)`, as autovacuum would after a bulk load.
3. **The HTTP app** in a process of its own, as `ptsp up`'s HTTP workers run it (no
   pipeline), on the simulated clock at `--now`; a client on one kept-alive connection
   measures `--samples` sequential requests of each endpoint (after a warm-up): GET
   /services (static: the baseline), GET /cases with each filter and a page deep in the
   list by cursor, GET /queues/escalation, GET /sla, GET /reports/monthly of the busiest
   month, of an empty past month and of the current month, GET /reports/yearly. p50/p99,
   and each p99 as a ratio to the baseline's; the server's RSS before and after (and its
   peak), and its Postgres connections.

Targets (issue 11, target 4) are reported, never asserted: lists p99 ≤ 50 ms; the monthly
report ≤ 1 s; an empty past month about as fast as the static GET; memory bounded. The
table is printed and written to bench/results/readside-<date>.json. Every server and
process started here is stopped on exit, Ctrl-C or error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from bench import harness
from bench.harness import ChildProcess, Deadline, Results

TARGETS = {"list_p99_ms": 50.0, "monthly_report_s": 1.0}
"""Issue 11, target 4."""
CODES = ("U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4")
OSS = {"id": "oss-gateway", "role": "channel", "channel": "oss", "tier": None, "unit": None}
SUPERVISOR = {"id": "sri", "role": "supervisor", "channel": None, "tier": None, "unit": None}
TIMER = {"id": "sla-timer", "role": "system", "channel": None, "tier": None, "unit": None}
OFFICERS = [f"officer-{n:02d}" for n in range(1, 31)]
COMPLAINT_OFFICERS = [f"dewi-{n:02d}" for n in range(1, 11)]
CHANNELS = ("whatsapp", "email", "letter", "web_dpmptsp", "phone", "complaint_box")
PROBLEMS = ("requirements", "procedure", "time", "fee", "product", "facilities", "competence",
            "other")


def officer(actor_id: str, unit: str, tier: str = "kepala_dinas") -> dict[str, Any]:
    return {"id": actor_id, "role": "officer", "channel": None, "tier": tier, "unit": unit}


# -- 1. the bulk history --------------------------------------------------------------
class Maker:
    """One worker's cases, made by the aggregates and kept as stored rows."""

    def __init__(self, now: datetime, months: int) -> None:
        from services.applications.application import Applications
        from services.complaints.application import Complaints
        from services.domain.workdays import WorkingCalendar

        # The applications' own mappers (their transcoders), without a database.
        popo = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        self.mappers = {"applications": Applications(env=popo).mapper,
                        "complaints": Complaints(env=popo).mapper}
        self.calendar = WorkingCalendar()
        self.now = now
        self.start = now - timedelta(days=30.44 * months)
        self.rows: dict[str, list[tuple[UUID, int, str, bytes]]] = {
            "applications": [], "complaints": []}

    def keep(self, stream: str, case: Any) -> int:
        events = case.collect_events()
        for stored in (self.mappers[stream].to_stored_event(e) for e in events):
            self.rows[stream].append((UUID(str(stored.originator_id)),
                                      stored.originator_version, stored.topic, stored.state))
        return len(events)

    def intake_time(self, rng: random.Random) -> datetime:
        """Office hours on a random day of the window, busier in later months (a growing
        office): the square root of a uniform draw leans towards the end."""
        span = (self.now - self.start).total_seconds()
        t = self.start + timedelta(seconds=span * math.sqrt(rng.random()))
        return t.replace(hour=rng.randrange(8, 16), minute=rng.randrange(60))

    def application(self, n: int, rng: random.Random) -> int:
        from services.applications.domain import LicenceApplication

        t = self.intake_time(rng)
        a = LicenceApplication(
            channel="oss", external_id=f"RS-{n:07d}", service_code="SS-KBLI-10510",
            requirement_codes=list(CODES), sla_working_days=7, unit="perizinan",
            applicant={}, business={"name": f"CV Susu {n}", "kbli": "10510", "scale": "kecil",
                                    "in_industrial_estate": True, "address": "Purwakarta"},
            actor=OSS, at=t)
        who = officer(rng.choice(OFFICERS), "perizinan")

        def step(hours_low: float, hours_high: float) -> bool:
            nonlocal t
            t += timedelta(hours=rng.uniform(hours_low, hours_high))
            return t <= self.now

        all_met = dict.fromkeys(CODES, True)
        if rng.random() < 0.6 and step(0.1, 4):
            a.assign(who["id"], SUPERVISOR, t)
        if not step(1, 48):
            return self.keep("applications", a)
        if rng.random() < 0.1:
            a.verify({**all_met, "K1": False}, "K1", who, t)
            if not step(24, 120):
                return self.keep("applications", a)
            a.resubmit("dilengkapi", OSS, t)
            if not step(1, 24):
                return self.keep("applications", a)
        a.verify(all_met, None, who, t)
        due = self._due(a)
        if rng.random() < 0.03:
            if step(1, 72):
                a.withdraw("batal", OSS, t)
            return self.keep("applications", a)
        late = rng.random() < 0.12
        if not step(*((24 * 8, 24 * 20) if late else (4, 24 * 5))):
            t = min(t, self.now)
        if due is not None and t >= due and due <= self.now:
            a.escalate_for_breach(1, TIMER, due)
            who = officer(who["id"], "perizinan")
        if t > self.now:
            return self.keep("applications", a)
        a.review_technically("approve", "sesuai", who, t)
        if not step(1, 48):
            return self.keep("applications", a)
        if rng.random() < 0.1:
            a.decide("reject", "tidak memenuhi", SUPERVISOR, t)
            return self.keep("applications", a)
        a.decide("approve", "memenuhi", SUPERVISOR, t)
        if step(1, 24):
            a.issue({"number": f"SS-10510-{t.year}-{n:07d}", "nib": f"{n:013d}"}, SUPERVISOR, t)
        return self.keep("applications", a)

    def _due(self, case: Any) -> datetime | None:
        d = case.sla_clock.deadlines(case.sla_working_days, self.calendar)
        return None if d is None else d.due_at

    def complaint(self, n: int, rng: random.Random) -> int:
        from services.complaints.domain import Complaint

        t = self.intake_time(rng)
        channel = rng.choice(CHANNELS)
        suggestion = rng.random() < 0.2
        c = Complaint.receive(
            channel=channel, external_id=f"RS-{n:07d}",
            complainant=None if suggestion else {"name": f"Warga {n}", "phone": "081234567890"},
            subject_matter="layanan perizinan", description="Antrean dan waktu layanan.",
            service_received_on=(t - timedelta(days=rng.randrange(1, 20))).date(),
            received_at=t, related_application_id=None,
            actor={"id": f"{channel}-gateway", "role": "channel", "channel": channel,
                   "tier": None, "unit": None}, at=t)
        who = officer(rng.choice(COMPLAINT_OFFICERS), "pengaduan")

        def step(hours_low: float, hours_high: float) -> bool:
            nonlocal t
            t += timedelta(hours=rng.uniform(hours_low, hours_high))
            return t <= self.now

        if suggestion:
            if step(1, 120):
                c.respond("Terima kasih atas masukannya", who, t)
                if step(1, 48):
                    c.close(None, who, t)
            return self.keep("complaints", c)
        if rng.random() < 0.6 and step(0.1, 4):
            c.assign(who["id"], SUPERVISOR, t)
        handling: list[Callable[[], object]] = [
                lambda: c.classify("SS-KBLI-10510", rng.choice(PROBLEMS), who, t),
                lambda: c.analyse("masalah inti", ["SOP"], [], "clarification", who, t),
                lambda: c.record_findings(["klarifikasi"], ["petugas"],
                                          rng.choice(("proven", "not_proven", "partly_proven")),
                                          None, who, t),
                lambda: c.choose_track("internal", None, who, t)]
        for act in handling:
            if not step(1, 36):
                return self.keep("complaints", c)
            act()
        due = self._due(c)
        late = rng.random() < 0.12
        if not step(*((24 * 20, 24 * 30) if late else (4, 24 * 8))):
            t = min(t, self.now)
        if due is not None and t >= due and due <= self.now:
            c.escalate_for_breach(1, TIMER, due)
        if t > self.now:
            return self.keep("complaints", c)
        c.respond("Jawaban atas pengaduan", who, t)
        closing: list[Callable[[], object]] = [
            lambda: c.notify_complainant("whatsapp", who, t),
            lambda: c.report_to_superior("Laporan hasil penanganan", who, t),
            lambda: c.close(None, who, t)]
        for act in closing:
            if not step(1, 24):
                break
            act()
        return self.keep("complaints", c)


async def _copy(database_url: str, rows: dict[str, list[tuple[UUID, int, str, bytes]]]) -> None:
    import asyncpg

    conn = await asyncpg.connect(database_url, timeout=30)
    try:
        for stream, records in rows.items():
            if records:
                await conn.copy_records_to_table(
                    f"{stream}_events", records=records,
                    columns=["originator_id", "originator_version", "topic", "state"])
    finally:
        await conn.close()


def generate_part(database_url: str, first: int, count: int, seed: int, now: str,
                  months: int, chunk: int = 20_000) -> dict[str, int]:
    """One worker: cases `first` .. `first + count - 1`, written in chunks."""
    maker = Maker(datetime.fromisoformat(now), months)
    rng = random.Random(seed)
    made = {"applications": 0, "complaints": 0, "events": 0}
    for n in range(first, first + count):
        if rng.random() < 0.7:
            made["events"] += maker.application(n, rng)
            made["applications"] += 1
        else:
            made["events"] += maker.complaint(n, rng)
            made["complaints"] += 1
        if (n - first + 1) % chunk == 0:
            asyncio.run(_copy(database_url, maker.rows))
            maker.rows = {k: [] for k in maker.rows}
    asyncio.run(_copy(database_url, maker.rows))
    return made


def generate(args: argparse.Namespace, deadline: Deadline, database_url: str,
             workdir: Path, phase: dict[str, Any]) -> None:
    """`--workers` processes, each a share of the cases."""
    per = math.ceil(args.cases / args.workers)
    t0 = time.monotonic()
    procs = []
    for w in range(args.workers):
        out = workdir / f"generate-{w}.json"
        procs.append((out, subprocess.Popen(
            [sys.executable, "-m", "bench.readside", "_generate", database_url, str(w * per),
             str(min(per, args.cases - w * per)), str(args.seed + w), args.now,
             str(args.months), str(out)], cwd=harness.ROOT)))
    totals: dict[str, int] = {}
    for out, proc in procs:
        proc.wait(deadline.allow(deadline.left()))
        if proc.returncode != 0:
            raise RuntimeError(f"generator exited with {proc.returncode}")
        for k, v in json.loads(out.read_text()).items():
            totals[k] = totals.get(k, 0) + v
    phase["seconds"] = round(time.monotonic() - t0, 1)
    phase.update(totals)
    phase["events_per_s"] = round(totals["events"] / phase["seconds"], 1)


# -- 2. rebuild -------------------------------------------------------------------------
def _system(database_url: str, data_dir: Path, now: str) -> Any:
    from services.runtime import System
    from services.settings import Settings

    settings = Settings(data_dir=data_dir, simulated_clock=datetime.fromisoformat(now))
    return System.build(settings, database_url, with_pipeline=False, with_intake=False)


async def _rebuild(database_url: str, data_dir: Path, now: str, names: list[str]) -> dict[str, Any]:
    import asyncpg

    from projections.runner import rebuild
    from services.infra.eventlog import EventLog

    system = _system(database_url, data_dir, now)
    print("built", flush=True)  # the next process may build its own (tables exist)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        chosen = [p for p in system.projections() if p.name in names]
        t0 = time.monotonic()
        counts = await rebuild(pool, EventLog(pool, system.streams()), chosen, progress=False)
        return {"seconds": round(time.monotonic() - t0, 1), "events_applied": counts}
    finally:
        await pool.close()


def rebuild_all(args: argparse.Namespace, deadline: Deadline, database_url: str,
                workdir: Path, phase: dict[str, Any]) -> None:
    """The read models two at a time, each in a process of its own (started one after the
    other: building the system creates the event tables if missing, not concurrently)."""
    groups = [["case_views", "survey_responses"], ["sla_timers"]]
    t0 = time.monotonic()
    procs = []
    try:
        for n, names in enumerate(groups):
            out = workdir / f"rebuild-{n}.json"
            child = ChildProcess(f"rebuild-{n}", workdir / f"rebuild-{n}.log")
            child.start([sys.executable, "-m", "bench.readside", "_rebuild", database_url,
                         str(workdir / "data"), args.now, ",".join(names), str(out)],
                        dict(os.environ), 120, lambda line: line.startswith("built"),
                        cwd=harness.ROOT)
            procs.append((out, child))
        for out, child in procs:
            assert child.proc is not None
            if child.proc.wait(deadline.allow(deadline.left())) != 0:
                raise RuntimeError(f"{child.name} exited with {child.proc.returncode}:\n"
                                   + child.log_tail())
            phase.update(json.loads(out.read_text()).get("events_applied", {}))
    finally:
        for _, child in procs:
            child.stop()
    phase["seconds"] = round(time.monotonic() - t0, 1)
    # What autovacuum does after a bulk load, at once: statistics, and the visibility map
    # that lets the lists' indexes answer without reading the tables.
    t0 = time.monotonic()
    asyncio.run(_sql(database_url, "VACUUM (ANALYZE)"))
    phase["vacuum_analyze_seconds"] = round(time.monotonic() - t0, 1)


async def _sql(database_url: str, sql: str) -> Any:
    import asyncpg

    conn = await asyncpg.connect(database_url, timeout=30)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


# -- 3. the server and the client ---------------------------------------------------------
def serve(database_url: str, data_dir: str, port: int, now: str) -> None:
    """The HTTP app as an HTTP worker of `ptsp up` runs it (no pipeline), on a TCP socket
    of uvicorn's own (TCP_NODELAY set)."""
    import uvicorn

    from services.http.app import create_app

    system = _system(database_url, Path(data_dir), now)
    config = uvicorn.Config(create_app(system), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="on", loop="uvloop",
                            http="httptools")

    class Ready(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            print("ready", flush=True)

    Ready(config).run()


def _rss(pid: int | None) -> dict[str, float]:
    """The server process's resident memory now and at its peak, MB."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = round(int(value.split()[0]) / 1024, 1)
    except OSError:
        pass
    return {"rss_mb": out.get("VmRSS", 0.0), "peak_rss_mb": out.get("VmHWM", 0.0)}


async def measure(args: argparse.Namespace, deadline: Deadline, base_url: str,
                  headers: dict[str, str], officer_headers: dict[str, str],
                  plan: dict[str, Any]) -> dict[str, Any]:
    """Each endpoint `--samples` times in turn (round-robin, so a disturbance of the box
    touches them all alike), after a warm-up; one kept-alive connection."""
    import httpx

    endpoints: dict[str, tuple[str, dict[str, Any], dict[str, str], int]] = {}

    def add(name: str, path: str, params: dict[str, Any] | None = None,
            who: dict[str, str] | None = None, samples: int | None = None) -> None:
        endpoints[name] = (path, params or {}, headers if who is None else who,
                           samples or args.samples)

    add("GET /services (static baseline)", "/services", who={})
    add("GET /cases", "/cases")
    for key, value in (("type", "application"), ("type", "complaint"), ("status", "issued"),
                       ("status", "complete"), ("tier", "kepala_seksi"),
                       ("assignee", OFFICERS[0])):
        add(f"GET /cases?{key}={value}", "/cases", {key: value})
    for state in ("not_started", "running", "at_risk", "paused", "met", "breached", "withdrawn"):
        add(f"GET /cases?sla_state={state}", "/cases", {"sla_state": state})
    add("GET /cases as an officer (own unit)", "/cases", who=officer_headers)
    add("GET /cases?sla_state=breached as an officer", "/cases", {"sla_state": "breached"},
        who=officer_headers)
    add("GET /cases, a page 20,000 deep (cursor)", "/cases",
        {"cursor": plan["deep_cursor"], "page_size": 50})
    add("GET /cases?page=200 (offset 9,950)", "/cases", {"page": 200})
    add("GET /queues/escalation", "/queues/escalation")
    add("GET /queues/escalation?tier=kepala_seksi", "/queues/escalation",
        {"tier": "kepala_seksi"})
    add("GET /sla", "/sla")
    add("GET /sla?state=breached", "/sla", {"state": "breached"})
    add("GET /sla?state=at_risk", "/sla", {"state": "at_risk"})
    reports = max(5, args.samples // 10)
    add(f"GET /reports/monthly/{plan['busy_month']} (busiest)",
        f"/reports/monthly/{plan['busy_month']}", samples=reports)
    add(f"GET /reports/monthly/{plan['current_month']} (current)",
        f"/reports/monthly/{plan['current_month']}", samples=reports)
    add(f"GET /reports/monthly/{plan['empty_month']} (past, empty)",
        f"/reports/monthly/{plan['empty_month']}")
    add(f"GET /reports/yearly/{plan['busy_month'][:4]}",
        f"/reports/yearly/{plan['busy_month'][:4]}", samples=max(3, args.samples // 40))

    latencies: dict[str, list[float]] = {name: [] for name in endpoints}
    sizes: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        for name, (path, params, who, _) in endpoints.items():  # warm-up, and a check
            r = await client.get(path, params=params, headers=who)
            if r.status_code != 200:
                raise RuntimeError(f"{name}: {r.status_code} {r.text[:300]}")
            sizes[name] = len(r.content)
        for round_ in range(args.samples):
            deadline.check(f"sample {round_}")
            for name, (path, params, who, samples) in endpoints.items():
                if round_ >= samples:
                    continue
                t0 = time.perf_counter()
                r = await client.get(path, params=params, headers=who)
                latencies[name].append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise RuntimeError(f"{name}: {r.status_code}")
    return {name: {**harness.latency_summary(v), "samples": len(v), "bytes": sizes[name]}
            for name, v in latencies.items()}


async def _plan(database_url: str, now: datetime) -> dict[str, Any]:
    """The months to report (the busiest, the current, an empty one before the history)
    and a cursor 20,000 cases deep."""
    import asyncpg

    from projections.case_views import Cursor

    conn = await asyncpg.connect(database_url, timeout=30)
    try:
        busy = await conn.fetchval(
            "SELECT month FROM report_counts WHERE fact = 'received' GROUP BY month "
            "ORDER BY sum(n) DESC LIMIT 1")
        first = await conn.fetchval("SELECT min(month) FROM report_counts")
        deep = await conn.fetchrow("SELECT created_at, id FROM case_views "
                                   "ORDER BY created_at DESC, id DESC OFFSET 20000 LIMIT 1")
        sizes = {r["relname"]: r["mb"] for r in await conn.fetch(
            "SELECT relname, round(pg_total_relation_size(oid) / 1048576.0) AS mb "
            "FROM pg_class WHERE relname IN ('case_views', 'sla_timers', 'report_counts', "
            "'applications_events', 'complaints_events')")}
        counts = {"cases": await conn.fetchval("SELECT sum(n) FROM case_counts"),
                  "open_cases": await conn.fetchval(
                      "SELECT count(*) FROM case_views WHERE closed_at IS NULL"),
                  "month_rows": await conn.fetchval(
                      "SELECT count(*) FROM report_counts WHERE month = $1", busy)}
    finally:
        await conn.close()
    year, mon = (int(x) for x in first.split("-"))
    empty = f"{year - 1}-{mon:02d}"
    return {"busy_month": busy, "current_month": now.strftime("%Y-%m"), "empty_month": empty,
            "deep_cursor": Cursor.encode(deep["created_at"], deep["id"]) if deep else None,
            "table_mb": {k: float(v) for k, v in sizes.items()}, **counts}


async def _connections(database_url: str) -> int:
    rows = await _sql(database_url, "SELECT count(*) AS n FROM pg_stat_activity "
                                    "WHERE datname = current_database() "
                                    "AND pid <> pg_backend_pid()")
    return int(rows[0]["n"])


def run_queries(args: argparse.Namespace, deadline: Deadline, database_url: str,
                workdir: Path, results: Results) -> None:
    from services.infra.embedded import free_port
    from services.infra.tokens import TokenIssuer

    port = free_port()
    server = ChildProcess("server", workdir / "server.log")
    try:
        server.start([sys.executable, "-m", "bench.readside", "_serve", database_url,
                      str(workdir / "data"), str(port), args.now], dict(os.environ), 120,
                     lambda line: line.startswith("ready"), cwd=harness.ROOT)
        issuer = TokenIssuer.of_keys_dir(workdir / "data" / "keys")
        headers = {"Authorization": "Bearer " + issuer.issue(
            role="supervisor", actor="sri", ttl_seconds=7200)}
        officer_headers = {"Authorization": "Bearer " + issuer.issue(
            role="officer", actor=OFFICERS[0], unit="perizinan", tier="kepala_dinas",
            ttl_seconds=7200)}
        plan = asyncio.run(_plan(database_url, datetime.fromisoformat(args.now)))
        results["plan"] = {k: v for k, v in plan.items() if k != "deep_cursor"}
        memory = {"before": _rss(server.pid)}
        cpu0 = harness.proc_cpu(server.pid)
        t0 = time.monotonic()
        results["endpoints"] = asyncio.run(measure(
            args, deadline, f"http://127.0.0.1:{port}", headers, officer_headers, plan))
        wall = time.monotonic() - t0
        memory["after"] = _rss(server.pid)
        results["server"] = {"memory": memory,
                             "cores": round((harness.proc_cpu(server.pid) - cpu0) / wall, 3),
                             "postgres_connections": asyncio.run(_connections(database_url))}
    finally:
        results.setdefault("server", {})["stop"] = server.stop()


# -- the table ------------------------------------------------------------------------------
def report(results: Results) -> str:
    endpoints = results.get("endpoints", {})
    base = endpoints.get("GET /services (static baseline)", {}).get("p99_ms")
    lines = [f"read side at {results.get('plan', {}).get('cases', '?'):,} cases "
             if isinstance(results.get("plan", {}).get("cases"), int) else "read side",
             f"history: {results.get('generate', {})}", f"rebuild: {results.get('rebuild', {})}",
             f"plan: {results.get('plan', {})}", "",
             f"{'endpoint':<58} {'p50 ms':>8} {'p99 ms':>8} {'p99/static':>10} {'bytes':>9}"]
    for name, s in endpoints.items():
        lines.append(f"{name:<58} {s['p50_ms']:>8} {s['p99_ms']:>8} "
                     f"{harness.ratio(s['p99_ms'], base) or '':>10} {s['bytes']:>9}")
    server = results.get("server", {})
    lines += ["", f"server: {server}"]
    lists = [s["p99_ms"] for n, s in endpoints.items()
             if n.startswith(("GET /cases", "GET /queues", "GET /sla"))]
    monthly = [s["p99_ms"] for n, s in endpoints.items() if "/reports/monthly/" in n]
    targets = {
        "lists p99": {"target": "<= 50 ms", "measured": max(lists) if lists else None,
                      "met": bool(lists) and max(lists) <= TARGETS["list_p99_ms"]},
        "monthly report p99": {"target": "<= 1 s", "measured": max(monthly) if monthly
                               else None, "met": bool(monthly) and max(monthly) <= 1000},
    }
    results["targets"] = targets
    lines += ["", *harness.targets_lines(targets, 20)]
    if "error" in results:
        lines.append(f"ERROR: {results['error']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        return _internal(sys.argv[1:])
    p = harness.arguments("readside", __doc__ or "", 7200,
                          "(not used by this benchmark)")
    p.add_argument("--cases", type=int, default=1_000_000,
                   help="cases in the generated history (1,000,000; tests use far fewer)")
    p.add_argument("--months", type=int, default=24, help="months of history (24)")
    p.add_argument("--now", default="2026-11-02T10:00:00+07:00",
                   help="the office clock at the history's end")
    p.add_argument("--samples", type=int, default=200, help="requests per list endpoint (200)")
    p.add_argument("--workers", type=int, default=2, help="generator processes (2)")
    p.add_argument("--seed", type=int, default=10510)
    args = p.parse_args(argv)

    def phases(deadline: Deadline, workdir: Path, results: Results) -> None:
        from services.infra.embedded import EmbeddedPostgres

        pg = EmbeddedPostgres(workdir / "postgres")
        try:
            print("starting an embedded Postgres (loopback) ...", flush=True)
            pg.start()
            database_url = asyncio.run(_database(pg.url))
            asyncio.run(_install(database_url, workdir / "data", args.now))
            print(f"history: {args.cases:,} cases over {args.months} months ...", flush=True)
            results["generate"] = {}
            generate(args, deadline, database_url, workdir, results["generate"])
            print(f"  {results['generate']}", flush=True)
            print("rebuilding every read model from the event store ...", flush=True)
            results["rebuild"] = {}
            rebuild_all(args, deadline, database_url, workdir, results["rebuild"])
            print(f"  {results['rebuild']}", flush=True)
            print("measuring the endpoints ...", flush=True)
            run_queries(args, deadline, database_url, workdir, results)
        finally:
            pg.stop()

    return harness.run_benchmark("readside", args, TARGETS, phases, report)


async def _database(admin_url: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(admin_url, timeout=30)
    try:
        await conn.execute('CREATE DATABASE "readside"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + "/readside"


async def _install(database_url: str, data_dir: Path, now: str) -> None:
    """The system's tables (event stores, read models), as `ptsp up` makes them."""
    system = _system(database_url, data_dir, now)
    await system.start()
    await system.stop()


def _internal(argv: list[str]) -> int:
    """The child processes' entry points."""
    command, *rest = argv
    if command == "_generate":
        url, first, count, seed, now, months, out = rest
        made = generate_part(url, int(first), int(count), int(seed), now, int(months))
        Path(out).write_text(json.dumps(made))
    elif command == "_rebuild":
        url, data_dir, now, names, out = rest
        done = asyncio.run(_rebuild(url, Path(data_dir), now, names.split(",")))
        Path(out).write_text(json.dumps(done))
    elif command == "_serve":
        url, data_dir, port, now = rest
        serve(url, data_dir, int(port), now)
    else:
        raise SystemExit(f"unknown command {command}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
