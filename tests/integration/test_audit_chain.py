"""Tamper evidence on the real Postgres: rows of the event store are edited, deleted and
reordered with raw SQL behind the system's back, and each is caught by the hash chain;
rewriting the events and the chain consistently is caught by the signed checkpoints.
The export is re-verified with nothing but hashlib and json, as an outside tool would."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.applications import Applicant, ApplicationIntake, Business
from contracts.complaints import Complainant, ComplaintIntake
from services.applications.commands import COMMANDS as APPLICATION
from services.audit.chain import GENESIS, ChainKeeper, record_of
from services.audit.checkpoints import CheckpointLog
from services.audit.service import AuditService
from services.domain.actors import Actor
from services.infra.signing import OfficeKey, canonical_json
from services.runtime import System
from tests.staff import register_officer

pytestmark = pytest.mark.integration

OSS = Actor(id="oss-gateway", role="channel", channel="oss")
WA = Actor(id="wa-gateway", role="channel", channel="whatsapp")
OFFICER = Actor(id="budi", role="officer", tier="kepala_dinas", unit="perizinan")
CODES = dict.fromkeys(("U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4"), True)
PTSP = str(Path(sys.executable).with_name("ptsp"))


async def populate(system: System, n: int = 4) -> list[str]:
    """A few applications with a few events each, and a complaint."""
    ids = []
    await register_officer(system, "budi", "perizinan")  # assignment takes registered staff
    for i in range(n):
        app, _ = await system.applications.submit(ApplicationIntake(
            channel="oss", external_id=f"T-{i}", service_code="SS-KBLI-10510",
            applicant=Applicant(name=f"Pemohon {i}"),
            business=Business(name=f"CV {i}", kbli="10510", scale="kecil",
                              in_industrial_estate=True, address="Purwakarta")), OSS)
        await system.applications.do(APPLICATION["verification"], app.id, OFFICER,
                                      results=CODES)
        await system.applications.do(APPLICATION["assignment"], app.id, OFFICER, officer="budi")
        ids.append(str(app.id))
    await system.complaints.submit(ComplaintIntake(
        channel="whatsapp", external_id="C-1", complainant=Complainant(name="Siti"),
        subject_matter="Biaya", description="Dimintai uang.",
        service_received_on=date(2026, 3, 10)), WA)
    return ids


def audit(system: System) -> AuditService:
    assert system.audit is not None
    return system.audit


async def verified(system: System) -> dict[str, Any]:
    return await audit(system).verify()


def table(system: System, stream: str = "applications") -> str:
    return audit(system).eventlog.streams[stream].table


async def chained_system(system: System) -> list[str]:
    ids = await populate(system)
    report = await verified(system)
    assert report["ok"], report
    assert report["checked"] == await stored(system) >= 13
    return ids


async def stored(system: System) -> int:
    """How many events the store holds, every stream."""
    pool = audit(system).pool
    return sum([int(await pool.fetchval(f"SELECT count(*) FROM {table(system, s)}"))
                for s in audit(system).eventlog.streams])


FLIP_A_BIT = "set_byte(state, 20, get_byte(state, 20) # 1)"


@contextlib.asynccontextmanager
async def behind_its_back(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own to the system's database, for raw SQL the system never sees."""
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


async def position_of(conn: asyncpg.Connection, system: System, case_id: str,
                      version: int) -> int:
    return int(await conn.fetchval(
        f"SELECT notification_id FROM {table(system)} WHERE originator_id = $1 "
        "AND originator_version = $2", UUID(case_id), version))


async def swap(conn: asyncpg.Connection, table: str, column: str, a: int, b: int) -> None:
    """Swap `column` between the rows at positions a and b, in one transaction, through a
    value no row holds (the column is part of a unique key)."""
    query = f"SELECT {column} FROM {table} WHERE notification_id = $1"
    at_a, at_b = await conn.fetchval(query, a), await conn.fetchval(query, b)
    async with conn.transaction():
        await conn.execute(f"UPDATE {table} SET {column} = -1 WHERE notification_id = $1", a)
        await conn.execute(f"UPDATE {table} SET {column} = $1 WHERE notification_id = $2", at_a, b)
        await conn.execute(f"UPDATE {table} SET {column} = $1 WHERE {column} = -1", at_b)


# -- each kind of tampering, each caught ----------------------------------------------
async def test_an_edited_state_is_caught(system, database_url) -> None:
    ids = await chained_system(system)
    async with behind_its_back(database_url) as conn:
        position = await position_of(conn, system, ids[1], 2)
        # One bit of what the officer declared (whatever the state's encoding).
        await conn.execute(f"UPDATE {table(system)} SET state = {FLIP_A_BIT} "
                           "WHERE notification_id = $1", position)
    report = await verified(system)
    assert report["ok"] is False
    broken = report["first_broken"]
    assert broken["kind"] == "event_altered"
    assert (broken["stream"], broken["position"], broken["case_id"], broken["version"]) == (
        "applications", position, ids[1], 2)
    assert "state" in broken["detail"]


async def test_a_deleted_row_is_caught(system, database_url) -> None:
    ids = await chained_system(system)
    async with behind_its_back(database_url) as conn:
        position = await position_of(conn, system, ids[2], 2)
        await conn.execute(f"DELETE FROM {table(system)} WHERE notification_id = $1", position)
    broken = (await verified(system))["first_broken"]
    assert broken["kind"] == "event_missing"
    assert (broken["position"], broken["case_id"], broken["version"]) == (position, ids[2], 2)


# Two stored events trade places: (the column they trade, each as (case, version)).
@pytest.mark.parametrize(("column", "first", "second"), [
    ("notification_id", (0, 3), (1, 1)),     # two cases' events swap positions in the store
    ("originator_version", (3, 2), (3, 3)),  # a case's own events 2 and 3 swap versions
], ids=["swapped_notification_ids", "a_changed_version"])
async def test_reordered_events_are_caught_where_the_chain_recorded_them(
        system, database_url, column: str, first: tuple[int, int],
        second: tuple[int, int]) -> None:
    ids = await chained_system(system)
    (i, v), (j, w) = first, second
    async with behind_its_back(database_url) as conn:
        a = await position_of(conn, system, ids[i], v)
        b = await position_of(conn, system, ids[j], w)
        await swap(conn, table(system), column, a, b)
    broken = (await verified(system))["first_broken"]
    assert broken["kind"] == "event_reordered"
    # The first of the two positions, named as the chain recorded it.
    earlier = (a, ids[i], v) if a < b else (b, ids[j], w)
    assert (broken["position"], broken["case_id"], broken["version"]) == earlier
    assert "reordered" in broken["detail"]


async def test_a_deleted_link_of_the_chain_is_caught(system, database_url) -> None:
    await chained_system(system)
    async with behind_its_back(database_url) as conn:
        await conn.execute("DELETE FROM audit_chain WHERE seq = 5")
    broken = (await verified(system))["first_broken"]
    assert broken["kind"] == "chain_gap" and broken["seq"] == 6


async def test_a_consistent_rewrite_of_events_and_chain_is_caught_by_the_checkpoint(
        system, database_url, tmp_path) -> None:
    ids = await chained_system(system)
    signed = await audit(system).keeper.checkpoint(force=True)  # type: ignore[union-attr]
    assert signed is not None
    async with behind_its_back(database_url) as conn:
        position = await position_of(conn, system, ids[0], 1)
        seq = await conn.fetchval(
            "SELECT seq FROM audit_chain WHERE stream = 'applications' AND position = $1",
            position)
        # Someone with the database rewrites an event, then rebuilds the chain from there
        # with the published recipe (here: the keeper's own code, run by them: it knows
        # no high-water mark and holds no office key).
        await conn.execute(f"UPDATE {table(system)} SET state = {FLIP_A_BIT} "
                           "WHERE notification_id = $1", position)
        await conn.execute("DELETE FROM audit_chain WHERE seq >= $1", seq)
    attacker = ChainKeeper(audit(system).pool, audit(system).eventlog,
                           CheckpointLog(tmp_path / "theirs.jsonl"),
                           OfficeKey(Ed25519PrivateKey.generate()))
    await attacker.catch_up()
    report = await verified(system)
    assert report["ok"] is False
    mismatch = next(p for p in report["problems"] if p["kind"] == "checkpoint_mismatch")
    assert mismatch["seq"] == signed["seq"]
    assert mismatch["checkpoint"]["hash"] == signed["hash"]
    # Every link recomputes from the rewritten rows: only the signed checkpoint tells, and
    # the running keeper, whose high-water mark no longer holds (its alarm).
    assert {p["kind"] for p in report["problems"]} == {"checkpoint_mismatch", "chain_regressed"}


async def test_a_truncated_store_is_caught_by_the_checkpoint(system, database_url) -> None:
    ids = await chained_system(system)
    await audit(system).keeper.checkpoint(force=True)  # type: ignore[union-attr]
    async with behind_its_back(database_url) as conn:
        # The last events and their links go, consistently.
        last = await position_of(conn, system, ids[3], 3)
        seq = await conn.fetchval(
            "SELECT seq FROM audit_chain WHERE stream = 'applications' AND position = $1", last)
        for link in await conn.fetch(
                "SELECT stream, position FROM audit_chain WHERE seq >= $1", seq):
            await conn.execute(f"DELETE FROM {table(system, link['stream'])} "
                               "WHERE notification_id = $1", link["position"])
        await conn.execute("DELETE FROM audit_chain WHERE seq >= $1", seq)
    report = await verified(system)
    # The running keeper sees it first (its alarm), then the signed checkpoint.
    assert report["first_broken"]["kind"] == "chain_regressed"
    assert "chain_truncated" in {p["kind"] for p in report["problems"]}


async def test_a_forged_checkpoint_is_caught(system) -> None:
    await chained_system(system)
    entry = await audit(system).keeper.checkpoint(force=True)  # type: ignore[union-attr]
    path = audit(system).checkpoints.path
    forged = {**entry, "hash": "f" * 64}
    with path.open("a") as f:
        f.write(json.dumps(forged) + "\n")
    broken = (await verified(system))["first_broken"]
    assert broken["kind"] == "checkpoint_signature"


# -- keeping the chain ----------------------------------------------------------------
async def test_the_keeper_is_idempotent_and_survives_a_restart(settings, database_url) -> None:
    first = System.build(settings, database_url)
    await first.start()
    try:
        await populate(first, 2)
        keeper = audit(first).keeper
        assert keeper is not None
        await keeper.catch_up()
        assert await keeper.catch_up() == 0
    finally:
        await first.stop()  # chains the last writes and signs the head on the way out
    checkpoints = (settings.audit_dir / "checkpoints.jsonl").read_text().splitlines()
    # 2 applications of 3 events, a complaint, and the staff register's 2 (budi, assigned)
    assert json.loads(checkpoints[-1])["seq"] == 9

    again = System.build(settings, database_url)
    await again.start()
    try:
        app, _ = await again.applications.submit(ApplicationIntake(
            channel="oss", external_id="T-after", service_code="SS-KBLI-10510",
            applicant=Applicant(name="Baru"),
            business=Business(name="CV Baru", kbli="10510", scale="kecil",
                              in_industrial_estate=True, address="Purwakarta")), OSS)
        report = await audit(again).verify()
        assert report["ok"], report
        assert report["checked"] == 10 and report["checkpoints"]["matched"] >= 1
        seqs = [r["seq"] for r in await audit(again).pool.fetch(
            "SELECT seq FROM audit_chain ORDER BY seq")]
        assert seqs == list(range(1, 11))
        history = await audit(again).history(app.id)
        assert history[0]["hash"] is not None and history[0]["seq"] == 10
    finally:
        await again.stop()


async def test_checkpoints_are_signed_every_n_events(settings, database_url) -> None:
    from dataclasses import replace

    system = System.build(replace(settings, audit_checkpoint_events=5), database_url)
    await system.start()
    try:
        await populate(system, 2)
        keeper = audit(system).keeper
        assert keeper is not None
        for _ in range(50):
            if keeper.checkpoints.last() is not None:
                break
            keeper.wake()
            await asyncio.sleep(0.1)
        entry = keeper.checkpoints.last()
        assert entry is not None and entry["seq"] >= 5
        payload = {k: v for k, v in entry.items() if k != "signature"}
        assert system.office_key.verify(payload, entry["signature"])
    finally:
        await system.stop()


def counting_reads(keeper: ChainKeeper) -> list[str]:
    """The streams the keeper reads from now on, one entry a read."""
    read: list[str] = []
    pump = keeper._pump

    async def counted(stream: str) -> int:
        read.append(stream)
        return await pump(stream)

    keeper._pump = counted  # type: ignore[method-assign]
    return read


async def quiet_keeper(system: System, gather_seconds: float) -> ChainKeeper:
    """The system's keeper with no fallback poll of every stream during a test."""
    keeper = audit(system).keeper
    assert keeper is not None
    keeper.poll_seconds = 3600.0
    keeper.gather_seconds = 0.0
    await asyncio.sleep(1.5)  # the wait begun with the old interval ends (a poll)
    keeper.gather_seconds = gather_seconds  # for the next wake: it waits on the long poll
    return keeper


async def submit(system: System, n: int) -> None:
    await system.applications.submit(ApplicationIntake(
        channel="oss", external_id=f"T-keeper-{n}", service_code="SS-KBLI-10510",
        applicant=Applicant(name=f"Pemohon {n}"),
        business=Business(name=f"CV {n}", kbli="10510", scale="kecil",
                          in_industrial_estate=True, address="Purwakarta")), OSS)


async def chained(keeper: ChainKeeper, links: int) -> None:
    for _ in range(300):
        if keeper.chained >= links:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{keeper.chained} links chained, waited for {links}")


async def test_the_keeper_reads_only_the_stream_a_commit_names(system) -> None:
    """Each commit's NOTIFY names its table: the keeper chains that stream and reads no
    other (it read every stream, twice, at every commit anywhere)."""
    await register_officer(system, "budi", "perizinan")
    keeper = await quiet_keeper(system, gather_seconds=0.0)
    read = counting_reads(keeper)
    before = keeper.chained
    await submit(system, 0)
    await chained(keeper, before + 1)
    assert read and set(read) == {"applications"}, read
    assert (await verified(system))["ok"]


async def test_the_keeper_chains_the_commits_of_a_moment_together(system) -> None:
    """Commits in a row, each with its NOTIFY: chained together once they had a moment to
    gather (the keeper read as they came: 2 to 5 reads for ten in trial runs)."""
    keeper = await quiet_keeper(system, gather_seconds=5.0)
    read = counting_reads(keeper)
    before = keeper.chained
    for n in range(10):
        await submit(system, n)
    await asyncio.sleep(0.5)
    assert read == [], "the keeper read before the commits had gathered"
    await chained(keeper, before + 10)
    assert 1 <= len(read) <= 2, read
    assert (await verified(system))["ok"]


# -- the recipe, as an outside tool applies it ---------------------------------------
def reverify(lines: list[dict[str, Any]]) -> list[str]:
    """The README's recipe: nothing but hashlib and json. Returns what does not hold."""
    errors, prev, case_prev = [], "0" * 64, {}
    for e in lines:
        state = base64.b64decode(e["state_b64"] or "")
        record = json.dumps({
            "originator_id": e["case_id"], "originator_version": e["version"],
            "position": e["position"], "state_sha256": hashlib.sha256(state).hexdigest(),
            "stream": e["stream"], "topic": e["topic"],
        }, sort_keys=True, separators=(",", ":")).encode()
        if e["prev_hash"] != prev or hashlib.sha256(
                bytes.fromhex(prev) + record).hexdigest() != e["hash"]:
            errors.append(f"seq {e['seq']}: global chain")
        key = (e["stream"], e["case_id"])
        before = case_prev.get(key, "0" * 64)
        if e["prev_case_hash"] != before or hashlib.sha256(
                bytes.fromhex(before) + record).hexdigest() != e["case_hash"]:
            errors.append(f"seq {e['seq']}: case chain")
        prev, case_prev[key] = e["hash"], e["case_hash"]
    return errors


def test_the_recipe_is_plain_json() -> None:
    record = record_of("applications", 7, "6f1d1c3e-0a55-4d7e-9b0e-9e1f2b0c5a10", 2,
                       "services.applications.domain:LicenceApplication.Assigned", "ab" * 32)
    assert record == json.dumps(json.loads(record), sort_keys=True,
                                separators=(",", ":")).encode()
    assert canonical_json({"b": 1, "a": None}) == b'{"a":null,"b":1}'
    assert GENESIS == "0" * 64


def ptsp(settings, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run([PTSP, "audit", *args, "--data-dir", str(settings.data_dir)],
                          check=False, env=env, capture_output=True, text=True, timeout=120)


async def test_cli_export_reverifies_elsewhere_and_verify_exits_1_when_broken(
        system, settings, database_url, tmp_path) -> None:
    ids = await chained_system(system)
    await audit(system).keeper.checkpoint(force=True)  # type: ignore[union-attr]
    out = tmp_path / "export.jsonl"
    done = await asyncio.to_thread(ptsp, settings, database_url, "export", "--out", str(out))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) >= 13 and [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    assert reverify(lines) == []
    assert {e["type"] for e in lines} >= {"application.submitted", "complaint.received"}

    done = await asyncio.to_thread(ptsp, settings, database_url, "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["ok"] is True

    done = await asyncio.to_thread(ptsp, settings, database_url, "history", ids[0])
    assert done.returncode == 0, done.stderr
    assert [e["version"] for e in json.loads(done.stdout)] == [1, 2, 3]
    done = await asyncio.to_thread(ptsp, settings, database_url, "history", ids[0],
                                   "--as-of", "1")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "awaiting_verification"

    async with behind_its_back(database_url) as conn:
        position = await position_of(conn, system, ids[1], 1)
        await conn.execute(f"UPDATE {table(system)} SET state = state || '\\x20'::bytea "
                           "WHERE notification_id = $1", position)
    done = await asyncio.to_thread(ptsp, settings, database_url, "verify")
    assert done.returncode == 1
    assert json.loads(done.stdout)["first_broken"]["position"] == position
    assert "BROKEN" in done.stderr
    done = await asyncio.to_thread(ptsp, settings, database_url, "export", "--case", ids[1])
    assert done.returncode == 0, done.stderr
    case_lines = [json.loads(line) for line in done.stdout.splitlines()]
    case_lines = [e for e in case_lines if e["kind"] == "event"]  # not its ties (links)
    assert [e["version"] for e in case_lines] == [1, 2, 3]
    assert any("case chain" in err for err in reverify(case_lines))


async def test_the_chain_still_verifies_after_personal_data_is_erased(system) -> None:
    """Crypto-shredding deletes keys, never rows: the chain still verifies, and the case
    as of any version shows the data as erased."""
    vault = system.vault
    ids = await chained_system(system)
    case = UUID(ids[0])
    auditor = Actor(id="inspektorat", role="auditor")
    before = msgspec.to_builtins(await audit(system).state(case, "1", auditor))  # as served
    assert before["applicant"]["name"] == "Pemohon 0"
    await vault.erase(vault.subject_of(None, case), "kepala", "permintaan subjek data")

    report = await verified(system)
    assert report["ok"], report
    assert report["checked"] == await stored(system)
    after = msgspec.to_builtins(await audit(system).state(case, "1", auditor))
    assert after["applicant"] == {"erased": True}
    exported = [line async for line in audit(system).export(case)]
    assert "Pemohon 0" not in json.dumps(exported)
    assert not [e for e in reverify(exported) if "case chain" in e]  # a case export: its case chain
