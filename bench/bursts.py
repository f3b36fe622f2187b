"""Sustained intake: the same wrk load as bench.intake, `POST /applications` in several
bursts back to back on one `ptsp up`, each reported on its own, with what Postgres did
meanwhile (autovacuum runs it cancelled, checkpoints: from its own log).

    .venv/bin/python -m bench.bursts [--bursts 3] [--seconds 20]

bench.intake measures two 20 s phases on a fresh system; an office's system runs for
months. As the store grows Postgres starts its background work on it: autovacuum's
insert-driven vacuum of the events tables, checkpoints. A third burst is where the first
one met the load: every appender waited a second on the vacuum's lock until Postgres
cancelled it (p99 830-875 ms; services/infra/eventtable.py). This run shows whether a
burst after the store has grown keeps the first burst's latency, and counts the
autovacuum runs Postgres had to cancel (it must be 0: a cancelled vacuum never ends),
and how far the relay and the read models are behind at the end of each burst (the
pipeline runs behind the requests: PTSP_PIPELINE_NICE), what `GET /ready` answers then,
and how long they take to catch up after the last. Reported, never asserted; the
figures are in the README ("Benchmarks").
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from datetime import datetime
from pathlib import Path

import httpx

from bench.harness import Deadline, Results, arguments, run_benchmark
from bench.intake import Ptsp, events_behind, run_wrk, wait_caught_up, wrk_result, wrk_script


def postgres_log(ptsp: Ptsp) -> str:
    path = ptsp.data_dir / "postgres" / "server.log"
    return path.read_text(errors="replace") if path.exists() else ""


def run(args: argparse.Namespace, deadline: Deadline, workdir: Path, results: Results) -> None:
    from services.infra.embedded import free_port

    ptsp = Ptsp(workdir / "ptsp", free_port(),
                {"PTSP_INTAKE_RATE": "1e6", "PTSP_INTAKE_BURST": "1000000"}, [])
    try:
        url = ptsp.start(timeout=deadline.allow(120, 60))
        token = ptsp.token("oss")
        today = datetime.now().strftime("%Y-%m-%d")
        bursts: list[dict[str, object]] = []
        results["bursts"] = bursts
        for n in range(1, args.bursts + 1):
            deadline.check(f"burst {n}")
            script = workdir / f"burst-{n}.lua"
            script.write_text(wrk_script("applications", token, f"{100 + n}", today))
            print(f"burst {n}/{args.bursts}: POST /applications, 64 connections, "
                  f"{args.seconds:.0f}s ...", flush=True)
            before = postgres_log(ptsp)
            meta, proc = run_wrk(url, script, deadline.allow(args.seconds, 30), 64, 2)
            burst = wrk_result(meta, proc)
            during = postgres_log(ptsp)[len(before):]
            burst["autovacuum_cancelled"] = len(re.findall("canceling autovacuum task", during))
            burst["checkpoints_started"] = len(re.findall("checkpoint starting", during))
            # The pipeline runs behind the requests (PTSP_PIPELINE_NICE): how far behind
            # it is once a burst ends, and what GET /ready says of it.
            burst["behind_at_end"] = asyncio.run(events_behind(ptsp.database_url))
            burst["ready_at_end"] = httpx.get(f"{url}/ready", timeout=30).status_code
            bursts.append(burst)
            time.sleep(1)
        caught_up = asyncio.run(wait_caught_up(ptsp.database_url, deadline.allow(120, 10)))
        results["caught_up_after_last_burst_s"] = caught_up
    finally:
        results["shutdown"] = ptsp.stop()


def report(results: Results) -> str:
    lines = [f"{'burst':<8}{'2xx/s':>8}{'p50':>8}{'p90':>8}{'p99 ms':>9}{'non-2xx':>9}"
             f"{'autovacuum cancelled':>22}{'checkpoints':>13}"
             f"{'behind at end: relay, read models':>36}{'/ready':>8}"]
    for n, b in enumerate(results.get("bursts", []), 1):
        behind = b.get("behind_at_end", {})
        lines.append(f"{n:<8}{b['per_s']:>8,.0f}{b['p50_ms']:>8.1f}{b['p90_ms']:>8.1f}"
                     f"{b['p99_ms']:>9.1f}{b['non_2xx']:>9}{b['autovacuum_cancelled']:>22}"
                     f"{b['checkpoints_started']:>13}"
                     f"{behind.get('relay', '?'):>18}, {behind.get('read_models', '?'):>15}"
                     f"{b.get('ready_at_end', '?'):>8}")
    caught = results.get("caught_up_after_last_burst_s", {})
    lines.append(f"caught up after the last burst: relay {caught.get('relay')} s, "
                 f"read models {caught.get('read_models')} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = arguments("bursts", __doc__ or "", 300, "(not used here)")
    p.add_argument("--bursts", type=int, default=3, help="bursts back to back (3)")
    p.add_argument("--seconds", type=float, default=20, help="each burst (20)")
    args = p.parse_args(argv)
    return run_benchmark("bursts", args, {"p99_ms": 100.0}, lambda d, w, r: run(args, d, w, r),
                         report)


if __name__ == "__main__":
    raise SystemExit(main())
