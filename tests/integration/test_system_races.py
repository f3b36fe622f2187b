"""A staff command does not lose to the system's own writes (the closing note of issues
12-15): when the officer's save conflicts and every event that reached the case in
between was the system's (the SLA timer's automatic escalation, the notifier's delivery
record), the command runs again on the case as it now is, its policy and rules checked
again; a person's write in between keeps the 409 `concurrent_write_lost`.

Real Postgres, the real group committer: the test only decides *when* another write
lands, by running it from inside the officer's save, just before the officer's rows go
to the committer (so they meet the other write's version and conflict, as in a race)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from uuid import UUID

import msgspec
import pytest
from eventsourcing.persistence import StoredEvent

from contracts.applications import ApplicationIntake
from services.applications.commands import COMMANDS
from services.cases.commands import BREACH_ESCALATION
from services.cases.service import SYSTEM_RACE_RETRIES, CaseService, written_by_system
from services.domain.actors import Actor
from services.domain.errors import ConcurrencyConflict, DomainError
from services.infra.groupcommit import GroupCommitter
from services.notifications.recording import DELIVERY, NOTIFIER_ACTOR
from services.runtime import SLA_TIMER, System

pytestmark = pytest.mark.integration

OSS = Actor(id="oss-gateway", role="channel", channel="oss")
OFFICER = Actor(id="budi", role="officer", unit="perizinan", tier="pelaksana")
OFFICER2 = Actor(id="ani", role="officer", unit="perizinan", tier="pelaksana")
ALL_MET = dict.fromkeys(["U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4"], True)

Write = Callable[[], Awaitable[Any]]


class WriteFirst:
    """The service's own group committer, except that before a save it first runs the
    next of `writes` (each to completion, through the same service and committer): that
    write reaches the case between the caller's load and its save."""

    def __init__(self, real: GroupCommitter, writes: Sequence[Write]) -> None:
        self.real = real
        self.writes = list(writes)
        self.saves = 0
        self._writing = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def save(self, *aggregates: Any, keys: Sequence[Any] = ()) -> None:
        if self.writes and not self._writing:  # the write's own save goes straight through
            self._writing = True
            try:
                await self.writes.pop(0)()
            finally:
                self._writing = False
        self.saves += 1
        await self.real.save(*aggregates, keys=keys)


def intake(external_id: str) -> ApplicationIntake:
    return msgspec.convert({
        "channel": "oss", "external_id": external_id, "service_code": "SS-KBLI-10510",
        "applicant": {"name": "Siti Rahma"},
        "business": {"name": "CV Susu Murni", "kbli": "10510", "scale": "kecil",
                     "in_industrial_estate": True, "address": "Jl. Veteran 139"}},
        ApplicationIntake)


async def new_case(system: System, external_id: str) -> UUID:
    case, created = await system.applications.submit(intake(external_id), OSS)
    assert created
    return UUID(str(case.id))


def delivery(service: CaseService[Any, Any], case_id: UUID, notification: int) -> Write:
    return lambda: service.do(DELIVERY, case_id, NOTIFIER_ACTOR, notification=notification,
                              step="received", about_version=1, via="email")


def breach(service: CaseService[Any, Any], case_id: UUID, span: int = 1) -> Write:
    return lambda: service.do(BREACH_ESCALATION, case_id, SLA_TIMER, clock_span=span)


async def events(system: System, case_id: UUID) -> list[tuple[str, str]]:
    """(event class, actor id) of each stored event of the case, in order."""
    table = system.applications.committer.table
    rows = await table.pool.fetch(
        f"SELECT originator_version, topic, state FROM {table.table} "
        "WHERE originator_id = $1 ORDER BY originator_version", case_id)
    out = []
    for r in rows:
        event = table.app.mapper.to_domain_event(StoredEvent(
            originator_id=case_id, originator_version=r[0], topic=r[1], state=r[2]))
        out.append((type(event).__name__, getattr(event, "actor", {})["id"]))
    return out


@pytest.fixture
def service(system: System) -> CaseService[Any, Any]:
    return system.applications


def race(service: CaseService[Any, Any], *writes: Write) -> WriteFirst:
    committer = WriteFirst(service.committer, writes)
    service.committer = committer  # type: ignore[assignment]
    return committer


async def test_a_system_write_in_between_does_not_cost_the_officer_a_409(
        system: System, service: CaseService[Any, Any]) -> None:
    case_id = await new_case(system, "RACE-SYS-1")
    committer = race(service, delivery(service, case_id, 901))
    case = await service.do(COMMANDS["verification"], case_id, OFFICER, results=ALL_MET)
    assert case.status == "complete"
    # The officer's first save lost to the notifier's record; the second, on the fresh
    # case, was stored after it.
    assert committer.saves == 3  # the notifier's, the officer's lost one, the officer's
    assert await events(system, case_id) == [
        ("Submitted", "oss-gateway"), ("NotificationDelivered", "notifier"),
        ("FileDeclaredComplete", "budi")]


async def test_the_sla_timers_escalation_in_between_is_taken_into_account(
        system: System, service: CaseService[Any, Any]) -> None:
    """Run again on the fresh case, the command meets the new state's rules: the case
    went up a tier meanwhile, above this officer, so it is that rule's refusal (403),
    not a lost race."""
    case_id = await new_case(system, "RACE-SYS-2")
    race(service, breach(service, case_id))
    with pytest.raises(DomainError) as refused:
        await service.do(COMMANDS["escalation"], case_id, OFFICER, to_tier="kepala_seksi",
                         reason="butuh keputusan kepala seksi")
    assert not isinstance(refused.value, ConcurrencyConflict)
    assert refused.value.rule == "forbidden"
    assert await events(system, case_id) == [
        ("Submitted", "oss-gateway"), ("Escalated", "sla-timer")]


async def test_a_persons_write_in_between_keeps_the_409(
        system: System, service: CaseService[Any, Any]) -> None:
    case_id = await new_case(system, "RACE-PERSON-1")
    other = lambda: service.do(COMMANDS["verification"], case_id, OFFICER2,  # noqa: E731
                               results=ALL_MET)
    race(service, other)
    with pytest.raises(ConcurrencyConflict):
        await service.do(COMMANDS["verification"], case_id, OFFICER, results=ALL_MET)
    assert await events(system, case_id) == [
        ("Submitted", "oss-gateway"), ("FileDeclaredComplete", "ani")]


async def test_a_person_and_the_system_in_between_keeps_the_409(
        system: System, service: CaseService[Any, Any]) -> None:
    """One person's event among the system's is enough: the officer must read again."""
    case_id = await new_case(system, "RACE-PERSON-2")

    async def both() -> None:
        await delivery(service, case_id, 902)()
        await service.do(COMMANDS["verification"], case_id, OFFICER2, results=ALL_MET)
    race(service, both)
    with pytest.raises(ConcurrencyConflict):
        await service.do(COMMANDS["verification"], case_id, OFFICER, results=ALL_MET)


async def test_the_retries_are_bounded_when_the_system_keeps_writing(
        system: System, service: CaseService[Any, Any]) -> None:
    case_id = await new_case(system, "RACE-SYS-3")
    writes = [delivery(service, case_id, 910 + n) for n in range(SYSTEM_RACE_RETRIES + 1)]
    race(service, *writes)
    with pytest.raises(ConcurrencyConflict):
        await service.do(COMMANDS["verification"], case_id, OFFICER, results=ALL_MET)
    found = await events(system, case_id)
    assert found == [("Submitted", "oss-gateway")] + [
        ("NotificationDelivered", "notifier")] * (SYSTEM_RACE_RETRIES + 1)


async def test_as_many_system_writes_as_the_bound_allows_still_succeed(
        system: System, service: CaseService[Any, Any]) -> None:
    case_id = await new_case(system, "RACE-SYS-4")
    race(service, *[delivery(service, case_id, 920 + n) for n in range(SYSTEM_RACE_RETRIES)])
    case = await service.do(COMMANDS["verification"], case_id, OFFICER, results=ALL_MET)
    assert case.status == "complete"
    assert (await events(system, case_id))[-1] == ("FileDeclaredComplete", "budi")


def test_a_system_event_is_known_by_its_actor_record() -> None:
    class Event:
        def __init__(self, actor: Any) -> None:
            self.actor = actor

    assert written_by_system(Event(SLA_TIMER.as_record()))
    assert written_by_system(Event(NOTIFIER_ACTOR.as_record()))
    assert not written_by_system(Event(OFFICER.as_record()))
    assert not written_by_system(Event(OSS.as_record()))
    assert not written_by_system(Event(None))  # an event without an actor is no proof
    assert not written_by_system(object())
