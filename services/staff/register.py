"""The staff register service: records entries and disablings (the head, over HTTP or
`ptsp staff`), answers who a person is (`member`, for assignment and console sign-in)
and whether they may be assigned a case (`check_assignable`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, cast

import asyncpg
import msgspec

from contracts import staff as contracts
from contracts.mapping import ContractRegistry
from contracts.staff import Competence, StaffEntry, StaffMember
from services.domain.actors import Actor
from services.domain.clock import JAKARTA, Clock
from services.domain.errors import ConcurrencyConflict, InvalidInput, NotFound
from services.infra import credentials
from services.infra.groupcommit import GroupCommitter
from services.infra.store import EventStoreApplication
from services.infra.unavailable import DATABASE, reaching
from services.staff.domain import REGISTER_ID, StaffRegister, why_not_assignable

__all__ = ["CONTRACTS", "StaffMember", "StaffService", "StaffStore"]

log = logging.getLogger("ptsp.staff")

ATTEMPTS = 5
"""A write that lost a race with another on the one register is decided again on the
fresh register, this many times at most."""


class StaffStore(EventStoreApplication):
    name = "staff"


# Domain event → contract Struct (for the relay and the audit history).
CONTRACTS = ContractRegistry(contracts.EVENT_TYPES)


def as_member(record: dict[str, Any]) -> StaffMember:
    registered_at = record.get("registered_at")
    return StaffMember(
        actor=record["actor"], name=record["name"], role=record["role"],
        unit=record["unit"], tier=record["tier"],
        competences=[Competence(name=c["name"], certified_on=_date(c.get("certified_on")))
                     for c in record["competences"]],
        active=record["active"],
        registered_at=(registered_at.astimezone(JAKARTA).isoformat()
                       if isinstance(registered_at, datetime) else None),
        disabled_reason=record.get("disabled_reason"))


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


class StaffService:
    """`pool`, once attached, lets a disabling revoke the person's tokens too."""

    def __init__(self, store: StaffStore, committer: GroupCommitter, clock: Clock) -> None:
        self.store, self.committer, self.clock = store, committer, clock
        self.pool: asyncpg.Pool | None = None

    def attach(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # -- reading -----------------------------------------------------------------------
    async def register_now(self) -> StaffRegister | None:
        """The register as stored (every write that returned is in it)."""
        with reaching(DATABASE):
            return cast(StaffRegister | None, await self.committer.table.load(REGISTER_ID))

    async def member(self, actor: str) -> StaffMember | None:
        """The person the register holds under this actor id (active or not); None: not
        registered."""
        register = await self.register_now()
        record = register.members.get(actor) if register is not None else None
        return as_member(record) if record is not None else None

    async def members(self, unit: str | None = None) -> list[StaffMember]:
        register = await self.register_now()
        records = register.members.values() if register is not None else []
        return sorted((as_member(r) for r in records if unit is None or r["unit"] == unit),
                      key=lambda m: m.actor)

    async def check_assignable(self, officer: str, unit: str, tier: str) -> None:
        """Only a registered, active officer of the case's unit, at its tier or above, is
        assigned a case (422 naming `officer`)."""
        register = await self.register_now()
        record = register.members.get(officer) if register is not None else None
        reason = why_not_assignable(record, officer, unit, tier)
        if reason is not None:
            raise InvalidInput("officer", reason, rule="officer_not_assignable")

    # -- writing -----------------------------------------------------------------------
    async def register(self, entry: StaffEntry, by: Actor) -> tuple[StaffMember, bool]:
        """Record the entry; the member as stored and whether anything was recorded (a
        repeat of the same entry records nothing)."""
        competences = [msgspec.structs.asdict(c) for c in entry.competences]

        def change(register: StaffRegister, at: datetime) -> bool:
            return register.register(entry.actor, entry.name, entry.role, entry.unit,
                                     entry.tier, competences, by.as_record(), at)
        register, changed = await self._write(change, by)
        return as_member(register.members[entry.actor]), changed

    async def disable(self, actor: str, reason: str, by: Actor) -> StaffMember:
        """The person no longer works cases nor signs in; the tokens issued to them until
        now are revoked too (when the credentials table is reachable)."""
        def change(register: StaffRegister, at: datetime) -> bool:
            register.disable(actor, reason, by.as_record(), at)
            return True
        register, _ = await self._write(change, by, must_exist=True, actor=actor)
        if self.pool is not None:
            async with self.pool.acquire() as conn:
                await credentials.install(conn)
                await credentials.revoke_actor(conn, actor, f"staff member disabled: {reason}")
        return as_member(register.members[actor])

    async def _write(self, change: Callable[[StaffRegister, datetime], bool], by: Actor,
                     must_exist: bool = False,
                     actor: str = "") -> tuple[StaffRegister, bool]:
        for attempt in range(ATTEMPTS):
            register = await self.register_now()
            if register is None:
                if must_exist:
                    raise NotFound(f"{actor} is not in the staff register")
                register = StaffRegister(actor=by.as_record(), at=self.clock.now())
            changed = change(register, register.stamp(self.clock.now()))
            try:
                await self.committer.save(register)
            except ConcurrencyConflict:
                if attempt == ATTEMPTS - 1:
                    raise
                log.info("staff register write lost a race; deciding it again")
                continue
            return register, changed
        raise AssertionError("unreachable")  # pragma: no cover
