"""The staff register: who works at the office, in which role, unit and tier, with which
competences and training, and whether they still work cases. One event-sourced register
for the office (like its calendar: a few dozen people, written rarely, read at every
assignment and console sign-in). Pure domain: no I/O, no wall clock.

The rule it serves (issue 12, the seed's service guarantee): only a registered, active
officer of a case's unit, at the case's tier or above, is assigned a case, so the office
knows who handled what.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from contracts.vocabulary import FIRST_TIER, ROLES, TIERS
from services.domain.actors import tier_rank
from services.domain.errors import InvalidInput, NotFound, RuleViolation

REGISTER_ID = uuid.uuid5(uuid.UUID("6f1d1c3e-0a55-4d7e-9b0e-9e1f2b0c5a10"), "staff-register")
PEOPLE_ROLES = tuple(r for r in ROLES if r != "channel")
"""Roles a person holds (a channel is an intake service, not a person)."""


def entry(member: str, name: str, role: str, unit: str | None, tier: str | None,
          competences: list[dict[str, Any]]) -> dict[str, Any]:
    """A register entry, checked and completed: an officer has a unit and a tier
    (`pelaksana` unless given); the others span units and have no tier unless given."""
    if not member.strip():
        raise InvalidInput("actor", "must name the person's actor id")
    if not name.strip():
        raise InvalidInput("name", "must not be empty")
    if role not in PEOPLE_ROLES:
        raise InvalidInput("role", f"must be one of {', '.join(PEOPLE_ROLES)}")
    if tier is not None and tier not in TIERS:
        raise InvalidInput("tier", f"must be one of {', '.join(TIERS)}")
    if role == "officer":
        if unit is None or not unit.strip():
            raise InvalidInput("unit", "an officer works the cases of a unit: name it "
                               "(e.g. perizinan, pengaduan)")
        tier = tier or FIRST_TIER
    checked = []
    for i, c in enumerate(competences):
        if not str(c.get("name") or "").strip():
            raise InvalidInput(f"competences[{i}].name", "must not be empty")
        certified_on = c.get("certified_on")
        if certified_on is not None and not isinstance(certified_on, date):
            raise InvalidInput(f"competences[{i}].certified_on", "must be a date")
        checked.append({"name": c["name"], "certified_on": certified_on})
    return {"actor": member, "name": name, "role": role, "unit": unit, "tier": tier,
            "competences": checked}


def why_not_assignable(member: dict[str, Any] | None, officer: str, unit: str,
                       tier: str) -> str | None:
    """Why `officer` may not be assigned a case of `unit` at `tier`; None: they may."""
    if member is None:
        return f"{officer} is not in the staff register (POST /staff, `ptsp staff add`)"
    if not member["active"]:
        return f"{officer} is disabled in the staff register"
    if member["role"] != "officer":
        return f"{officer} is a {member['role']}, not an officer"
    if member["unit"] != unit:
        return f"{officer} is an officer of unit {member['unit']}, not of {unit}"
    if tier_rank(member["tier"] or FIRST_TIER) < tier_rank(tier):
        return (f"{officer} is at tier {member['tier']}; the case is at {tier}, worked by "
                "that tier or above")
    return None


class StaffRegister(Aggregate):
    """The office's register. Entries are kept whole: a re-registration replaces the
    entry (and re-enables a disabled person); nothing is ever deleted, so the record of
    who held which role when stays in the events."""

    @staticmethod
    def create_id(**_: Any) -> uuid.UUID:
        return REGISTER_ID

    @event("Opened")
    def __init__(self, actor: dict[str, Any], at: datetime) -> None:
        self.members: dict[str, dict[str, Any]] = {}
        self.last_at = at

    def stamp(self, now: datetime) -> datetime:
        """No event before the one it follows (another process's clock a moment ahead)."""
        return max(now, self.last_at)

    def register(self, member: str, name: str, role: str, unit: str | None,
                 tier: str | None, competences: list[dict[str, Any]],
                 actor: dict[str, Any], at: datetime) -> bool:
        """Record a person's entry; False when the register already holds exactly it
        (nothing is recorded)."""
        new = entry(member, name, role, unit, tier, competences)
        current = self.members.get(member)
        if current is not None and current["active"] and all(
                current[k] == v for k, v in new.items()):
            return False
        self._member_registered(entry=new, actor=actor, at=at)
        return True

    @event("MemberRegistered")
    def _member_registered(self, entry: dict[str, Any], actor: dict[str, Any],
                           at: datetime) -> None:
        self.members[entry["actor"]] = {
            **entry, "competences": [dict(c) for c in entry["competences"]], "active": True,
            "registered_at": at, "disabled_reason": None}
        self.last_at = at

    def disable(self, member: str, reason: str, actor: dict[str, Any], at: datetime) -> None:
        current = self.members.get(member)
        if current is None:
            raise NotFound(f"{member} is not in the staff register")
        if not current["active"]:
            raise RuleViolation(f"{member} is already disabled",
                                rule="staff_member_already_disabled")
        if not reason.strip():
            raise InvalidInput("reason", "say why the person is disabled")
        self._member_disabled(member=member, reason=reason, actor=actor, at=at)

    @event("MemberDisabled")
    def _member_disabled(self, member: str, reason: str, actor: dict[str, Any],
                         at: datetime) -> None:
        self.members[member] = {**self.members[member], "active": False,
                                "disabled_reason": reason}
        self.last_at = at
