"""The request bodies every case type takes, and the text types of every request."""

from __future__ import annotations

from typing import Annotated

import msgspec

from contracts.vocabulary import Tier

Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
"""A written reason: required, not empty."""
Note = Annotated[str, msgspec.Meta(max_length=20_000)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
OfficerId = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class WithReason(msgspec.Struct, kw_only=True):
    reason: Reason


class Assignment(msgspec.Struct, kw_only=True):
    officer: OfficerId
    """Who works the case (the token's actor id of an officer)."""


class Escalation(msgspec.Struct, kw_only=True):
    to_tier: Tier
    reason: Reason
    """The written report to the tier above."""


class BreachEscalation(msgspec.Struct, kw_only=True):
    clock_span: int
    """Which run of the clock breached (a case is escalated once per run)."""
