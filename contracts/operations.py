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
