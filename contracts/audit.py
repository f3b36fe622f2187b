"""What the audit endpoints answer (API.md, "Supervision, audit, calendar"): a case's
history with its hash-chain links, and the verification of the whole store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class ActorId(msgspec.Struct, kw_only=True):
    id: str
    """Exactly the token's actor."""
    role: str


class HistoryEntry(msgspec.Struct, kw_only=True):
    """One stored event of a case (`GET /cases/{id}/history`), oldest first. The chain
    fields are null only for an event stored a moment ago and not chained yet."""

    position: int
    """The event's global position in its stream."""
    stream: str
    version: int
    time: datetime
    """When it happened (the office clock)."""
    recorded_at: datetime
    type: str
    """The contract tag, e.g. `application.escalated` (automatic escalations too)."""
    actor: ActorId
    channel: str | None
    data: dict[str, Any]
    """The contract event as stored (`GET /contracts/schema`): personal data sealed."""
    seq: int | None
    hash: str | None
    """SHA-256(prev_hash || record) in the whole store's chain."""
    prev_hash: str | None
    case_hash: str | None
    """SHA-256(prev_case_hash || record) in the case's own chain."""
    prev_case_hash: str | None


class CheckpointRef(msgspec.Struct, kw_only=True):
    """A signed checkpoint: its line in the checkpoint file, and the chain head it signs."""

    line: int
    seq: int
    hash: str
    at: Any
    """When it was signed, as the file has it (ISO 8601 as the office writes it)."""


class BrokenLink(msgspec.Struct, kw_only=True):
    """One place where the store is not as it was written, and what is wrong there."""

    kind: str
    """`chain_gap`, `chain_link`, `chain_hash`, `case_chain`, `event_missing`,
    `event_reordered`, `event_altered`, `event_unchained`, `checkpoint_mismatch`,
    `checkpoint_signature`, `chain_truncated`, `checkpoint_missing` (a signed checkpoint
    the system recorded is gone from the file or its mirror) or `chain_regressed` (the
    chain no longer reaches the keeper's high-water mark: links deleted or rewritten)."""
    detail: str
    seq: int | None
    stream: str | None
    position: int | None
    case_id: str | None
    version: int | None
    checkpoint: CheckpointRef | None


class ChainHead(msgspec.Struct, kw_only=True):
    seq: int
    hash: str


class Checkpoints(msgspec.Struct, kw_only=True):
    file: str
    count: int
    matched: int
    """Checkpoints whose signed hash the chain still has."""
    last: CheckpointRef | None
    key_id: str | None
    public_key: str | None
    """The office's Ed25519 public key, unpadded base64url."""
    mirror: str | None = None
    """The second copy the operator chose (`PTSP_CHECKPOINT_MIRROR`), compared with `file`."""
    recorded: int = 0
    """Signed checkpoints the table `audit_checkpoints` records (so a deleted file shows)."""


class Verification(msgspec.Struct, kw_only=True):
    """`GET /audit/verify`: the whole store's hash chain recomputed."""

    ok: bool
    checked: int
    first_broken: BrokenLink | None
    problems: list[BrokenLink]
    """The first few, earliest first (`problem_count` says how many in all)."""
    problem_count: int
    head: ChainHead
    pending: dict[str, int]
    """Events per stream stored after the chain's head (not chained yet)."""
    checkpoints: Checkpoints
    warnings: list[str]
    alarm: str | None = None
    """Set when the chain keeper found the chain shorter than, or rewritten below, what it
    had chained; it then chains and signs nothing more until an operator restores it."""
