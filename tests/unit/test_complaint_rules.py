"""The complaint rules of the seed (Standar Pelayanan point 6), as given / when / then on
the events of the `Complaint` aggregate."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.complaints.commands import COMMANDS
from services.complaints.domain import (
    Complaint,
    classify_intake,
    complaint_id,
)
from services.domain.actors import Actor
from services.domain.errors import Forbidden, InvalidInput, NotFound, RuleViolation
from services.domain.policy import authorize, authorize_case
from services.domain.sla import Span, sla_of
from services.domain.workdays import WorkingCalendar
from tests.unit.gwt import given, then_raises, when

WIB = ZoneInfo("Asia/Jakarta")
CHANNEL = {"id": "svc-whatsapp", "role": "channel", "channel": "whatsapp"}
OFFICER = {"id": "pelaksana-07", "role": "officer", "tier": "pelaksana", "unit": "pengaduan"}
SUPERVISOR = {"id": "kasi-02", "role": "supervisor"}
HEAD = {"id": "kepala-dinas", "role": "head"}
SITI = {"name": "Siti Aminah", "phone": "081234567890"}

SERVED = date(2025, 6, 2)
DAY_30 = datetime(2025, 7, 2, 9, 0, tzinfo=WIB)   # 30 calendar days after SERVED
DAY_31 = datetime(2025, 7, 3, 9, 0, tzinfo=WIB)


def on(day: int, hour: int = 10, month: int = 7) -> datetime:
    return datetime(2025, month, day, hour, 0, tzinfo=WIB)


def receive(**changes: Any) -> Callable[[], Complaint]:
    fields: dict[str, Any] = {
        "channel": "whatsapp", "external_id": "wa-0001", "complainant": SITI,
        "subject_matter": "Dimintai biaya untuk Sertifikat Standar yang gratis",
        "description": "Petugas meminta uang administrasi.", "service_received_on": SERVED,
        "received_at": DAY_30, "related_application_id": None, "actor": CHANNEL,
        "at": on(3, 8),
    }
    fields.update(changes)
    return lambda: Complaint.receive(**fields)


def late_suggestion() -> Complaint:
    return receive(received_at=DAY_31, at=on(3, 10))()


# The handling steps, in the seed's order, as commands.
def classify(c: Complaint) -> None:
    c.classify("SS-KBLI-10510", "fee", OFFICER, on(4))


def analyse(c: Complaint) -> None:
    c.analyse("Pungutan untuk layanan gratis", ["Standar Pelayanan KBLI 10510 komponen 4"],
              ["Bukti transfer"], "clarification", OFFICER, on(7))


def findings(c: Complaint) -> None:
    c.record_findings(["Klarifikasi petugas loket", "Pemeriksaan bukti transfer"],
                      ["Petugas loket MPP", "Bukti transfer"], "proven", None, OFFICER, on(9))


def approve_apip(c: Complaint) -> None:
    c.approve_apip("Tidak dapat diselesaikan secara internal", HEAD, on(7, 14))


def internal(c: Complaint) -> None:
    c.choose_track("internal", None, OFFICER, on(8))


def apip(c: Complaint) -> None:
    c.choose_track("apip", ["Inspektorat Kabupaten Purwakarta"], OFFICER, on(8, 15))


def respond(c: Complaint) -> None:
    c.respond("Pungutan dikembalikan; petugas diberi sanksi.", OFFICER, on(10))


def notify(c: Complaint) -> None:
    c.notify_complainant("whatsapp", OFFICER, on(10, 11))


def report(c: Complaint) -> None:
    c.report_to_superior("Hasil tindak lanjut pengaduan ADU terlampir.", OFFICER, on(10, 12))


def close(c: Complaint) -> None:
    c.close("Selesai", OFFICER, on(11))


HANDLED = (classify, analyse, internal, findings, respond, notify, report)


# -- intake: complaint or suggestion --------------------------------------------------
def test_day_30_is_still_a_complaint_and_its_clock_starts_at_receipt() -> None:
    c = given(receive())
    assert (c.kind, c.reasons, c.reason) == ("complaint", [], None)
    assert c.clock == [Span(start=DAY_30)]
    assert (c.status, c.tier, c.unit) == ("received", "pelaksana", "pengaduan")


def test_intake_records_one_received_event() -> None:
    c = receive()()
    assert [type(e).__name__ for e in c.collect_events()] == ["Received"]


def test_day_31_is_a_late_suggestion_without_a_clock() -> None:
    c = given(receive(received_at=DAY_31, at=on(3, 10)))
    assert (c.kind, c.reasons, c.reason) == ("suggestion", ["late"], "late")
    assert c.clock == []
    assert sla_of(c.clock, 14, WorkingCalendar(), on(30)).state == "not_started"


def test_the_30_days_are_counted_on_the_jakarta_calendar() -> None:
    # 20:00 UTC on day 30 is already 03:00 on day 31 in Jakarta.
    evening_utc = datetime(2025, 7, 2, 20, 0, tzinfo=UTC)
    assert classify_intake(SITI, "biaya", SERVED, evening_utc) == ["late"]
    just_before = datetime(2025, 7, 2, 16, 59, tzinfo=UTC)
    assert classify_intake(SITI, "biaya", SERVED, just_before) == []


@pytest.mark.parametrize("complainant", [
    None,
    {},
    {"name": "", "phone": "081234567890"},
    {"name": "   ", "email": "siti@example.id"},
    {"name": "Siti Aminah"},
    {"name": "Siti Aminah", "nik": "3214010101900001"},
    {"name": "Siti Aminah", "phone": " ", "email": None},
])
def test_no_identity_without_a_name_or_a_way_to_reach_them(complainant: Any) -> None:
    c = given(receive(complainant=complainant))
    assert (c.kind, c.reasons) == ("suggestion", ["no_identity"])


@pytest.mark.parametrize("contact", ["phone", "email", "address"])
def test_a_name_and_any_one_way_to_reach_them_is_an_identity(contact: str) -> None:
    assert classify_intake({"name": "Siti", contact: "x"}, "biaya", SERVED, DAY_30) == []


@pytest.mark.parametrize("subject_matter", [None, "", "  \n"])
def test_no_subject_matter(subject_matter: str | None) -> None:
    c = given(receive(subject_matter=subject_matter))
    assert (c.kind, c.reasons, c.reason) == ("suggestion", ["no_subject_matter"],
                                             "no_subject_matter")


def test_all_reasons_are_listed_in_order_and_the_first_is_the_reason() -> None:
    c = given(receive(complainant=None, subject_matter=None, received_at=DAY_31, at=on(3, 10)))
    assert c.reasons == ["late", "no_identity", "no_subject_matter"]
    assert c.reason == "late"


def test_received_at_defaults_to_the_time_of_recording() -> None:
    c = given(receive(received_at=None, at=on(2, 11)))
    assert c.received_at == c.recorded_at == on(2, 11)


def test_received_at_in_the_future_is_invalid() -> None:
    with pytest.raises(InvalidInput) as raised:
        receive(received_at=on(3, 12), at=on(3, 8))()
    assert raised.value.field == "received_at"


def test_service_received_after_the_complaint_is_invalid() -> None:
    with pytest.raises(InvalidInput) as raised:
        receive(service_received_on=date(2025, 7, 3), received_at=DAY_30)()
    assert raised.value.field == "service_received_on"


def test_unknown_channel_is_invalid() -> None:
    with pytest.raises(InvalidInput) as raised:
        receive(channel="oss")()
    assert raised.value.field == "channel"


def test_the_id_is_derived_from_channel_and_external_id() -> None:
    c = receive()()
    assert c.id == complaint_id("whatsapp", "wa-0001") == receive()().id
    assert c.id != complaint_id("sms", "wa-0001")
    assert c.tracking_number == "ADU-" + c.id.hex[:10].upper()


# -- reclassification ---------------------------------------------------------------
def test_a_suggestion_that_is_only_late_may_become_a_complaint() -> None:
    c = given(late_suggestion)
    assert when(c, lambda c: c.reclassify("Pemohon sakit, ada surat dokter", OFFICER,
                                          on(7))) == ["Reclassified"]
    assert (c.kind, c.reasons, c.intake_reasons) == ("complaint", [], ["late"])


def test_a_reclassified_complaint_s_clock_counts_from_the_decision_not_from_receipt() -> None:
    # Given a late suggestion received on 3 July, reclassified on Mon 21 July, more than
    # 14 working days later
    c = given(late_suggestion)
    # When the office takes it on as a complaint
    when(c, lambda c: c.reclassify("Pemohon sakit, ada surat dokter", OFFICER, on(21)))
    # Then its 14 working days count from the decision: not breached the moment it is
    # taken on, but due at midnight after Fri 8 August
    assert c.clock == [Span(start=on(21))]
    sla = sla_of(c.clock, 14, WorkingCalendar(), now=on(21, 11))
    assert (sla.state, sla.due_at) == ("running", datetime(2025, 8, 9, 0, 0, tzinfo=WIB))
    # And both instants are on record: the receipt and the decision
    assert c.reclassification["received_at"] == DAY_31
    assert c.reclassification["at"] == on(21)


def test_the_reclassification_event_carries_both_instants() -> None:
    c = given(late_suggestion)
    c.reclassify("alasan", OFFICER, on(7))
    (event,) = c.collect_events()
    assert (event.received_at, event.at) == (DAY_31, on(7))


def test_a_reclassified_complaint_is_then_handled_as_one() -> None:
    c = given(late_suggestion, lambda c: c.reclassify("alasan", OFFICER, on(7)))
    assert when(c, classify) == ["Classified"]


@pytest.mark.parametrize("changes", [
    {"complainant": None},                                   # late + no_identity
    {"subject_matter": None},                                # late + no_subject_matter
])
def test_a_late_suggestion_with_another_reason_stays_a_suggestion(changes: Any) -> None:
    c = given(receive(received_at=DAY_31, at=on(3, 10), **changes))
    then_raises(c, lambda c: c.reclassify("alasan", OFFICER, on(7)), RuleViolation,
                "reclassification_only_when_only_late")


def test_a_suggestion_without_identity_alone_cannot_be_reclassified() -> None:
    c = given(receive(complainant=None))
    then_raises(c, lambda c: c.reclassify("alasan", OFFICER, on(7)), RuleViolation,
                "reclassification_only_when_only_late")


def test_a_complaint_cannot_be_reclassified() -> None:
    then_raises(given(receive()), lambda c: c.reclassify("alasan", OFFICER, on(7)),
                RuleViolation, "already_a_complaint")


def test_reclassification_needs_a_reason_and_an_officer() -> None:
    then_raises(given(late_suggestion), lambda c: c.reclassify(" ", OFFICER, on(7)),
                InvalidInput)
    # Who may is the command's policy (services/domain/policy.py), not the aggregate's.
    with pytest.raises(Forbidden) as refused:
        authorize(COMMANDS["reclassification"].policy, Actor(**CHANNEL))
    assert refused.value.rule == "reclassification_requires_officer"


# -- the handling steps in order ----------------------------------------------------
def test_the_seed_s_steps_in_order() -> None:
    c = given(receive())
    steps = [classify, analyse, internal, findings, respond, notify, report, close]
    assert [when(c, step) for step in steps] == [
        ["Classified"], ["Analysed"], ["TrackChosen"], ["FindingsRecorded"], ["Responded"],
        ["ComplainantNotified"], ["ReportedToSuperior"], ["Closed"],
    ]
    assert c.is_closed and c.status == "closed"
    assert c.classification["problem_type"] == "fee"
    assert c.classification["concerns_head"] is False
    assert c.analysis["handling_plan"] == "clarification"
    assert c.findings["outcome"] == "proven"
    assert c.superior_reports[0]["to_tier"] == "kepala_seksi"


@pytest.mark.parametrize(("history", "step", "rule"), [
    ((), analyse, "analysis_requires_classification"),
    ((), internal, "track_requires_analysis"),
    ((classify,), internal, "track_requires_analysis"),
    ((classify,), approve_apip, "apip_approval_requires_analysis"),
    ((classify, analyse), respond, "response_requires_track"),
    ((classify, analyse, findings), respond, "response_requires_track"),
    ((classify, analyse, internal), notify, "notification_requires_response"),
    ((classify, analyse, internal), report, "superior_report_requires_response"),
    ((classify, analyse, internal), close, "closure_requires_response"),
    ((classify, analyse, internal, findings, respond), close, "closure_requires_notification"),
    ((classify, analyse, internal, findings, respond, notify), close,
     "superior_report_required"),
    ((classify,), classify, "classification_not_allowed_when_classified"),
    ((classify, analyse, internal), analyse, "analysis_not_allowed_when_in_resolution"),
    ((classify, analyse, internal, findings, respond), internal,
     "track_not_allowed_when_answered"),
    ((classify,), findings, "findings_requires_analysis"),
    ((classify, analyse, internal, findings, respond), findings,
     "findings_not_allowed_when_answered"),
])
def test_a_step_out_of_order_is_refused(history: tuple[Any, ...], step: Any, rule: str) -> None:
    then_raises(given(receive(), *history), step, RuleViolation, rule)


# -- the findings (seed 6.6.e) ----------------------------------------------------------
def test_the_answer_to_a_complaint_needs_its_findings() -> None:
    # Given a complaint analysed and on its track, the handling plan not yet carried out
    c = given(receive(), classify, analyse, internal)
    # When the officer answers, then it is refused: the answer rests on proven facts
    then_raises(c, respond, RuleViolation, "findings_required")
    # Once the findings are recorded, the answer is taken
    assert when(c, findings) == ["FindingsRecorded"]
    assert when(c, respond) == ["Responded"]


@pytest.mark.parametrize("order", [(internal, findings), (findings, internal)])
def test_findings_come_before_or_after_the_track(order: tuple[Any, Any]) -> None:
    c = given(receive(), classify, analyse, *order)
    assert when(c, respond) == ["Responded"]


def test_the_findings_record_what_was_done_who_was_consulted_and_the_outcome() -> None:
    c = given(receive(), classify, analyse)
    assert when(c, lambda c: c.record_findings(
        ["Konfirmasi ke petugas loket"], ["Petugas loket MPP"], "partly_proven",
        "Pungutan terbukti, jumlahnya tidak", OFFICER, on(8))) == ["FindingsRecorded"]
    assert {k: c.findings[k] for k in ("actions", "consulted", "outcome", "note", "by")} == {
        "actions": ["Konfirmasi ke petugas loket"], "consulted": ["Petugas loket MPP"],
        "outcome": "partly_proven", "note": "Pungutan terbukti, jumlahnya tidak",
        "by": "pelaksana-07"}
    # The status stays: the findings are a record, not a stage of the track.
    assert c.status == "analysed"


def test_the_findings_are_recorded_once() -> None:
    then_raises(given(receive(), classify, analyse, findings), findings, RuleViolation,
                "findings_already_recorded")


@pytest.mark.parametrize(("command", "field"), [
    (lambda c: c.record_findings([], ["x"], "proven", None, OFFICER, on(8)), "actions"),
    (lambda c: c.record_findings([" "], [], "proven", None, OFFICER, on(8)), "actions"),
    (lambda c: c.record_findings(["x"], [], "likely", None, OFFICER, on(8)), "outcome"),
])
def test_findings_input(command: Any, field: str) -> None:
    assert then_raises(given(receive(), classify, analyse), command, InvalidInput).field == field


def test_a_suggestion_has_no_findings_and_is_answered_without_them() -> None:
    c = given(late_suggestion)
    then_raises(c, findings, RuleViolation, "not_a_complaint")
    assert when(c, lambda c: c.respond("Terima kasih", OFFICER, on(4))) == ["Responded"]


# -- closure: the complainant told and the superior reported to (seed 6.8) ----------------
def test_closure_needs_the_report_to_the_direct_superior() -> None:
    c = given(receive(), classify, analyse, internal, findings, respond, notify)
    then_raises(c, close, RuleViolation, "superior_report_required")
    assert when(c, report) == ["ReportedToSuperior"]
    assert when(c, close) == ["Closed"]


@pytest.mark.parametrize(("command", "field"), [
    (lambda c: c.classify("SS-KBLI-10510", "rudeness", OFFICER, on(4)), "problem_type"),
    (lambda c: c.classify(" ", "fee", OFFICER, on(4)), "service_code"),
])
def test_classification_input(command: Any, field: str) -> None:
    assert then_raises(given(receive()), command, InvalidInput).field == field


@pytest.mark.parametrize(("command", "field"), [
    (lambda c: c.analyse("inti", ["SP"], [], "prayer", OFFICER, on(7)), "handling_plan"),
    (lambda c: c.analyse("inti", [], [], "clarification", OFFICER, on(7)), "standard_refs"),
    (lambda c: c.analyse("", ["SP"], [], "clarification", OFFICER, on(7)), "core_problem"),
])
def test_analysis_input(command: Any, field: str) -> None:
    assert then_raises(given(receive(), classify), command, InvalidInput).field == field


# -- tracks and APIP ----------------------------------------------------------------
def test_apip_without_the_head_s_approval_is_refused() -> None:
    then_raises(given(receive(), classify, analyse), apip, RuleViolation,
                "apip_requires_head_approval")


AUDITOR = {"id": "inspektorat-1", "role": "auditor"}
APIP_POLICY = COMMANDS["apip-approval"].policy


def may_approve_apip(who: dict[str, Any], complaint: Complaint) -> None:
    """Who may approve, as the case service checks it: the role, then the case's facts."""
    actor = Actor(**who)
    authorize(APIP_POLICY, actor)
    authorize_case(APIP_POLICY, actor, complaint, NotFound("no complaint"))


def about_the_head(c: Complaint) -> None:
    c.classify("SS-KBLI-10510", "competence", OFFICER, on(4), concerns_head=True)


def test_only_the_head_approves_apip() -> None:
    c = given(receive(), classify, analyse)
    with pytest.raises(Forbidden) as refused:
        authorize(APIP_POLICY, Actor(**OFFICER))
    assert refused.value.rule == "apip_approval_requires_head"
    for who in (SUPERVISOR, AUDITOR):
        with pytest.raises(Forbidden) as refused:
            may_approve_apip(who, c)
        assert refused.value.rule == "apip_approval_requires_head"
    may_approve_apip(HEAD, c)


def test_a_complaint_may_be_flagged_as_concerning_the_head() -> None:
    c = given(receive())
    assert when(c, about_the_head) == ["Classified"]
    assert c.concerns_head and c.classification["concerns_head"] is True
    assert not given(receive(), classify).concerns_head


def test_the_head_cannot_approve_apip_about_himself() -> None:
    # Given a complaint about the head of office, analysed
    c = given(receive(), about_the_head, analyse)
    # When the head approves involving APIP: refused, naming the rule
    with pytest.raises(RuleViolation) as refused:
        may_approve_apip(HEAD, c)
    assert refused.value.rule == "head_cannot_approve_own_case"
    # A supervisor or an auditor records the approval of the authority named
    for who in (SUPERVISOR, AUDITOR):
        may_approve_apip(who, c)
    with pytest.raises(Forbidden):
        authorize(APIP_POLICY, Actor(**OFFICER))


def test_an_approval_about_the_head_names_another_authority() -> None:
    c = given(receive(), about_the_head, analyse)
    for authority in (None, " ", "kepala_dpmptsp"):
        err = then_raises(c, lambda c, a=authority: c.approve_apip(
            "menyangkut kepala dinas", AUDITOR, on(7), authority=a), InvalidInput)
        assert err.field == "authority"
    assert when(c, lambda c: c.approve_apip(
        "menyangkut kepala dinas", AUDITOR, on(7),
        authority="Inspektorat Kabupaten Purwakarta atas persetujuan Bupati")) == [
        "ApipInvolvementApproved"]
    assert c.apip_approval["authority"] == (
        "Inspektorat Kabupaten Purwakarta atas persetujuan Bupati")
    assert c.apip_approval["by"] == "inspektorat-1"
    assert when(c, apip) == ["TrackChosen"]


def test_apip_with_the_head_s_approval() -> None:
    c = given(receive(), classify, analyse)
    assert when(c, approve_apip) == ["ApipInvolvementApproved"]
    assert c.apip_approval["authority"] == "kepala_dpmptsp"
    assert when(c, apip) == ["TrackChosen"]
    assert c.track == "apip"


def test_the_head_of_another_agency_may_approve_apip() -> None:
    c = given(receive(), classify, analyse)
    when(c, lambda c: c.approve_apip("alasan", HEAD, on(7), authority="kepala_dinas_pertanian"))
    assert c.apip_approval["authority"] == "kepala_dinas_pertanian"


def test_an_internal_track_that_fails_may_go_to_apip_once_approved() -> None:
    c = given(receive(), classify, analyse, internal, approve_apip)
    assert when(c, apip) == ["TrackChosen"]
    assert [t["track"] for t in c.track_history] == ["internal", "apip"]


def test_apip_is_approved_once() -> None:
    then_raises(given(receive(), classify, analyse, approve_apip), approve_apip, RuleViolation,
                "apip_already_approved")


def test_the_technical_team_track_names_its_agencies() -> None:
    c = given(receive(), classify, analyse)
    field = then_raises(c, lambda c: c.choose_track("technical_team", [], OFFICER, on(8)),
                        InvalidInput).field
    assert field == "agencies"
    assert when(c, lambda c: c.choose_track("technical_team", ["Dinas Perindustrian"],
                                            OFFICER, on(8))) == ["TrackChosen"]
    assert c.agencies == ["Dinas Perindustrian"]


def test_an_unknown_or_unchanged_track_is_refused() -> None:
    then_raises(given(receive(), classify, analyse),
                lambda c: c.choose_track("court", None, OFFICER, on(8)), InvalidInput)
    then_raises(given(receive(), classify, analyse, internal), internal, RuleViolation,
                "track_unchanged")


# -- tiers (inherited from Case) ------------------------------------------------------
def test_an_officer_escalates_one_tier_at_a_time() -> None:
    c = given(receive(), classify)
    then_raises(c, lambda c: c.escalate("kepala_bidang", "lapor", OFFICER, on(5)),
                RuleViolation, "tier_skip_needs_supervisor")
    assert when(c, lambda c: c.escalate("kepala_seksi", "lapor", OFFICER, on(5))) == ["Escalated"]
    assert c.tier == "kepala_seksi"


def test_a_supervisor_may_skip_a_tier() -> None:
    c = given(receive())
    assert when(c, lambda c: c.escalate("kepala_bidang", "lapor", SUPERVISOR, on(5))) == [
        "Escalated"]
    assert c.tier == "kepala_bidang"


def test_the_superior_report_goes_to_the_tier_above_the_case() -> None:
    c = given(receive(), classify, analyse, internal, findings,
              lambda c: c.escalate("kepala_seksi", "lapor", OFFICER, on(9)), respond)
    when(c, report)
    assert c.superior_reports[0]["from_tier"] == "kepala_seksi"
    assert c.superior_reports[0]["to_tier"] == "kepala_bidang"


# -- the answer and the clock ---------------------------------------------------------
def test_answering_twice_is_refused() -> None:
    then_raises(given(receive(), classify, analyse, internal, findings, respond), respond,
                RuleViolation, "already_answered")


@pytest.mark.parametrize("step", [
    respond, notify, report, close, classify, analyse, internal, approve_apip, findings,
    lambda c: c.assign("pelaksana-08", SUPERVISOR, on(12)),
    lambda c: c.escalate("kepala_seksi", "lapor", OFFICER, on(12)),
])
def test_after_closure_every_step_is_refused(step: Any) -> None:
    then_raises(given(receive(), *HANDLED, close), step, RuleViolation, "case_closed")


def test_the_clock_stops_at_the_response() -> None:
    c = given(receive(), classify, analyse, internal, findings)
    assert c.clock == [Span(start=DAY_30)] and c.finished_at is None
    when(c, respond)
    assert c.clock == [Span(start=DAY_30, end=on(10))]
    assert c.finished_at == on(10)
    # Received Wed 2 July: 14 working days end on Tue 22 July; answered Thu 10 July.
    sla = sla_of(c.clock, c.sla_working_days, WorkingCalendar(), now=on(1, month=9),
                 finished_at=c.finished_at)
    assert (sla.state, sla.working_days_used) == ("met", 6)
    assert sla.due_at == datetime(2025, 7, 23, 0, 0, tzinfo=WIB)


def test_an_answer_after_the_deadline_is_breached() -> None:
    c = given(receive(), classify, analyse, internal, findings)
    when(c, lambda c: c.respond("jawaban", OFFICER, on(23, 9)))
    sla = sla_of(c.clock, 14, WorkingCalendar(), now=on(24), finished_at=c.finished_at)
    assert sla.state == "breached"


# -- suggestions ----------------------------------------------------------------------
def test_a_suggestion_is_not_handled_as_a_complaint() -> None:
    then_raises(given(late_suggestion), classify, RuleViolation, "not_a_complaint")


def test_a_suggestion_may_be_acknowledged_then_closed_and_has_no_clock() -> None:
    c = given(late_suggestion)
    then_raises(c, notify, RuleViolation, "notification_requires_response")
    assert when(c, lambda c: c.respond("Terima kasih atas masukannya", OFFICER, on(4))) == [
        "Responded"]
    assert (c.clock, c.finished_at) == ([], None)
    assert when(c, notify) == ["ComplainantNotified"]
    assert when(c, close) == ["Closed"]


def test_a_suggestion_may_be_closed_directly() -> None:
    c = given(receive(complainant=None))
    assert when(c, lambda c: c.close(None, OFFICER, on(4))) == ["Closed"]
    then_raises(c, lambda c: c.respond("x", OFFICER, on(5)), RuleViolation, "case_closed")
