"""The working-day calendar (hari kerja) and the legal clocks that run on it. Pure.

A working day is a Monday to Friday that is neither a national holiday nor a cuti
bersama day (the `holidays` package, Indonesia, categories public + government), unless
the office's own calendar says otherwise: an office correction (a holiday decreed late,
a regional day off, a holiday revoked) always wins.

"N working days from X" counts from the first working day after X (Asia/Jakarta); the
deadline is midnight at the end of the Nth working day.

The rule is `is_working_day`, and `working_days_after` steps through the days by it: that
is the definition. Counting by stepping costs a lookup per calendar day, and the SLA
clocks count on every event they fold, so each calendar also keeps, for the years the
national calendar covers (`NATIONAL_YEARS`), how many working days come before each date
(`_before`, made once per calendar from the same rule): "working days between" is then a
subtraction and "the Nth working day after" a binary search. Outside those years the
calendar steps. tests/unit/test_working_days.py compares the two over random dates.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property, lru_cache
from itertools import accumulate, islice, takewhile
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


NATIONAL_YEARS = range(2000, 2061)
"""The years the national calendar is expanded for (and counted without stepping)."""
_FIRST = date(NATIONAL_YEARS[0], 1, 1).toordinal()
"""The ordinal of the first day `_before` counts from."""


@lru_cache(maxsize=1)
def _national() -> holidays.HolidayBase:
    # Expanded once for a wide range: the object fills years lazily, which is not
    # thread-safe, and request handlers run in threads.
    return holidays.country_holidays(
        "ID", categories=("public", "government"), language="id", years=NATIONAL_YEARS
    )


def _nationally_working(day: date) -> bool:
    """The national rule: Monday to Friday, neither a holiday nor cuti bersama."""
    return day.weekday() < 5 and day not in _national()


@lru_cache(maxsize=1)
def _national_days() -> bytes:
    """For each day of `NATIONAL_YEARS`, from `_FIRST`: 1 where the national rule makes it
    a working day, else 0. Made once per process."""
    last = date(NATIONAL_YEARS[-1], 12, 31).toordinal()
    return bytes(_nationally_working(date.fromordinal(o)) for o in range(_FIRST, last + 1))


@lru_cache(maxsize=32)
def _working_days_before(corrected: tuple[tuple[int, bool], ...]) -> array[int]:
    """`WorkingCalendar._before` for a calendar whose corrections make these days (by
    ordinal) working days or not: `is_working_day` day by day, the national part made
    once per process and the corrections over it. Shared by every calendar with the
    same corrections (one is made for each request that reads the clocks)."""
    days = bytearray(_national_days())
    for ordinal, working in corrected:
        if 0 <= ordinal - _FIRST < len(days):
            days[ordinal - _FIRST] = working
    return array("i", accumulate(days, initial=0))


def _corrected_working(correction: OfficeDay) -> bool:
    """An office correction always wins over the national rule."""
    return correction.kind == "working_day"


class WorkingCalendar:
    def __init__(self, corrections: Iterable[OfficeDay] = ()) -> None:
        # Every correction in the order it was declared (stable: those declared at the
        # same instant, or with no instant, keep the order given); the last of a date wins.
        self.history: tuple[OfficeDay, ...] = tuple(sorted(corrections, key=_declared))
        self.corrections: Mapping[date, OfficeDay] = {c.date: c for c in self.history}
        self._declared_keys = [_declared(c) for c in self.history]
        self._as_of: dict[int, WorkingCalendar] = {}

    def __reduce__(self) -> tuple[type[WorkingCalendar], tuple[tuple[OfficeDay, ...]]]:
        """Pickled as its corrections (a rebuild's worker processes judge on it); what is
        derived from them is made again where needed."""
        return (WorkingCalendar, (self.history,))

    def as_of(self, instant: datetime) -> WorkingCalendar:
        """The calendar as the office knew it at `instant`: the corrections declared by
        then (at that very instant included). A finished clock is judged on it, so a
        correction declared later moves only the clocks still running."""
        known = bisect.bisect_right(self._declared_keys, (1, instant))
        if known == len(self.history):
            return self
        if known not in self._as_of:
            self._as_of[known] = WorkingCalendar(self.history[:known])
        return self._as_of[known]

    def is_working_day(self, day: date) -> bool:
        correction = self.corrections.get(day)
        if correction is not None:
            return _corrected_working(correction)
        return _nationally_working(day)

    @cached_property
    def _before(self) -> array[int]:
        """Index i: how many working days fall in the i days from `_FIRST` (so index i + 1
        counts up to and including day `_FIRST + i`)."""
        return _working_days_before(tuple(sorted(
            (day.toordinal(), _corrected_working(c)) for day, c in self.corrections.items())))

    def prepare(self) -> WorkingCalendar:
        """Make now what counting needs (the national days, this calendar's counts),
        not at the first count: worker processes forked afterwards start with them."""
        self._before  # noqa: B018 - made and kept by the cached property
        return self

    def _through(self, day: date) -> int | None:
        """Where `_before` counts the working days up to and including `day` (None when
        `day` lies outside the years it covers)."""
        i = day.toordinal() - _FIRST + 1
        return i if 0 < i < len(self._before) else None

    def reason_off(self, day: date) -> str | None:
        """Why a day is not a working day, or None when it is one."""
        correction = self.corrections.get(day)
        if correction is not None:
            return correction.reason if correction.kind == "holiday" else None
        national = _national()
        if day in national:
            return str(national.get(day))
        if day.weekday() >= 5:
            return "Sabtu" if day.weekday() == 5 else "Minggu"
        return None

    def nth_working_day_after(self, day: date, n: int) -> date:
        """The Nth working day strictly after `day` (n >= 1)."""
        if n < 1:
            raise ValueError(f"n must be at least 1, not {n}")
        through = self._through(day)
        if through is not None:
            before = self._before
            # The first count that reaches n more than `day`'s: the Nth day is the one
            # that brought it there.
            reached = bisect.bisect_left(before, before[through] + n, through)
            if reached < len(before):
                return date.fromordinal(_FIRST + reached - 1)
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
        if last <= first:
            return 0
        start_at, end_at = self._through(first), self._through(last)
        if start_at is not None and end_at is not None:
            return self._before[end_at] - self._before[start_at]
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
