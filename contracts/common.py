"""Shapes shared by every contract."""

from __future__ import annotations

from datetime import date, datetime

import msgspec

PLAUSIBLE_YEARS = range(1900, 2101)
"""Dates a request may carry: outside them a date is a typo or a probe, and arithmetic on
it (time zones, deadlines, month ends) can leave the calendar altogether."""


def check_plausible(field: str, value: date | None) -> None:
    """For a request Struct's `__post_init__` (msgspec answers the ValueError as a 400
    naming `field`); a datetime is a date too."""
    if value is not None and value.year not in PLAUSIBLE_YEARS:
        raise ValueError(f"{field}: must be in the years {PLAUSIBLE_YEARS.start}"
                         f"-{PLAUSIBLE_YEARS.stop - 1}, not {value.year}")


class ActorRef(msgspec.Struct, frozen=True, kw_only=True):
    """Who did it: the token's actor id and role, and the channel for intake."""

    id: str
    role: str
    channel: str | None = None
    tier: str | None = None
    unit: str | None = None


class CaseEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """What every event on the wire carries: whose it is (the aggregate's id), its version,
    when it happened (the office clock), when it was stored, and who did it."""

    case_id: str
    version: int
    at: datetime
    recorded_at: datetime
    actor: ActorRef
