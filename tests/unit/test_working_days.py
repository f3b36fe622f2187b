"""The working-day calendar and the legal clocks (API.md "Time")."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

import pytest

from services.domain.clock import JAKARTA
from services.domain.sla import Span, sla_of
from services.domain.workdays import DayKind, OfficeDay, WorkingCalendar


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=JAKARTA)


CAL = WorkingCalendar()


def test_weekends_national_holidays_and_cuti_bersama_are_not_working_days() -> None:
    assert CAL.is_working_day(date(2026, 3, 17))          # Tuesday
    assert not CAL.is_working_day(date(2026, 3, 21))      # Saturday
    assert not CAL.is_working_day(date(2026, 3, 19))      # Nyepi
    assert not CAL.is_working_day(date(2026, 3, 18))      # cuti bersama Nyepi
    assert not CAL.is_working_day(date(2026, 3, 23))      # cuti bersama Idul Fitri
    assert not CAL.is_working_day(date(2026, 4, 3))       # Good Friday
    assert CAL.reason_off(date(2026, 3, 19))


def test_idul_fitri_2026_worked_example() -> None:
    """Given a file declared complete on 2026-03-17, when 7 working days are counted,
    then it is due at the end of 2026-04-02 (Nyepi, Idul Fitri and cuti bersama fall in
    between; Good Friday follows)."""
    due = CAL.deadline(at("2026-03-17T10:00"), 7)
    assert due == at("2026-04-03T00:00")


def test_counting_starts_on_the_first_working_day_after() -> None:
    # Complete on a Friday: Monday is day 1.
    assert CAL.deadline(at("2026-01-09T16:00"), 1) == at("2026-01-13T00:00")
    # Isra Mi'raj falls on Friday 16 Jan 2026: day 5 is Monday 19 Jan.
    assert CAL.deadline(at("2026-01-09T16:00"), 5) == at("2026-01-20T00:00")


def test_an_office_correction_wins_over_the_national_calendar() -> None:
    regional = WorkingCalendar([OfficeDay(date(2026, 3, 26), "holiday", "Hari jadi Purwakarta")])
    assert not regional.is_working_day(date(2026, 3, 26))
    # Good Friday follows Apr 2 and Apr 4-5 is a weekend: the 7th day moves to Monday Apr 6.
    assert regional.deadline(at("2026-03-17T10:00"), 7) == at("2026-04-07T00:00")
    revoked = WorkingCalendar([OfficeDay(date(2026, 3, 18), "working_day",
                                         "cuti bersama dibatalkan")])
    assert revoked.is_working_day(date(2026, 3, 18))
    assert revoked.deadline(at("2026-03-17T10:00"), 7) == at("2026-04-02T00:00")


def test_working_days_used_counts_the_day_under_way() -> None:
    start = at("2026-03-25T09:00")                     # Wednesday
    assert CAL.working_days_between(start, at("2026-03-25T17:00")) == 0
    assert CAL.working_days_between(start, at("2026-03-26T08:00")) == 1
    assert CAL.working_days_between(start, at("2026-03-30T08:00")) == 3   # Thu, Fri, Mon
    assert CAL.working_days_between(start, at("2026-03-27T00:00")) == 1   # midnight ends Thu


class TestSla:
    def test_not_started_without_a_span(self) -> None:
        assert sla_of([], 7, CAL, at("2026-03-17T10:00")).state == "not_started"

    def test_running_then_at_risk_then_breached(self) -> None:
        spans = [Span(at("2026-03-17T10:00"))]
        assert sla_of(spans, 7, CAL, at("2026-03-26T10:00")).state == "running"     # 2 used
        risk = sla_of(spans, 7, CAL, at("2026-04-01T10:00"))                          # 6 used
        assert risk.state == "at_risk" and risk.working_days_used == 6
        assert sla_of(spans, 7, CAL, at("2026-04-02T23:59")).state == "at_risk"
        breached = sla_of(spans, 7, CAL, at("2026-04-03T00:00"))
        assert breached.state == "breached" and breached.due_at == at("2026-04-03T00:00")

    def test_at_risk_threshold_is_configurable(self) -> None:
        spans = [Span(at("2026-03-17T10:00"))]
        assert sla_of(spans, 7, CAL, at("2026-03-27T10:00"), at_risk_ratio=0.4).state == "at_risk"

    def test_met_when_finished_in_time_and_breached_when_late(self) -> None:
        spans = [Span(at("2026-03-17T10:00"), at("2026-04-02T15:00"))]
        assert sla_of(spans, 7, CAL, at("2026-05-01T10:00"), at("2026-04-02T15:00")).state == "met"
        late = [Span(at("2026-03-17T10:00"), at("2026-04-06T09:00"))]
        finished = at("2026-04-06T09:00")
        assert sla_of(late, 7, CAL, at("2026-05-01T10:00"), finished).state == "breached"

    def test_paused_keeps_the_days_used_and_resumes_with_the_rest(self) -> None:
        # Complete Wed 25 Mar, returned Fri 27 Mar (2 days used: Thu, Fri), back Mon 6 Apr.
        spans = [Span(at("2026-03-25T09:00"), at("2026-03-27T11:00"))]
        paused = sla_of(spans, 7, CAL, at("2026-04-01T10:00"))
        assert paused.state == "paused" and paused.working_days_used == 2 and paused.due_at is None
        resumed = [*spans, Span(at("2026-04-06T09:00"))]
        sla = sla_of(resumed, 7, CAL, at("2026-04-06T10:00"))
        # 5 days left from Mon 6 Apr: Tue 7 .. Mon 13 Apr.
        assert sla.state == "running" and sla.due_at == at("2026-04-14T00:00")
        assert sla.working_days_used == 2


@pytest.mark.parametrize("year", [2025, 2026, 2027])
def test_every_year_has_its_days_off_listed(year: int) -> None:
    days = CAL.year(year)
    assert any(d["reason"] for d in days)
    assert all(d["kind"] == "holiday" for d in days)


# -- counting without stepping: the same answers as the day-by-day definition -------------
def stepped_nth(cal: WorkingCalendar, day: date, n: int) -> date:
    """The definition: step through the days after `day`, keep the working ones."""
    found = 0
    while True:
        day += timedelta(days=1)
        if cal.is_working_day(day):
            found += 1
            if found == n:
                return day


def stepped_between(cal: WorkingCalendar, start: datetime, end: datetime) -> int:
    """The definition: each working day after the start's date up to the end's, the end's
    date itself not counted when the end is midnight (Asia/Jakarta) of a later date."""
    first, last = start.astimezone(JAKARTA).date(), end.astimezone(JAKARTA).date()
    if end.astimezone(JAKARTA).time() == time(0) and last > first:
        last -= timedelta(days=1)
    return sum(cal.is_working_day(first + timedelta(days=i))
               for i in range(1, (last - first).days + 1))


KINDS: tuple[DayKind, ...] = ("holiday", "working_day")


def random_calendar(rng: random.Random) -> WorkingCalendar:
    """National days plus corrections both ways: cuti bersama and weekends made working
    days, working days made holidays, some dates corrected twice (the last wins), some
    near the ends of the years counted without stepping."""
    corrections = []
    for _ in range(rng.randrange(0, 40)):
        day = date(rng.choice([1999, 2000, 2025, 2026, 2026, 2027, 2060, 2061]), 1, 1) \
            + timedelta(days=rng.randrange(365))
        kind: DayKind = rng.choice(KINDS)
        declared = datetime(2026, 1, 1, tzinfo=JAKARTA) + timedelta(hours=rng.randrange(9000))
        corrections.append(OfficeDay(day, kind, "koreksi", rng.choice([None, declared])))
    return WorkingCalendar(corrections)


def random_instant(rng: random.Random) -> datetime:
    """Mostly around now, some at the ends of the years counted without stepping (and
    beyond them), some at midnight, in Jakarta's time or in UTC."""
    year = rng.choice([1999, 2000, 2024, 2025, 2026, 2026, 2026, 2027, 2060, 2061])
    instant = datetime(year, 1, 1, tzinfo=JAKARTA) + timedelta(
        days=rng.randrange(366), hours=rng.choice([0, 0, rng.randrange(24)]),
        minutes=rng.choice([0, rng.randrange(60)]))
    return instant.astimezone(rng.choice([JAKARTA, UTC]))


def test_cuti_bersama_and_weekends_in_the_counted_table_match_the_rule() -> None:
    cal = random_calendar(random.Random(7))
    day = date(1999, 12, 1)
    while day < date(2061, 2, 1):
        through = cal.working_days_between(datetime.combine(day, time(12), JAKARTA),
                                           datetime.combine(day + timedelta(days=1), time(12),
                                                            JAKARTA))
        assert through == int(cal.is_working_day(day + timedelta(days=1))), day
        day += timedelta(days=1)


@pytest.mark.parametrize("seed", range(8))
def test_the_nth_working_day_after_is_the_one_stepping_finds(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(20):
        cal = random_calendar(rng)
        for _ in range(60):
            day = random_instant(rng).astimezone(JAKARTA).date()
            n = rng.choice([1, 2, 5, 6, 7, 12, 14, rng.randrange(1, 400)])
            assert cal.nth_working_day_after(day, n) == stepped_nth(cal, day, n), (day, n)


@pytest.mark.parametrize("seed", range(8))
def test_deadlines_and_days_used_are_the_ones_stepping_finds(seed: int) -> None:
    rng = random.Random(100 + seed)
    for _ in range(20):
        cal = random_calendar(rng)
        for _ in range(60):
            start = random_instant(rng)
            end = start + rng.choice([timedelta(0), timedelta(hours=rng.randrange(48)),
                                      timedelta(days=rng.randrange(60)),
                                      timedelta(days=rng.randrange(60), hours=12),
                                      -timedelta(days=rng.randrange(5))])
            if rng.random() < 0.3:  # midnight in Jakarta
                end = datetime.combine(end.astimezone(JAKARTA).date(), time(0), JAKARTA)
            assert cal.working_days_between(start, end) == stepped_between(cal, start, end)
            n = rng.randrange(1, 30)
            last = stepped_nth(cal, start.astimezone(JAKARTA).date(), n)
            assert cal.deadline(start, n) == datetime.combine(last + timedelta(days=1), time(0),
                                                              JAKARTA)
            assert cal.start_of_nth_working_day_after(start, n) == datetime.combine(
                last, time(0), JAKARTA)
            # As of any instant: the same answers on the calendar the office knew then.
            then = cal.as_of(random_instant(rng))
            assert then.working_days_between(start, end) == stepped_between(then, start, end)


def test_the_nth_working_day_must_be_counted_from_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CAL.nth_working_day_after(date(2026, 3, 17), 0)
