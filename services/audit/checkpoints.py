"""Signed checkpoints of the audit chain's head, kept outside the database.

One JSON object per line, appended (never rewritten) to `<data_dir>/audit/checkpoints.jsonl`:

    {"at": "...Z", "hash": "<head hash>", "key_id": "...", "public_key": "<b64url>",
     "seq": N, "streams": {"applications": P, ...}, "signature": "<b64url Ed25519>"}

`signature` is the office key's Ed25519 signature over the canonical JSON (sorted keys,
no whitespace) of every other field. Whoever rewrites the database, events and
`audit_chain` alike, cannot also produce a signature over the rewritten head, and a
later checkpoint no longer matches the chain. Copy the file off the machine (or append it
to write-once storage) so the file itself cannot be rewritten with the database.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.infra.signing import OfficeKey


@dataclass(frozen=True)
class Checkpoint:
    line: int                        # 1-based line number in the file
    entry: dict[str, Any]

    @property
    def seq(self) -> int:
        return int(self.entry["seq"])

    @property
    def hash(self) -> str:
        return str(self.entry["hash"])

    def signed_by(self, key: OfficeKey) -> bool:
        payload = {k: v for k, v in self.entry.items() if k != "signature"}
        signature = self.entry.get("signature")
        return isinstance(signature, str) and key.verify(payload, signature)


class CheckpointLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, seq: int, head_hash: str, streams: dict[str, int],
               key: OfficeKey) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "seq": seq, "hash": head_hash, "streams": streams,
            "at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "key_id": key.key_id, "public_key": key.public_b64,
        }
        entry = {**payload, "signature": key.sign(payload)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            # A line torn by a crash stays alone on its line: start on a fresh one.
            if os.fstat(fd).st_size > 0 and not self._ends_with_newline():
                line = "\n" + line
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        return entry

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
