"""Every step of an application (API.md, "Applications"), one row each: the request, the
aggregate method of `LicenceApplication`, who may, and what the API documents."""

from __future__ import annotations

import msgspec

from contracts.applications import ApplicationIntake
from contracts.vocabulary import APPLICATION_CHANNELS, Verdict
from services.applications.application import ApplicationService, accepted
from services.applications.views import issued
from services.cases.commands import EVERY_CASE, Command, CommandTable, Intake
from services.cases.requests import Note, Reason, WithReason
from services.domain.policy import OWN_CHANNEL, SUPERVISES, WORKS


class FileVerification(msgspec.Struct, kw_only=True):
    results: dict[str, bool]
    """Every requirement code of the service: met or not."""
    note: Note | None = None
    exceptions: dict[str, Reason] = {}
    """For a requirement the catalogue lets be met otherwise, the legal ground, by code
    (U4 outside an industrial estate: the ground under Pasal 65 PP 5/2021)."""


class Resubmission(msgspec.Struct, kw_only=True):
    note: Note | None = None


class ReturnForCorrection(msgspec.Struct, kw_only=True):
    reason: Reason
    unmet: list[str] = []
    """The requirement codes to correct."""


class TechnicalReview(msgspec.Struct, kw_only=True):
    recommendation: Verdict
    note: Note = ""


class Decision(msgspec.Struct, kw_only=True):
    outcome: Verdict
    reason: Note = ""
    """Required for a rejection."""


INTAKE = Intake(
    case_type="application", request=ApplicationIntake, channels=APPLICATION_CHANNELS,
    accepted=accepted,
    summary="Submit an application",
    description="From a channel, for its own channel; idempotent on (channel, external_id): "
                "a repeat answers 200 with the same body and writes nothing.")

COMMANDS = CommandTable(
    Command(
        name="verification", request=FileVerification, call=ApplicationService.verify,
        policy=WORKS, summary="Verify the file against the checklist",
        description="All met: the file is declared complete and the clock starts. Any "
                    "unmet: it goes back to the applicant for correction. A requirement "
                    "marked met against the business's facts is refused naming its rule "
                    "(U1 for a `mikro` or `besar` business: `scale_not_small_or_medium`; U4 "
                    "outside an industrial estate: `not_in_industrial_estate`, unless "
                    "`exceptions.U4` states the ground under Pasal 65 PP 5/2021).",
        conflicts=("verification_not_allowed_when_<status>",),
        invalid=("results", "results.<code>", "exceptions.<code>")),
    Command(
        name="resubmission", request=Resubmission, method="resubmit", policy=OWN_CHANNEL,
        summary="The corrected file is back",
        description="From the channel the application came in on; verification again (a "
                    "paused clock resumes).",
        conflicts=("resubmission_not_allowed_when_<status>",)),
    Command(
        name="withdrawal", request=WithReason, method="withdraw", policy=OWN_CHANNEL,
        summary="The applicant withdraws the application",
        conflicts=("case_closed", "approved_cannot_be_withdrawn")),
    Command(
        name="return", request=ReturnForCorrection, method="return_for_correction",
        policy=WORKS, summary="Send a complete file back to the applicant",
        description="The clock pauses until the applicant resubmits.",
        conflicts=("return_for_correction_not_allowed_when_<status>",),
        invalid=("reason", "unmet")),
    Command(
        name="technical-review", request=TechnicalReview, method="review_technically",
        policy=WORKS, summary="Record the technical review's recommendation",
        conflicts=("technical_review_not_allowed_when_<status>",)),
    Command(
        name="decision", request=Decision, method="decide", policy=SUPERVISES,
        summary="Decide: approve or reject",
        description="A rejection gives its reason and stops the clock.",
        conflicts=("decision_not_allowed_when_<status>",), invalid=("reason",)),
    Command(
        name="issuance", request=None, call=ApplicationService.issue, policy=SUPERVISES,
        answer=issued, summary="Issue the NIB and the signed Sertifikat Standar",
        description="The certificate is signed with the office's key; its "
                    "`verification_url` checks it. The clock is met.",
        conflicts=("issuance_requires_approval",)),
    Command(
        name="certificate-revocation", request=WithReason, method="revoke_certificate",
        policy=SUPERVISES, summary="Revoke the certificate",
        description="The public check then answers `valid: false` with the reason.",
        conflicts=("certificate_revocation_not_allowed_when_<status>", "already_revoked"),
        invalid=("reason",)),
    *EVERY_CASE,
)
