"""The audit chain as JSON lines another tool can re-verify (`ptsp audit export`).

One line per chained event, in chain order, carrying what is stored (the state bytes in
standard base64) and its links: `"kind": "event"`. The recipe to re-verify a line with
nothing but hashlib is in `services.audit.chain` and the README ("For auditors").

A case's export (`--case`) also carries what ties its events to the office's signed
checkpoints, so an auditor needs nothing else from the system: for each of the case's
events, the global chain from that event up to the first signed checkpoint at or after
it. The other events in that stretch come as `"kind": "link"` lines (their chained
record, `state_sha256` included, and hashes; no state, no data), and each signed
checkpoint in it as a `"kind": "checkpoint"` line holding the checkpoint exactly as
signed, right after the line of its `seq`. Recomputing `hash` line by line from the
case's event to the checkpoint and finding the signed hash proves the case's events are
the ones the office chained. An event chained after the last checkpoint has no such
stretch yet: a later export has it.
"""

from __future__ import annotations

import base64
import bisect
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from services.audit.chain import state_digest
from services.audit.checkpoints import Checkpoint
from services.domain.clock import JAKARTA
from services.infra.eventlog import EventLog, StoredRow
from services.infra.pg import Conn

BATCH = 2000


async def export(pool: asyncpg.Pool, eventlog: EventLog, case_id: UUID | None = None,
                 checkpoints: Sequence[Checkpoint] = ()) -> AsyncIterator[dict[str, Any]]:
    """Every chained event (or one case's, with its ties to `checkpoints`: the signed
    ones, read before this call), oldest first, from one consistent snapshot."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                        readonly=True):
        if not await conn.fetchval("SELECT to_regclass('audit_chain') IS NOT NULL"):
            return
        if case_id is None:
            async for batch in _links(conn, 1, None):
                for line_ in await _lines(conn, eventlog, batch, None):
                    yield line_
            return
        seqs = [int(r["seq"]) for r in await conn.fetch(
            "SELECT seq FROM audit_chain WHERE case_id = $1 ORDER BY seq", case_id)]
        by_seq: dict[int, list[Checkpoint]] = defaultdict(list)
        for cp in checkpoints:
            by_seq[cp.seq].append(cp)
        for first, last in stretches(seqs, sorted(by_seq)):
            async for batch in _links(conn, first, last):
                for line_ in await _lines(conn, eventlog, batch, case_id):
                    yield line_
                    for cp in by_seq.get(line_["seq"], []):
                        yield {"kind": "checkpoint", "seq": cp.seq, "checkpoint": cp.entry}


def stretches(case_seqs: Sequence[int], checkpoint_seqs: Sequence[int]
              ) -> list[tuple[int, int]]:
    """The stretches of the global chain a case's export carries: from each of its
    events to the first checkpoint at or after it (the event alone when none is), merged
    where they overlap or touch."""
    wanted: list[tuple[int, int]] = []
    for seq in case_seqs:
        at = bisect.bisect_left(checkpoint_seqs, seq)
        end = checkpoint_seqs[at] if at < len(checkpoint_seqs) else seq
        if wanted and seq <= wanted[-1][1] + 1:
            wanted[-1] = (wanted[-1][0], max(wanted[-1][1], end))
        else:
            wanted.append((seq, end))
    return wanted


async def _links(conn: Conn, first: int, last: int | None
                 ) -> AsyncIterator[list[asyncpg.Record]]:
    after = first - 1
    while True:
        links = await conn.fetch(
            "SELECT * FROM audit_chain WHERE seq > $1 AND ($2::bigint IS NULL OR seq <= $2) "
            "ORDER BY seq LIMIT $3", after, last, BATCH)
        if not links:
            return
        yield links
        after = int(links[-1]["seq"])


async def _lines(conn: Conn, eventlog: EventLog, links: list[asyncpg.Record],
                 case_id: UUID | None) -> list[dict[str, Any]]:
    """Event lines for the case's links (every link without a case), link lines for
    the others."""
    wanted: dict[str, list[int]] = defaultdict(list)
    for c in links:
        if case_id is None or c["case_id"] == case_id:
            wanted[c["stream"]].append(int(c["position"]))
    rows: dict[tuple[str, int], StoredRow] = {}
    for stream, positions in wanted.items():
        if stream in eventlog.streams:
            found = await eventlog.rows_at(stream, positions, conn)
            rows.update({(stream, p): r for p, r in found.items()})
    # Personal data stays sealed in `data` as in `state_b64`: an export carries no
    # plaintext identity, and nothing readable once a key is erased.
    return [line(eventlog, c, rows.get((c["stream"], int(c["position"]))))
            if case_id is None or c["case_id"] == case_id else link_line(c)
            for c in links]


def link_line(c: asyncpg.Record) -> dict[str, Any]:
    """Another case's link in a case export: what was chained, not what is stored."""
    return {
        "kind": "link", "seq": int(c["seq"]), "stream": c["stream"],
        "position": int(c["position"]), "case_id": str(c["case_id"]),
        "version": int(c["version"]), "topic": c["topic"],
        "state_sha256": c["state_sha256"], "prev_hash": c["prev_hash"], "hash": c["hash"],
    }


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
        "kind": "event",
        "seq": int(c["seq"]), "stream": c["stream"], "position": int(c["position"]),
        **stored,
        "prev_hash": c["prev_hash"], "hash": c["hash"],
        "prev_case_hash": c["prev_case_hash"], "case_hash": c["case_hash"],
        **event,
    }
