"""What the operations endpoints answer: health, the simulated clock, the contracts'
JSON Schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec


class Health(msgspec.Struct, kw_only=True):
    status: Literal["ok"]
    now: datetime
    """The office clock (simulated when `simulated_clock`)."""
    simulated_clock: bool


class ClockSet(msgspec.Struct, kw_only=True):
    now: datetime
    """The simulated clock after the jump."""


class ContractSchemas(msgspec.Struct, kw_only=True):
    """JSON Schema (draft 2020-12) of every intake message and every event, by tag."""

    intake: dict[str, Any]
    events: dict[str, Any]
    defs: dict[str, Any] = msgspec.field(name="$defs")


class Readiness(msgspec.Struct, kw_only=True):
    """`GET /ready`: whether this replica should get traffic (200) or not (503)."""

    status: Literal["ready", "not_ready"]
    problems: list[str]
    """What is wrong, one line each (empty when ready)."""
    postgres: str
    """`ok`, or why the database did not answer."""
    nats: str
    """`ok`, `not used` (a system without NATS), or why JetStream did not answer."""
    relay_lag: dict[str, int]
    """Stored events not yet published on JetStream, by stream."""
    projection_lag: dict[str, int]
    """Stored events not yet applied, by read model."""
    audit_alarm: str | None = None
    """The audit chain keeper's alarm, if it raised one (shown; it does not make the
    replica unready: the record is still served, and `GET /audit/verify` fails)."""
