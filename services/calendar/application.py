"""The calendar service: keeps the office's corrections and hands every other service
the current working-day calendar."""

from __future__ import annotations

import asyncio
from datetime import date

from eventsourcing.application import AggregateNotFoundError

from contracts import calendar as contracts
from contracts.calendar import CorrectionRecorded
from contracts.mapping import ContractRegistry
from contracts.vocabulary import DayKind
from services.calendar.domain import OFFICE_CALENDAR_ID, OfficeCalendar
from services.domain.actors import Actor
from services.domain.clock import Clock
from services.domain.workdays import WorkingCalendar
from services.infra.groupcommit import GroupCommitter
from services.infra.store import EventStoreApplication


class Calendars(EventStoreApplication):
    name = "calendar"


# Domain event → contract Struct (for the relay and the audit history).
CONTRACTS = ContractRegistry(contracts.EVENT_TYPES)


class CalendarService:
    """`current` is cached: it is read on every SLA computation. Local changes refresh it
    at once; `refresh()` (called periodically) picks up other processes' changes."""

    def __init__(self, store: Calendars, committer: GroupCommitter, clock: Clock) -> None:
        self.store = store
        self.committer = committer
        self.clock = clock
        self.current = WorkingCalendar()
        self._version = 0

    def _load(self) -> OfficeCalendar | None:
        try:
            return self.store.repository.get(OFFICE_CALENDAR_ID)
        except AggregateNotFoundError:
            return None

    async def refresh(self) -> WorkingCalendar:
        office = await asyncio.to_thread(self._load)
        if office is not None and office.version != self._version:
            self.current, self._version = office.working_calendar(), office.version
        return self.current

    async def declare_day(self, day: date, kind: DayKind, reason: str,
                          actor: Actor) -> CorrectionRecorded:
        at, record = self.clock.now(), actor.as_record()
        office = await asyncio.to_thread(self._load)
        if office is None:
            office = OfficeCalendar(actor=record, at=at)
        office.declare_day(day, kind, reason, record, at)
        await self.committer.save(office)
        self.current, self._version = office.working_calendar(), office.version
        return CorrectionRecorded(date=day, kind=kind, reason=reason,
                                  working_day=self.current.is_working_day(day))
