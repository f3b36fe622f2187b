"""`ptsp staff add | disable | list` (issue 12, item 5; API.md "Additions"): the same
register as `POST /staff`, the password read as one line from standard input and kept as
an Argon2id hash; run as the operator would, against a running system's database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest

from contracts.staff import StaffEntry
from services.domain.actors import Actor
from services.infra.tokens import Unauthenticated
from services.runtime import System
from services.settings import Settings
from services.staff import passwords

pytestmark = pytest.mark.integration

PTSP = str(Path(sys.executable).with_name("ptsp"))


async def ptsp(settings: Settings, database_url: str, *args: str,
               stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The command in a process of its own, awaited: the system under test lives on this
    event loop and must go on answering (and finishing its transactions) meanwhile."""
    process = await asyncio.create_subprocess_exec(
        PTSP, "staff", *args, "--data-dir", str(settings.data_dir),
        env={**os.environ, "DATABASE_URL": database_url}, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), 120)
    assert process.returncode is not None
    return subprocess.CompletedProcess(list(args), process.returncode, out.decode(),
                                       err.decode())


async def listed(settings: Settings, database_url: str) -> dict[str, dict[str, Any]]:
    done = await ptsp(settings, database_url, "list", "--json")
    assert done.returncode == 0, done.stderr
    return {row["actor"]: row for row in map(json.loads, done.stdout.splitlines())}


async def test_the_head_registers_and_disables_staff_on_the_command_line(
        system: System, settings: Settings, database_url: str) -> None:
    # Given a running system, when the head adds an officer, piping her password in
    done = await ptsp(settings, database_url, "add", "dewi", "--name", "Dewi Lestari", "--role",
                "officer", "--unit", "pengaduan", stdin="kata-sandi-dewi\n")
    assert done.returncode == 0, done.stderr
    assert "registered" in done.stdout and "password set" in done.stdout
    # then the register holds her (the system sees it at once) with her password's hash
    member = await system.staff.member("dewi")
    assert member is not None and (member.role, member.unit, member.tier, member.active) == (
        "officer", "pengaduan", "pelaksana", True)
    conn = await asyncpg.connect(database_url)
    try:
        assert await passwords.check_password(conn, "dewi", "kata-sandi-dewi")
        assert not await passwords.check_password(conn, "dewi", "kata-sandi-dewi\n")
        stored = await conn.fetchval("SELECT hash FROM staff_passwords WHERE actor = 'dewi'")
        assert stored.startswith("$argon2id$")
        # The event records who did it: the operator, as the head.
        state = await conn.fetchval(
            "SELECT convert_from(state, 'UTF8') FROM staff_events "
            "WHERE topic LIKE '%MemberRegistered'")
        recorded = json.loads(state)["actor"]
        assert recorded["role"] == "head" and recorded["id"].startswith("cli:")
    finally:
        await conn.close()
    assert (await listed(settings, database_url))["dewi"]["password"] is True

    # A password too short is refused, and nothing is registered.
    done = await ptsp(settings, database_url, "add", "ani", "--name", "Ani", "--role", "officer",
                "--unit", "perizinan", stdin="pendek\n")
    assert done.returncode == 2 and "at least 8" in done.stderr
    assert await system.staff.member("ani") is None
    # An officer names a unit; a role is a person's.
    for args in (["--role", "officer"], ["--role", "channel", "--unit", "x"]):
        done = await ptsp(settings, database_url, "add", "ani", "--name", "Ani", *args,
                    stdin="cukup-panjang\n")
        assert done.returncode == 2, done.stdout

    # Disabled: inactive in the register; assignment and sign-in then refuse her.
    done = await ptsp(settings, database_url, "disable", "dewi", "--reason", "pindah tugas")
    assert done.returncode == 0, done.stderr
    member = await system.staff.member("dewi")
    assert member is not None and member.active is False
    assert (await listed(settings, database_url))["dewi"]["active"] is False
    done = await ptsp(settings, database_url, "disable", "nobody")
    assert done.returncode == 1 and "not in the staff register" in done.stderr


async def test_disabling_revokes_the_tokens_issued_until_then(
        system: System, settings: Settings, database_url: str) -> None:
    token = system.tokens.issue("officer", "budi", 3600, unit="perizinan")
    await system.staff.register(
        msgspec.convert({"actor": "budi", "name": "Budi", "role": "officer",
                         "unit": "perizinan"}, type=StaffEntry), Actor(id="kepala", role="head"))
    done = await ptsp(settings, database_url, "disable", "budi")
    assert done.returncode == 0, done.stderr
    await system.reload_revocations()
    with pytest.raises(Unauthenticated, match="revoked"):
        system.tokens.authenticate(token)
