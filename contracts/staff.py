"""Contracts of the staff register: the entry the head records (`POST /staff`, `ptsp staff
add`), the member as the register holds them, and its events as they travel on JetStream
(`ptsp.staff.<tag>`).

The register says who works at the office: their role, unit and tier, and their
competences and training (the seed's "Kompetensi Pelaksana"). It governs assignment (only
a registered, active officer of the case's unit works it) and console sign-in; bearer
tokens of actors who are not in it keep working (API.md, "Additions").

Rules (DESIGN.md): frozen, kw_only, an explicit stable tag per event; change by adding
fields with defaults only. Names of staff are not sealed: they are public servants' work
identities, printed on the office's own documents; the register holds no contact details.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec

from contracts.common import CaseEvent, check_plausible
from contracts.vocabulary import Role, Tier

ActorId = Annotated[str, msgspec.Meta(min_length=1, max_length=200,
                                      pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")]
"""The id the person acts under: a token's `--actor`, the console's sign-in name."""
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Unit = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class Competence(msgspec.Struct, frozen=True, kw_only=True):
    """A competence or a training (seed: Diklat PTSP, Diklat OSS, ...), with the date
    its certificate was issued, if any."""

    name: Name
    certified_on: date | None = None

    def __post_init__(self) -> None:
        check_plausible("certified_on", self.certified_on)


class StaffEntry(msgspec.Struct, frozen=True, kw_only=True):
    """`POST /staff`: a person registered (or their entry replaced)."""

    actor: ActorId
    name: Name
    role: Role
    """officer, supervisor, head or auditor (a channel is a service, not a person)."""
    unit: Unit | None = None
    """Required for an officer: the unit whose cases they work."""
    tier: Tier | None = None
    """An officer's tier; default `pelaksana`."""
    competences: list[Competence] = []


class StaffMember(msgspec.Struct, frozen=True, kw_only=True):
    """A person as the register holds them (`GET /staff/{actor}`)."""

    actor: str
    name: str
    role: Role
    unit: str | None
    tier: Tier | None
    competences: list[Competence]
    active: bool
    """False once disabled: not assigned cases, no console sign-in."""
    registered_at: str | None = None
    """When the current entry was recorded (ISO 8601)."""
    disabled_reason: str | None = None


class StaffDisabling(msgspec.Struct, frozen=True, kw_only=True):
    """`POST /staff/{actor}/disable`."""

    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


# -- events -----------------------------------------------------------------------
class Opened(CaseEvent, tag="staff.opened", frozen=True):
    """The register exists (its first event)."""


class MemberRegistered(CaseEvent, tag="staff.member_registered", frozen=True):
    """A person's entry, whole (an officer's tier filled in): new, or replacing the one
    before (which re-enables a disabled person). `entry.actor` is the person; `actor`
    (as on every event) is who recorded it."""

    entry: StaffEntry


class MemberDisabled(CaseEvent, tag="staff.member_disabled", frozen=True):
    """The person no longer works cases: assignment refuses them, sign-in too, and the
    tokens issued to them until now are revoked."""

    member: str
    reason: str


EVENT_TYPES: tuple[type[CaseEvent], ...] = (Opened, MemberRegistered, MemberDisabled)
