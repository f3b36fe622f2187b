"""The README's walk-throughs, run as pasted against a real `ptsp up`.

Each walk-through's ```sh block is marked in README.md by a line
`<!-- walkthrough: NAME -->` right before it. Every block runs with `bash -euo pipefail`
from the project's root, as a reader pastes it, against one `ptsp up` on a fresh data dir
and a free port. Two things differ from the reader's terminal, nothing else: the base URL
line `B=http://127.0.0.1:8000` names the test's port, and `.venv/bin/` names the
interpreter running the tests; `PTSP_DATA_DIR` (which the README tells a reader with
`--data-dir` to set) points the `ptsp` commands at the test's data dir.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from services.audit.chain import GENESIS, link, record_of, state_digest
from services.infra.embedded import EmbeddedPostgres, free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
BASE_LINE = "B=http://127.0.0.1:8000"
MARKED_BLOCK = re.compile(r"^<!-- walkthrough: ([\w-]+) -->\n```sh\n(.*?)^```$", re.M | re.S)
EXPECTED = {"applications", "calendar", "complaints", "nats", "audit"}


def walkthroughs(text: str) -> dict[str, str]:
    """NAME → the shell block marked `<!-- walkthrough: NAME -->`."""
    found: dict[str, str] = {}
    for name, body in MARKED_BLOCK.findall(text):
        assert name not in found, f"two README blocks are marked walkthrough: {name}"
        found[name] = body
    return found


def reader_env() -> dict[str, str]:
    """The environment, less what would point `ptsp` at another system."""
    return {k: v for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "NATS_URL", "PTSP_DATA_DIR")}


@dataclass(frozen=True)
class Running:
    url: str
    data_dir: Path

    def env(self) -> dict[str, str]:
        return {**reader_env(), "PTSP_DATA_DIR": str(self.data_dir)}


@pytest.fixture(scope="module")
def ptsp_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """`ptsp up` as a reader starts it, in a session of its own, stopped by SIGTERM."""
    base = tmp_path_factory.mktemp("readme")
    data_dir, port = base / "data", free_port()
    env = reader_env()
    # A checkpoint within a second of new events, so the auditors' walk-through has one
    # to match (the default, 60 s, would outlast the test).
    env["PTSP_AUDIT_CHECKPOINT_SECONDS"] = "1"
    with (base / "ptsp-up.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(BIN / "ptsp"), "up", "--data-dir", str(data_dir), "--port", str(port),
             "--workers", "2"],
            env=env, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def drain() -> None:  # read for the process's whole life, so its pipe never fills
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, daemon=True, name="ptsp-up-stdout").start()
    try:
        try:
            first = lines.get(timeout=240)
        except queue.Empty:
            first = None
        if first is None:
            pytest.fail("ptsp up did not print its ready line:\n"
                        + (base / "ptsp-up.log").read_text(errors="replace")[-3000:])
        assert first == f"ptsp ready http://127.0.0.1:{port}\n"
        yield Running(first.split()[2], data_dir)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            EmbeddedPostgres(data_dir / "postgres").stop()  # what it could not stop itself


def run(name: str, up: Running) -> str:
    """Run the README's block NAME as pasted (the base URL aside); its stdout."""
    script = walkthroughs(README.read_text())[name]
    assert script.startswith(BASE_LINE + " ") or BASE_LINE not in script, \
        f"the {name} walk-through sets B somewhere other than its first line"
    script = script.replace(BASE_LINE, f"B={up.url}", 1).replace(".venv/bin/", f"{BIN}/")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT,
                          env=up.env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (f"the {name} walk-through stopped (exit "
                                  f"{done.returncode}):\n{done.stdout[-3000:]}\n"
                                  f"{done.stderr[-3000:]}")
    return done.stdout


def json_lines(out: str) -> list[Any]:
    """Every line a JSON body (a curl call without its newline would join two), none an
    error (`{status_code, detail, extra}`)."""
    bodies = [json.loads(line) for line in out.splitlines()]
    errors = [b for b in bodies if isinstance(b, dict) and b.get("status_code", 0) >= 400]
    assert not errors, errors
    return bodies


def test_every_walkthrough_is_marked() -> None:
    assert set(walkthroughs(README.read_text())) == EXPECTED


def test_application_walkthrough_issues_a_certificate_that_verifies(ptsp_up: Running) -> None:
    services, submitted, *steps, certificate, case = json_lines(run("applications", ptsp_up))
    assert services[0]["service_code"] == "SS-KBLI-10510"
    assert submitted["status"] == "awaiting_verification"
    assert [s["status"] for s in steps] == ["complete", "reviewed", "approved", "issued"]
    issued = steps[-1]
    assert certificate == {**certificate, "valid": True, "genuine": True, "unaltered": True,
                           "certificate_number": issued["certificate_number"]}
    assert (case["id"], case["status"], case["sla"]["state"]) == (
        submitted["id"], "issued", "met")


def test_complaint_walkthrough_is_answered_and_a_late_one_is_a_suggestion(
        ptsp_up: Running) -> None:
    intake, *steps, suggestion = json_lines(run("complaints", ptsp_up))
    assert (intake["kind"], intake["reasons"]) == ("complaint", [])
    assert {s["id"] for s in steps} == {intake["id"]}
    answered = next(s for s in steps if s["status"] == "answered")
    assert answered["sla"]["state"] == "met"
    assert steps[-1]["status"] == "closed"
    assert (suggestion["kind"], suggestion["reason"], suggestion["reasons"]) == (
        "suggestion", "late", ["late", "no_identity", "no_subject_matter"])


def test_calendar_walkthrough_moves_the_deadline_and_back(ptsp_up: Running) -> None:
    lines = run("calendar", ptsp_up).splitlines()
    dues = [datetime.fromisoformat(line.removeprefix("due at ")) for line in lines
            if line.startswith("due at ")]
    holiday, working_day, year = (json.loads(line) for line in lines
                                  if not line.startswith("due at "))
    assert (holiday["kind"], holiday["working_day"]) == ("holiday", False)
    assert (working_day["kind"], working_day["working_day"]) == ("working_day", True)
    before, during, after = dues
    assert during > before and after == before
    assert {"date": holiday["date"], "kind": "working_day", "source": "office",
            "reason": "cuti bersama dibatalkan"} in year["days_off_and_corrections"]


def test_nats_walkthrough_reaches_the_embedded_server(ptsp_up: Running) -> None:
    first, again = json_lines(run("nats", ptsp_up))
    assert (first["status_code"], again["status_code"]) == (201, 200)
    assert first["id"] == again["id"] and first["status"] == "awaiting_verification"


def test_auditors_walkthrough_reverifies_the_export(ptsp_up: Running) -> None:
    out = run("audit", ptsp_up)
    ties = re.findall(r"^case\.jsonl: 2 events of 1 case, tied to (\d+) signed checkpoints$",
                      out, re.M)
    assert ties and int(ties[0]) >= 1, out
    matched = re.findall(r"^store\.jsonl: \d+ events of \d+ cases; (\d+) signed checkpoints "
                         r"match$", out, re.M)
    assert matched and int(matched[0]) >= 1, out


# -- the recipe refuses what it should --------------------------------------------------------
def recipe() -> str:
    """The auditors' re-verification script, as the README gives it."""
    block = walkthroughs(README.read_text())["audit"]
    [script] = re.findall(r"<<'EOF'\n(.*?)^EOF$", block, re.M | re.S)
    return str(script)


def rechain(lines: list[dict[str, Any]]) -> None:
    """Recompute every hash of a full export, as whoever rewrote the store would."""
    prev, cases = GENESIS, dict[tuple[str, str], str]()
    for e in lines:
        record = record_of(e["stream"], e["position"], e["case_id"], e["version"], e["topic"],
                           state_digest(base64.b64decode(e["state_b64"])))
        key = (e["stream"], e["case_id"])
        e["prev_hash"], e["hash"] = prev, link(prev, record)
        e["prev_case_hash"] = cases.get(key, GENESIS)
        e["case_hash"] = cases[key] = link(e["prev_case_hash"], record)
        prev = e["hash"]


def test_the_auditors_recipe_refuses_altered_events_and_checkpoints(
        ptsp_up: Running, tmp_path: Path) -> None:
    env, ptsp = ptsp_up.env(), str(BIN / "ptsp")

    def export(*args: str) -> list[dict[str, Any]]:
        out = subprocess.run([ptsp, "audit", "export", *args], env=env, capture_output=True,
                             text=True, timeout=120, check=True).stdout
        return [json.loads(line) for line in out.splitlines()]

    store = export()
    case = export("--case", store[0]["case_id"])
    checkpoints = (ptsp_up.data_dir / "audit" / "checkpoints.jsonl").read_text().splitlines()
    first_checkpoint = json.loads(checkpoints[0])
    with urllib.request.urlopen(f"{ptsp_up.url}/certificates/public-key", timeout=30) as r:
        (tmp_path / "office-key.json").write_bytes(r.read())

    def check(store: list[dict[str, Any]], case: list[dict[str, Any]],
              signed: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
        for name, lines in (("store.jsonl", store), ("case.jsonl", case),
                            ("checkpoints.jsonl", signed)):
            (tmp_path / name).write_text("".join(json.dumps(x) + "\n" for x in lines))
        return subprocess.run([sys.executable, "-", str(tmp_path)], input=recipe(),
                              capture_output=True, text=True, timeout=60)

    passed = check(store, case, [first_checkpoint])
    assert passed.returncode == 0, passed.stderr
    assert re.search(r"^case\.jsonl: \d+ events of 1 case, tied to [1-9]\d* signed",
                     passed.stdout, re.M), passed.stdout
    assert "; 1 signed checkpoints match" in passed.stdout

    # One byte of the first stored event changed: its hash no longer holds.
    altered = json.loads(json.dumps(store))
    state = bytearray(base64.b64decode(altered[0]["state_b64"]))
    state[-2] ^= 1
    altered[0]["state_b64"] = base64.b64encode(bytes(state)).decode()
    refused = check(altered, altered[:1], [first_checkpoint])
    assert refused.returncode == 1 and "case.jsonl line 1: hash" in refused.stderr

    # The same change with every hash recomputed: only the signed checkpoints tell.
    rechain(altered)
    refused = check(altered, case, [first_checkpoint])
    assert refused.returncode == 1 and "checkpoints.jsonl line 1: the chain was rewritten" \
        in refused.stderr

    # A checkpoint moved to the rewritten chain: its signature no longer holds, in the
    # file or inside a case export.
    moved = {**first_checkpoint, "hash": altered[first_checkpoint["seq"] - 1]["hash"]}
    refused = check(altered, case, [moved])
    assert refused.returncode == 1 and "InvalidSignature" in refused.stderr
    tied = [{**x, "checkpoint": {**x["checkpoint"], "hash": "0" * 64}}
            if x["kind"] == "checkpoint" else x for x in case]
    refused = check(store, tied, [first_checkpoint])
    assert refused.returncode == 1 and "InvalidSignature" in refused.stderr
