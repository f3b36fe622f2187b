"""The chain never gets shorter, checkpoints kept in two places cannot quietly vanish,
and a case's export carries its own proof against the signed checkpoints.

Before: someone with the database edited an event newer than the last checkpoint and
deleted `audit_chain` from it on; the keeper re-chained the altered row, the next
checkpoint signed it and verification said `ok: true`. Deleting `checkpoints.jsonl`
turned a consistent rewrite into `ok: true` with a warning."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contracts.applications import Applicant, ApplicationIntake, Business
from services.applications.commands import COMMANDS as APPLICATION
from services.audit.chain import (
    CHAIN_LOCK_KEY,
    GENESIS,
    ChainKeeper,
    link,
    record_of,
    state_digest,
)
from services.audit.service import AuditService
from services.domain.actors import Actor
from services.infra.signing import OfficeKey
from services.runtime import System
from services.settings import Settings
from tests.staff import register_officer

pytestmark = pytest.mark.integration

OSS = Actor(id="oss-gateway", role="channel", channel="oss")
OFFICER = Actor(id="budi", role="officer", tier="kepala_dinas", unit="perizinan")
CODES = dict.fromkeys(("U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4"), True)
PTSP = str(Path(sys.executable).with_name("ptsp"))
FLIP_A_BIT = "set_byte(state, 20, get_byte(state, 20) # 1)"


async def submitted(system: System, external_id: str) -> UUID:
    app, _ = await system.applications.submit(ApplicationIntake(
        channel="oss", external_id=external_id, service_code="SS-KBLI-10510",
        applicant=Applicant(name=f"Pemohon {external_id}"),
        business=Business(name="CV X", kbli="10510", scale="kecil",
                          in_industrial_estate=True, address="Purwakarta")), OSS)
    return app.id


async def verified_case(system: System, external_id: str) -> UUID:
    """An application with two events: submitted, then declared complete."""
    case = await submitted(system, external_id)
    await system.applications.do(APPLICATION["verification"], case, OFFICER, results=CODES)
    return case


def audit(system: System) -> AuditService:
    assert system.audit is not None
    return system.audit


def keeper(system: System) -> ChainKeeper:
    assert audit(system).keeper is not None
    return audit(system).keeper  # type: ignore[return-value]  # checked just above


def table(system: System) -> str:
    return audit(system).eventlog.streams["applications"].table


async def sign(system: System) -> dict[str, Any] | None:
    """Chain what is stored, then sign the head now (not after 1,000 events or 60 s)."""
    await keeper(system).catch_up()
    return await keeper(system).checkpoint(force=True)


async def head_seq(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT coalesce(max(seq), 0) FROM audit_chain"))


async def rewrite_the_tail(database_url: str, events: str, case: UUID,
                           rechain: bool = False) -> int:
    """Edit the case's first event and delete `audit_chain` from it on, as the finding
    did; with `rechain`, write the links again with the published recipe instead (the
    chain as long as before, its hashes new). One transaction under the keeper's own
    lock: the keeper sees the store before or after, never half-way. Returns the seq of
    the edited event."""
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", CHAIN_LOCK_KEY)
            position = await conn.fetchval(
                f"SELECT notification_id FROM {events} WHERE originator_id = $1 "
                "AND originator_version = 1", case)
            seq = int(await conn.fetchval(
                "SELECT seq FROM audit_chain WHERE stream = 'applications' AND position = $1",
                position))
            await conn.execute(f"UPDATE {events} SET state = {FLIP_A_BIT} "
                               "WHERE notification_id = $1", position)
            if not rechain:
                await conn.execute("DELETE FROM audit_chain WHERE seq >= $1", seq)
                return seq
            prev = await conn.fetchval("SELECT hash FROM audit_chain WHERE seq = $1", seq - 1)
            prev = prev or GENESIS
            cases: dict[UUID, str] = {}
            for c in await conn.fetch("SELECT * FROM audit_chain WHERE seq >= $1 ORDER BY seq",
                                      seq):
                state = await conn.fetchval(
                    f"SELECT state FROM {events} WHERE notification_id = $1", c["position"])
                digest = state_digest(state)
                record = record_of(c["stream"], c["position"], c["case_id"], c["version"],
                                   c["topic"], digest)
                case_prev = cases.get(c["case_id"]) or c["prev_case_hash"]
                new_hash, case_hash = link(prev, record), link(case_prev, record)
                await conn.execute(
                    "UPDATE audit_chain SET state_sha256 = $2, prev_hash = $3, hash = $4, "
                    "prev_case_hash = $5, case_hash = $6 WHERE seq = $1", c["seq"], digest,
                    prev, new_hash, case_prev, case_hash)
                prev, cases[c["case_id"]] = new_hash, case_hash
            return seq
    finally:
        await conn.close()


def ptsp(settings: Settings, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run([PTSP, "audit", *args, "--data-dir", str(settings.data_dir)],
                          check=False, env=env, capture_output=True, text=True, timeout=120)


# -- the chain never gets shorter ---------------------------------------------------------
async def test_a_tail_rewrite_after_the_last_checkpoint_is_refused_and_alarmed(
        system: System, database_url: str) -> None:
    await verified_case(system, "A-1")
    signed = await sign(system)
    assert signed is not None
    tail = await verified_case(system, "A-2")       # newer than the last checkpoint
    await keeper(system).catch_up()
    before = await head_seq(audit(system).pool)
    assert before > signed["seq"]

    stops_at = await rewrite_the_tail(database_url, table(system), tail)
    assert await keeper(system).catch_up() == 0      # it refuses to re-chain...
    assert await head_seq(audit(system).pool) == stops_at - 1
    alarm = keeper(system).alarm
    assert alarm is not None and f"up to seq {before}" in alarm and "deleted" in alarm
    assert await keeper(system).checkpoint(force=True) is None  # ...and to sign

    report = await audit(system).verify()
    assert report["ok"] is False and report["alarm"] == alarm
    kinds = {p["kind"] for p in report["problems"]}
    assert {"chain_regressed", "chain_truncated"} <= kinds, report["problems"]
    # The mark is signed, with the alarm: every process sees it, not only the keeper's.
    last = audit(system).checkpoints.last()
    assert last is not None and last["seq"] == before and last["alarm"] == alarm
    assert system.office_key.verify({k: v for k, v in last.items() if k != "signature"},
                                    last["signature"])
    reader = system.audit_service(audit(system).pool, keep=False)  # as an HTTP worker has it
    assert reader.alarm == alarm
    report = await reader.verify()
    assert report["ok"] is False
    assert {"chain_regressed", "chain_truncated"} <= {p["kind"] for p in report["problems"]}


async def test_links_rewritten_to_the_same_length_are_refused_too(
        system: System, database_url: str) -> None:
    tail = await verified_case(system, "B-1")
    await keeper(system).catch_up()
    before = await head_seq(audit(system).pool)
    await rewrite_the_tail(database_url, table(system), tail, rechain=True)
    assert await head_seq(audit(system).pool) == before
    await keeper(system).catch_up()
    alarm = keeper(system).alarm
    assert alarm is not None and "rewritten" in alarm
    report = await audit(system).verify()
    assert report["ok"] is False and report["first_broken"]["kind"] == "chain_regressed"


async def test_the_mark_outlives_a_killed_keeper(settings: Settings, database_url: str
                                                 ) -> None:
    first = System.build(settings, database_url)
    await first.start()
    try:
        await verified_case(first, "K-1")
        signed = await sign(first)
        tail = await verified_case(first, "K-2")
        await keeper(first).catch_up()
        before = await head_seq(audit(first).pool)
        events = table(first)
        # As `kill -9` would: the keeper stops without signing its head on the way out.
        task = keeper(first)._task
        assert task is not None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        audit(first).keeper = None
    finally:
        await first.stop()
    assert signed is not None and before > signed["seq"]
    checkpoints = (settings.audit_dir / "checkpoints.jsonl").read_text().splitlines()
    assert [json.loads(line)["seq"] for line in checkpoints] == [signed["seq"]]

    # While nothing runs, the tail beyond the last checkpoint is rewritten.
    await rewrite_the_tail(database_url, events, tail)
    second = System.build(settings, database_url)
    await second.start()
    try:
        alarm = keeper(second).alarm
        assert alarm is not None and f"up to seq {before}" in alarm
        report = await audit(second).verify()
        assert report["ok"] is False and report["first_broken"]["kind"] == "chain_regressed"
        last = audit(second).checkpoints.last()
        assert last is not None and last["seq"] == before and last["alarm"] == alarm
    finally:
        await second.stop()


# -- checkpoints that vanish -------------------------------------------------------------
async def test_a_deleted_checkpoint_file_fails_verification_unless_allowed(
        system: System, settings: Settings, database_url: str) -> None:
    await verified_case(system, "D-1")
    done = await asyncio.to_thread(ptsp, settings, database_url, "verify")
    assert done.returncode == 0, done.stderr   # before the first checkpoint: ok
    signed = await sign(system)
    assert signed is not None
    (settings.audit_dir / "checkpoints.jsonl").unlink()

    done = await asyncio.to_thread(ptsp, settings, database_url, "verify")
    assert done.returncode == 1, done.stdout
    broken = json.loads(done.stdout)["first_broken"]
    assert broken["kind"] == "checkpoint_missing" and broken["seq"] == signed["seq"]
    assert "is missing" in broken["detail"]
    # The office's public key is printed, for the auditor's own tools.
    assert system.office_key.public_b64 in done.stderr

    done = await asyncio.to_thread(ptsp, settings, database_url, "verify",
                                   "--allow-missing-checkpoints")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "allowed by --allow-missing-checkpoints" in done.stderr


async def test_a_rewrite_is_caught_even_with_the_file_gone(
        system: System, settings: Settings, database_url: str) -> None:
    case = await verified_case(system, "E-1")
    await verified_case(system, "E-2")
    await sign(system)
    (settings.audit_dir / "checkpoints.jsonl").unlink()
    await rewrite_the_tail(database_url, table(system), case, rechain=True)
    # Allowed to miss the file, verification still holds the chain to what the table
    # recorded: signed lines, which no one can rewrite without the office key.
    done = await asyncio.to_thread(ptsp, settings, database_url, "verify",
                                   "--allow-missing-checkpoints")
    assert done.returncode == 1
    assert "checkpoint_mismatch" in {p["kind"] for p in json.loads(done.stdout)["problems"]}


async def test_the_mirror_keeps_what_the_data_dir_and_the_database_lose(
        settings: Settings, database_url: str, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    system = System.build(replace(settings, checkpoint_mirror=elsewhere), database_url)
    await system.start()
    try:
        await verified_case(system, "M-1")
        signed = await sign(system)
        mirror = elsewhere / "checkpoints.jsonl"
        assert signed is not None
        assert mirror.read_text() == (settings.audit_dir / "checkpoints.jsonl").read_text()
        assert (await audit(system).verify())["checkpoints"]["mirror"] == str(mirror)

        # Someone with the database and the data dir removes every trace of it.
        (settings.audit_dir / "checkpoints.jsonl").unlink()
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("DELETE FROM audit_checkpoints")
        finally:
            await conn.close()
        report = await audit(system).verify()
        assert report["ok"] is False
        assert report["first_broken"]["kind"] == "checkpoint_missing"
        assert "the mirror" in report["first_broken"]["detail"]

        # And the mirror cut short is named the same way.
        (settings.audit_dir / "checkpoints.jsonl").write_text(mirror.read_text())
        await verified_case(system, "M-2")
        await sign(system)
        mirror.write_text(mirror.read_text().splitlines()[-1] + "\n")
        report = await audit(system).verify()
        assert report["ok"] is False
        broken = report["first_broken"]
        assert broken["kind"] == "checkpoint_missing" and str(mirror) in broken["detail"]
        assert broken["seq"] == signed["seq"]
    finally:
        await system.stop()


# -- a case's export carries its proof ---------------------------------------------------
def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def tie(lines: list[dict[str, Any]], office_key: str) -> set[int]:
    """The README's recipe for a case export, with nothing but hashlib, json and an
    Ed25519 library: the seqs of the case's events a signed checkpoint vouches for.
    Raises AssertionError (or InvalidSignature) when anything does not hold."""
    public = Ed25519PublicKey.from_public_bytes(unb64url(office_key))
    run: list[dict[str, Any]] = []     # consecutive event and link lines
    vouched: set[int] = set()
    for line in lines:
        if line["kind"] == "checkpoint":
            cp = line["checkpoint"]
            rest = {k: v for k, v in cp.items() if k != "signature"}
            public.verify(unb64url(cp["signature"]), canonical(rest))
            assert run and run[-1]["seq"] == cp["seq"] == line["seq"]
            assert run[-1]["hash"] == cp["hash"], "the chain was rewritten"
            vouched |= {e["seq"] for e in run if e["kind"] == "event"}
            continue
        sha = (hashlib.sha256(base64.b64decode(line["state_b64"])).hexdigest()
               if line["kind"] == "event" else line["state_sha256"])
        record = canonical({"originator_id": line["case_id"],
                            "originator_version": line["version"],
                            "position": line["position"], "state_sha256": sha,
                            "stream": line["stream"], "topic": line["topic"]})
        assert line["hash"] == hashlib.sha256(bytes.fromhex(line["prev_hash"])
                                              + record).hexdigest(), f"seq {line['seq']}"
        if run and line["seq"] == run[-1]["seq"] + 1:
            assert line["prev_hash"] == run[-1]["hash"], f"seq {line['seq']}: not joined"
        else:
            run = []
        run.append(line)
    return vouched


async def test_a_case_export_ties_its_events_to_the_signed_checkpoints(
        system: System) -> None:
    case = await verified_case(system, "X-1")               # seq 1, 2
    for n in range(3):
        await verified_case(system, f"X-other-{n}")
    first = await sign(system)     # signs seq 8
    for n in range(3, 5):
        await verified_case(system, f"X-other-{n}")
    await register_officer(system, "budi", "perizinan")  # assignment takes registered staff
    await system.applications.do(APPLICATION["assignment"], case, OFFICER, officer="budi")
    await verified_case(system, "X-after")
    second = await sign(system)
    assert first is not None and second is not None

    lines = [line async for line in audit(system).export(case)]
    events = [e for e in lines if e["kind"] == "event"]
    links = [e for e in lines if e["kind"] == "link"]
    checkpoints = [e for e in lines if e["kind"] == "checkpoint"]
    assert [e["version"] for e in events] == [1, 2, 3]
    assert {e["case_id"] for e in events} == {str(case)}
    assert [c["seq"] for c in checkpoints] == [first["seq"], second["seq"]]
    # Only the stretches up to a checkpoint: not the events between them and the next
    # event of the case, and of the other cases nothing but what was chained.
    assert all("state_b64" not in e and "data" not in e for e in links)
    assert len(links) < second["seq"] - len(events)
    key = system.office_key.public_b64
    assert tie(lines, key) == {e["seq"] for e in events}

    # What the checks catch: a link of another case altered; a checkpoint moved.
    altered = json.loads(json.dumps(lines))
    next(e for e in altered if e["kind"] == "link")["state_sha256"] = "0" * 64
    with pytest.raises(AssertionError):
        tie(altered, key)
    moved = json.loads(json.dumps(lines))
    next(e for e in moved if e["kind"] == "checkpoint")["checkpoint"]["hash"] = "f" * 64
    with pytest.raises(InvalidSignature):
        tie(moved, key)
    # Signed by another key: not the office's.
    with pytest.raises(InvalidSignature):
        tie(lines, OfficeKey(Ed25519PrivateKey.generate()).public_b64)
