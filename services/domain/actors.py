"""Who acts: roles, units, channels and the tier ladder shared by every case type."""

from __future__ import annotations

from typing import Literal

import msgspec

Role = Literal["channel", "officer", "supervisor", "head", "auditor"]
ROLES: tuple[str, ...] = ("channel", "officer", "supervisor", "head", "auditor")

Tier = Literal["pelaksana", "kepala_seksi", "kepala_bidang", "kepala_dinas"]
# Low to high: berjenjang supervision, officer up to the head of the office.
TIERS: tuple[str, ...] = ("pelaksana", "kepala_seksi", "kepala_bidang", "kepala_dinas")

APPLICATION_CHANNELS: tuple[str, ...] = ("oss", "mpp_counter", "web_dpmptsp", "web_mpp")
# The seed's complaint channels a-m, in its order.
COMPLAINT_CHANNELS: tuple[str, ...] = (
    "officer", "mpp_counter", "letter", "phone", "sms", "whatsapp", "email", "twitter",
    "instagram", "web_dpmptsp", "web_mpp", "form", "complaint_box",
)
ALL_CHANNELS: tuple[str, ...] = tuple(dict.fromkeys(APPLICATION_CHANNELS + COMPLAINT_CHANNELS))

ApplicationChannel = Literal["oss", "mpp_counter", "web_dpmptsp", "web_mpp"]
ComplaintChannel = Literal[
    "officer", "mpp_counter", "letter", "phone", "sms", "whatsapp", "email", "twitter",
    "instagram", "web_dpmptsp", "web_mpp", "form", "complaint_box",
]

COMPLAINTS_UNIT = "pengaduan"


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """The one who issued a command, as every event records it."""

    id: str
    role: str
    channel: str | None = None
    tier: str | None = None
    unit: str | None = None

    def as_record(self) -> dict[str, str | None]:
        """The plain dict stored inside events (eventsourcing transcodes builtins)."""
        return {"id": self.id, "role": self.role, "channel": self.channel,
                "tier": self.tier, "unit": self.unit}


def tier_rank(tier: str) -> int:
    return TIERS.index(tier)


def tier_above(tier: str) -> str | None:
    rank = tier_rank(tier)
    return TIERS[rank + 1] if rank + 1 < len(TIERS) else None
