"""The licence application's rules (DOMAIN.md, API.md) as given / when / then on the
events of the `LicenceApplication` aggregate."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from services.applications.catalogue import Catalogue
from services.applications.domain import (
    LicenceApplication,
    application_id,
    certificate_payload,
    nib_of,
)
from services.domain.clock import JAKARTA
from services.domain.errors import InvalidInput, RuleViolation
from services.domain.sla import sla_of
from services.domain.workdays import WorkingCalendar
from tests.unit.gwt import given, then_raises, when

CODES = ["U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4"]
ALL_MET = dict.fromkeys(CODES, True)
OSS = {"id": "oss-gateway", "role": "channel", "channel": "oss"}
OFFICER = {"id": "budi", "role": "officer", "tier": "pelaksana", "unit": "perizinan"}
SUPERVISOR = {"id": "sri", "role": "supervisor"}


def on(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=JAKARTA)


def submitted() -> LicenceApplication:
    return LicenceApplication(
        channel="oss", external_id="OSS-1", service_code="SS-KBLI-10510",
        requirement_codes=CODES, sla_working_days=7, unit="perizinan",
        applicant={"name": "Siti"}, business={"name": "CV Susu", "kbli": "10510"},
        actor=OSS, at=on("2026-03-16T09:00"))


Step = Callable[[LicenceApplication], Any]
# The steps of a case, named once: they read as a table (hence lambdas, not defs).
verify_all: Step = lambda a: a.verify(ALL_MET, None, OFFICER, on("2026-03-17T10:00"))  # noqa: E731 - a table
verify_unmet: Step = lambda a: a.verify(  # noqa: E731 - a table
    {**ALL_MET, "K1": False}, "no facilities", OFFICER, on("2026-03-17T10:00"))
resubmit: Step = lambda a: a.resubmit("fixed", OSS, on("2026-03-25T09:00"))  # noqa: E731 - a table
review: Step = lambda a: a.review_technically(  # noqa: E731 - a table
    "approve", "ok", OFFICER, on("2026-03-26T10:00"))
approve: Step = lambda a: a.decide(  # noqa: E731 - a table
    "approve", "ok", SUPERVISOR, on("2026-03-27T10:00"))
reject: Step = lambda a: a.decide(  # noqa: E731 - a table
    "reject", "facilities lacking", SUPERVISOR, on("2026-03-27T10:00"))


def issue(a: LicenceApplication) -> None:
    payload = certificate_payload(a, "SS-1", "0000000000001", on("2026-03-30T10:00"))
    a.issue({**payload, "signature": "sig"}, SUPERVISOR, on("2026-03-30T10:00"))


def test_intake_is_one_submitted_event_with_an_id_from_channel_and_external_id() -> None:
    app = submitted()
    assert [type(e).__name__ for e in app.collect_events()] == ["Submitted"]
    assert app.id == application_id("oss", "OSS-1") != application_id("mpp_counter", "OSS-1")
    assert app.status == "awaiting_verification" and app.tier == "pelaksana"


def test_all_requirements_met_declares_the_file_complete_and_starts_the_clock() -> None:
    app = given(submitted)
    assert when(app, verify_all) == ["FileDeclaredComplete"]
    assert app.status == "complete" and app.declared_complete_at == on("2026-03-17T10:00")


def test_any_unmet_requirement_returns_the_file_and_the_clock_does_not_run() -> None:
    app = given(submitted)
    assert when(app, verify_unmet) == ["FileReturnedForCorrection"]
    assert app.status == "returned_for_correction" and app.unmet == ["K1"]
    assert sla_of(app.clock, 7, WorkingCalendar(), on("2026-04-30T10:00")).state == "not_started"


def test_resubmission_brings_the_file_back_to_verification() -> None:
    app = given(submitted, verify_unmet)
    assert when(app, resubmit) == ["Resubmitted"]
    assert app.status == "awaiting_verification" and app.clock == []
    assert when(app, verify_all) == ["FileDeclaredComplete"]
    assert app.declared_complete_at == on("2026-03-17T10:00")


def test_verifying_twice_is_refused() -> None:
    app = given(submitted, verify_all)
    then_raises(app, verify_all, RuleViolation, "verification_not_allowed_when_complete")


def test_the_checklist_must_answer_every_requirement_and_nothing_else() -> None:
    app = given(submitted)
    err = then_raises(app, lambda a: a.verify({"U1": True}, None, OFFICER, on("2026-03-17T10:00")),
                      InvalidInput)
    assert err.field == "results" and "K4" in err.detail
    then_raises(app, lambda a: a.verify({**ALL_MET, "X9": True}, None, OFFICER,
                                        on("2026-03-17T10:00")), InvalidInput)


def test_review_decision_issuance_in_order() -> None:
    app = given(submitted, verify_all)
    assert when(app, review) == ["TechnicallyReviewed"]
    assert when(app, approve) == ["Decided"]
    assert when(app, issue) == ["CertificateIssued"]
    assert app.status == "issued" and app.finished_at == on("2026-03-30T10:00")
    later = on("2026-05-01T00:00")
    assert sla_of(app.clock, 7, WorkingCalendar(), later, app.finished_at).state == "met"


@pytest.mark.parametrize(("steps", "step", "rule"), [
    ((), review, "technical_review_not_allowed_when_awaiting_verification"),
    ((verify_all,), approve, "decision_not_allowed_when_complete"),
    ((verify_all, review), issue, "issuance_requires_approval"),
    ((verify_all, review, reject), issue, "issuance_requires_approval"),
    ((), resubmit, "resubmission_not_allowed_when_awaiting_verification"),
])
def test_steps_out_of_order_are_refused_with_the_rule_named(steps: tuple[Step, ...], step: Step,
                                                            rule: str) -> None:
    app = given(submitted, *steps)
    then_raises(app, step, RuleViolation, rule)


def test_rejection_stops_the_clock_and_closes_the_case() -> None:
    app = given(submitted, verify_all, review)
    assert when(app, reject) == ["Decided"]
    assert app.status == "rejected" and app.is_closed
    then_raises(app, lambda a: a.withdraw("late", OSS, on("2026-03-28T10:00")), RuleViolation,
                "case_closed")


def test_a_rejection_must_give_its_reason() -> None:
    app = given(submitted, verify_all, review)
    err = then_raises(app, lambda a: a.decide("reject", " ", SUPERVISOR, on("2026-03-27T10:00")),
                      InvalidInput)
    assert err.field == "reason"


def test_the_office_returning_a_complete_file_pauses_the_clock_and_resubmission_resumes_it() -> None:  # noqa: E501 - the name is the rule
    app = given(submitted, verify_all)  # complete Tue 17 Mar
    assert when(app, lambda a: a.return_for_correction(
        "fix K2", ["K2"], OFFICER, on("2026-03-26T11:00"))) == ["FileReturnedForCorrection"]
    cal = WorkingCalendar()
    paused = sla_of(app.clock, 7, cal, on("2026-04-01T10:00"))
    assert paused.state == "paused" and paused.working_days_used == 2   # 25, 26 Mar
    assert when(app, lambda a: a.resubmit(None, OSS, on("2026-04-06T09:00"))) == ["Resubmitted"]
    when(app, lambda a: a.verify(ALL_MET, None, OFFICER, on("2026-04-06T10:00")))
    running = sla_of(app.clock, 7, cal, on("2026-04-06T12:00"))
    # 5 working days left, counted from Mon 6 Apr: 7, 8, 9, 10, 13 Apr.
    assert running.state == "running" and running.due_at == on("2026-04-14T00:00")
    assert app.declared_complete_at == on("2026-03-17T10:00")


def test_withdrawal_ends_an_open_application() -> None:
    app = given(submitted, verify_all)
    assert when(app, lambda a: a.withdraw("no longer needed", OSS, on("2026-03-18T10:00"))) \
        == ["Withdrawn"]
    assert app.status == "withdrawn"
    then_raises(app, verify_all, RuleViolation)


def test_escalation_moves_one_tier_up_and_a_skip_needs_a_supervisor() -> None:
    app = given(submitted, verify_all)
    then_raises(app, lambda a: a.escalate("kepala_bidang", "urgent", OFFICER,
                                          on("2026-03-20T10:00")),
                RuleViolation, "tier_skip_needs_supervisor")
    assert when(app, lambda a: a.escalate("kepala_seksi", "laporan", OFFICER,
                                          on("2026-03-20T10:00"))) == ["Escalated"]
    assert app.tier == "kepala_seksi" and app.assignee is None
    assert when(app, lambda a: a.escalate("kepala_dinas", "berlarut", SUPERVISOR,
                                          on("2026-03-25T10:00"))) == ["Escalated"]
    assert app.tier == "kepala_dinas"
    then_raises(app, lambda a: a.escalate("kepala_dinas", "again", SUPERVISOR,
                                          on("2026-03-26T10:00")),
                RuleViolation, "escalation_must_move_up")
    assert [h["tier"] for h in app.tier_history] == ["pelaksana", "kepala_seksi"]


def test_an_escalation_needs_a_written_report() -> None:
    app = given(submitted)
    err = then_raises(app, lambda a: a.escalate("kepala_seksi", "", OFFICER,
                                                on("2026-03-20T10:00")), InvalidInput)
    assert err.field == "reason"


def test_assignment_names_the_officer() -> None:
    app = given(submitted)
    assert when(app, lambda a: a.assign("budi", SUPERVISOR, on("2026-03-16T10:00"))) == ["Assigned"]
    assert app.assignee == "budi"


def test_revoking_an_issued_certificate_once() -> None:
    app = given(submitted, verify_all, review, approve, issue)
    assert when(app, lambda a: a.revoke_certificate("fraud", SUPERVISOR,
                                                    on("2026-04-10T10:00"))) \
        == ["CertificateRevoked"]
    then_raises(app, lambda a: a.revoke_certificate("again", SUPERVISOR, on("2026-04-11T10:00")),
                RuleViolation, "already_revoked")


def test_every_event_records_who_and_when() -> None:
    app = given(submitted)
    verify_all(app)
    (event,) = app.collect_events()
    assert event.actor == OFFICER and event.at == on("2026-03-17T10:00")


def test_no_event_is_stamped_before_the_event_it_follows() -> None:
    # Given a case whose last event happened at 10:00 (replayed from its events)
    app = given(submitted, verify_all)
    assert app.last_at == on("2026-03-17T10:00")
    # A clock a moment behind it (another worker's) stamps the next event at 10:00...
    assert app.next_stamp(on("2026-03-17T09:59")) == on("2026-03-17T10:00")
    # ...a clock ahead of it is taken as it is.
    assert app.next_stamp(on("2026-03-17T10:01")) == on("2026-03-17T10:01")


# -- the procedure classification is kept with the case (issue 12, item 13) ---------------
def test_the_procedure_classification_is_kept_with_the_case() -> None:
    app = given(lambda: LicenceApplication(
        channel="oss", external_id="OSS-2", service_code="SS-KBLI-10510",
        requirement_codes=CODES, sla_working_days=7, unit="perizinan",
        applicant={"name": "Siti"}, business={"name": "CV Susu", "kbli": "10510"},
        actor=OSS, at=on("2026-03-16T09:00"), procedure_classification=12))
    assert app.procedure_classification == 12
    assert given(submitted).procedure_classification is None


# -- scale and location against the requirements (issue 12, item 16) ---------------------
CONDITIONS = Catalogue.load().get("SS-KBLI-10510").conditions  # type: ignore[union-attr]


def of_business(scale: str = "kecil", in_industrial_estate: bool = True,
                **more: Any) -> Callable[[], LicenceApplication]:
    return lambda: LicenceApplication(
        channel="oss", external_id="OSS-3", service_code="SS-KBLI-10510",
        requirement_codes=CODES, sla_working_days=7, unit="perizinan",
        applicant={"name": "Siti"},
        business={"name": "CV Susu", "kbli": "10510", "scale": scale,
                  "in_industrial_estate": in_industrial_estate, **more},
        actor=OSS, at=on("2026-03-16T09:00"))


def checked(results: dict[str, bool], exceptions: dict[str, str] | None = None) -> Step:
    return lambda a: a.verify(results, None, OFFICER, on("2026-03-17T10:00"),
                              conditions=CONDITIONS, exceptions=exceptions)


def test_the_catalogue_ties_u1_to_the_scale_and_u4_to_the_location() -> None:
    assert {(c.code, c.field, c.rule, c.exception) for c in CONDITIONS} == {
        ("U1", "scale", "scale_not_small_or_medium", None),
        ("U4", "in_industrial_estate", "not_in_industrial_estate",
         "Pasal 65 PP Nomor 5 Tahun 2021")}


@pytest.mark.parametrize("scale", ["mikro", "besar"])
def test_u1_cannot_be_met_by_a_micro_or_large_business(scale: str) -> None:
    # Given a micro or a large business (U1: "skala usaha kecil atau menengah")
    app = given(of_business(scale=scale))
    # When the officer marks U1 met, then verification is refused, naming the rule
    err = then_raises(app, checked(ALL_MET), InvalidInput, "scale_not_small_or_medium")
    assert err.field == "results.U1"
    # Marked unmet, the file goes back to the applicant as usual
    assert when(app, checked({**ALL_MET, "U1": False})) == ["FileReturnedForCorrection"]


@pytest.mark.parametrize("scale", ["kecil", "menengah"])
def test_u1_is_met_by_a_small_or_medium_business(scale: str) -> None:
    assert when(given(of_business(scale=scale)), checked(ALL_MET)) == ["FileDeclaredComplete"]


def test_u4_cannot_be_met_outside_an_industrial_estate_without_the_exception_s_ground() -> None:
    # Given a business outside an industrial estate
    app = given(of_business(in_industrial_estate=False))
    # When the officer marks U4 met, then verification is refused, naming the rule
    err = then_raises(app, checked(ALL_MET), InvalidInput, "not_in_industrial_estate")
    assert err.field == "results.U4" and "Pasal 65" in err.detail
    # Unless the officer states the ground of the seed's exception (Pasal 65 PP 5/2021),
    # which is kept with the verification
    ground = "Industri kecil; Pasal 65 ayat (2) huruf c"
    assert when(app, checked(ALL_MET, {"U4": ground})) == ["FileDeclaredComplete"]
    assert app.verifications[-1]["exceptions"] == {"U4": ground}


def test_an_exception_is_only_for_a_requirement_that_allows_one() -> None:
    app = given(of_business(scale="besar"))
    err = then_raises(app, checked(ALL_MET, {"U1": "usaha besar"}), InvalidInput)
    assert err.field == "exceptions.U1"
    err = then_raises(given(of_business(in_industrial_estate=False)),
                      checked(ALL_MET, {"U4": " "}), InvalidInput)
    assert err.field == "exceptions.U4"


# -- the NIB belongs to the business (issue 12, item 14) -----------------------------------
def test_a_nib_given_at_intake_is_the_business_s_and_a_missing_one_is_marked_derived() -> None:
    assert nib_of(given(of_business(nib="9120001234567"))) == "9120001234567"
    assert nib_of(given(of_business())) is None
    app = given(of_business(nib="9120001234567"))
    assert certificate_payload(app, "SS-1", "9120001234567", on("2026-03-30T10:00"),
                               "given")["nib_source"] == "given"
    # A certificate signed before the source was recorded keeps its signed payload.
    assert "nib_source" not in certificate_payload(app, "SS-1", "1", on("2026-03-30T10:00"))
