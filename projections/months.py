"""Months of the office calendar (Asia/Jakarta): what the reports count in."""

from __future__ import annotations

from datetime import date, datetime, time

from services.domain.clock import JAKARTA


def month_of(instant: str | datetime) -> str:
    """`YYYY-MM` of the month (Asia/Jakarta) an instant falls in."""
    at = (datetime.fromisoformat(instant) if isinstance(instant, str) else instant
          ).astimezone(JAKARTA)
    return f"{at.year:04d}-{at.month:02d}"  # as strftime("%Y-%m"), in a fraction of its time


def month_start(month: str) -> datetime:
    """00:00 Asia/Jakarta on the month's first day."""
    year, mon = (int(x) for x in month.split("-"))
    return datetime.combine(date(year, mon, 1), time(0), tzinfo=JAKARTA)


def next_month(month: str) -> str:
    year, mon = (int(x) for x in month.split("-"))
    return f"{year + mon // 12}-{mon % 12 + 1:02d}"


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[start, end) of the month."""
    return month_start(month), month_start(next_month(month))
