"""The legal clocks of the cases, in one place. Pure: the caller passes `now`.

A clock runs in spans (an application's clock pauses while the office has returned the
file to the applicant). Days used are kept across a pause; after a resumption the
deadline is the remaining working days counted from the resumption. Once the obligation
is discharged (certificate issued, rejection decided, answer given) the clock is
finished: `met` or `breached` for good, judged on the calendar as the office knew it
when the clock finished (a calendar correction declared later moves only the clocks
still running). A withdrawal stops the clock too, as `withdrawn`: neither met nor
breached. A breach happens at the deadline missed (`breached_at`): each run of the clock
has its own deadline, the working days left counted from its start.

Decide/evolve as in Emmett: `CLOCK_RULES` says which event changes a clock how, and
`evolve_clock` applies it. The aggregates' `@event` methods and the `sla_timers` read
model's fold both call `evolve_clock`, so the two cannot tell different stories; the
state at an instant is `sla_of`'s alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

import msgspec

from contracts.vocabulary import SlaState
from services.domain.workdays import WorkingCalendar

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


def breached_at(spans: Sequence[Span], limit: int, calendar: WorkingCalendar,
                until: datetime) -> datetime | None:
    """The deadline the clock first missed by `until` (a running span is judged at
    `until`), or None. Each run is judged by its own deadline: the working days left
    when it started, counted from its start. The breach happened at that instant, so a
    report counts it in that month, whatever happens to the case later; a deadline at
    00:00 on the 1st is a breach of the month that begins then."""
    used = 0
    for span in spans:
        due = calendar.deadline(span.start, limit - used)
        if (span.end or until) >= due:
            return due
        if span.end is not None:
            used += calendar.working_days_between(span.start, span.end)
    return None


def sla_of(
    spans: Sequence[Span],
    limit: int,
    calendar: WorkingCalendar,
    now: datetime,
    finished_at: datetime | None = None,
    at_risk_ratio: float = AT_RISK_RATIO,
    withdrawn_at: datetime | None = None,
    known: Deadlines | None = None,
) -> Sla:
    """The state rule. `finished_at` is when the obligation was discharged; the clock is
    then `met` or `breached` for good, judged on the calendar as it stood then.
    `withdrawn_at`: the application was withdrawn, the clock stopped as `withdrawn`.
    `known`: `deadlines` of these spans on the calendar they are judged on, if the caller
    has them already. (`STATE_SQL` in projections/sla_timers.py says the same in SQL, and
    a test holds the two together at every boundary.)"""
    stopped = finished_at or withdrawn_at
    if stopped is not None:
        calendar = calendar.as_of(stopped)
    if not spans:
        return Sla(started_at=None, due_at=None,
                   state="withdrawn" if withdrawn_at is not None else "not_started",
                   working_days_used=0, working_days_limit=limit)
    d = known or deadlines(spans, limit, calendar, at_risk_ratio)
    last, due_at = spans[-1], d.due_at
    until = finished_at or last.end or now
    used = d.used_before + calendar.working_days_between(last.start, until)

    def sla(state: SlaState, due: datetime | None = due_at) -> Sla:
        return Sla(started_at=spans[0].start, due_at=due, state=state, working_days_used=used,
                   working_days_limit=limit, finished_at=finished_at)

    if withdrawn_at is not None:
        return sla("withdrawn")
    if finished_at is not None:
        return sla("met" if finished_at < due_at else "breached")
    if last.end is not None:
        # Paused with the applicant; a deadline already passed before the pause stays breached.
        return sla("breached" if last.end >= due_at else "paused", due=None)
    if now >= due_at:
        return sla("breached")
    if now >= d.at_risk_at:
        return sla("at_risk")
    return sla("running")


# -- the clock of one case, and how events move it ---------------------------------------
@dataclass(frozen=True)
class SlaClock:
    """What a case keeps of its clock: when it ran, and when it was discharged."""

    spans: tuple[Span, ...] = ()
    finished_at: datetime | None = None
    withdrawn_at: datetime | None = None
    """The application was withdrawn then (its clock, if it ran, finished then too)."""

    def but(self, *, spans: tuple[Span, ...] | None = None, finished_at: datetime | None = None,
            withdrawn_at: datetime | None = None) -> SlaClock:
        """This clock with these changed (`dataclasses.replace` without its cost: clocks
        move on every event a rebuild folds)."""
        return SlaClock(self.spans if spans is None else spans,
                        self.finished_at if finished_at is None else finished_at,
                        self.withdrawn_at if withdrawn_at is None else withdrawn_at)

    @property
    def started_at(self) -> datetime | None:
        return self.spans[0].start if self.spans else None

    @property
    def running(self) -> bool:
        return bool(self.spans) and self.spans[-1].end is None

    @property
    def paused_at(self) -> datetime | None:
        """When a clock not yet finished was paused; None while it runs or once finished."""
        if self.finished_at is None and self.spans:
            return self.spans[-1].end
        return None

    @property
    def stopped_at(self) -> datetime | None:
        """When the clock stopped for good (finished or withdrawn); None until then."""
        return self.finished_at or self.withdrawn_at

    def judged_on(self, calendar: WorkingCalendar) -> WorkingCalendar:
        """The calendar this clock is judged on: as the office knew it when the clock
        stopped, or the current one while it has not."""
        stopped = self.stopped_at
        return calendar if stopped is None else calendar.as_of(stopped)

    def deadlines(self, limit: int, calendar: WorkingCalendar,
                  at_risk_ratio: float = AT_RISK_RATIO) -> Deadlines | None:
        """The last span's deadline and at-risk instant (kept while paused or finished),
        on the calendar the clock is judged on."""
        if not self.spans:
            return None
        return deadlines(self.spans, limit, self.judged_on(calendar), at_risk_ratio)

    def breached_at(self, limit: int, calendar: WorkingCalendar,
                    now: datetime) -> datetime | None:
        """The deadline it first missed by `now`, on the calendar it is judged on."""
        return breached_at(self.spans, limit, self.judged_on(calendar), now)

    def sla(self, limit: int, calendar: WorkingCalendar, now: datetime,
            at_risk_ratio: float = AT_RISK_RATIO, known: Deadlines | None = None) -> Sla:
        """`sla_of` this clock (`known`: its `deadlines` on `calendar`, if had already)."""
        return sla_of(self.spans, limit, calendar, now, self.finished_at, at_risk_ratio,
                      self.withdrawn_at, known)


def start(clock: SlaClock, at: datetime) -> SlaClock:
    """The obligation begins. A clock starts once: a later start changes nothing."""
    return clock if clock.spans else clock.but(spans=(Span(at),))


def pause(clock: SlaClock, at: datetime) -> SlaClock:
    """The case is with the applicant: the days used so far are kept."""
    if not clock.running:
        return clock
    return clock.but(spans=(*clock.spans[:-1], Span(clock.spans[-1].start, at)))


def resume(clock: SlaClock, at: datetime) -> SlaClock:
    """Back with the office: a new span. A clock never started stays so."""
    if not clock.spans or clock.running:
        return clock
    return clock.but(spans=(*clock.spans, Span(at)))


def finish(clock: SlaClock, at: datetime) -> SlaClock:
    """The obligation is discharged: the clock stops for good. A case that has no clock
    (a file never complete, a suggestion) has none to stop."""
    if not clock.spans:
        return clock
    return pause(clock, at).but(finished_at=at)


def withdraw(clock: SlaClock, at: datetime) -> SlaClock:
    """The applicant withdrew: the clock stops for good as `withdrawn`, neither met nor
    breached (a clock that never started is `withdrawn` too)."""
    return finish(clock, at).but(withdrawn_at=at)


@dataclass(frozen=True)
class ClockRule:
    """How one event changes a clock: `change` at the instant in the event's field
    `instant`, and only when the event's field `only_when[0]` equals `only_when[1]`."""

    change: Callable[[SlaClock, datetime], SlaClock]
    instant: str = "at"
    only_when: tuple[str, str] | None = None


# Which event (by its contract tag) changes a clock how. Every other event leaves it be.
CLOCK_RULES: Mapping[str, ClockRule] = MappingProxyType({
    # An application: 7 working days from the file declared complete to the certificate
    # or the rejection; paused while a file returned after that is with the applicant.
    "application.file_declared_complete": ClockRule(start),
    "application.file_returned_for_correction": ClockRule(pause),
    "application.resubmitted": ClockRule(resume),
    "application.decided": ClockRule(finish, only_when=("outcome", "reject")),
    "application.certificate_issued": ClockRule(finish),
    "application.withdrawn": ClockRule(withdraw),
    # A complaint: 14 working days from its receipt to the answer. A suggestion has no
    # clock; one reclassified as a complaint counts from the reclassification decision
    # (`at`), when the office takes it on (the event records the receipt too).
    "complaint.received": ClockRule(start, instant="received_at",
                                    only_when=("kind", "complaint")),
    "complaint.reclassified": ClockRule(start),
    "complaint.responded": ClockRule(finish),
})


def evolve_clock(clock: SlaClock, tag: str, facts: Mapping[str, object]) -> SlaClock:
    """The clock after one event: `tag` is its contract tag, `facts` its fields (instants
    as datetimes or as ISO 8601 text) and the case's `received_at`, if it has one."""
    rule = CLOCK_RULES.get(tag)
    if rule is None:
        return clock
    if rule.only_when is not None and facts.get(rule.only_when[0]) != rule.only_when[1]:
        return clock
    instant = facts[rule.instant]
    if isinstance(instant, str):
        instant = datetime.fromisoformat(instant)
    if not isinstance(instant, datetime):
        raise TypeError(f"{tag}: {rule.instant} must be an instant, not {instant!r}")
    return rule.change(clock, instant)


class ClockedCase:
    """Mixed into a case aggregate: its `@event` methods move `sla_clock` by calling
    `clock_after` with their contract tag, through the same table as the read model."""

    sla_clock: SlaClock

    def clock_after(self, tag: str, **facts: object) -> None:
        if tag not in CLOCK_RULES:
            # The fold passes every event; an aggregate names only the ones that move
            # its clock, and a misspelt one would leave the clock silently still.
            raise KeyError(f"no clock rule for {tag!r}")
        self.sla_clock = evolve_clock(self.sla_clock, tag, facts)

    @property
    def clock(self) -> list[Span]:
        """The runs of the clock, as `sla_of` takes them."""
        return list(self.sla_clock.spans)

    @property
    def finished_at(self) -> datetime | None:
        """When the obligation was discharged (None while it is not)."""
        return self.sla_clock.finished_at

    @property
    def withdrawn_at(self) -> datetime | None:
        """When the case was withdrawn (its clock then stopped as `withdrawn`)."""
        return self.sla_clock.withdrawn_at
