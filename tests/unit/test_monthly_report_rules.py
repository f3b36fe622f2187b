"""The monthly report's rules, given events (contract events as plain data, folded by the
read models' own pure folds), when a month is reported at an instant, then its figures
(issue 12, items 8, 9, 10, 11, 20; issue 11: per-month facts).

`tests/reports.History` folds the events as the read models do and sums their rows as
the SQL does; tests/integration/test_report_facts.py checks that reading the real read
models on Postgres gives the same reports."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from projections import case_views, monthly_report
from services.domain.clock import JAKARTA
from services.domain.workdays import OfficeDay, WorkingCalendar
from tests.reports import History, application, case_id, ev, received, submitted

APP, LATE, COMPLAINT, SUGGESTION = case_id(1), case_id(2), case_id(3), case_id(4)
ALL_MET = {"results": {}}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=JAKARTA)


def given(*events: dict[str, Any], calendar: WorkingCalendar | None = None) -> History:
    return History(calendar).add(*events)


# -- item 9: a closed month's figures do not change ------------------------------------
ITEM_9 = application(
    APP,
    ("file_declared_complete", "2026-03-02T10:00", ALL_MET),              # due 12 March
    ("file_returned_for_correction", "2026-03-20T11:00", {"unmet": ["K1"]}),
    ("resubmitted", "2026-04-06T09:00", {}),
    submitted_at="2026-03-02T08:00")


def test_a_breach_counts_in_the_month_of_the_deadline_missed_whenever_computed() -> None:
    """Given a file complete on 2 March (due 12 March), returned on 20 March and
    resubmitted on 6 April, then March says breached 1 on 31 March and still on 30 April,
    and April says 0: each run of the clock is judged by its own deadline, and the case
    breached once."""
    on_31_march = given(*ITEM_9[:3]).report("2026-03", at("2026-03-31T18:00"))
    assert on_31_march["applications"]["breached"] == 1
    later = given(*ITEM_9)
    assert later.report("2026-03", at("2026-04-30T18:00"))["applications"]["breached"] == 1
    assert later.report("2026-04", at("2026-04-30T18:00"))["applications"]["breached"] == 0


def test_a_running_clock_breaches_in_the_month_its_deadline_passes() -> None:
    """Given a file complete on 2 March and nothing since, then March counts the breach
    once the deadline has passed, and only then."""
    history = given(*ITEM_9[:2])
    assert history.report("2026-03", at("2026-03-11T23:59"))["applications"]["breached"] == 0
    assert history.report("2026-03", at("2026-03-12T00:00"))["applications"]["breached"] == 1


def test_a_closed_months_report_stays_the_same_as_later_events_arrive() -> None:
    """Given March's events, when April's arrive (the same cases moving on, new ones,
    escalations), then March's report is byte for byte what it was on 1 April."""
    march = [
        *ITEM_9[:3],
        *application(LATE, ("file_declared_complete", "2026-03-25T10:00", ALL_MET),
                     submitted_at="2026-03-25T09:00"),
        received(COMPLAINT, "2026-03-26T09:00"),
        ev(COMPLAINT, 2, "complaint.classified", "2026-03-27T09:00",
           service_code="SS-KBLI-10510", problem_type="fee"),
        received(SUGGESTION, "2026-03-30T09:00", kind="suggestion"),
    ]
    april = [
        ITEM_9[3],
        ev(LATE, 3, "application.escalated", "2026-04-06T00:00", from_tier="pelaksana",
           to_tier="kepala_seksi", reason="batas waktu", automatic=True, clock_span=1),
        ev(LATE, 4, "application.technically_reviewed", "2026-04-07T10:00",
           recommendation="approve", note="ok"),
        ev(LATE, 5, "application.decided", "2026-04-08T10:00", outcome="approve", reason="ok"),
        ev(LATE, 6, "application.certificate_issued", "2026-04-09T10:00", certificate={}),
        ev(COMPLAINT, 3, "complaint.responded", "2026-04-10T09:00", text="jawaban"),
        ev(COMPLAINT, 4, "complaint.closed", "2026-04-11T09:00"),
        ev(SUGGESTION, 2, "complaint.closed", "2026-04-11T09:00"),
        submitted(case_id(9), "2026-04-01T08:00"),
    ]
    closed = given(*march).report("2026-03", at("2026-04-01T00:00"))
    assert given(*march, *april).report("2026-03", at("2026-06-01T00:00")) == closed
    assert closed["applications"]["backlog_at_month_end"] == 2
    assert closed["complaints"]["open_at_month_end"] == 1
    assert closed["days_per_tier"]["pelaksana"] > 0


# -- item 20: the month a breach counts in ---------------------------------------------
def test_a_deadline_at_midnight_on_the_first_is_a_breach_of_the_month_it_begins() -> None:
    """Given a file complete on 13 March, due at 00:00 on 1 April, still not issued, then
    the breach is April's, not March's."""
    history = given(*application(APP, ("file_declared_complete", "2026-03-13T10:00", ALL_MET)))
    assert history.report("2026-03", at("2026-04-02T00:00"))["applications"]["breached"] == 0
    assert history.report("2026-04", at("2026-04-02T00:00"))["applications"]["breached"] == 1


# -- item 8: suggestions apart ---------------------------------------------------------
def test_a_suggestion_acknowledged_is_counted_apart_from_the_complaints_answered() -> None:
    """Given one complaint answered in time and one suggestion acknowledged in March,
    then the complaints' answers are 1 of 1 in time, and the suggestion is counted apart."""
    report = given(
        received(COMPLAINT, "2026-03-02T09:00"),
        ev(COMPLAINT, 2, "complaint.responded", "2026-03-05T09:00", text="jawaban"),
        received(SUGGESTION, "2026-03-02T10:00", kind="suggestion"),
        ev(SUGGESTION, 2, "complaint.responded", "2026-03-03T09:00", text="terima kasih"),
    ).report("2026-03", at("2026-04-01T00:00"))["complaints"]
    assert (report["answered"], report["answered_within_sla"],
            report["share_answered_within_sla"]) == (1, 1, 1.0)
    assert report["suggestions_answered"] == 1
    assert (report["received"], report["suggestions"]) == (1, 1)


def test_a_suggestion_reclassified_counts_as_taken_on_in_the_month_of_the_decision() -> None:
    report = given(
        received(SUGGESTION, "2026-03-30T10:00", kind="suggestion"),
        ev(SUGGESTION, 2, "complaint.reclassified", "2026-04-02T09:00", reason="surat dokter",
           received_at="2026-03-30T10:00:00+07:00"),
    )
    assert report.report("2026-03", at("2026-05-01T00:00"))["complaints"]["suggestions"] == 1
    april = report.report("2026-04", at("2026-05-01T00:00"))["complaints"]
    assert april["reclassified"] == 1 and april["open_at_month_end"] == 1


# -- item 11: a withdrawal is neither met nor breached ------------------------------------
def test_a_withdrawal_before_the_deadline_is_neither_met_nor_breached() -> None:
    history = given(*application(APP, ("file_declared_complete", "2026-03-02T10:00", ALL_MET),
                                 ("withdrawn", "2026-03-05T10:00", {"reason": "batal"})))
    report = history.report("2026-03", at("2026-04-01T00:00"))["applications"]
    assert report["withdrawn"] == 1 and report["breached"] == 0
    assert report["issued_within_sla"] == 0 and report["backlog_at_month_end"] == 0
    assert history.facts("2026-03", at("2026-04-01T00:00")).stopped[0].state == "withdrawn"


def test_a_deadline_missed_before_the_withdrawal_stays_a_breach_of_its_month() -> None:
    """The state is `withdrawn`; the deadline missed while the clock ran was still
    missed, and March (closed) does not change when the applicant withdraws in April."""
    events = application(APP, ("file_declared_complete", "2026-03-02T10:00", ALL_MET),
                         ("withdrawn", "2026-04-01T10:00", {"reason": "batal"}))
    before = given(*events[:2]).report("2026-03", at("2026-04-01T00:00"))
    after = given(*events).report("2026-03", at("2026-05-01T00:00"))
    assert before == after and after["applications"]["breached"] == 1


# -- item 10: a finished case keeps its outcome ---------------------------------------------
REVOKED = OfficeDay(date(2026, 3, 23), "working_day", "cuti bersama dibatalkan",
                    at("2026-04-06T09:00"))


def test_a_calendar_correction_after_the_case_finished_leaves_its_outcome() -> None:
    """Given a file complete on 17 March (due 3 April) issued on 2 April, met; when the
    23 March cuti bersama is revoked on 6 April (which would make it due 2 April), then
    it is still met, and April's report still says so."""
    events = application(APP, ("file_declared_complete", "2026-03-17T10:00", ALL_MET),
                         ("certificate_issued", "2026-04-02T15:00", {"certificate": {}}))
    before = given(*events).report("2026-04", at("2026-05-01T00:00"))
    after = given(*events, calendar=WorkingCalendar([REVOKED])).report(
        "2026-04", at("2026-05-01T00:00"))
    assert before == after and after["applications"]["issued_within_sla"] == 1


def test_a_calendar_correction_moves_the_clocks_still_running_and_is_named() -> None:
    """Given a file complete on 17 March still running on 6 April; when 23 March is
    revoked then, its deadline moves to 2 April; the breach stays April's, and March's
    report names the correction as the one change a closed month may see."""
    history = given(*application(APP, ("file_declared_complete", "2026-03-17T10:00", ALL_MET)),
                    calendar=WorkingCalendar([REVOKED]))
    facts = history.facts("2026-03", at("2026-04-07T00:00"))
    named = monthly_report.compute(facts)["calendar_corrections_after_month_end"]
    assert named == [{"date": "2026-03-23", "kind": "working_day",
                      "reason": "cuti bersama dibatalkan",
                      "declared_at": "2026-04-06T09:00:00+07:00", "declared_by": "kepala"}]
    assert history.report("2026-04", at("2026-04-07T00:00"))["applications"]["breached"] == 1
    assert history.facts("2026-04", at("2026-04-07T00:00")).breached == {"application": 1}
    assert monthly_report.compute(history.facts("2026-04", at("2026-04-07T00:00"))) \
        ["calendar_corrections_after_month_end"] == []


# -- counting by the month recorded --------------------------------------------------------
def test_a_complaint_received_before_the_month_began_counts_in_the_month_recorded() -> None:
    """A letter received on 31 March and recorded on 1 April counts in April: March had
    closed before anyone knew of it."""
    history = given(received(COMPLAINT, "2026-04-01T08:00",
                             received_at="2026-03-31T16:00:00+07:00"))
    assert history.report("2026-03", at("2026-05-01T00:00"))["complaints"]["received"] == 0
    assert history.report("2026-04", at("2026-05-01T00:00"))["complaints"]["received"] == 1


def test_time_at_a_tier_is_split_at_the_months_start_and_ends_at_closure() -> None:
    history = given(*application(APP, ("file_declared_complete", "2026-03-31T12:00", ALL_MET),
                                 ("withdrawn", "2026-04-01T12:00", {"reason": "batal"}),
                                 submitted_at="2026-03-31T12:00"))
    assert history.report("2026-03", at("2026-06-01T00:00"))["days_per_tier"]["pelaksana"] == 0.5
    assert history.report("2026-04", at("2026-06-01T00:00"))["days_per_tier"]["pelaksana"] == 0.5
    facts = case_views.facts(None, case_views.evolve(None, submitted(APP, "2026-03-31T12:00")),
                             submitted(APP, "2026-03-31T12:00"))
    assert ("2026-03", "application", "received", "SS-KBLI-10510", 1) in facts


def test_findings_and_officers_are_counted() -> None:
    history = given(
        received(COMPLAINT, "2026-03-02T09:00"),
        ev(COMPLAINT, 2, "complaint.assigned", "2026-03-02T10:00", officer="dewi"),
        ev(COMPLAINT, 3, "complaint.findings_recorded", "2026-03-04T09:00", actions=["x"],
           consulted=[], outcome="partly_proven"),
        ev(COMPLAINT, 4, "complaint.responded", "2026-03-05T09:00", text="jawaban"),
    )
    report = history.report("2026-03", at("2026-04-01T00:00"))
    assert report["complaints"]["findings"] == {"proven": 0, "not_proven": 0,
                                                "partly_proven": 1}
    assert report["by_officer"] == {"dewi": {"name": None, "cases_handled": 1,
                                             "median_working_days": 3.0, "breached": 0}}
    named = monthly_report.compute(history.facts("2026-03", at("2026-04-01T00:00")),
                                   {"dewi": "Dewi Lestari"})
    assert named["by_officer"]["dewi"]["name"] == "Dewi Lestari"


def test_per_officer_the_cases_they_saw_through_and_the_late_ones() -> None:
    """Two applications held by budi: one issued in time, one issued late; one held by
    nobody; one withdrawn while budi held it (the applicant's act, not his)."""
    def held(n: int, issued: str, officer: str | None) -> list[dict[str, Any]]:
        cid = case_id(20 + n)
        steps = [("file_declared_complete", "2026-03-02T10:00", ALL_MET),
                 ("certificate_issued", issued, {"certificate": {}})]
        events = application(cid, *steps)
        if officer:
            events.insert(1, ev(cid, 9, "application.assigned", "2026-03-02T09:00",
                                officer=officer))
        return events
    withdrawn = application(case_id(30), ("assigned", "2026-03-02T09:00", {"officer": "budi"}),
                            ("withdrawn", "2026-03-03T09:00", {"reason": "batal"}))
    history = given(*held(1, "2026-03-05T10:00", "budi"), *held(2, "2026-03-20T10:00", "budi"),
                    *held(3, "2026-03-06T10:00", None), *withdrawn)
    figures = history.report("2026-03", at("2026-04-01T00:00"))["by_officer"]
    # 3 working days (3-5 March) and 11 (3-17 March; 18-20 March Nyepi and Lebaran off):
    # median 7.
    assert figures == {"budi": {"name": None, "cases_handled": 2, "median_working_days": 7.0,
                                "breached": 1}}
