"""`ptsp up` as an operator runs it: JSON log lines on standard error while the ready line
stays plain on standard output, `/ready`, and metrics that add up every process (two HTTP
workers and the pipeline) on `PTSP_METRICS_PORT` without a token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.drill import Up
from services.infra.embedded import free_port
from services.infra.tokens import TokenIssuer

pytestmark = pytest.mark.e2e

SUBMISSIONS = 20


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    running = Up(tmp_path / "data", free_port(), flags=["--workers", "2"],
                 env={"PTSP_METRICS_PORT": str(free_port())})
    running.start()
    yield running
    running.stop()


def intake_created(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "ptsp_intake_total" and s.labels == {
                    "case_type": "application", "channel": "oss", "outcome": "created"}:
                return s.value
    return 0


def test_metrics_count_every_process_and_logs_are_json(up: Up) -> None:
    issuer = TokenIssuer.of_keys_dir(up.data_dir / "keys")
    oss = {"Authorization": "Bearer " + issuer.issue(role="channel", actor="oss-gw",
                                                     ttl_seconds=600, channel="oss")}
    head = {"Authorization": "Bearer " + issuer.issue(role="head", actor="kepala",
                                                      ttl_seconds=600)}
    for n in range(SUBMISSIONS):
        # A connection each: the kernel spreads them over both workers.
        r = httpx.post(f"{up.url}/applications", headers=oss, timeout=30, json={
            "channel": "oss", "external_id": f"OPS-{n}", "service_code": "SS-KBLI-10510",
            "applicant": {"name": "Siti Rahma"},
            "business": {"name": "CV Susu Murni", "kbli": "10510", "scale": "kecil",
                         "in_industrial_estate": True, "address": "Purwakarta"}})
        assert r.status_code == 201, r.text
    port = up.env["PTSP_METRICS_PORT"]
    open_port = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30)
    assert open_port.status_code == 200
    assert intake_created(open_port.text) == SUBMISSIONS
    # Every HTTP worker wrote its own counts; the scrape added them up.
    pids = {f.stem.rsplit("_", 1)[1] for f in (up.data_dir / "metrics").glob("histogram_*.db")}
    assert len(pids) >= 2, pids
    assert httpx.get(f"{up.url}/metrics", timeout=30).status_code == 401
    token_port = httpx.get(f"{up.url}/metrics", headers=head, timeout=30)
    assert token_port.status_code == 200 and intake_created(token_port.text) == SUBMISSIONS
    ready = httpx.get(f"{up.url}/ready", timeout=30)
    assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text

    # Standard error: JSON lines only, among them an access line per request.
    assert up.child is not None
    lines = [json.loads(line) for line in up.child.log_path.read_text().splitlines()
             if line.strip()]
    access = [line for line in lines if line["logger"] == "ptsp.access"]
    assert sum(1 for a in access if a["route"] == "/applications") == SUBMISSIONS
    assert all(a["actor"] == "oss-gw" for a in access if a["route"] == "/applications")
    assert not any("Siti" in json.dumps(line) for line in lines)


def test_the_pipeline_process_runs_behind_the_http_workers(up: Up) -> None:
    """PTSP_PIPELINE_NICE (default 10): the relay and the read models give way to the
    requests when the CPU is short (README, "Benchmarks")."""
    runtime = json.loads((up.data_dir / "runtime.json").read_text())
    roles: dict[str, list[int]] = {}
    for worker in runtime["workers"]:
        process = psutil.Process(worker["pid"])
        cmdline = process.cmdline()
        roles.setdefault(cmdline[cmdline.index("--role") + 1], []).append(process.nice())
    ours = psutil.Process().nice()
    assert roles["pipeline"] == [max(10, ours)]
    assert roles["http"] == [ours, ours]
