"""The audit chain as JSON lines another tool can re-verify (`ptsp audit export`).

One event per line, in chain order, carrying what is stored (the state bytes in base64)
and its links. The recipe to re-verify a line with nothing but hashlib is in
`services.audit.chain` and the README ("For auditors")."""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from services.audit.chain import state_digest
from services.domain.clock import JAKARTA
from services.infra.eventlog import EventLog, StoredRow

BATCH = 2000


async def export(pool: asyncpg.Pool, eventlog: EventLog,
                 case_id: UUID | None = None) -> AsyncIterator[dict[str, Any]]:
    """Every chained event (or one case's), oldest first, from one consistent snapshot."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                        readonly=True):
        if not await conn.fetchval("SELECT to_regclass('audit_chain') IS NOT NULL"):
            return
        after = 0
        while True:
            if case_id is None:
                links = await conn.fetch(
                    "SELECT * FROM audit_chain WHERE seq > $1 ORDER BY seq LIMIT $2",
                    after, BATCH)
            else:
                links = await conn.fetch(
                    "SELECT * FROM audit_chain WHERE seq > $1 AND case_id = $3 "
                    "ORDER BY seq LIMIT $2", after, BATCH, case_id)
            if not links:
                return
            wanted: dict[str, list[int]] = defaultdict(list)
            for c in links:
                wanted[c["stream"]].append(int(c["position"]))
            rows: dict[tuple[str, int], StoredRow] = {}
            for stream, positions in wanted.items():
                if stream in eventlog.streams:
                    found = await eventlog.rows_at(stream, positions, conn)
                    rows.update({(stream, p): r for p, r in found.items()})
            for c in links:
                # Personal data stays sealed in `data` as in `state_b64`: an export carries
                # no plaintext identity, and nothing readable once a key is erased.
                yield line(eventlog, c, rows.get((c["stream"], int(c["position"]))))
            after = int(links[-1]["seq"])


def line(eventlog: EventLog, c: asyncpg.Record, row: StoredRow | None) -> dict[str, Any]:
    stored: dict[str, Any] = {"case_id": None, "version": None, "topic": None,
                              "state_b64": None, "state_sha256": None, "missing": True}
    event: dict[str, Any] = {"type": None, "time": None, "data": None}
    if row is not None:
        stored = {"case_id": str(row.originator_id), "version": row.originator_version,
                  "topic": row.topic, "state_b64": base64.b64encode(row.state).decode(),
                  "state_sha256": state_digest(row.state), "missing": False}
        try:
            logged = eventlog.decode(row)
            ev: Any = logged.event
            event = {"type": logged.tag, "time": ev.at.astimezone(JAKARTA).isoformat(),
                     "data": msgspec.to_builtins(ev)}
        except Exception as exc:  # noqa: BLE001 - an altered row may not decode: say so
            event = {"type": None, "time": None, "data": None, "decode_error": str(exc)}
    return {
        "seq": int(c["seq"]), "stream": c["stream"], "position": int(c["position"]),
        **stored,
        "prev_hash": c["prev_hash"], "hash": c["hash"],
        "prev_case_hash": c["prev_case_hash"], "case_hash": c["case_hash"],
        **event,
    }
