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
  seq is not the one the office signed (or the chain is shorter than a checkpoint);
- the tail beyond the last checkpoint rewritten (links deleted, an event edited, the
  keeper left to re-chain it): the keeper's high-water mark is no longer in the chain
  (`chain_regressed`; the keeper also refuses, and signs the mark as an alarm);
- the checkpoint file deleted or cut short: the checkpoints recorded in the table
  `audit_checkpoints` or in the mirror are missing from it (`checkpoint_missing`,
  unless `allow_missing`); the mirror is compared with the file the same way.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.audit import checkpoints as checkpoint_table
from services.audit.chain import GENESIS, link, record_of, state_digest
from services.audit.checkpoints import Checkpoint, CheckpointLog, HighWater
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
        self.watch: int | None = None      # the seq of the keeper's mark...
        self.watched: str | None = None    # ...and the chain's hash there

    def add(self, problem: Broken) -> None:
        self.problems.append(problem)

    def link(self, c: asyncpg.Record, row: StoredRow | None) -> None:
        seq, stream, position = int(c["seq"]), str(c["stream"]), int(c["position"])
        case_id, version = c["case_id"], int(c["version"])
        where: dict[str, Any] = {"seq": seq, "stream": stream, "position": position,
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
        if seq == self.watch:
            self.watched = self.prev
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


MISSING_AFTER_SECONDS = 5.0
"""A checkpoint younger than this may be on its way to the mirror: not missing yet."""


class _Places:
    """The signed checkpoints of every place that keeps them, read in the opposite order
    to the keeper's writes (table, mirror, file), so that an honest append in between
    never looks like a deletion."""

    def __init__(self, walk: _Walk, checkpoints: CheckpointLog, key: OfficeKey | None,
                 table: list[Checkpoint]) -> None:
        self.walk, self.key = walk, key
        self.warnings: list[str] = []
        self.table = self._signed(table, "the table audit_checkpoints", report=False)
        self.mirror: dict[str, Checkpoint] | None = None
        if checkpoints.mirror is not None:
            found, warnings = checkpoints.mirror.read()
            self.warnings += warnings
            self.mirror = self._signed(found, str(checkpoints.mirror.path))
        found, warnings = checkpoints.primary.read()
        self.warnings += warnings
        self.file = self._signed(found, str(checkpoints.path))
        self.file_exists = checkpoints.path.exists()
        self.path, self.mirror_path = checkpoints.path, (
            checkpoints.mirror.path if checkpoints.mirror is not None else None)

    def _signed(self, found: list[Checkpoint], where: str,
                report: bool = True) -> dict[str, Checkpoint]:
        signed = {}
        for cp in found:
            if self.key is not None and cp.signed_by(self.key):
                signed[cp.signature] = cp
            elif report:
                self.walk.add(Broken(
                    "checkpoint_signature", f"checkpoint on line {cp.line} of {where} is not "
                    "signed by the office key", seq=cp.seq, checkpoint=_cp(cp)))
            else:
                self.warnings.append(f"a checkpoint row (seq {cp.seq}) in {where} is not "
                                     "signed by the office key; ignored")
        return signed

    def union(self) -> list[Checkpoint]:
        """Every signed checkpoint, once, as the file has it when it does."""
        merged = {**self.table, **(self.mirror or {}), **self.file}
        return sorted(merged.values(), key=lambda cp: (cp.seq, str(cp.entry.get("at"))))

    def missing(self, allow: bool) -> None:
        """Checkpoints the system recorded that a place no longer has."""
        recorded_elsewhere = {**self.table, **(self.mirror or {})}
        lost = [cp for sig, cp in recorded_elsewhere.items() if sig not in self.file]
        if lost:
            where = " and ".join(w for w, place in (("the table audit_checkpoints", self.table),
                                                   ("the mirror", self.mirror or {}))
                                 if any(cp.signature in place for cp in lost))
            state = "is missing" if not self.file_exists else "lacks them"
            self._missing(allow, lost, f"the system recorded {len(lost)} signed checkpoint(s) "
                          f"(in {where}) that the checkpoint file {self.path} no longer has; "
                          f"the file {state}: deleted or cut short")
        if self.mirror is not None:
            newest = max((cp.seq for cp in self.mirror.values()), default=0)
            lacking = [cp for sig, cp in {**self.table, **self.file}.items()
                       if sig not in self.mirror and (cp.seq <= newest or _age(cp) >
                                                      MISSING_AFTER_SECONDS)]
            if lacking:
                self._missing(allow, lacking, f"the checkpoint mirror {self.mirror_path} "
                              f"lacks {len(lacking)} signed checkpoint(s) the checkpoint file "
                              "or the table has: it was cut short or a write to it failed")
        unrecorded = [cp for sig, cp in self.file.items() if sig not in self.table]
        if unrecorded and self.table:
            self.warnings.append(
                f"the table audit_checkpoints lacks {len(unrecorded)} checkpoint(s) of the "
                "file (rows deleted, or signed a moment ago); the running keeper records "
                "them again at its next start")

    def _missing(self, allow: bool, lost: list[Checkpoint], detail: str) -> None:
        lost.sort(key=lambda cp: cp.seq)
        seqs = ", ".join(str(cp.seq) for cp in lost[:5]) + (", …" if len(lost) > 5 else "")
        detail = f"{detail} (at seq {seqs})"
        if allow:
            self.warnings.append(f"{detail}; allowed by --allow-missing-checkpoints")
        else:
            self.walk.add(Broken("checkpoint_missing", detail, seq=lost[0].seq,
                                 checkpoint=_cp(lost[0])))


def _age(cp: Checkpoint) -> float:
    try:
        return (datetime.now(UTC) - datetime.fromisoformat(str(cp.entry["at"]))).total_seconds()
    except (KeyError, ValueError, TypeError):
        return float("inf")


async def verify(pool: asyncpg.Pool, eventlog: EventLog, checkpoints: CheckpointLog,
                 key: OfficeKey | None, allow_missing: bool = False,
                 high_water: HighWater | None = None,
                 alarm: str | None = None) -> dict[str, Any]:
    """`{ok, checked, first_broken, ...}` for the whole store (API.md GET /audit/verify).
    `allow_missing`: checkpoints gone from the file or the mirror are a warning only;
    `alarm`: the running keeper's (it found the chain shortened or rewritten)."""
    # Read the checkpoints and the keeper's mark first: each was written after its links
    # committed, so the snapshot taken next must hold every link they name.
    walk = _Walk(defaultdict(list))
    if alarm is not None:
        walk.add(Broken("chain_regressed", f"the chain keeper raised an alarm: {alarm}"))
    places = _Places(walk, checkpoints, key, await checkpoint_table.recorded(pool))
    places.missing(allow_missing)
    warnings = places.warnings
    found = places.union()
    for cp in found:
        walk.checkpoints[cp.seq].append(cp)
        if cp.alarm is not None:
            warnings.append(f"the chain keeper raised an alarm at {cp.entry.get('at')} "
                            f"(signed at seq {cp.seq}): {cp.alarm}")
    mark = high_water.read() if high_water is not None else None
    walk.watch = mark.seq if mark is not None else None
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
        if mark is not None and (mark.seq > head_seq or walk.watched != mark.hash):
            now = (f"audit_chain now ends at seq {head_seq}" if mark.seq > head_seq else
                   f"the link at seq {mark.seq} now has hash {walk.watched}, not {mark.hash}")
            walk.add(Broken(
                "chain_regressed",
                f"the chain keeper appended links up to seq {mark.seq} (its high-water mark "
                f"in {high_water.path if high_water else '?'}), but {now}: links beyond the "
                "last signed checkpoint were deleted or rewritten",
                seq=min(mark.seq, head_seq + 1)))
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
    last = found[-1] if found else None
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
            "mirror": str(places.mirror_path) if places.mirror_path else None,
            "recorded": len(places.table),
            "matched": walk.matched,
            "last": _cp(last) if last else None,
            "key_id": key.key_id if key else None,
            "public_key": key.public_b64 if key else None,
        },
        "alarm": alarm or (last.alarm if last else None),
        "warnings": warnings,
    }


def _public(problem: Broken) -> dict[str, Any]:
    return asdict(problem)
