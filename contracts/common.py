"""Shapes shared by every contract."""

from __future__ import annotations

import re
import types
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


# -- the events every case type shares --------------------------------------------------
# Written once here; each case type's module takes them under its own tags
# (`shared_events`), named like its aggregate's events (the mapping is by name).
class Assigned(CaseEvent, frozen=True):
    officer: str


class Escalated(CaseEvent, frozen=True):
    from_tier: str
    to_tier: str
    reason: str
    automatic: bool = False
    clock_span: int | None = None   # set on automatic escalations: which run of the clock breached


class AuditHoldPlaced(CaseEvent, frozen=True):
    """An audit is pending: erasing the case's personal data is refused until released."""

    reason: str


class AuditHoldReleased(CaseEvent, frozen=True):
    reason: str


class PersonalDataErased(CaseEvent, frozen=True):
    """The keys of the case's data subjects were deleted (crypto-shredding): every
    envelope sealed under them, on this case and every other case of the same subject,
    now opens as erased. Carries subject ids (pseudonyms), never the data."""

    subjects: list[str]
    reason: str
    keys_erased: int = 0


class ErasureRefused(CaseEvent, frozen=True):
    """An erasure asked for with `reason` was refused (`rule`: `audit_hold`)."""

    reason: str
    rule: str
    hold_reason: str | None = None


class NotificationDelivered(CaseEvent, frozen=True):
    """A message about one of the case's steps reached the person (services/notifications):
    accepted by the office's SMTP server (`via: email`) or acknowledged by the case's
    channel adapter (`via`: the channel). `about_version` is the version of the event the
    message told of; `notification` the outbox row. No address, no text: no personal data."""

    notification: int
    step: str
    about_version: int
    via: str


SHARED_EVENTS: tuple[type[CaseEvent], ...] = (
    Assigned, Escalated, AuditHoldPlaced, AuditHoldReleased, PersonalDataErased, ErasureRefused,
    NotificationDelivered)


def shared_events(case_type: str, module: str) -> tuple[type[CaseEvent], ...]:
    """`SHARED_EVENTS` for one case type, in that order: each a subclass tagged
    `<case_type>.<event in snake case>` (`application.audit_hold_placed`), with the same
    name, fields and docstring, belonging to `module`."""
    def subclass(base: type[CaseEvent]) -> type[CaseEvent]:
        tag = f"{case_type}.{re.sub(r'(?<!^)(?=[A-Z])', '_', base.__name__).lower()}"
        return types.new_class(
            base.__name__, (base,), {"tag": tag, "frozen": True},
            lambda ns: ns.update(__doc__=base.__doc__, __module__=module,
                                 __qualname__=base.__name__))
    return tuple(subclass(base) for base in SHARED_EVENTS)
