"""What the complaints service answers: the complaint view (the complainant's identity
masked for whoever may not see it). The intake's answer is the contract's
`ComplaintIntakeAccepted`. Field names and order are the API's."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, TypedDict

import msgspec

from contracts.vocabulary import (
    ComplaintChannel,
    ComplaintKind,
    FindingsOutcome,
    HandlingPlan,
    ProblemType,
    SuggestionReason,
    Tier,
    Track,
)
from services.cases.views import AuditHold, PersonalDataErasure, TierStep
from services.domain.actors import Actor
from services.domain.policy import SEES_CONFIDENTIAL_IDENTITY, SEES_IDENTITY
from services.domain.sla import Sla

MASKED = "***"


def mask_identity(complainant: dict[str, Any] | None, actor: Actor,
                  confidential: bool = False) -> dict[str, Any] | None:
    """The complainant as `actor` may see them: in full, or every given detail masked
    (so a reader still knows which ways to reach them exist). Erased stays erased."""
    allowed = SEES_CONFIDENTIAL_IDENTITY if confidential else SEES_IDENTITY
    if complainant is None or actor.role in allowed or complainant.get("erased") is True:
        return complainant
    return {key: MASKED if value else value for key, value in complainant.items()}


class Stamp(TypedDict):
    """Who recorded a step, and when; the base of the step records below."""

    by: str
    at: datetime


class Confidentiality(Stamp):
    reason: str


class ReclassificationRecord(Stamp):
    """`at` is the decision, from which the 14 working days count; `received_at` the
    receipt."""

    from_reasons: list[SuggestionReason]
    reason: str
    received_at: datetime


class ClassificationRecord(Stamp):
    service_code: str
    problem_type: ProblemType
    concerns_head: bool


class AnalysisRecord(Stamp):
    core_problem: str
    standard_refs: list[str]
    documents_checked: list[str]
    handling_plan: HandlingPlan


class FindingsRecord(Stamp):
    """Seed 6.6.e: the handling plan carried out, and what it proved."""

    actions: list[str]
    consulted: list[str]
    outcome: FindingsOutcome
    note: str | None


class ApipApprovalRecord(Stamp):
    reason: str
    authority: str


class TrackStep(Stamp):
    track: Track
    agencies: list[str]


class ResponseRecord(Stamp):
    text: str


class NotificationRecord(Stamp):
    channel: ComplaintChannel


class SuperiorReport(Stamp):
    text: str
    from_tier: Tier
    to_tier: Tier | None


class ClosureRecord(Stamp):
    note: str | None


class RelatedApplication(TypedDict):
    """The application the complaint names, as it stands now (its status may be null
    when it can no longer be read)."""

    id: str
    tracking_number: str | None
    status: str | None
    link: str


class ComplaintView(msgspec.Struct, kw_only=True):
    """A complaint (or suggestion) as it stands (`GET /complaints/{id}` and every step's
    answer)."""

    id: str
    tracking_number: str
    kind: ComplaintKind
    reason: SuggestionReason | None
    """Why it is a suggestion (the first of `reasons`); null for a complaint."""
    reasons: list[SuggestionReason]
    intake_reasons: list[SuggestionReason]
    """What intake found, kept after a reclassification empties `reasons`."""
    status: str
    unit: str
    channel: ComplaintChannel
    external_id: str
    complainant: dict[str, Any] | None
    """Name, NIK, phone, e-mail, address; each given one `***` for a role that may not see
    it; `{"erased": true}` once erased."""
    subject_matter: str | dict[str, Any] | None
    description: str | dict[str, Any]
    confidentiality: Confidentiality | None
    audit_hold: AuditHold | None
    personal_data_erasure: PersonalDataErasure | None
    service_received_on: date
    received_at: datetime
    recorded_at: datetime
    related_application: RelatedApplication | None
    tier: Tier
    tier_history: list[TierStep]
    assignee: str | None
    sla: Sla
    reclassification: ReclassificationRecord | None
    classification: ClassificationRecord | None
    analysis: AnalysisRecord | None
    findings: FindingsRecord | None
    apip_approval: ApipApprovalRecord | None
    track: Track | None
    agencies: list[str]
    track_history: list[TrackStep]
    response: ResponseRecord | None
    notifications: list[NotificationRecord]
    superior_reports: list[SuperiorReport]
    closure: ClosureRecord | None
    version: int
