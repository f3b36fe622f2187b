"""Staff passwords for console sign-in: Argon2id hashes in the table `staff_passwords`.

Not events: a password hash is a secret that must be replaceable and removable, and the
event store is neither (and it travels to JetStream and into audit exports). The table
holds one hash per actor; `ptsp staff add` sets it from standard input.

Argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile: 3 passes, 64 MiB,
4 lanes). Checking a password costs the same for an unknown actor (a decoy hash is
verified), so the answer's timing does not tell which actors exist. The hashing runs in a
worker thread: it takes tens of milliseconds of CPU, which must not stall the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from datetime import UTC, datetime

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.infra.pg import Conn

SCHEMA = """
CREATE TABLE IF NOT EXISTS staff_passwords (
    actor text PRIMARY KEY,
    hash text NOT NULL,
    set_at timestamptz NOT NULL
)"""
MIN_LENGTH = 8
"""NIST SP 800-63B's minimum for a memorised secret chosen by its user."""

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """The Argon2id hash (PHC string: algorithm, parameters, salt and hash)."""
    return _hasher.hash(password)


def check_strength(password: str) -> None:
    """A password a person may set; ValueError says why not."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password has at least {MIN_LENGTH} characters")


@functools.cache
def _decoy() -> str:
    """A hash of nothing anyone knows, verified for unknown actors (same cost)."""
    return hash_password(secrets.token_urlsafe(24))


def _verify(stored: str | None, password: str) -> tuple[bool, bool]:
    """(matches, needs a rehash): runs in a worker thread."""
    try:
        ok = _hasher.verify(stored if stored is not None else _decoy(), password)
    except (VerificationError, InvalidHashError):
        return False, False
    return ok and stored is not None, stored is not None and _hasher.check_needs_rehash(stored)


async def install(conn: Conn) -> None:
    async with conn.transaction():
        # Two processes installing at once (the CLI and `ptsp up`) must not race on DDL.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('ptsp.staff_passwords'))")
        await conn.execute(SCHEMA)


async def set_password(conn: Conn, actor: str, password: str) -> None:
    """Set (or replace) the actor's password; ValueError for one too weak."""
    check_strength(password)
    hashed = await asyncio.to_thread(hash_password, password)
    await install(conn)
    await conn.execute(
        "INSERT INTO staff_passwords (actor, hash, set_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (actor) DO UPDATE SET hash = excluded.hash, set_at = excluded.set_at",
        actor, hashed, datetime.now(UTC))


async def check_password(conn: Conn, actor: str, password: str) -> bool:
    """Whether the password is the actor's; False for an actor without one, after the
    same work as for a wrong password. A hash made with weaker parameters than today's
    is replaced on a successful check."""
    try:
        stored = await conn.fetchval("SELECT hash FROM staff_passwords WHERE actor = $1", actor)
    except asyncpg.UndefinedTableError:
        stored = None
    ok, rehash = await asyncio.to_thread(_verify, stored, password)
    if ok and rehash:
        await conn.execute("UPDATE staff_passwords SET hash = $2 WHERE actor = $1",
                           actor, await asyncio.to_thread(hash_password, password))
    return ok


async def has_password(conn: Conn, actor: str) -> bool:
    try:
        return bool(await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM staff_passwords WHERE actor = $1)", actor))
    except asyncpg.UndefinedTableError:
        return False
