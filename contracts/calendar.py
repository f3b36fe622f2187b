"""Contracts of the office calendar (`ptsp.calendar.<tag>`)."""

from __future__ import annotations

from datetime import date

import msgspec

from contracts.common import CaseEvent


class Opened(CaseEvent, tag="calendar.opened"):
    pass


class DayDeclared(CaseEvent, tag="calendar.day_declared"):
    date: date
    kind: str
    reason: str


EVENT_TYPES: tuple[type[CaseEvent], ...] = (Opened, DayDeclared)
CalendarEvent = Opened | DayDeclared
decoder = msgspec.json.Decoder(CalendarEvent)
