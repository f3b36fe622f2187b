"""The state of a legal clock, computed from when it ran. Pure: the caller passes `now`.

A clock runs in spans (an application's clock pauses while the office has returned the
file to the applicant). Days used are kept across a pause; after a resumption the
deadline is the remaining working days counted from the resumption.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import msgspec

from services.domain.workdays import WorkingCalendar

SlaState = Literal["not_started", "running", "at_risk", "paused", "met", "breached"]
AT_RISK_RATIO = 0.8


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime | None = None


class Sla(msgspec.Struct, kw_only=True):
    started_at: datetime | None
    due_at: datetime | None
    state: SlaState
    working_days_used: int
    working_days_limit: int
    finished_at: datetime | None = None


@dataclass(frozen=True)
class Deadlines:
    """The instants a running (or last) span of a clock is judged against."""

    due_at: datetime
    at_risk_at: datetime
    used_before: int          # working days used in the earlier, closed spans


def deadlines(spans: Sequence[Span], limit: int, calendar: WorkingCalendar,
              at_risk_ratio: float = AT_RISK_RATIO) -> Deadlines:
    """Deadline and at-risk instant of the last span (spans must not be empty)."""
    used_before = sum(
        calendar.working_days_between(s.start, s.end) for s in spans[:-1] if s.end is not None
    )
    last = spans[-1]
    # At risk from the start of the working day on which the days used reach the ratio
    # (a day under way counts as used).
    risk_day = max(0, math.ceil(at_risk_ratio * limit - 1e-9) - used_before)
    at_risk_at = (calendar.start_of_nth_working_day_after(last.start, risk_day)
                  if risk_day > 0 else last.start)
    return Deadlines(due_at=calendar.deadline(last.start, limit - used_before),
                     at_risk_at=at_risk_at, used_before=used_before)


def sla_of(
    spans: Sequence[Span],
    limit: int,
    calendar: WorkingCalendar,
    now: datetime,
    finished_at: datetime | None = None,
    at_risk_ratio: float = AT_RISK_RATIO,
) -> Sla:
    """`finished_at` is when the obligation was discharged (certificate issued, decision
    of rejection, answer given); the clock is then `met` or `breached` for good."""
    if not spans:
        return Sla(started_at=None, due_at=None, state="not_started",
                   working_days_used=0, working_days_limit=limit)
    d = deadlines(spans, limit, calendar, at_risk_ratio)
    last, due_at = spans[-1], d.due_at
    until = finished_at or last.end or now
    used = d.used_before + calendar.working_days_between(last.start, until)
    common = dict(started_at=spans[0].start, working_days_used=used, working_days_limit=limit,
                  finished_at=finished_at)
    if finished_at is not None:
        return Sla(due_at=due_at, state="met" if finished_at < due_at else "breached", **common)
    if last.end is not None:
        # Paused with the applicant; a deadline already passed before the pause stays breached.
        return Sla(due_at=None, state="breached" if last.end >= due_at else "paused", **common)
    if now >= due_at:
        return Sla(due_at=due_at, state="breached", **common)
    if now >= d.at_risk_at:
        return Sla(due_at=due_at, state="at_risk", **common)
    return Sla(due_at=due_at, state="running", **common)
