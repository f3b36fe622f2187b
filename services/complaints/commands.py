"""Every step of a complaint (API.md, "Complaints (pengaduan)"; the seed's Standar
Pelayanan point 6), one row each: the request, the aggregate method of `Complaint`, who
may, and what the API documents."""

from __future__ import annotations

import msgspec

from contracts.complaints import ComplaintIntake
from contracts.vocabulary import (
    COMPLAINT_CHANNELS,
    ComplaintChannel,
    FindingsOutcome,
    HandlingPlan,
    ProblemType,
)
from contracts.vocabulary import Track as TrackName
from services.cases.commands import EVERY_CASE, Command, CommandTable, Intake
from services.cases.requests import Note, Reason, Short, WithReason
from services.complaints.application import ComplaintService, accepted
from services.domain.policy import APPROVES_APIP, RECLASSIFIES, WORKS


class Classification(msgspec.Struct, kw_only=True):
    service_code: Short
    problem_type: ProblemType
    concerns_head: bool = False
    """The complaint is about the head of office himself: he may not approve involving
    APIP about it; a supervisor or an auditor records another authority's approval."""


class Analysis(msgspec.Struct, kw_only=True):
    core_problem: Reason
    standard_refs: list[Short]
    documents_checked: list[Short] = []
    handling_plan: HandlingPlan


class Findings(msgspec.Struct, kw_only=True):
    actions: list[Short]
    """What was done: the clarification, confirmation, examination or investigation."""
    consulted: list[Short] = []
    """The documents and the people consulted."""
    outcome: FindingsOutcome
    note: Note | None = None


class ApipApproval(msgspec.Struct, kw_only=True):
    reason: Reason
    authority: Short | None = None
    """The approving head: of DPMPTSP by default (`kepala_dpmptsp`), or of the agency named;
    for a complaint that concerns the head, the authority that approved (free text, e.g.
    the regent's inspectorate), required."""


class Track(msgspec.Struct, kw_only=True):
    track: TrackName
    agencies: list[Short] | None = None


class WithText(msgspec.Struct, kw_only=True):
    text: Reason


class ComplainantNotification(msgspec.Struct, kw_only=True):
    channel: ComplaintChannel


class Closure(msgspec.Struct, kw_only=True):
    note: Note | None = None


INTAKE = Intake(
    case_type="complaint", request=ComplaintIntake, channels=COMPLAINT_CHANNELS,
    accepted=accepted,
    summary="Submit a complaint",
    description="From a channel, for its own channel; idempotent on (channel, external_id). "
                "A late, anonymous or objectless submission is recorded as a suggestion, "
                "and says why (`reason`, `reasons`).")

COMMANDS = CommandTable(
    Command(
        name="reclassification", request=WithReason, method="reclassify",
        policy=RECLASSIFIES, summary="Treat a late suggestion as a complaint",
        description="Only a suggestion that is late and nothing else; the reason is "
                    "recorded, and the 14 working days count from this decision.",
        conflicts=("already_a_complaint", "reclassification_only_when_only_late",
                   "reclassification_not_allowed_when_<status>", "case_closed"),
        invalid=("reason",)),
    Command(
        name="classification", request=Classification, call=ComplaintService.classify,
        policy=WORKS, summary="Classify: the service and the problem type",
        description="`concerns_head: true` flags a complaint about the head of office: its "
                    "APIP approval is then another authority's.",
        conflicts=("classification_not_allowed_when_<status>", "not_a_complaint",
                   "case_closed"),
        invalid=("service_code",)),
    Command(
        name="analysis", request=Analysis, method="analyse", policy=WORKS,
        summary="Record the analysis and the handling plan",
        conflicts=("analysis_requires_classification", "analysis_not_allowed_when_<status>",
                   "not_a_complaint", "case_closed"),
        invalid=("core_problem", "standard_refs")),
    Command(
        name="findings", request=Findings, method="record_findings", policy=WORKS,
        summary="Record the findings: the handling plan carried out, and what it proved",
        description="Seed 6.6.e. Once, after the analysis and before the answer (before or "
                    "after the track); the answer to a complaint needs it.",
        conflicts=("findings_requires_analysis", "findings_not_allowed_when_<status>",
                   "findings_already_recorded", "not_a_complaint", "case_closed"),
        invalid=("actions", "outcome")),
    Command(
        name="apip-approval", request=ApipApproval, method="approve_apip",
        policy=APPROVES_APIP, summary="The head approves involving APIP (the Inspektorat)",
        description="For a complaint that concerns the head: a supervisor or an auditor "
                    "records the approval of the authority named in `authority`; the head's "
                    "own approval is refused (`head_cannot_approve_own_case`).",
        conflicts=("apip_approval_requires_analysis", "apip_approval_not_allowed_when_<status>",
                   "apip_already_approved", "head_cannot_approve_own_case", "not_a_complaint",
                   "case_closed"),
        invalid=("reason", "authority")),
    Command(
        name="track", request=Track, method="choose_track", policy=WORKS,
        summary="Choose the resolution track",
        description="`internal`, `technical_team` (naming the agencies) or `apip` (after "
                    "the head's approval); it may change until the answer.",
        conflicts=("track_requires_analysis", "track_not_allowed_when_<status>",
                   "apip_requires_head_approval", "track_unchanged", "not_a_complaint",
                   "case_closed"),
        invalid=("agencies",)),
    Command(
        name="response", request=WithText, method="respond", policy=WORKS,
        summary="Answer the complainant",
        description="Meets the clock; a complaint needs its findings first. A suggestion "
                    "may be answered at any time.",
        conflicts=("already_answered", "response_requires_track", "findings_required",
                   "case_closed"),
        invalid=("text",)),
    Command(
        name="complainant-notification", request=ComplainantNotification,
        method="notify_complainant", policy=WORKS,
        summary="The result was told to the complainant",
        conflicts=("notification_requires_response", "case_closed")),
    Command(
        name="superior-report", request=WithText, method="report_to_superior", policy=WORKS,
        summary="Report the result to the direct superior",
        conflicts=("superior_report_requires_response", "case_closed"), invalid=("text",)),
    Command(
        name="closure", request=Closure, method="close", policy=WORKS, body_optional=True,
        summary="Close the case",
        description="`{note?}`; the body may be left out. A complaint needs the answer, "
                    "the complainant told and the report to the direct superior; a "
                    "suggestion closes at any time.",
        conflicts=("closure_requires_response", "closure_requires_notification",
                   "superior_report_required", "case_closed")),
    *EVERY_CASE,
)
