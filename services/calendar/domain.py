"""The office's own calendar corrections: a holiday decreed late, a regional day off, a
holiday revoked. Event-sourced, so every recomputation of deadlines it causes has a
recorded reason and author. Pure domain."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, cast

from eventsourcing.domain import Aggregate, event

from contracts.vocabulary import DAY_KINDS, DayKind
from services.domain.errors import InvalidInput
from services.domain.workdays import OfficeDay, WorkingCalendar

OFFICE_CALENDAR_ID = uuid.uuid5(uuid.UUID("6f1d1c3e-0a55-4d7e-9b0e-9e1f2b0c5a10"),
                                "office-calendar")


class OfficeCalendar(Aggregate):
    @staticmethod
    def create_id(**_: Any) -> uuid.UUID:
        return OFFICE_CALENDAR_ID

    @event("Opened")
    def __init__(self, actor: dict[str, Any], at: datetime) -> None:
        self.days: dict[str, dict[str, Any]] = {}
        # Every correction as declared, in order: a clock that finished before one was
        # declared keeps the outcome it had (WorkingCalendar.as_of).
        self.history: list[OfficeDay] = []

    def declare_day(self, day: date, kind: str, reason: str, actor: dict[str, Any],
                    at: datetime) -> None:
        if kind not in DAY_KINDS:
            raise InvalidInput("kind", f"must be {' or '.join(DAY_KINDS)}")
        if not reason.strip():
            raise InvalidInput("reason", "a calendar correction must give its reason")
        self._day_declared(date=day, kind=kind, reason=reason, actor=actor, at=at)

    @event("DayDeclared")
    def _day_declared(self, date: date, kind: str, reason: str, actor: dict[str, Any],
                      at: datetime) -> None:
        self.days[date.isoformat()] = {"kind": kind, "reason": reason, "at": at,
                                       "by": actor["id"]}
        self.history.append(OfficeDay(date=date, kind=cast(DayKind, kind), reason=reason,
                                      declared_at=at))

    def working_calendar(self) -> WorkingCalendar:
        return WorkingCalendar(self.history)
