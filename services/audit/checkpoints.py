"""Signed checkpoints of the audit chain's head, kept outside the database.

One JSON object per line, appended (never rewritten) to `<data_dir>/audit/checkpoints.jsonl`
and, when the operator names one (`PTSP_CHECKPOINT_MIRROR`), to a second file elsewhere
(another disk, a write-once mount, a share off the machine):

    {"at": "...Z", "hash": "<head hash>", "key_id": "...", "public_key": "<b64url>",
     "seq": N, "streams": {"applications": P, ...}, "signature": "<b64url Ed25519>"}

`signature` is the office key's Ed25519 signature over the canonical JSON (sorted keys,
no whitespace) of every other field; `public_key` and `signature` are unpadded base64url.
A checkpoint the keeper signs when it finds the chain shorter than it left it also
carries `alarm` (what it found), signed with the rest.

Whoever rewrites the database, events and `audit_chain` alike, cannot also produce a
signature over the rewritten head, and a later checkpoint no longer matches the chain.
Each signed line is also recorded in the table `audit_checkpoints`: deleting the file
then does not make it look as if no checkpoint had ever been signed (verification fails
unless told `--allow-missing-checkpoints`). The mirror is the defence against someone
who holds both the database and the data dir.

`HighWater` is the keeper's own note of the last link it appended (unsigned, rewritten
after every batch), in the data dir: what a restart after `kill -9` knows of the chain
beyond the last signed checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.infra.signing import OfficeKey

log = logging.getLogger("ptsp.audit")

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    signature text PRIMARY KEY,
    seq bigint NOT NULL,
    entry text NOT NULL
);
"""


@dataclass(frozen=True)
class Checkpoint:
    line: int                        # 1-based line number in its file (0: from the table)
    entry: dict[str, Any]

    @property
    def seq(self) -> int:
        return int(self.entry["seq"])

    @property
    def hash(self) -> str:
        return str(self.entry["hash"])

    @property
    def signature(self) -> str:
        return str(self.entry.get("signature"))

    @property
    def alarm(self) -> str | None:
        alarm = self.entry.get("alarm")
        return str(alarm) if alarm is not None else None

    def signed_by(self, key: OfficeKey) -> bool:
        payload = {k: v for k, v in self.entry.items() if k != "signature"}
        signature = self.entry.get("signature")
        return isinstance(signature, str) and key.verify(payload, signature)


def _line(entry: dict[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"


class CheckpointFile:
    """One append-only file of checkpoint lines."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = _line(entry)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            # A line torn by a crash stays alone on its line: start on a fresh one.
            if os.fstat(fd).st_size > 0 and not self._ends_with_newline():
                line = "\n" + line
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def read(self) -> tuple[list[Checkpoint], list[str]]:
        """Every checkpoint in the file, and a warning per line that is not one."""
        if not self.path.exists():
            return [], []
        found, warnings = [], []
        with self.path.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                try:
                    entry = json.loads(raw)
                    if not isinstance(entry, dict):
                        raise ValueError("not an object")
                    int(entry["seq"]), str(entry["hash"])
                except (ValueError, KeyError, TypeError):
                    warnings.append(f"{self.path} line {number} is not a checkpoint")
                    continue
                found.append(Checkpoint(number, entry))
        return found, warnings

    def last(self) -> dict[str, Any] | None:
        """The last readable checkpoint (read from the end: the file only grows)."""
        if not self.path.exists():
            return None
        with self.path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - 65536))
            tail = f.read().splitlines()
        for raw in reversed(tail):
            try:
                entry = json.loads(raw)
                if isinstance(entry, dict) and "seq" in entry:
                    return entry
            except ValueError:
                continue
        return None


def mirror_file(path: Path | None) -> Path | None:
    """The operator's mirror setting as a file: a directory gets `checkpoints.jsonl`."""
    if path is None:
        return None
    return path / "checkpoints.jsonl" if path.is_dir() else path


class CheckpointLog:
    """The checkpoint file, and its mirror when the operator chose one."""

    def __init__(self, path: Path, mirror: Path | None = None) -> None:
        self.path = path
        self.primary = CheckpointFile(path)
        self.mirror = CheckpointFile(mirror) if mirror is not None else None

    def append(self, seq: int, head_hash: str, streams: dict[str, int], key: OfficeKey,
               alarm: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "seq": seq, "hash": head_hash, "streams": streams,
            "at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "key_id": key.key_id, "public_key": key.public_b64,
        }
        if alarm is not None:
            payload["alarm"] = alarm
        entry = {**payload, "signature": key.sign(payload)}
        # The file first, then the mirror, then the table: verification reads them in the
        # opposite order, so an honest append in between never looks like a deletion.
        self.primary.append(entry)
        if self.mirror is not None:
            try:
                self.mirror.append(entry)
            except OSError:
                # Not fatal to the chain: verification names the checkpoint the mirror
                # lacks, and the operator copies it over.
                log.exception("could not write the checkpoint mirror %s", self.mirror.path)
        return entry

    def read(self) -> tuple[list[Checkpoint], list[str]]:
        """The checkpoints of the file (not the mirror's)."""
        return self.primary.read()

    def last(self) -> dict[str, Any] | None:
        """The checkpoint with the highest seq in the file or the mirror."""
        candidates = [f.last() for f in (self.primary, self.mirror) if f is not None]
        entries = [c for c in candidates if c is not None]
        return max(entries, key=lambda e: int(e["seq"])) if entries else None


# -- the record in the database ------------------------------------------------------
async def install(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute(SCHEMA)


async def record(pool: asyncpg.Pool, entries: list[dict[str, Any]]) -> None:
    """Record signed checkpoints in the table (each once)."""
    if not entries:
        return
    await pool.executemany(
        "INSERT INTO audit_checkpoints (signature, seq, entry) VALUES ($1, $2, $3) "
        "ON CONFLICT (signature) DO NOTHING",
        [(str(e["signature"]), int(e["seq"]), _line(e).strip()) for e in entries])


async def recorded(pool: asyncpg.Pool) -> list[Checkpoint]:
    """The checkpoints the table records (none when it does not exist yet)."""
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT to_regclass('audit_checkpoints') IS NOT NULL"):
            return []
        rows = await conn.fetch("SELECT entry FROM audit_checkpoints ORDER BY seq")
    found = []
    for row in rows:
        try:
            entry = json.loads(row["entry"])
            if isinstance(entry, dict) and "seq" in entry and "hash" in entry:
                found.append(Checkpoint(0, entry))
        except ValueError:
            continue
    return found


async def signed(pool: asyncpg.Pool, places: CheckpointLog,
                 key: OfficeKey) -> list[Checkpoint]:
    """Every checkpoint the office signed, once, wherever kept (file, mirror, table),
    lowest seq first."""
    entries: dict[str, Checkpoint] = {}
    for cp in await recorded(pool):
        if cp.signed_by(key):
            entries[cp.signature] = cp
    for place in [p for p in (places.mirror, places.primary) if p is not None]:
        found, _ = place.read()
        entries.update({cp.signature: cp for cp in found if cp.signed_by(key)})
    return sorted(entries.values(), key=lambda cp: (cp.seq, str(cp.entry.get("at"))))


# -- the keeper's own note ---------------------------------------------------------------
@dataclass(frozen=True)
class Mark:
    """A link the keeper appended: the chain must never again end before it or differ
    at it."""

    seq: int
    hash: str
    streams: dict[str, int]


class HighWater:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> Mark | None:
        try:
            data = json.loads(self.path.read_text())
            return Mark(int(data["seq"]), str(data["hash"]),
                        {str(k): int(v) for k, v in dict(data.get("streams", {})).items()})
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, mark: Mark) -> None:
        """Replaced whole (no fsync: losing the last note in a crash of the machine only
        narrows what a restart knows, back to the last signed checkpoint)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"seq": mark.seq, "hash": mark.hash,
                                   "streams": mark.streams}))
        os.replace(tmp, self.path)
