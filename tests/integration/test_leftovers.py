"""What a killed `ptsp up` leaves is found and stopped before the next one starts, and
only that: a process is stopped only once psutil shows it is really one of ours.

The stand-in workers are real processes with a worker's command line that ignore
SIGTERM, as an orphan of the old code did (they ran on, serving, in sessions of their
own); the new workers die with their parent by themselves (tests/e2e/test_restart.py)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from services.infra.embedded import free_port
from services.leftovers import (
    AlreadyRunning,
    holding_data_dir,
    recorded,
    stop_leftovers,
    worker_args,
    write_runtime,
)

pytestmark = pytest.mark.integration

STUBBORN = ("import signal, socket, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "port = int(sys.argv[sys.argv.index('--port') + 1])\n"
            "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\n"
            "s.bind(('127.0.0.1', port)); s.listen()\n"
            "print('listening', flush=True)\n"
            "time.sleep(600)\n")


def orphan(spawned: list[subprocess.Popen[str]], data_dir: Path, port: int,
           parent: int | None = None) -> subprocess.Popen[str]:
    """A process with a `ptsp up` worker's command line, listening on `port` (beside the
    others, as workers share theirs), deaf to SIGTERM, in a session of its own."""
    cmd = [sys.executable, "-c", STUBBORN, "-m", "services.cli", "_worker", "--role", "http",
           "--data-dir", str(data_dir.resolve()), "--port", str(port), "--host", "127.0.0.1"]
    if parent is not None:
        cmd += ["--parent", str(parent)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
    spawned.append(proc)  # stopped at the end whatever happens
    assert proc.stdout is not None and proc.stdout.readline() == "listening\n"
    return proc


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_the_worker_command_line_is_read_back() -> None:
    args = worker_args(["/usr/bin/python3", "-m", "services.cli", "_worker", "--role", "http",
                        "--data-dir", "/tmp/x", "--port", "8123", "--host", "127.0.0.1",
                        "--parent", "42"])
    assert args is not None
    assert (args.data_dir, args.port, args.host, args.parent) == (
        Path("/tmp/x").resolve(), 8123, "127.0.0.1", 42)
    assert worker_args(["/usr/bin/python3", "-m", "services.cli", "up", "--port", "1"]) is None
    assert worker_args(["postgres", "-D", "/tmp/x"]) is None


def test_leftovers_of_the_data_dir_and_the_port_are_stopped(
        tmp_path: Path, spawned: list[subprocess.Popen[str]]) -> None:
    data_dir, port = tmp_path / "data", free_port()
    data_dir.mkdir()
    runtime = data_dir / "runtime.json"
    # One recorded in the runtime file, one only found by its data dir, one of another
    # data dir on our port (its `ptsp up` is gone too).
    recorded_one = orphan(spawned, data_dir, port)
    found_one = orphan(spawned, data_dir, free_port())
    on_our_port = orphan(spawned, tmp_path / "elsewhere", port)
    # Not ours: a worker of another data dir and port, and a pid recorded in the file
    # whose start time says it is another process now.
    bystander = orphan(spawned, tmp_path / "other", free_port())
    write_runtime(runtime, {"workers": [recorded(psutil.Process(recorded_one.pid)),
                                        {"pid": bystander.pid, "started": 1.0}]})
    assert not port_free(port)

    with holding_data_dir(data_dir, runtime):
        stopped = stop_leftovers(data_dir, "127.0.0.1", port, runtime, grace=1.0)

    assert sorted(stopped) == sorted([recorded_one.pid, found_one.pid, on_our_port.pid])
    for proc in (recorded_one, found_one, on_our_port):
        proc.wait(5)  # gone, though deaf to SIGTERM: killed after the grace
        assert not psutil.pid_exists(proc.pid)
    assert bystander.poll() is None
    assert port_free(port)


def test_a_running_up_is_never_stopped(tmp_path: Path,
                                       spawned: list[subprocess.Popen[str]]) -> None:
    data_dir, port = tmp_path / "data", free_port()
    runtime = data_dir / "runtime.json"
    with holding_data_dir(data_dir, runtime):
        write_runtime(runtime, {"pid": 4242})
        # The data dir's lock is held: a second `ptsp up` refuses to start.
        with pytest.raises(AlreadyRunning, match="pid 4242"), \
                holding_data_dir(data_dir, runtime):
            pass
    # A live `ptsp up` of another data dir (here: a process whose command line says so)
    # whose worker serves our port: not a leftover, and the new `ptsp up` says who.
    other = tmp_path / "elsewhere"
    up = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; "
         "subprocess.Popen(sys.argv[sys.argv.index('--') + 1:]).wait()", "ptsp", "up", "--",
         sys.executable, "-c", STUBBORN, "-m", "services.cli", "_worker", "--role", "http",
         "--data-dir", str(other.resolve()), "--port", str(port), "--host", "127.0.0.1"],
        stdout=subprocess.PIPE, text=True, start_new_session=True)
    spawned.append(up)
    assert up.stdout is not None and up.stdout.readline() == "listening\n"
    worker = psutil.Process(up.pid).children()[0]
    try:
        with holding_data_dir(data_dir, runtime), pytest.raises(
                AlreadyRunning, match=f"port {port} is served by .* pid {up.pid}"):
            stop_leftovers(data_dir, "127.0.0.1", port, runtime, grace=1.0)
        assert worker.is_running() and up.poll() is None
    finally:
        worker.kill()
