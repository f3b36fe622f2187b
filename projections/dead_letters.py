"""Messages a consumer of domain events refused: unsigned, badly signed, malformed,
undecodable or out of order. Each is recorded here (in the consumer's own transaction)
and acknowledged, so it never blocks a read model nor moves it; an operator lists them
with `ptsp dead-letters list`.

A refused message may be anything anyone sent, of any size: the record keeps its subject,
its headers (bounded), its size, its SHA-256 and only its first bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.infra.pg import Conn

BODY_HEAD_BYTES = 512
HEADER_VALUE_CHARS = 256
MAX_HEADERS = 32

SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    consumer text NOT NULL,          -- the read model (or other consumer) that refused it
    stream text NOT NULL,            -- the event stream (applications, complaints, ...)
    stream_seq bigint,               -- its JetStream stream sequence
    subject text NOT NULL,
    headers jsonb,
    body_size integer NOT NULL,
    body_sha256 text NOT NULL,
    body_head bytea NOT NULL,        -- the first bytes only
    reason text NOT NULL
);
-- A message redelivered to the same consumer is recorded once.
CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_once
    ON dead_letters (consumer, stream, stream_seq, body_sha256);
"""


@dataclass(frozen=True)
class DeadLetter:
    subject: str
    headers: Mapping[str, str] | None
    body: bytes
    reason: str
    stream_seq: int | None = None


def bounded_headers(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    if not headers:
        return None
    kept = list(headers.items())[:MAX_HEADERS]
    return {str(k)[:HEADER_VALUE_CHARS]: str(v)[:HEADER_VALUE_CHARS] for k, v in kept}


async def install(conn: Conn) -> None:
    await conn.execute(SCHEMA)


async def record(conn: Conn, consumer: str, stream: str,
                 letter: DeadLetter) -> None:
    headers = bounded_headers(letter.headers)
    await conn.execute(
        "INSERT INTO dead_letters (consumer, stream, stream_seq, subject, headers, body_size, "
        "body_sha256, body_head, reason) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9) "
        "ON CONFLICT DO NOTHING",
        consumer, stream, letter.stream_seq, letter.subject[:HEADER_VALUE_CHARS],
        json.dumps(headers) if headers is not None else None, len(letter.body),
        hashlib.sha256(letter.body).hexdigest(), letter.body[:BODY_HEAD_BYTES], letter.reason)


async def listing(conn: Conn, limit: int = 100) -> list[dict[str, Any]]:
    """The newest first, as JSON-ready rows (the body's head as text, bytes replaced)."""
    rows = await conn.fetch(
        "SELECT id, received_at, consumer, stream, stream_seq, subject, headers, body_size, "
        "body_sha256, body_head, reason FROM dead_letters ORDER BY id DESC LIMIT $1", limit)
    return [_row(r) for r in rows]


def _row(r: asyncpg.Record) -> dict[str, Any]:
    received: datetime = r["received_at"]
    return {
        "id": r["id"], "received_at": received.isoformat(), "consumer": r["consumer"],
        "stream": r["stream"], "stream_seq": r["stream_seq"], "subject": r["subject"],
        "headers": json.loads(r["headers"]) if r["headers"] is not None else None,
        "body_size": r["body_size"], "body_sha256": r["body_sha256"],
        "body_head": bytes(r["body_head"]).decode("utf-8", errors="replace"),
        "reason": r["reason"],
    }
