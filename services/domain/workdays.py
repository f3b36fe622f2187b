"""The working-day calendar (hari kerja) and the legal clocks that run on it. Pure.

A working day is a Monday to Friday that is neither a national holiday nor a cuti
bersama day (the `holidays` package, Indonesia, categories public + government), unless
the office's own calendar says otherwise: an office correction (a holiday decreed late,
a regional day off, a holiday revoked) always wins.

"N working days from X" counts from the first working day after X (Asia/Jakarta); the
deadline is midnight at the end of the Nth working day.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from itertools import islice, takewhile
from typing import Literal

import holidays

from services.domain.clock import JAKARTA

DayKind = Literal["holiday", "working_day"]


@dataclass(frozen=True)
class OfficeDay:
    """An office correction of one date."""

    date: date
    kind: DayKind
    reason: str
    declared_at: datetime | None = None
    """When the office declared it (None: known from the start). A clock that finished
    before it keeps the outcome it had (`WorkingCalendar.as_of`)."""


def _declared(day: OfficeDay) -> tuple[int, datetime]:
    """Sort key: corrections known from the start first, then by when declared."""
    return (0, _EPOCH) if day.declared_at is None else (1, day.declared_at)


_EPOCH = datetime(1970, 1, 1, tzinfo=JAKARTA)


@lru_cache(maxsize=1)
def _national() -> holidays.HolidayBase:
    # Expanded once for a wide range: the object fills years lazily, which is not
    # thread-safe, and request handlers run in threads.
    return holidays.country_holidays(
        "ID", categories=("public", "government"), language="id", years=range(2000, 2061)
    )


class WorkingCalendar:
    def __init__(self, corrections: Iterable[OfficeDay] = ()) -> None:
        # Every correction in the order it was declared (stable: those declared at the
        # same instant, or with no instant, keep the order given); the last of a date wins.
        self.history: tuple[OfficeDay, ...] = tuple(sorted(corrections, key=_declared))
        self.corrections: Mapping[date, OfficeDay] = {c.date: c for c in self.history}
        self._national = _national()
        self._as_of: dict[int, WorkingCalendar] = {}

    def as_of(self, instant: datetime) -> WorkingCalendar:
        """The calendar as the office knew it at `instant`: the corrections declared by
        then (at that very instant included). A finished clock is judged on it, so a
        correction declared later moves only the clocks still running."""
        known = bisect.bisect_right([_declared(c) for c in self.history], (1, instant))
        if known == len(self.history):
            return self
        if known not in self._as_of:
            self._as_of[known] = WorkingCalendar(self.history[:known])
        return self._as_of[known]

    def is_working_day(self, day: date) -> bool:
        correction = self.corrections.get(day)
        if correction is not None:
            return correction.kind == "working_day"
        return day.weekday() < 5 and day not in self._national

    def reason_off(self, day: date) -> str | None:
        """Why a day is not a working day, or None when it is one."""
        correction = self.corrections.get(day)
        if correction is not None:
            return correction.reason if correction.kind == "holiday" else None
        if day in self._national:
            return str(self._national.get(day))
        if day.weekday() >= 5:
            return "Sabtu" if day.weekday() == 5 else "Minggu"
        return None

    def nth_working_day_after(self, day: date, n: int) -> date:
        """The Nth working day strictly after `day` (n >= 1)."""
        return next(islice(self.working_days_after(day), n - 1, None))

    def working_days_after(self, day: date) -> Iterator[date]:
        """Every working day strictly after `day`, in order, without end."""
        current = day
        while True:
            current += timedelta(days=1)
            if self.is_working_day(current):
                yield current

    def deadline(self, start: datetime, working_days: int) -> datetime:
        """Midnight (Asia/Jakarta) after the Nth working day counted from the first
        working day after `start`. With nothing left to count the deadline is `start`."""
        if working_days <= 0:
            return start
        last = self.nth_working_day_after(start.astimezone(JAKARTA).date(), working_days)
        return datetime.combine(last + timedelta(days=1), time(0), tzinfo=JAKARTA)

    def start_of_nth_working_day_after(self, start: datetime, n: int) -> datetime:
        """00:00 Asia/Jakarta of the Nth working day after `start`'s date."""
        day = self.nth_working_day_after(start.astimezone(JAKARTA).date(), n)
        return datetime.combine(day, time(0), tzinfo=JAKARTA)

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days used from `start` to `end`: every working day after the start's
        date up to and including the end's date (a day under way counts as used)."""
        first = start.astimezone(JAKARTA).date()
        last = end.astimezone(JAKARTA).date()
        if end.astimezone(JAKARTA).timetz().replace(tzinfo=None) == time(0) and last > first:
            last -= timedelta(days=1)  # midnight belongs to the day that just ended
        return sum(1 for _ in takewhile(lambda d: d <= last, self.working_days_after(first)))

    def year(self, year: int) -> list[dict[str, str]]:
        """Every day of the year that is not a working day, or that an office correction
        touches, with its reason: what `GET /calendar/{YYYY}` shows."""
        days, current = [], date(year, 1, 1)
        while current.year == year:
            correction = self.corrections.get(current)
            if correction is not None or not self.is_working_day(current):
                days.append({
                    "date": current.isoformat(),
                    "kind": "working_day" if self.is_working_day(current) else "holiday",
                    "reason": (correction.reason if correction else self.reason_off(current)) or "",
                    "source": "office" if correction else "national",
                })
            current += timedelta(days=1)
        return days
