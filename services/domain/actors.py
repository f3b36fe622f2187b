"""Who acts: roles, units, channels and the tier ladder shared by every case type."""

from __future__ import annotations

from contracts.common import ActorRef
from contracts.vocabulary import (
    APPLICATION_CHANNELS,
    CHANNELS,
    COMPLAINT_CHANNELS,
    COMPLAINTS_UNIT,
    ROLES,
    TIERS,
    Tier,
)

ALL_CHANNELS = CHANNELS

__all__ = [
    "ALL_CHANNELS",
    "APPLICATION_CHANNELS",
    "COMPLAINTS_UNIT",
    "COMPLAINT_CHANNELS",
    "ROLES",
    "TIERS",
    "Actor",
    "tier_above",
    "tier_rank",
]


class Actor(ActorRef, frozen=True, kw_only=True):
    """The one who issued a command (from its token), as every event records it."""

    def as_record(self) -> dict[str, str | None]:
        """The plain dict stored inside events (eventsourcing transcodes builtins)."""
        return {"id": self.id, "role": self.role, "channel": self.channel,
                "tier": self.tier, "unit": self.unit}


def tier_rank(tier: str) -> int:
    return TIERS.index(tier)  # an unknown tier raises ValueError


def tier_above(tier: str) -> Tier | None:
    rank = tier_rank(tier)
    return TIERS[rank + 1] if rank + 1 < len(TIERS) else None
