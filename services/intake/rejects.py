"""Refused intake messages kept for an operator, without the personal data they carry.

A message that cannot be read (malformed JSON, a wrong type, too large) still has to be
seen by someone: which channel sent what shape, and why it was refused. But its body is
a person's name, NIK, phone number, complaint. Kept as sent, it would outlive that
person's erasure (UU 27/2022) and grow without bound. So the table keeps:

- the subject, the headers (at most 32, each value cut to 256 characters), the status and
  the error;
- the body's size, and a *redacted copy* of its structure: every field name, and the
  value only of fields that say nothing about a person (the channel, its reference, the
  service code, the KBLI, dates); every other value becomes its kind and size
  (`"<text: 11 chars>"`). A body that is not JSON keeps no content at all;
- at most `MAX_NODES` values of a body; a larger one is kept truncated, and says so.

Rows older than the retention period (`PTSP_REJECTED_RETENTION_DAYS`) are purged each
time a row is kept and when intake starts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.infra.json_depth import MAX_DEPTH, nesting_exceeds
from services.infra.pg import Conn

MAX_NODES = 500
"""The most values of one body the redacted copy keeps."""
MAX_HEADERS = 32
HEADER_VALUE_CHARS = 256
KEPT_VALUE_CHARS = 64

# Fields whose values describe the message, not a person: kept as sent (when short).
NOT_PERSONAL = frozenset({
    "channel", "external_id", "service_code", "kbli", "scale", "in_industrial_estate",
    "procedure_classification", "received_at", "service_received_on", "responded_at",
    "submitted_at", "case_id",
})
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
TRUNCATED = "<truncated>"

SCHEMA = [
    """
    CREATE TABLE IF NOT EXISTS intake_rejected (
        id bigserial PRIMARY KEY,
        received_at timestamptz NOT NULL DEFAULT now(),
        subject text NOT NULL,
        headers jsonb,
        status_code integer NOT NULL,
        detail text NOT NULL,
        body_bytes integer NOT NULL DEFAULT 0,
        body_redacted jsonb,
        truncated boolean NOT NULL DEFAULT false
    )""",
    # Tables from before redaction: the new columns, then every old body redacted and the
    # raw one dropped (see `install`).
    "ALTER TABLE intake_rejected ADD COLUMN IF NOT EXISTS body_bytes integer NOT NULL DEFAULT 0",
    "ALTER TABLE intake_rejected ADD COLUMN IF NOT EXISTS body_redacted jsonb",
    "ALTER TABLE intake_rejected ADD COLUMN IF NOT EXISTS truncated boolean NOT NULL "
    "DEFAULT false",
    "CREATE INDEX IF NOT EXISTS intake_rejected_received_at ON intake_rejected (received_at)",
]
KEEP = """
INSERT INTO intake_rejected (subject, headers, status_code, detail, body_bytes,
                             body_redacted, truncated)
VALUES ($1, $2::jsonb, $3, $4, $5, $6::jsonb, $7)"""
PURGE = "DELETE FROM intake_rejected WHERE received_at < now() - $1::float8 * interval '1 day'"


@dataclass(frozen=True)
class Redacted:
    body: Any
    """The redacted copy (None: the body was not JSON, or too large to read)."""
    truncated: bool


def redact(data: bytes, max_bytes: int) -> Redacted:
    """The body's structure with every personal value replaced by its kind and size."""
    if len(data) > max_bytes or nesting_exceeds(data, MAX_DEPTH):
        return Redacted(None, truncated=True)
    try:
        decoded = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return Redacted(None, truncated=False)
    budget = [MAX_NODES]
    body = _redact(decoded, keep=False, budget=budget)
    return Redacted(body, truncated=budget[0] < 0)


def _redact(value: Any, keep: bool, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        return TRUNCATED
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for name, item in value.items():
            field = name if _FIELD_NAME.match(name) else f"<field: {len(name)} chars>"
            out[field] = _redact(item, keep=name in NOT_PERSONAL, budget=budget)
            if budget[0] < 0:
                break
        return out
    if isinstance(value, list):
        items = []
        for item in value:
            items.append(_redact(item, keep=keep, budget=budget))
            if budget[0] < 0:
                break
        return items
    if value is None:
        return None
    if keep and isinstance(value, bool | int | float):
        return value
    if keep and isinstance(value, str) and len(value) <= KEPT_VALUE_CHARS:
        return value
    if isinstance(value, str):
        return f"<text: {len(value)} chars>"
    return f"<{type(value).__name__}>"


def bounded_headers(headers: dict[str, str] | None) -> dict[str, str] | None:
    if not headers:
        return None
    return {name[:HEADER_VALUE_CHARS]: str(value)[:HEADER_VALUE_CHARS]
            for name, value in list(headers.items())[:MAX_HEADERS]}


async def install(conn: Conn, max_bytes: int) -> None:
    """Create the table, or bring an older one up to date: bodies stored whole by an
    earlier version are redacted now, and the raw column dropped."""
    async with conn.transaction():
        # One replica migrates at a time; another creating the table at the same moment
        # waits here instead of failing.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('intake_rejected'))")
        for statement in SCHEMA:
            await conn.execute(statement)
        raw = await conn.fetchval(
            "SELECT count(*) FROM information_schema.columns"
            " WHERE table_name = 'intake_rejected' AND column_name = 'payload'"
            "   AND table_schema = current_schema()")
        if raw:
            for row in await conn.fetch("SELECT id, payload FROM intake_rejected"):
                payload = bytes(row["payload"] or b"")
                redacted = redact(payload, max_bytes)
                await conn.execute(
                    "UPDATE intake_rejected SET body_bytes = $2, body_redacted = $3::jsonb,"
                    " truncated = $4 WHERE id = $1", row["id"], len(payload),
                    _json(redacted.body), redacted.truncated)
            await conn.execute("ALTER TABLE intake_rejected DROP COLUMN payload")


async def keep(pool: asyncpg.Pool, subject: str, headers: dict[str, str] | None,
               status: int, detail: str, data: bytes, max_bytes: int,
               retention_days: float) -> None:
    redacted = redact(data, max_bytes)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(KEEP, subject, _json(bounded_headers(headers)), status,
                           detail[:2000], len(data), _json(redacted.body), redacted.truncated,
                           timeout=5)
        await conn.execute(PURGE, retention_days, timeout=5)


async def purge(pool: asyncpg.Pool, retention_days: float) -> int:
    """Delete the rows older than the retention period; how many went."""
    status = await pool.execute(PURGE, retention_days, timeout=30)
    return int(status.rsplit(" ", 1)[-1])


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)
