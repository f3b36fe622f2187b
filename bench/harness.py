"""What every benchmark here shares: the one global deadline, latency summaries, CPU
accounting, child processes that announce themselves ready, py-spy, and the run itself
(signals, the JSON header, the table, the results file, the exit code).

A benchmark module parses its own options (among them `--budget` and `--output`), then
hands `run()` a function for its phases and one for its table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"

Results = dict[str, Any]


# -- time -----------------------------------------------------------------------------
class Deadline:
    """The one global deadline: every phase takes its time limit from here."""

    def __init__(self, seconds: float) -> None:
        self.start = time.monotonic()
        self.end = self.start + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def allow(self, wanted: float, reserve: float = 0.0) -> float:
        """At most `wanted` seconds, keeping `reserve` seconds for what follows."""
        return max(0.0, min(wanted, self.left() - reserve))

    def check(self, what: str) -> None:
        if self.left() <= 0:
            raise TimeoutError(f"global deadline reached before {what}")


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def latency_summary(latencies: list[float]) -> dict[str, float]:
    values = sorted(latencies)
    return {f"p{q}_ms": round(percentile(values, q) * 1000, 2) for q in (50, 95, 99)} | {
        "max_ms": round(values[-1] * 1000, 2) if values else float("nan")}


# -- CPU accounting -------------------------------------------------------------------
def proc_cpu(pid: int | None) -> float:
    """CPU seconds of one process so far (0 when it is gone)."""
    if pid is None:
        return 0.0
    with contextlib.suppress(psutil.Error):
        t = psutil.Process(pid).cpu_times()
        return float(t.user + t.system)
    return 0.0


def pg_cpu(pgdata: Path) -> float:
    """CPU seconds of a Postgres so far: the postmaster, its live backends, and the
    backends that have exited (reaped by the postmaster: its children_* times)."""
    total = 0.0
    with contextlib.suppress(OSError, ValueError, psutil.Error):
        master = psutil.Process(int((pgdata / "postmaster.pid").read_text().splitlines()[0]))
        t = master.cpu_times()
        total += t.user + t.system + t.children_user + t.children_system
        for p in master.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
    return total


class CpuMeter:
    """Cores used by each part between start() and stop(), and by anything else on the
    box (`others`: this machine may be shared, a large figure there means a disturbed run).
    `parts` reads the CPU seconds of each part so far."""

    def __init__(self, parts: Callable[[], dict[str, float]]) -> None:
        self.parts = parts
        self._t0 = 0.0
        self._c0: dict[str, float] = {}
        self._idle0 = 0.0

    def start(self) -> None:
        self._t0, self._idle0 = time.monotonic(), psutil.cpu_times().idle
        self._c0 = self.parts()

    def stop(self, also: Mapping[str, float] | None = None,
             settle: float = 0.0) -> dict[str, float]:
        """`also`: cores measured elsewhere (a client process), counted before `others`.
        `settle`: seconds to wait before reading the parts, the wall clock stopped (exited
        Postgres backends are counted once their postmaster has reaped them)."""
        wall = max(1e-6, time.monotonic() - self._t0)
        idle = (psutil.cpu_times().idle - self._idle0) / wall
        if settle:
            time.sleep(settle)
        c1 = self.parts()
        out = {f"{k}_cores": round((c1[k] - c0) / wall, 3) for k, c0 in self._c0.items()}
        out |= {f"{k}_cores": v for k, v in (also or {}).items()}
        busy = (os.cpu_count() or 1) - idle
        out["others_cores"] = round(max(0.0, busy - sum(out.values())), 3)
        out["machine_idle_cores"] = round(idle, 3)
        return out


def cpu_line(cpu: Mapping[str, float]) -> str:
    """`service 0.9, postgres 0.4, ...`: a CpuMeter reading for the table."""
    return ", ".join(f"{k.removesuffix('_cores')} {v}" for k, v in cpu.items())


# -- child processes ------------------------------------------------------------------
class ChildProcess:
    """A process of its own session (Ctrl-C reaches the benchmark only, which stops it in
    order), its stderr in a log file, its stdout read for a ready line."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.proc: subprocess.Popen[str] | None = None

    def start(self, argv: list[str], env: Mapping[str, str], timeout: float,
              ready: Callable[[str], bool], cwd: Path | None = None) -> str:
        """Start it; return the first stdout line `ready` accepts."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdout=subprocess.PIPE,
                                     stderr=log, text=True, start_new_session=True)
        seen: list[str] = []

        def read_stdout() -> None:  # drained for the process's whole life
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                if not seen and ready(line):
                    seen.append(line)

        threading.Thread(target=read_stdout, daemon=True, name=f"{self.name}-stdout").start()
        end = time.monotonic() + timeout
        while not seen:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n"
                                   + self.log_tail(3000))
            if time.monotonic() > end:
                raise TimeoutError(f"{self.name} not ready after {timeout:.0f}s:\n"
                                   + self.log_tail(3000))
            time.sleep(0.05)
        return seen[0]

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def stop(self, timeout: float = 20.0) -> dict[str, Any]:
        """SIGTERM and wait; past `timeout`, SIGKILL."""
        out: dict[str, Any] = {}
        if self.proc is None:
            return out
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                out["killed_after_s"] = timeout
        out["stop_s"] = round(time.monotonic() - t0, 2)
        out["exit_status"] = self.proc.returncode
        self.proc = None
        return out

    def log_tail(self, chars: int = 2000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""


# -- profiling (py-spy) ---------------------------------------------------------------
def start_profiler(pid: int, seconds: float, out: Path, rate: int = 250,
                   options: tuple[str, ...] = ()) -> subprocess.Popen[bytes] | None:
    """py-spy's raw stacks of `pid` for `seconds` into `out`; None without py-spy."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("  (--profile: py-spy not found; `.venv/bin/pip install py-spy`)", flush=True)
        return None
    return subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--duration", str(max(1, math.ceil(seconds))),
         "--rate", str(rate), "--format", "raw", "--nonblocking", *options,
         "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profiler(profiler: subprocess.Popen[bytes] | None) -> None:
    if profiler is None:
        return
    if profiler.poll() is None:
        profiler.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
        try:
            profiler.wait(20)
        except subprocess.TimeoutExpired:
            profiler.kill()
            profiler.wait(5)


def raw_stacks(path: Path) -> Iterator[tuple[str, int]]:
    """(stack, samples) of each line of py-spy's raw output (`frame;frame;... count`)."""
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip() or " " not in line:
            continue
        stack, n = line.rsplit(" ", 1)
        with contextlib.suppress(ValueError):
            yield stack, int(n)


def profile_path(benchmark: str, part: str) -> Path:
    return RESULTS_DIR / f"{benchmark}-{datetime.now():%Y-%m-%d}-profile{part}.txt"


# -- the table ------------------------------------------------------------------------
def ratio(a: float | None, b: float | None, digits: int = 2) -> float | None:
    return round(a / b, digits) if a and b else None


def ratios_line(ratios: Mapping[str, float | None]) -> str:
    return "ratios: " + ", ".join(f"{k.replace('_vs_', ' / ')} = {v}" for k, v in ratios.items())


def targets_lines(targets: Mapping[str, Mapping[str, Any]], width: int) -> list[str]:
    """Each target of the issue beside its figure: reported, never asserted."""
    return ["targets (reported, not asserted):"] + [
        f"  {name:<{width}} {t['target']:<22} measured {t['measured']}  "
        f"{'met' if t['met'] else 'NOT met'}" for name, t in targets.items()]


# -- the run --------------------------------------------------------------------------
def arguments(benchmark: str, doc: str, budget: float, profile: str) -> argparse.ArgumentParser:
    """The options every benchmark has (--budget, --profile, --output); it adds its own."""
    p = argparse.ArgumentParser(prog=f"python -m bench.{benchmark}",
                                description=doc.split("\n")[0])
    p.add_argument("--budget", type=float, default=budget,
                   help=f"global deadline for the whole run, seconds ({budget:.0f})")
    p.add_argument("--profile", action="store_true", help=profile)
    p.add_argument("--output", type=Path, default=None,
                   help=f"JSON file (default results/{benchmark}-<date>.json)")
    return p


def code_version() -> dict[str, Any]:
    """The commit measured, and whether the work tree had changes on top of it."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        changed = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"],
                                 capture_output=True, text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": head, "uncommitted_changes": len(changed)}


_INTERRUPTED: list[int] = []


def _interrupt(signum: int, frame: FrameType | None) -> None:
    _INTERRUPTED.append(signum)
    if len(_INTERRUPTED) == 1:  # once: a second signal must not break the clean-up
        raise KeyboardInterrupt(f"signal {signum}")


def run_benchmark(benchmark: str, args: argparse.Namespace, targets: Mapping[str, float],
        phases: Callable[[Deadline, Path, Results], None],
        report: Callable[[Results], str]) -> int:
    """Run the phases within `args.budget` seconds in a scratch directory, print the
    table, write the JSON (`args.output`, or results/<benchmark>-<date>.json); 0 when
    the run completed, 1 when it failed (the error is in the JSON), 130 if interrupted."""
    deadline = Deadline(args.budget)
    # SIGTERM stops the run like Ctrl-C: through the finally clauses that stop servers.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    started = datetime.now().astimezone()
    results: Results = {
        "benchmark": benchmark, "started": started.isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "targets_from_issue": dict(targets),
        "code": code_version(),
    }
    workdir = Path(tempfile.mkdtemp(prefix=f"ptsp-bench-{benchmark}-"))
    failure: BaseException | None = None
    try:
        phases(deadline, workdir, results)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - reported in the JSON
        failure = exc
        results["error"] = ("interrupted" if _INTERRUPTED or isinstance(exc, KeyboardInterrupt)
                            else f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["elapsed_s"] = round(time.monotonic() - deadline.start, 1)
    print(report(results))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = args.output or RESULTS_DIR / f"{benchmark}-{started:%Y-%m-%d}.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwritten to {out} ({results['elapsed_s']}s in all)")
    if isinstance(failure, KeyboardInterrupt) or _INTERRUPTED:
        print("interrupted: every process started here was stopped", file=sys.stderr)
        return 130
    if failure is not None:
        print(f"run incomplete: {results['error']}", file=sys.stderr)
        return 1
    return 0
