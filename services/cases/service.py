"""One service runs every case command the same way:

    authorize (role: 403, before the case is read) → load once (unknown: 404)
    → authorize the case (unit, channel: the same 404; tier: 403)
    → the aggregate method, with the actor's record and the office clock's now
    → group commit → the typed view

A lost race is 409 `concurrent_write_lost`, unless only the system wrote to the case in
between (`written_by_system`): then the command runs again on the case as it now is (its
policy and rules checked again), at most `SYSTEM_RACE_RETRIES` times. An officer cannot
see a write the pipeline made on its own a moment ago (an SLA breach escalated, a
message's delivery recorded), so a 409 would only make them send the same thing again;
a person's write in between is one they should read before acting, so it keeps the 409.

Each case type subclasses `CaseService` with what is its own: intake, the view, where its
personal data is sealed, and any tool a row's `call` needs (signing a certificate).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast
from uuid import UUID

import msgspec

from services.calendar.application import CalendarService
from services.cases.commands import Command
from services.cases.requests import WithReason
from services.domain.actors import Actor
from services.domain.clock import Clock
from services.domain.errors import ConcurrencyConflict, InvalidInput, NotFound
from services.domain.policy import (
    READS,
    SYSTEM,
    CaseFacts,
    Policy,
    authorize,
    authorize_case,
)
from services.domain.sla import Sla, Span, sla_of
from services.infra.groupcommit import GroupCommitter
from services.infra.personal_data import PersonalDataVault, envelopes_in, erase_case
from services.infra.store import EventStoreApplication
from services.infra.unavailable import DATABASE, reaching


class CaseAggregate(CaseFacts, Protocol):
    """What the generic service reads of a case aggregate (beside what a policy reads)."""

    @property
    def id(self) -> UUID: ...

    @property
    def version(self) -> int: ...

    @property
    def sla_working_days(self) -> int: ...

    @property
    def clock(self) -> Sequence[Span]: ...

    @property
    def finished_at(self) -> datetime | None: ...

    @property
    def withdrawn_at(self) -> datetime | None: ...

    def next_stamp(self, now: datetime) -> datetime: ...


SYSTEM_RACE_RETRIES = 3
"""How many times a command that lost only to the system's own writes runs again. The
system writes a case a few times at most around one step (the breach, a delivery by
e-mail and one by the channel): a bound, so a system that kept writing would still end
in a 409 rather than a request that never returns."""


def written_by_system(event: Any) -> bool:
    """Whether a stored event was written by the system itself (the SLA timer, the
    notifier): told by the actor record every case event carries, whose role `system` no
    token carries. An event without an actor record does not count as the system's."""
    actor = getattr(event, "actor", None)
    return isinstance(actor, dict) and actor.get("role") == SYSTEM


C = TypeVar("C", bound=CaseAggregate)
V = TypeVar("V", bound=msgspec.Struct)


class CaseService(ABC, Generic[C, V]):
    noun: ClassVar[str]
    """"application", "complaint": how an unknown case is named in its 404."""

    def __init__(self, store: EventStoreApplication, committer: GroupCommitter, clock: Clock,
                 calendar: CalendarService, at_risk_ratio: float = 0.8,
                 vault: PersonalDataVault | None = None) -> None:
        self.store, self.committer, self.clock = store, committer, clock
        self.calendar, self.at_risk_ratio = calendar, at_risk_ratio
        self.vault = vault
        """Seals personal data before it enters an event; None: stored plain (only for
        tools that build a bare service)."""

    # -- what each case type says --------------------------------------------------------
    @abstractmethod
    def sealed(self, case: C) -> Sequence[Any]:
        """The case's values that hold sealed personal data."""

    @abstractmethod
    async def view(self, case: C, actor: Actor, now: datetime | None = None) -> V:
        """The case as `actor` may see it (`now`: the instant its clock is judged at)."""

    # -- reading ---------------------------------------------------------------------------
    def not_found(self, case_id: UUID) -> NotFound:
        """An unknown case's 404; a case the caller may not see answers exactly this."""
        return NotFound(f"no {self.noun} {case_id}")

    async def get(self, case_id: UUID, version: int | None = None) -> C:
        """The case from its events (as of `version`), over asyncpg: no thread hop."""
        with reaching(DATABASE):
            case = cast(C | None, await self.committer.load(case_id, version))
        if case is None:
            raise self.not_found(case_id)
        if self.vault is not None:  # fresh keys for the view (an erasure elsewhere shows)
            await self.vault.prefetch(envelopes_in(*self.sealed(case)))
        return case

    async def read(self, case_id: UUID, actor: Actor, policy: Policy = READS) -> V:
        return await self.view(await self._load(policy, case_id, actor), actor)

    async def _load(self, policy: Policy, case_id: UUID, actor: Actor) -> C:
        authorize(policy, actor)
        case = await self.get(case_id)
        authorize_case(policy, actor, case, self.not_found(case_id))
        return case

    def sla(self, case: C, now: datetime | None = None) -> Sla:
        return sla_of(case.clock, case.sla_working_days, self.calendar.current,
                      now or self.clock.now(), case.finished_at, self.at_risk_ratio,
                      case.withdrawn_at)

    # -- commands --------------------------------------------------------------------------
    async def run(self, command: Command, case_id: UUID, request: msgspec.Struct | None,
                  actor: Actor) -> C:
        """Run one row of the case type's table on one case; the case as stored. A lost
        race is run again while only the system wrote in between (the module says why)."""
        for retry in range(SYSTEM_RACE_RETRIES + 1):
            case = await self._load(command.policy, case_id, actor)
            read = case.version
            try:
                await self._apply(command, case, request, actor)
                return case
            except ConcurrencyConflict:
                if retry == SYSTEM_RACE_RETRIES or not all(
                        written_by_system(e) for e in await self._written_after(case_id, read)):
                    raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _apply(self, command: Command, case: C, request: msgspec.Struct | None,
                     actor: Actor) -> None:
        """The command on the case, and its save (a row's `call` may save on its own:
        erasure records before it erases, so a lost race there has erased nothing)."""
        now = case.next_stamp(self.clock.now())
        if command.call is not None:
            await command.call(self, case, request, actor, now)
        else:
            assert command.method is not None  # a Command has one or the other
            getattr(case, command.method)(**command.arguments(request),
                                          actor=actor.as_record(), at=now)
        await self.committer.save(case)

    async def _written_after(self, case_id: UUID, version: int) -> list[Any]:
        """The case's stored events after `version` (what another write added since it
        was read)."""
        with reaching(DATABASE):
            return await self.committer.table.events(case_id, after=version)

    async def execute(self, command: Command, case_id: UUID, request: msgspec.Struct | None,
                      actor: Actor) -> msgspec.Struct:
        """`run`, then what the step answers (the case's view, as the caller may see it)."""
        view = await self.view(await self.run(command, case_id, request, actor), actor)
        return command.answer(view) if command.answer is not None else view

    async def do(self, command: Command, case_id: UUID, actor: Actor, **fields: Any) -> C:
        """`run` with the request given as keyword fields, checked as a body would be
        (for callers in Python: the SLA timer, tools, tests)."""
        request = None
        if command.request is not None:
            try:
                request = msgspec.convert(fields, command.request)
            except msgspec.ValidationError as exc:
                # msgspec says where: "... - at `$.to_tier`"; a missing field is named too.
                where = re.search(r"at `\$\.?([^`]*)`$|field `([^`]+)`", str(exc))
                field = next((g for g in where.groups() if g), "") if where else ""
                raise InvalidInput(field or command.name, str(exc)) from None
        return await self.run(command, case_id, request, actor)

    async def create(self, case: C) -> tuple[C, bool]:
        """Store a new case; False when it existed: its id derives from (channel,
        external_id), so a repeat collides with the first inside the store, and the
        first is answered, with nothing written."""
        keys = (self.vault.take_new_keys(envelopes_in(*self.sealed(case)))
                if self.vault is not None else [])
        try:
            await self.committer.save(case, keys=keys)  # the new subjects' keys, in one go
            return case, True
        except ConcurrencyConflict:
            return await self.get(case.id), False

    # -- personal data (UU 27/2022) --------------------------------------------------------
    async def erase_personal_data(self, case: C, request: WithReason, actor: Actor,
                                  now: datetime) -> None:
        """Crypto-shredding of the case's data subjects (every case of the same NIK, or
        this case alone), recorded on the case; on audit hold the refusal is recorded,
        then 409 `audit_hold`. A row's `call`."""
        await erase_case(self.vault, case, self.sealed(case), request.reason, actor, now,
                         self.committer)
