"""The credentials table: what `ptsp token` issued, and what was revoked.

Tokens stay stateless (`services.http.auth`): a service checks a token's MAC and expiry
without a query. This table is the register beside them: one row per issued token (its
claims and the SHA-256 of the token, never the token itself), `revoked_at` once revoked,
and per actor a time before which every token of that actor is void. The services load
the revocations into memory every few seconds (`load_revocations`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec

from services.infra.pg import Conn
from services.infra.tokens import Claims, RevocationList, effective_tier, token_hash

SCHEMA = """
CREATE TABLE IF NOT EXISTS credentials (
    jti          text PRIMARY KEY,
    actor        text NOT NULL,
    role         text NOT NULL,
    claims       jsonb NOT NULL,
    issued_at    timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    revoked_reason text,
    secret_hash  text NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS credentials_actor ON credentials (actor);
CREATE INDEX IF NOT EXISTS credentials_revoked ON credentials (expires_at)
    WHERE revoked_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS credential_actor_revocations (
    actor       text PRIMARY KEY,
    not_before  timestamptz NOT NULL,
    reason      text
);
"""


def _at(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


async def install(conn: Conn) -> None:
    async with conn.transaction():
        # Two processes installing at once (the CLI and `ptsp up`) must not race on DDL.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('ptsp.credentials'))")
        await conn.execute(SCHEMA)


async def record(conn: Conn, token: str, claims: Claims) -> None:
    await conn.execute(
        "INSERT INTO credentials (jti, actor, role, claims, issued_at, expires_at, secret_hash)"
        " VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)",
        claims.jti, claims.actor, claims.role, msgspec.json.encode(claims).decode(),
        _at(claims.iat), _at(claims.exp), token_hash(token))


async def revoke_jti(conn: Conn, jti: str, reason: str | None) -> bool:
    """False when no token with that id was recorded."""
    status = await conn.execute(
        "UPDATE credentials SET revoked_at = coalesce(revoked_at, now()),"
        " revoked_reason = coalesce(revoked_reason, $2) WHERE jti = $1", jti, reason)
    return status != "UPDATE 0"


async def revoke_actor(conn: Conn, actor: str, reason: str | None) -> int:
    """Void every token of `actor` issued until now, recorded or not; how many recorded
    ones it revoked. Tokens issued afterwards are valid again."""
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO credential_actor_revocations (actor, not_before, reason)"
            " VALUES ($1, clock_timestamp(), $2) ON CONFLICT (actor) DO UPDATE"
            " SET not_before = excluded.not_before, reason = excluded.reason", actor, reason)
        status = await conn.execute(
            "UPDATE credentials SET revoked_at = now(), revoked_reason = $2"
            " WHERE actor = $1 AND revoked_at IS NULL", actor, reason)
    return int(status.split()[-1])


async def listing(conn: Conn, actor: str | None = None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT jti, actor, role, claims, issued_at, expires_at, revoked_at, revoked_reason,"
        " CASE WHEN revoked_at IS NOT NULL THEN 'revoked'"
        "      WHEN expires_at <= now() THEN 'expired' ELSE 'active' END AS state"
        " FROM credentials WHERE $1::text IS NULL OR actor = $1 ORDER BY issued_at, jti", actor)
    cut_offs: dict[str, datetime] = {
        row["actor"]: row["not_before"] for row in await conn.fetch(
            "SELECT actor, not_before FROM credential_actor_revocations")}
    result = []
    for row in rows:
        item = dict(row)
        claims = json.loads(item.pop("claims"))
        item.update({k: claims.get(k) for k in ("channel", "tier", "unit")})
        item["tier"] = effective_tier(item["role"], item["tier"])  # an older token's too
        cut_off = cut_offs.get(item["actor"])
        if item["state"] == "active" and cut_off is not None and item["issued_at"] < cut_off:
            item["state"] = "revoked"
        result.append(item)
    return result


async def load_revocations(conn: Conn, into: RevocationList) -> None:
    """Revoked ids of tokens not yet expired (the expired are refused anyway), and the
    per-actor cut-offs."""
    jtis = await conn.fetch(
        "SELECT jti FROM credentials WHERE revoked_at IS NOT NULL AND expires_at > now()")
    actors = await conn.fetch(
        "SELECT actor, extract(epoch FROM not_before)::float8 AS t"
        " FROM credential_actor_revocations")
    into.replace((r["jti"] for r in jtis), {r["actor"]: r["t"] for r in actors})
