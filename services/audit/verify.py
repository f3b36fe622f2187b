"""Walk the audit chain and say whether the store is as it was written.

Recomputes every link from the rows in the events tables (not from what `audit_chain`
says about them), compares with `audit_chain`, and compares `audit_chain` with the signed
checkpoints outside the database. All reads in one REPEATABLE READ snapshot, so a
running system can keep writing meanwhile.

What each kind of tampering looks like:
- a row's state, topic or version edited: its record no longer hashes to the link;
- a row deleted: the chain names a position the table no longer has;
- rows reordered (notification ids swapped, versions changed): a position now holds
  another event than the one chained there;
- a row inserted below the chained head: an event the chain never saw;
- audit_chain rows deleted, reordered or edited: a gap in `seq` or a link whose
  prev_hash is not its predecessor's hash;
- events and audit_chain rewritten consistently: the chain's hash at a checkpoint's
  seq is not the one the office signed (or the chain is shorter than a checkpoint).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

import asyncpg

from services.audit.chain import GENESIS, link, record_of, state_digest
from services.audit.checkpoints import Checkpoint, CheckpointLog
from services.infra.eventlog import EventLog, StoredRow
from services.infra.signing import OfficeKey

BATCH = 5000
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class Broken:
    """One broken link: where, and what is wrong there."""

    kind: str
    detail: str
    seq: int | None = None
    stream: str | None = None
    position: int | None = None
    case_id: str | None = None
    version: int | None = None
    checkpoint: dict[str, Any] | None = None

    def order(self) -> tuple[int, int]:
        # Earliest place in the chain first; a checkpoint problem after the events up to it.
        return (self.seq if self.seq is not None else 0, 1 if self.checkpoint else 0)


class _Walk:
    def __init__(self, checkpoints: dict[int, list[Checkpoint]]) -> None:
        self.problems: list[Broken] = []
        self.checked = 0
        self.prev = GENESIS
        self.expected_seq = 1
        self.cases: dict[tuple[str, UUID], tuple[int, str]] = {}
        self.checkpoints = checkpoints
        self.last_good_checkpoint: Checkpoint | None = None
        self.matched = 0

    def add(self, problem: Broken) -> None:
        self.problems.append(problem)

    def link(self, c: asyncpg.Record, row: StoredRow | None) -> None:
        seq, stream, position = int(c["seq"]), str(c["stream"]), int(c["position"])
        case_id, version = c["case_id"], int(c["version"])
        where = {"seq": seq, "stream": stream, "position": position,
                 "case_id": str(case_id), "version": version}
        self.checked += 1
        if seq != self.expected_seq:
            self.add(Broken("chain_gap", f"audit_chain jumps from seq {self.expected_seq - 1} "
                            f"to {seq}: links were deleted from the chain", **where))
        self.expected_seq = seq + 1
        if c["prev_hash"] != self.prev:
            self.add(Broken("chain_link", f"audit_chain seq {seq} does not link to seq "
                            f"{seq - 1}: its prev_hash is not the previous link's hash", **where))
        if row is None:
            self.add(Broken("event_missing", f"{stream} position {position} (case {case_id} "
                            f"version {version}) was chained but is no longer stored: "
                            "the row was deleted or moved", **where))
        else:
            digest = state_digest(row.state)
            record = record_of(stream, position, row.originator_id, row.originator_version,
                               row.topic, digest)
            if (row.originator_id, row.originator_version) != (case_id, version):
                self.add(Broken(
                    "event_reordered",
                    f"{stream} position {position} now holds case {row.originator_id} version "
                    f"{row.originator_version}, but the chain recorded case {case_id} version "
                    f"{version} there: rows were reordered or renumbered", **where))
            elif row.topic != c["topic"]:
                self.add(Broken("event_altered", f"{stream} position {position}: the topic "
                                f"changed from {c['topic']!r} to {row.topic!r}", **where))
            elif digest != c["state_sha256"]:
                self.add(Broken("event_altered", f"{stream} position {position} (case "
                                f"{case_id} version {version}): the stored state is not the "
                                "one chained (its SHA-256 differs)", **where))
            elif link(self.prev, record) != c["hash"]:
                self.add(Broken("chain_hash", f"audit_chain seq {seq}: its hash is not "
                                "SHA-256(prev_hash || record) of the stored event", **where))
            key = (stream, case_id)
            last_version, last_case_hash = self.cases.get(key, (0, GENESIS))
            if c["prev_case_hash"] != last_case_hash or version != last_version + 1:
                self.add(Broken("case_chain", f"case {case_id}: version {version} does not "
                                f"follow version {last_version} in its case chain", **where))
            elif link(last_case_hash, record) != c["case_hash"]:
                self.add(Broken("case_chain", f"case {case_id} version {version}: its case_hash "
                                "is not SHA-256(prev_case_hash || record)", **where))
        self.cases[(stream, case_id)] = (version, str(c["case_hash"]))
        # Carry on from what the chain says, so one break is reported once, not at every
        # later link; the checkpoints catch a chain rewritten to hide it.
        self.prev = str(c["hash"])
        for cp in self.checkpoints.get(seq, []):
            self.check_checkpoint(cp, c)

    def check_checkpoint(self, cp: Checkpoint, c: asyncpg.Record) -> None:
        if cp.hash == c["hash"]:
            self.last_good_checkpoint = cp
            self.matched += 1
            return
        since = (f"after the checkpoint at seq {self.last_good_checkpoint.seq}, which still "
                 "matches" if self.last_good_checkpoint else "from the start of the chain")
        self.add(Broken(
            "checkpoint_mismatch",
            f"the chain's hash at seq {cp.seq} is not the one the office signed at "
            f"{cp.entry.get('at')}: the store was rewritten at or before seq {cp.seq}, "
            f"{since}", seq=cp.seq, stream=str(c["stream"]), position=int(c["position"]),
            case_id=str(c["case_id"]), version=int(c["version"]), checkpoint=_cp(cp)))


def _cp(cp: Checkpoint) -> dict[str, Any]:
    return {"line": cp.line, "seq": cp.seq, "hash": cp.hash, "at": cp.entry.get("at")}


async def verify(pool: asyncpg.Pool, eventlog: EventLog, checkpoints: CheckpointLog,
                 key: OfficeKey | None) -> dict[str, Any]:
    """`{ok, checked, first_broken, ...}` for the whole store (API.md GET /audit/verify)."""
    # Read the checkpoints first: every one was written after its links committed, so the
    # snapshot taken next must hold every link a checkpoint names.
    found, warnings = checkpoints.read()
    walk = _Walk(defaultdict(list))
    for cp in found:
        if key is None or not cp.signed_by(key):
            walk.add(Broken("checkpoint_signature", f"checkpoint on line {cp.line} of "
                            f"{checkpoints.path} is not signed by the office key", seq=cp.seq,
                            checkpoint=_cp(cp)))
        else:
            walk.checkpoints[cp.seq].append(cp)
    streams = list(eventlog.streams)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                        readonly=True):
        exists = await conn.fetchval("SELECT to_regclass('audit_chain') IS NOT NULL")
        head_seq, head_hash = 0, GENESIS
        if exists:
            after = 0
            while True:
                links = await conn.fetch(
                    "SELECT * FROM audit_chain WHERE seq > $1 ORDER BY seq LIMIT $2",
                    after, BATCH)
                if not links:
                    break
                wanted: dict[str, list[int]] = defaultdict(list)
                for c in links:
                    wanted[c["stream"]].append(int(c["position"]))
                rows: dict[tuple[str, int], StoredRow] = {}
                for stream, positions in wanted.items():
                    if stream not in eventlog.streams:
                        continue
                    found_rows = await eventlog.rows_at(stream, positions, conn)
                    rows.update({(stream, p): r for p, r in found_rows.items()})
                for c in links:
                    walk.link(c, rows.get((c["stream"], int(c["position"]))))
                after = int(links[-1]["seq"])
                head_seq, head_hash = after, str(links[-1]["hash"])
        for cps in list(walk.checkpoints.values()):
            for cp in cps:
                if cp.seq > head_seq:
                    walk.add(Broken(
                        "chain_truncated",
                        f"the office signed a chain of {cp.seq} links at {cp.entry.get('at')}, "
                        f"but audit_chain now ends at seq {head_seq}: links and events "
                        "were removed", seq=head_seq + 1, checkpoint=_cp(cp)))
        pending: dict[str, int] = {}
        for stream in streams:
            table = eventlog.streams[stream].table
            chained = 0
            if exists:
                chained = int(await conn.fetchval(
                    "SELECT coalesce(max(position), 0) FROM audit_chain WHERE stream = $1",
                    stream))
                stray = await conn.fetchrow(
                    f"SELECT e.notification_id, e.originator_id, e.originator_version "
                    f"FROM {table} e WHERE e.notification_id <= $2 AND NOT EXISTS ("
                    "SELECT 1 FROM audit_chain c WHERE c.stream = $1 "
                    "AND c.position = e.notification_id) ORDER BY 1 LIMIT 1", stream, chained)
                if stray is not None:
                    position = int(stray["notification_id"])
                    at = await conn.fetchval(
                        "SELECT min(seq) FROM audit_chain WHERE stream = $1 AND position > $2",
                        stream, position)
                    walk.add(Broken(
                        "event_unchained",
                        f"{stream} position {position} (case {stray['originator_id']} version "
                        f"{stray['originator_version']}) is stored below the chained head but "
                        "was never chained: it was inserted or renumbered afterwards",
                        seq=int(at) if at is not None else head_seq + 1, stream=stream,
                        position=position, case_id=str(stray["originator_id"]),
                        version=int(stray["originator_version"])))
            pending[stream] = int(await conn.fetchval(
                f"SELECT count(*) FROM {table} WHERE notification_id > $1", chained))
    problems = sorted(walk.problems, key=Broken.order)
    if not found and head_seq > 0:
        warnings.append(f"no signed checkpoints in {checkpoints.path}: a database rewritten "
                        "together with audit_chain could not be told apart")
    return {
        "ok": not problems,
        "checked": walk.checked,
        "first_broken": _public(problems[0]) if problems else None,
        "problems": [_public(p) for p in problems[:MAX_PROBLEMS]],
        "problem_count": len(problems),
        "head": {"seq": head_seq, "hash": head_hash},
        "pending": pending,
        "checkpoints": {
            "file": str(checkpoints.path), "count": len(found),
            "matched": walk.matched,
            "last": _cp(found[-1]) if found else None,
            "key_id": key.key_id if key else None,
            "public_key": key.public_b64 if key else None,
        },
        "warnings": warnings,
    }


def _public(problem: Broken) -> dict[str, Any]:
    return asdict(problem)
