"""Records every case view shows, typed for the OpenAPI document.

They are `TypedDict`s on purpose: the aggregates keep these records as plain dicts, and a
TypedDict describes a dict without converting it, so a view shows each record exactly as
the case holds it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

# "from" is a keyword: the functional form names it.
TierStep = TypedDict("TierStep", {"tier": str, "from": datetime, "to": datetime})
"""A tier the case was at, and when (its `tier_history`)."""


class AuditHold(TypedDict):
    """An audit is pending: the case's personal data may not be erased."""

    reason: str
    by: str
    at: datetime


class PersonalDataErasure(TypedDict):
    """The keys of the case's data subjects were deleted: who, why, which subjects."""

    subjects: list[str]
    reason: str
    by: str
    at: datetime
