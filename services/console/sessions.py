"""Console sign-in: server-side sessions and the lockout after repeated wrong passwords.

- A session is a random 256-bit id in an HttpOnly cookie; the table keeps only its
  SHA-256 (a copy of the database opens no session), the actor, the session's CSRF token
  and its times. It ends after `idle` without a request, after `lifetime` in any case,
  at sign-out, and when the person is disabled in the staff register (the console checks
  `active` on every request and ends every session of a disabled person).
- After `max_failures` wrong passwords for one actor id within `window`, sign-in for that
  id is refused for `lock` — the right password included — so a password cannot be
  guessed by trying. It is counted per actor id whether or not the id is registered, so
  the refusal tells nothing about who exists.

Times are the real clock's (like token expiry): a simulated office clock moves deadlines,
never how long a sign-in lasts. The rules are pure (`LockoutPolicy`), the table is
asyncpg; `now` is injectable for tests.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.infra.pg import Conn

SCHEMA = """
CREATE TABLE IF NOT EXISTS console_sessions (
    id_hash      text PRIMARY KEY,
    actor        text NOT NULL,
    csrf         text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_actor ON console_sessions (actor);
CREATE TABLE IF NOT EXISTS console_login_failures (
    actor          text PRIMARY KEY,
    failures       int NOT NULL,
    last_failed_at timestamptz NOT NULL,
    locked_until   timestamptz
);
"""


def real_now() -> datetime:
    return datetime.now(UTC)


def id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


# -- the lockout rule (pure) -----------------------------------------------------------
@dataclass(frozen=True)
class Failures:
    """One actor id's recent wrong passwords."""

    count: int
    last_failed_at: datetime
    locked_until: datetime | None = None


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    """Failures further apart than this start the count again."""
    lock: timedelta = timedelta(minutes=15)
    """How long sign-in stays refused once `max_failures` is reached."""

    def locked(self, failures: Failures | None, now: datetime) -> bool:
        return (failures is not None and failures.locked_until is not None
                and now < failures.locked_until)

    def after_failure(self, failures: Failures | None, now: datetime) -> Failures:
        """The count after one more wrong password at `now` (locked at the last one)."""
        fresh = (failures is None or now - failures.last_failed_at > self.window
                 or (failures.locked_until is not None and now >= failures.locked_until))
        count = 1 if fresh or failures is None else failures.count + 1
        locked_until = now + self.lock if count >= self.max_failures else None
        return Failures(count=count, last_failed_at=now, locked_until=locked_until)


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta = timedelta(minutes=60)
    lifetime: timedelta = timedelta(hours=12)


@dataclass(frozen=True)
class Session:
    """A live session: who, and the token every form of theirs must carry."""

    actor: str
    csrf: str
    id_hash: str


class Sessions:
    """The console's sessions and login failures, in Postgres."""

    def __init__(self, policy: SessionPolicy = SessionPolicy(),
                 lockout: LockoutPolicy = LockoutPolicy(),
                 now: Callable[[], datetime] = real_now) -> None:
        self.policy, self.lockout, self.now = policy, lockout, now

    @staticmethod
    async def install(conn: Conn) -> None:
        async with conn.transaction():
            # Several HTTP workers may install at once; DDL on the same catalog rows races.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('ptsp.console'))")
            await conn.execute(SCHEMA)

    # -- sessions ------------------------------------------------------------------------
    async def create(self, conn: Conn, actor: str) -> tuple[str, Session]:
        """A new session for `actor` (after a right password): the cookie value and the
        session. Expired sessions of anyone are cleared on the way."""
        now = self.now()
        session_id = secrets.token_urlsafe(32)
        session = Session(actor=actor, csrf=secrets.token_urlsafe(32),
                          id_hash=id_hash(session_id))
        async with conn.transaction():
            await conn.execute(
                "DELETE FROM console_sessions WHERE expires_at <= $1 OR last_seen_at <= $2",
                now, now - self.policy.idle)
            await conn.execute(
                "INSERT INTO console_sessions (id_hash, actor, csrf, created_at, last_seen_at,"
                " expires_at) VALUES ($1, $2, $3, $4, $4, $5)",
                session.id_hash, actor, session.csrf, now, now + self.policy.lifetime)
        return session_id, session

    async def resume(self, conn: Conn, session_id: str) -> Session | None:
        """The live session of this cookie value, its idle time restarted; None when there
        is none (unknown, signed out, idle too long, or past its lifetime)."""
        now = self.now()
        row = await conn.fetchrow(
            "UPDATE console_sessions SET last_seen_at = $2 WHERE id_hash = $1 "
            "AND expires_at > $2 AND last_seen_at > $3 RETURNING actor, csrf",
            id_hash(session_id), now, now - self.policy.idle)
        if row is None:
            return None
        return Session(actor=row["actor"], csrf=row["csrf"], id_hash=id_hash(session_id))

    async def end(self, conn: Conn, session_id: str) -> None:
        await conn.execute("DELETE FROM console_sessions WHERE id_hash = $1",
                           id_hash(session_id))

    @staticmethod
    async def end_all(conn: Conn, actor: str) -> int:
        """End every session of `actor` (disabled in the staff register); how many."""
        status = await conn.execute("DELETE FROM console_sessions WHERE actor = $1", actor)
        return int(status.split()[-1])

    # -- the lockout -----------------------------------------------------------------------
    async def failures(self, conn: Conn, actor: str) -> Failures | None:
        row = await conn.fetchrow(
            "SELECT failures, last_failed_at, locked_until FROM console_login_failures "
            "WHERE actor = $1", actor)
        if row is None:
            return None
        return Failures(count=row["failures"], last_failed_at=row["last_failed_at"],
                        locked_until=row["locked_until"])

    async def locked(self, conn: Conn, actor: str) -> bool:
        return self.lockout.locked(await self.failures(conn, actor), self.now())

    async def record_failure(self, conn: Conn, actor: str) -> Failures:
        now = self.now()
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))",
                               f"ptsp.console.login:{actor}")
            after = self.lockout.after_failure(await self.failures(conn, actor), now)
            await conn.execute(
                "INSERT INTO console_login_failures (actor, failures, last_failed_at, "
                "locked_until) VALUES ($1, $2, $3, $4) ON CONFLICT (actor) DO UPDATE SET "
                "failures = excluded.failures, last_failed_at = excluded.last_failed_at, "
                "locked_until = excluded.locked_until",
                actor, after.count, after.last_failed_at, after.locked_until)
            # Old counts of ids nobody tries any more are kept no longer than needed.
            await conn.execute(
                "DELETE FROM console_login_failures WHERE last_failed_at < $1 "
                "AND (locked_until IS NULL OR locked_until < $1)",
                now - max(self.lockout.window, self.lockout.lock) * 4)
        return after

    @staticmethod
    async def clear_failures(conn: Conn, actor: str) -> None:
        await conn.execute("DELETE FROM console_login_failures WHERE actor = $1", actor)
