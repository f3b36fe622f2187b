"""How a clock ends, given events (issue 12, items 9, 10, 11, 20): a withdrawal stops
it as `withdrawn`; a finished clock keeps the outcome it had on the calendar of its day;
a breach happens at the deadline missed, each run of the clock judged by its own."""

from __future__ import annotations

from datetime import date

from services.applications.domain import LicenceApplication
from services.calendar.domain import OfficeCalendar
from services.domain.sla import SlaClock, Span, breached_at, sla_of, withdraw
from services.domain.workdays import OfficeDay, WorkingCalendar
from tests.unit.gwt import given
from tests.unit.test_sla_clock import ALL_MET, HEAD, OFFICER, OSS, application, on

NATIONAL = WorkingCalendar()


def complete(a: LicenceApplication) -> None:
    a.verify(ALL_MET, None, OFFICER, on("2026-03-17T10:00"))


# -- item 11 -------------------------------------------------------------------------------
def test_a_withdrawn_application_is_withdrawn_not_met() -> None:
    """Given a file complete on 17 March (due 3 April), when the applicant withdraws on
    25 March (one working day used: Nyepi and Lebaran between), then its clock is
    `withdrawn`, for good: neither met nor breached."""
    case = given(application, complete,
                 lambda a: a.withdraw("batal", OSS, on("2026-03-25T10:00")))
    sla = case.sla_clock.sla(7, NATIONAL, on("2026-06-01T00:00"))
    assert sla.state == "withdrawn"
    assert sla.finished_at == on("2026-03-25T10:00") and sla.working_days_used == 1


def test_a_withdrawal_before_the_file_was_complete_is_withdrawn_too() -> None:
    case = given(application, lambda a: a.withdraw("batal", OSS, on("2026-03-17T10:00")))
    sla = case.sla_clock.sla(7, NATIONAL, on("2026-06-01T00:00"))
    assert (sla.state, sla.started_at, sla.due_at) == ("withdrawn", None, None)


def test_a_withdrawal_after_the_deadline_is_withdrawn_and_its_deadline_was_missed() -> None:
    clock = withdraw(SlaClock(spans=(Span(on("2026-03-17T10:00")),)), on("2026-04-06T10:00"))
    assert clock.sla(7, NATIONAL, on("2026-06-01T00:00")).state == "withdrawn"
    assert clock.breached_at(7, NATIONAL, on("2026-06-01T00:00")) == on("2026-04-03T00:00")


# -- item 10 -------------------------------------------------------------------------------
REVOKED_LATER = WorkingCalendar([OfficeDay(date(2026, 3, 23), "working_day",
                                           "cuti bersama dibatalkan", on("2026-04-06T09:00"))])


def test_a_correction_declared_after_the_case_finished_leaves_its_outcome() -> None:
    """Given a file complete on 17 March (due 3 April) and a certificate issued on 2
    April, met; when the 23 March cuti bersama is revoked on 6 April, then it stays met
    (on the calendar of 2 April); a clock still running moves to 2 April."""
    issued = given(application, complete,
                   lambda a: a.review_technically("approve", "ok", OFFICER, on("2026-03-30T10:00")),
                   lambda a: a.decide("approve", "ok", HEAD, on("2026-04-01T10:00")),
                   lambda a: a.issue({"number": "SS-1"}, HEAD, on("2026-04-02T15:00")))
    sla = issued.sla_clock.sla(7, REVOKED_LATER, on("2026-06-01T00:00"))
    assert (sla.state, sla.due_at) == ("met", on("2026-04-03T00:00"))
    running = given(application, complete)
    assert running.sla_clock.sla(7, REVOKED_LATER, on("2026-04-06T10:00")).due_at \
        == on("2026-04-02T00:00")


def test_a_correction_declared_before_the_case_finished_counts() -> None:
    revoked_before = WorkingCalendar([OfficeDay(date(2026, 3, 23), "working_day", "dibatalkan",
                                                on("2026-03-20T09:00"))])
    sla = sla_of([Span(on("2026-03-17T10:00"), on("2026-04-02T15:00"))], 7, revoked_before,
                 on("2026-06-01T00:00"), finished_at=on("2026-04-02T15:00"))
    assert (sla.state, sla.due_at) == ("breached", on("2026-04-02T00:00"))


def test_the_office_calendar_keeps_when_each_correction_was_declared() -> None:
    office = OfficeCalendar(actor=HEAD, at=on("2026-01-02T09:00"))
    office.declare_day(date(2026, 3, 23), "working_day", "dibatalkan", HEAD, on("2026-04-06T09:00"))
    office.declare_day(date(2026, 3, 23), "holiday", "dipulihkan", HEAD, on("2026-04-07T09:00"))
    calendar = office.working_calendar()
    assert not calendar.is_working_day(date(2026, 3, 23))
    assert calendar.as_of(on("2026-04-06T12:00")).is_working_day(date(2026, 3, 23))
    assert not calendar.as_of(on("2026-04-01T00:00")).corrections
    assert calendar.as_of(on("2026-04-07T09:00")) is calendar


# -- items 9 and 20: when a breach happens ---------------------------------------------------
def test_each_run_of_the_clock_is_judged_by_its_own_deadline() -> None:
    """Complete on 2 March (due 12 March), returned on 20 March, resubmitted on 6 April:
    the deadline missed is 12 March, whatever came after."""
    spans = [Span(on("2026-03-02T10:00"), on("2026-03-20T11:00")), Span(on("2026-04-06T09:00"))]
    assert breached_at(spans, 7, NATIONAL, on("2026-04-30T00:00")) == on("2026-03-12T00:00")
    assert breached_at(spans[:1], 7, NATIONAL, on("2026-03-20T11:00")) == on("2026-03-12T00:00")


def test_a_pause_before_the_deadline_is_no_breach_until_the_next_run_misses_its_own() -> None:
    spans = [Span(on("2026-03-02T10:00"), on("2026-03-04T11:00")), Span(on("2026-03-09T09:00"))]
    # 2 days used (3, 4 March), 5 left from 9 March: 10, 11, 12, 13, 16 → due 17 March.
    assert breached_at(spans, 7, NATIONAL, on("2026-03-16T23:59")) is None
    assert breached_at(spans, 7, NATIONAL, on("2026-03-17T00:00")) == on("2026-03-17T00:00")


def test_a_deadline_at_midnight_is_missed_at_that_instant() -> None:
    """Complete on 13 March: due at 00:00 on 1 April; missed then (April's), not before."""
    spans = [Span(on("2026-03-13T10:00"))]
    assert breached_at(spans, 7, NATIONAL, on("2026-03-31T23:59:59")) is None
    assert breached_at(spans, 7, NATIONAL, on("2026-04-01T00:00")) == on("2026-04-01T00:00")
