"""`ptsp backup` of a running system, `ptsp restore` into a fresh data dir, `ptsp up` on
it: every case, every history and every certificate are as they were, the hash chain
verifies against the restored checkpoints, an erased subject stays erased, and what came
after the backup is not there. A wrong passphrase restores nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.drill import Up
from services.infra.embedded import free_port
from services.infra.tokens import TokenIssuer
from services.ops import backup as b

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CLOCK = "2026-03-16T09:00:00+07:00"
PASSPHRASE = "kunci-cadangan-kantor-purwakarta"
ALL_MET = dict.fromkeys(("U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4"), True)
NIK = "3214010101800001"
ERASED_NAME = "Siti Rahma Wulandari"


def application(external_id: str, nik: str = "3214010101800009",
                name: str = "Budi Santoso") -> dict[str, Any]:
    return {"channel": "oss", "external_id": external_id, "service_code": "SS-KBLI-10510",
            "applicant": {"name": name, "nik": nik, "email": "pemohon@example.id"},
            "business": {"name": f"CV Susu {external_id}", "kbli": "10510", "scale": "kecil",
                         "in_industrial_estate": True, "address": "Jl. Veteran 139, Purwakarta"}}


def complaint(external_id: str, nik: str) -> dict[str, Any]:
    return {"channel": "whatsapp", "external_id": external_id,
            "complainant": {"name": ERASED_NAME, "nik": nik, "phone": "081234567890"},
            "subject_matter": "Dimintai biaya untuk Sertifikat Standar yang gratis",
            "description": "Petugas meminta uang administrasi di loket MPP.",
            "service_received_on": "2026-03-10"}


class Client:
    """Calls into one `ptsp up`, as each member of its cast."""

    CAST = {"oss": ("channel", "oss-gateway", {"channel": "oss"}),
            "whatsapp": ("channel", "wa-gateway", {"channel": "whatsapp"}),
            "officer": ("officer", "budi", {"unit": "perizinan", "tier": "kepala_dinas"}),
            "supervisor": ("supervisor", "sri", {}),
            "head": ("head", "kepala", {}),
            "auditor": ("auditor", "inspektorat-1", {})}

    def __init__(self, up: Up) -> None:
        issuer = TokenIssuer.of_keys_dir(up.data_dir / "keys")
        self.headers = {name: {"Authorization": "Bearer " + issuer.issue(
            role=role, actor=actor, ttl_seconds=3600, **claims)}
            for name, (role, actor, claims) in self.CAST.items()}
        self.http = httpx.Client(base_url=up.url, timeout=30)

    def post(self, path: str, who: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.http.post(path, json=body, headers=self.headers[who])
        assert r.status_code in (200, 201), f"{path}: {r.status_code} {r.text}"
        answer: dict[str, Any] = r.json()
        return answer

    def get(self, path: str, who: str = "auditor", **params: str) -> httpx.Response:
        return self.http.get(path, params=params, headers=self.headers[who])


@pytest.fixture
def ups() -> Iterator[list[Up]]:
    started: list[Up] = []
    yield started
    for up in started:
        up.stop()


def ptsp(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "NATS_URL", "PTSP_DATA_DIR")}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], input=stdin,
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


def record_of(client: Client, cases: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """Each case as the auditor reads it, and its history."""
    out = {}
    for name, (kind, case) in cases.items():
        view = client.get(f"/{kind}/{case}")
        history = client.get(f"/cases/{case}/history")
        assert view.status_code == 200 and history.status_code == 200, (view.text, history.text)
        out[name] = {"view": view.json(), "history": history.json()}
    return out


def same_base(view: dict[str, Any], up: Up) -> Any:
    """A view with its links' base URL (`PTSP_PUBLIC_URL`, here the port) taken out."""
    return json.loads(json.dumps(view).replace(up.url, "BASE"))


def wait_for_checkpoint(up: Up, events: int) -> None:
    """Until a signed checkpoint covers the first `events` events."""
    path = up.data_dir / "audit" / "checkpoints.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if path.exists():
            lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
            if lines and lines[-1]["seq"] >= events:
                return
        time.sleep(0.2)
    raise AssertionError("no signed checkpoint")


def test_backup_then_restore_into_a_fresh_data_dir(tmp_path: Path, ups: list[Up]) -> None:
    env = {"PTSP_AUDIT_CHECKPOINT_EVENTS": "3", "PTSP_AUDIT_CHECKPOINT_SECONDS": "1"}
    first = Up(tmp_path / "a", free_port(), env=env, flags=["--simulated-clock", CLOCK])
    ups.append(first)
    first.start()
    client = Client(first)

    # An application to its certificate; two more; a complaint; one person erased.
    issued = client.post("/applications", "oss", application("B-1"))["id"]
    client.post(f"/applications/{issued}/verification", "officer", {"results": ALL_MET})
    client.post(f"/applications/{issued}/technical-review", "officer",
                {"recommendation": "approve", "note": "sarana produksi sesuai"})
    client.post(f"/applications/{issued}/decision", "supervisor",
                {"outcome": "approve", "reason": "memenuhi standar"})
    certificate = client.post(f"/applications/{issued}/issuance", "supervisor")
    url = httpx.URL(certificate["verification_url"])
    open_case = client.post("/applications", "oss", application("B-2"))["id"]
    erased = client.post("/applications", "oss", application("B-3", NIK, ERASED_NAME))["id"]
    complained = client.post("/complaints", "whatsapp", complaint("B-C1", NIK))["id"]
    client.post(f"/applications/{erased}/erasure", "head",
                {"reason": "permintaan subjek data (UU 27/2022 ps. 8)"})
    cases = {"issued": ("applications", issued), "open": ("applications", open_case),
             "erased": ("applications", erased), "complaint": ("complaints", complained)}
    before = record_of(client, cases)
    assert before["erased"]["view"]["applicant"] == {"erased": True}
    assert before["complaint"]["view"]["complainant"] == {"erased": True}
    events = sum(len(case["history"]) for case in before.values())
    wait_for_checkpoint(first, events)

    # Backed up while it runs; a short passphrase is refused, naming it.
    out = tmp_path / "backup"
    refused = ptsp("backup", "--out", str(out), "--data-dir", str(first.data_dir),
                   stdin="short\n")
    assert refused.returncode == 2 and "passphrase" in refused.stderr
    done = ptsp("backup", "--out", str(out), "--data-dir", str(first.data_dir),
                stdin=PASSPHRASE + "\n")
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == {"database.dump", "keys.enc", "audit/checkpoints.jsonl"}
    assert manifest["database"]["checkpoints"] >= 1
    assert manifest["database"]["streams"]["applications"]["events"] >= 8
    assert "personal-data-vault.key" in manifest["keys"]["files"]
    assert "office-ed25519.pem" in manifest["keys"]["files"]
    # The keys are not readable in the backup.
    vault_key = (first.data_dir / "keys" / "personal-data-vault.key").read_bytes()
    assert vault_key not in (out / "keys.enc").read_bytes()

    after_backup = client.post("/applications", "oss", application("B-4"))["id"]
    first.stop()

    # A wrong passphrase restores nothing.
    wrong = tmp_path / "wrong"
    r = ptsp("restore", "--from", str(out), "--data-dir", str(wrong),
             stdin="not-the-passphrase\n")
    assert r.returncode == 2 and "passphrase" in r.stderr, r.stderr
    assert not (wrong / "keys").exists() and not (wrong / "postgres").exists()

    restored_dir = tmp_path / "restored"
    r = ptsp("restore", "--from", str(out), "--data-dir", str(restored_dir),
             stdin=PASSPHRASE + "\n")
    assert r.returncode == 0, r.stderr
    assert "audit chain OK" in r.stderr
    # Restore never overwrites.
    again = ptsp("restore", "--from", str(out), "--data-dir", str(restored_dir),
                 stdin=PASSPHRASE + "\n")
    assert again.returncode == 2 and "already holds keys" in again.stderr

    second = Up(restored_dir, free_port(), env=env, flags=["--simulated-clock", CLOCK])
    ups.append(second)
    second.start()
    client = Client(second)
    after = record_of(client, cases)
    for name in cases:
        assert after[name]["history"] == before[name]["history"], name
        assert same_base(after[name]["view"], second) == same_base(before[name]["view"], first)
    # Erased stays erased; the certificate still verifies; the chain verifies.
    assert after["erased"]["view"]["applicant"] == {"erased": True}
    assert after["complaint"]["view"]["complainant"] == {"erased": True}
    check = client.http.get(url.path, params=dict(url.params))
    assert check.status_code == 200 and check.json()["valid"] is True, check.text
    verified = client.get("/audit/verify").json()
    assert verified["ok"] is True, verified
    assert verified["checkpoints"]["matched"] >= 1
    # The read models were rebuilt: the case list has the four cases, not the fifth.
    listed = client.get("/cases", "supervisor")
    assert listed.status_code == 200
    ids = {c["id"] for c in listed.json()["items"]} if isinstance(listed.json(), dict) \
        else {c["id"] for c in listed.json()}
    assert {issued, open_case, erased, complained} <= ids and after_backup not in ids
    assert client.get(f"/applications/{after_backup}").status_code == 404
    # And it works on: a new case after the restore.
    client.post("/applications", "oss", application("B-5"))


def test_the_keys_open_only_with_their_passphrase(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "office-ed25519.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\nabc\n")
    (keys / "personal-data-vault.key").write_bytes(os.urandom(64))
    blob, params = b.seal_keys(keys, PASSPHRASE)
    files = b.open_keys(blob, params, PASSPHRASE)
    assert files == {p.name: p.read_bytes() for p in keys.iterdir()}
    with pytest.raises(b.BackupError, match="passphrase"):
        b.open_keys(blob, params, PASSPHRASE + "x")
    altered = bytes([blob[0] ^ 1]) + blob[1:]
    with pytest.raises(b.BackupError, match="altered"):
        b.open_keys(altered, params, PASSPHRASE)
    with pytest.raises(b.BackupError, match="at least 12"):
        b.passphrase_of("pendek\n")
    with pytest.raises(b.BackupError, match="no keys"):
        b.seal_keys(tmp_path / "nowhere", PASSPHRASE)


def test_a_damaged_backup_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    source = tmp_path / "backup"
    (source / "audit").mkdir(parents=True)
    for name in (b.DUMP, b.KEYS, b.CHECKPOINTS):
        (source / name).write_bytes(b"content of " + name.encode())
    manifest = {"format": b.FORMAT, "version": b.VERSION,
                "files": {name: {"sha256": b.sha256(source / name)}
                          for name in (b.DUMP, b.KEYS, b.CHECKPOINTS)}}
    (source / b.MANIFEST).write_text(json.dumps(manifest))
    assert b.read_manifest(source)["format"] == b.FORMAT
    (source / b.DUMP).write_bytes(b"tampered")
    with pytest.raises(b.BackupError, match=r"database\.dump does not match its checksum"):
        b.read_manifest(source)
    r = ptsp("restore", "--from", str(source), "--data-dir", str(tmp_path / "new"),
             stdin=PASSPHRASE + "\n")
    assert r.returncode == 2 and "database.dump does not match" in r.stderr, r.stderr
    assert not (tmp_path / "new").exists()
