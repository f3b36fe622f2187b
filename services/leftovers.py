"""What a killed `ptsp up` leaves behind, found and stopped before the next one starts.

`ptsp up` holds an exclusive lock on `DATA_DIR/ptsp-up.lock` for its whole life; the
kernel drops it when the process dies, `kill -9` included. So the lock says for sure
whether the previous `ptsp up` on this data dir still runs (then the new one refuses
to start), and once it is ours, every worker of this data dir still running is a
leftover. The workers are found two ways: the pids the runtime file recorded, and a scan
for `_worker` processes of this data dir or of this port. A pid is stopped only after
psutil shows it is really one of ours (its command line, and its start time when
recorded), never a process that merely reused the pid. Postgres and NATS left running
are stopped by their own start (`services.infra.embedded`), after the workers are gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil  # type: ignore[import-untyped]  # psutil ships no types; no stubs installed

log = logging.getLogger("ptsp")

LOCK_FILE = "ptsp-up.lock"
WORKER_MODULE, WORKER_COMMAND = "services.cli", "_worker"
STOP_SECONDS = 20.0
"""How long leftovers get to finish what they were doing before they are killed."""


class AlreadyRunning(RuntimeError):
    """Another `ptsp up` still runs on this data dir or serves this port."""


@dataclass(frozen=True)
class WorkerArgs:
    data_dir: Path | None
    port: int | None
    host: str | None
    parent: int | None


def worker_args(cmdline: list[str]) -> WorkerArgs | None:
    """The arguments of a `python -m services.cli _worker ...` command line; None: not one."""
    try:
        at = cmdline.index(WORKER_MODULE)
    except ValueError:
        return None
    if WORKER_COMMAND not in cmdline[at + 1:at + 2]:
        return None
    options: dict[str, str] = {}
    rest = cmdline[at + 2:]
    for name, value in itertools.pairwise(rest):
        if name.startswith("--"):
            options.setdefault(name[2:], value)

    def number(key: str) -> int | None:
        return int(options[key]) if options.get(key, "").isdigit() else None
    data_dir = options.get("data-dir")
    return WorkerArgs(Path(data_dir).resolve() if data_dir else None, number("port"),
                      options.get("host"), number("parent"))


# -- the lock ---------------------------------------------------------------------------
@contextlib.contextmanager
def holding_data_dir(data_dir: Path, runtime: Path) -> Iterator[None]:
    """Hold the data dir's lock for as long as `ptsp up` runs; AlreadyRunning if another
    `ptsp up` holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle: IO[bytes] = (data_dir / LOCK_FILE).open("a+b")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = read_runtime(runtime).get("pid", "unknown")
            raise AlreadyRunning(
                f"another `ptsp up` is running on {data_dir} (pid {pid}); stop it first "
                "(Ctrl-C or kill -TERM)") from None
        yield
    finally:
        handle.close()  # the lock goes with it


# -- the runtime file -------------------------------------------------------------------
def read_runtime(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_runtime(path: Path, record: dict[str, Any]) -> None:
    """Replace the runtime file whole: a reader never sees half of it. Its owner's only:
    the database URL in it carries the embedded Postgres's password."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(record))
    os.replace(tmp, path)


def recorded(process: psutil.Process) -> dict[str, Any]:
    """What the runtime file keeps of a process: enough to know it again."""
    return {"pid": process.pid, "started": process.create_time()}


# -- finding and stopping -----------------------------------------------------------------
def stop_leftovers(data_dir: Path, host: str, port: int, runtime: Path,
                   grace: float = STOP_SECONDS) -> list[int]:
    """Stop every worker a killed `ptsp up` left on this data dir or this port (call it
    holding the data dir's lock). Returns the pids stopped."""
    found = _recorded_workers(data_dir, runtime) | _scanned_workers(data_dir, host, port)
    procs = [p for p in found if p.is_running()]
    if not procs:
        return []
    log.warning("stopping %d ptsp worker(s) left running by a previous `ptsp up`: pids %s",
                len(procs), ", ".join(str(p.pid) for p in procs))
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)
    return [p.pid for p in procs]


def _recorded_workers(data_dir: Path, runtime: Path) -> set[psutil.Process]:
    found: set[psutil.Process] = set()
    for entry in read_runtime(runtime).get("workers", []):
        with contextlib.suppress(psutil.Error, KeyError, TypeError, ValueError):
            proc = psutil.Process(int(entry["pid"]))
            same_start = abs(proc.create_time() - float(entry["started"])) < 0.05
            args = worker_args(proc.cmdline())
            if same_start and args is not None and args.data_dir == data_dir.resolve():
                found.add(proc)
    return found


def _scanned_workers(data_dir: Path, host: str, port: int) -> set[psutil.Process]:
    """Workers of this data dir (whose `ptsp up` is gone: we hold its lock), and workers
    of this port whose `ptsp up` is gone (the port's users; a live one's: AlreadyRunning)."""
    found: set[psutil.Process] = set()
    me = os.getpid()
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        args = worker_args(cmdline)
        if args is None or proc.pid == me:
            continue
        if args.data_dir == data_dir.resolve():
            found.add(proc)
            continue
        if args.port != port or not _same_interface(args.host, host):
            continue
        parent: psutil.Process | None = None
        with contextlib.suppress(psutil.Error):
            parent = _live_up(proc.ppid())  # an orphan's parent is init or a subreaper
        if parent is not None:
            raise AlreadyRunning(
                f"port {port} is served by the `ptsp up` of pid {parent.pid} on "
                f"{args.data_dir}; stop it or choose another --port")
        found.add(proc)
    return found


def _same_interface(a: str | None, b: str) -> bool:
    return a is None or a == b or "0.0.0.0" in (a, b)


def _live_up(pid: int | None) -> psutil.Process | None:
    """The process `pid` if it is a running `ptsp up`."""
    if pid is None:
        return None
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        cmdline = proc.cmdline()
        if proc.status() != psutil.STATUS_ZOMBIE and "up" in cmdline and any(
                "ptsp" in part or WORKER_MODULE in part for part in cmdline):
            return proc
    return None
