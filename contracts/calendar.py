"""Contracts of the office calendar: its events (`ptsp.calendar.<tag>`) and what its
HTTP endpoints answer."""

from __future__ import annotations

from datetime import date
from typing import Literal

import msgspec

from contracts.common import CaseEvent
from contracts.vocabulary import DayKind


class Opened(CaseEvent, tag="calendar.opened", frozen=True):
    pass


class DayDeclared(CaseEvent, tag="calendar.day_declared", frozen=True):
    date: date
    kind: str
    reason: str


EVENT_TYPES: tuple[type[CaseEvent], ...] = (Opened, DayDeclared)


# -- what GET /calendar/{YYYY} and POST /calendar/days answer ------------------------------
class CalendarEntry(msgspec.Struct, kw_only=True):
    """A day that is not a working day, or that an office correction touches."""

    date: date
    kind: DayKind
    reason: str
    """The holiday's name, the correction's reason, or Sabtu/Minggu."""
    source: Literal["office", "national"]
    """`office`: a correction of this office (it always wins); `national`: the national
    holidays and cuti bersama, or the weekend."""


class CalendarYear(msgspec.Struct, kw_only=True):
    year: int
    days_off_and_corrections: list[CalendarEntry]


class CorrectionRecorded(msgspec.Struct, kw_only=True):
    date: date
    kind: DayKind
    reason: str
    working_day: bool
    """Whether the day is a working day now, on the corrected calendar."""
