"""Contracts of the office calendar (`ptsp.calendar.<tag>`)."""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from contracts.common import ActorRef


class _Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    case_id: str
    version: int
    at: datetime
    recorded_at: datetime
    actor: ActorRef


class Opened(_Event, tag="calendar.opened"):
    pass


class DayDeclared(_Event, tag="calendar.day_declared"):
    date: date
    kind: str
    reason: str


EVENT_TYPES: tuple[type[_Event], ...] = (Opened, DayDeclared)
CalendarEvent = Opened | DayDeclared
decoder = msgspec.json.Decoder(CalendarEvent)
