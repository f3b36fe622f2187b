"""`ptsp up` killed with -9 and started again on the same data dir and port: it serves
again (a POST gives 201), and nothing of the first run is left behind. A restart that
would set the clock back is refused, naming the stored time.

Before: the workers ran on in sessions of their own, kept the port and answered /health
while every POST failed (their Postgres was gone), and the next `ptsp up` died with
"Address already in use"."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import pytest

from services.infra.embedded import EmbeddedPostgres, free_port
from services.infra.tokens import TokenIssuer

pytestmark = pytest.mark.e2e

PTSP = str(Path(sys.executable).with_name("ptsp"))
READY_SECONDS = 240


@dataclass
class Up:
    proc: subprocess.Popen[str]
    data_dir: Path
    port: int
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    stderr: list[str] = field(default_factory=list)

    def ready(self) -> str | None:
        """The ready line, or None when it exits first."""
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None or line.startswith("ptsp ready"):
                return line
        return None

    def worker_pids(self) -> list[int]:
        """The workers the runtime file records."""
        runtime = json.loads((self.data_dir / "runtime.json").read_text())
        return [int(w["pid"]) for w in runtime["workers"]]


def start(data_dir: Path, port: int, *flags: str) -> Up:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "NATS_URL", "PTSP_DATA_DIR")}
    proc = subprocess.Popen(
        [PTSP, "up", "--data-dir", str(data_dir), "--port", str(port), "--workers", "2",
         *flags], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    up = Up(proc, data_dir, port)

    def drain_stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            up.lines.put(line)
        up.lines.put(None)

    def drain_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            up.stderr.append(line)

    threading.Thread(target=drain_stdout, daemon=True).start()
    threading.Thread(target=drain_stderr, daemon=True).start()
    return up


@pytest.fixture
def ups(tmp_path: Path) -> Iterator[list[Up]]:
    started: list[Up] = []
    yield started
    for up in started:
        if up.proc.poll() is None:
            up.proc.send_signal(signal.SIGTERM)
            try:
                up.proc.wait(60)
            except subprocess.TimeoutExpired:
                up.proc.kill()
    # Whatever a failed test left: stop it, so no later test inherits a server.
    for proc in psutil.process_iter(["cmdline"]):
        if str(tmp_path) in " ".join(proc.info.get("cmdline") or []):
            proc.kill()
    EmbeddedPostgres(tmp_path / "data" / "postgres").stop()


def submit(port: int, data_dir: Path, external_id: str) -> httpx.Response:
    issuer = TokenIssuer.of_keys_dir(data_dir / "keys")
    token = issuer.issue(role="channel", actor="oss-gw", ttl_seconds=600, channel="oss")
    return httpx.post(f"http://127.0.0.1:{port}/applications", timeout=30,
                      headers={"Authorization": f"Bearer {token}"}, json={
        "channel": "oss", "external_id": external_id, "service_code": "SS-KBLI-10510",
        "applicant": {"name": "Siti Rahma"},
        "business": {"name": "CV Susu Murni", "kbli": "10510", "scale": "kecil",
                     "in_industrial_estate": False, "address": "Purwakarta"}})


def ours(data_dir: Path) -> list[psutil.Process]:
    """Every `ptsp up` worker of this data dir still running."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if "_worker" in cmdline and str(data_dir.resolve()) in cmdline:
            found.append(proc)
    return found


def test_kill_9_then_up_again_on_the_same_data_dir_and_port(tmp_path: Path,
                                                            ups: list[Up]) -> None:
    data_dir, port = tmp_path / "data", free_port()
    first = start(data_dir, port)
    ups.append(first)
    assert first.ready() == f"ptsp ready http://127.0.0.1:{port}\n", "".join(first.stderr)
    assert submit(port, data_dir, "R-1").status_code == 201
    workers = first.worker_pids()
    assert len(workers) == 3 and {p.pid for p in ours(data_dir)} == set(workers)

    first.proc.kill()  # -9: no handler runs, nothing is cleaned up by the parent
    first.proc.wait()
    second = start(data_dir, port)  # at once: the old workers may still be stopping
    ups.append(second)
    assert second.ready() == f"ptsp ready http://127.0.0.1:{port}\n", "".join(second.stderr)
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() !=
                   psutil.STATUS_ZOMBIE for pid in workers)
    r = submit(port, data_dir, "R-2")
    assert r.status_code == 201, r.text
    assert submit(port, data_dir, "R-1").status_code == 200  # the first run's case is there

    second.proc.send_signal(signal.SIGTERM)
    assert second.proc.wait(60) == 0
    assert ours(data_dir) == [] and not (data_dir / "runtime.json").exists()

    # Both ran on the real clock: a simulated clock before it would move time back.
    third = start(data_dir, port, "--simulated-clock", "2020-03-17T09:00:00+07:00")
    ups.append(third)
    assert third.ready() is None
    assert third.proc.wait(60) != 0
    refusal = "".join(third.stderr)
    assert "would move time in the record backwards" in refusal
    stored = re.search(r"already stands at (\S+);", refusal)
    assert stored is not None, refusal
    assert abs((datetime.fromisoformat(stored[1]) - datetime.now(UTC)).total_seconds()) < 600
    assert ours(data_dir) == []


def test_workers_die_with_their_parent(tmp_path: Path, ups: list[Up]) -> None:
    data_dir, port = tmp_path / "data", free_port()
    up = start(data_dir, port)
    ups.append(up)
    assert up.ready() is not None, "".join(up.stderr)
    workers = [psutil.Process(pid) for pid in up.worker_pids()]
    up.proc.kill()
    up.proc.wait()
    _, alive = psutil.wait_procs(workers, timeout=40)
    assert alive == [], f"orphans still running: {alive}"
    with pytest.raises(httpx.TransportError):  # nobody serves the port any more
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)


def test_only_the_workers_hold_the_listening_port(tmp_path: Path, ups: list[Up]) -> None:
    # Were the parent to keep its copy, a worker that died would leave a socket the
    # kernel still queues connections on (the port accepts, nobody answers).
    data_dir, port = tmp_path / "data", free_port()
    up = start(data_dir, port)
    ups.append(up)
    assert up.ready() is not None, "".join(up.stderr)

    def listening(pid: int) -> int:
        return sum(1 for c in psutil.Process(pid).net_connections(kind="tcp")
                   if c.status == psutil.CONN_LISTEN and c.laddr.port == port)

    assert listening(up.proc.pid) == 0
    assert sorted(listening(pid) for pid in up.worker_pids()) == [0, 1, 1]  # the pipeline
    assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
