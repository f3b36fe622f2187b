"""Contracts of the complaints service: the intake message (HTTP body and NATS request
on `ptsp.intake.complaint.<channel>`) and every event as it travels on JetStream
(`ptsp.complaints.<tag>`).

Rules (DESIGN.md): frozen, kw_only, an explicit stable tag per event; change by adding
fields with defaults only; an incompatible change is a new tag plus an upcaster. The
contract classes are named like the `Complaint` aggregate's events (the mapping is by
name); the tags are `complaint.<event in snake case>`. An automatic escalation is a
`complaint.escalated` like a manual one, with `automatic: true`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec

from contracts.common import CaseEvent, check_plausible, shared_events
from contracts.vocabulary import (
    COMPLAINTS_UNIT,
    ComplaintChannel,
    ComplaintKind,
    FindingsOutcome,
    SuggestionReason,
    Track,
)

NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Text = Annotated[str, msgspec.Meta(max_length=20_000)]
# Contact details may come blank from a form: blank is "not given" (and may make the
# submission a suggestion, `no_identity`), not an error. Given, they must look right.
Name = Annotated[str, msgspec.Meta(max_length=500)]
Nik = Annotated[str, msgspec.Meta(pattern=r"^(\d{16})?$")]
Email = Annotated[str, msgspec.Meta(pattern=r"^([^@\s]+@[^@\s]+)?$", max_length=254)]
Phone = Annotated[str, msgspec.Meta(pattern=r"^(\+?[0-9 ()-]{6,20})?$")]
Address = Annotated[str, msgspec.Meta(max_length=1000)]



# -- intake -----------------------------------------------------------------------
class Complainant(msgspec.Struct, frozen=True, kw_only=True):
    """Who complains. A name and one way to reach them (phone, e-mail or address) make
    an identity; without them the submission is a suggestion, not an error."""

    name: Name | None
    nik: Nik | None = None
    phone: Phone | None = None
    email: Email | None = None
    address: Address | None = None


class ComplaintIntake(msgspec.Struct, frozen=True, kw_only=True):
    channel: ComplaintChannel
    external_id: NonEmpty
    complainant: Complainant | None
    subject_matter: Text | None
    """The object of the complaint (the service, the officer, the fee...); null: a suggestion."""
    description: Text
    service_received_on: date
    """When the complainant received the service: more than 30 calendar days before
    `received_at`, and the submission is a (late) suggestion."""
    received_at: datetime | None = None
    """When the channel received it (a letter, a box opened later); default: now; not in
    the future. Without an offset it is Asia/Jakarta time."""
    related_application_id: UUID | None = None
    """The application (permohonan) the complaint is about, if any."""

    def __post_init__(self) -> None:
        check_plausible("service_received_on", self.service_received_on)
        check_plausible("received_at", self.received_at)


class ComplaintIntakeAccepted(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    tracking_number: str
    kind: ComplaintKind
    reason: SuggestionReason | None
    reasons: list[SuggestionReason]
    pin: str
    """The secret the channel hands to the complainant: with the tracking number it opens
    `GET /track/{tracking_number}?pin=`. The same on a repeat."""


# -- events -----------------------------------------------------------------------


class Received(CaseEvent, tag="complaint.received", frozen=True):
    """`at` is when the office recorded it, `received_at` when the channel received it:
    the clock of a complaint runs from `received_at`.

    Personal data: `complainant`, `subject_matter` and `description` each carry a sealed
    envelope `{subject, kid, sealed, v}` (services/infra/personal_data.py), not the
    plaintext; null stays null (none was given). `kind` and `reasons` were decided on the
    plaintext before sealing."""

    channel: str
    external_id: str
    tracking_number: str
    complainant: dict[str, Any] | None
    subject_matter: str | dict[str, Any] | None
    description: str | dict[str, Any]
    service_received_on: date
    received_at: datetime
    kind: ComplaintKind
    reasons: list[str]
    sla_working_days: int
    related_application_id: str | None = None
    unit: str = COMPLAINTS_UNIT


class Reclassified(CaseEvent, tag="complaint.reclassified", frozen=True):
    """A late suggestion treated as a complaint after all. Both instants are recorded:
    `received_at` (when the channel received it) and `at` (the decision, when the office
    takes it on): the 14 working days count from `at`. (`received_at` is null only in
    events recorded before it was carried, whose clock counted from receipt.)"""

    reason: str
    received_at: datetime | None = None


class Classified(CaseEvent, tag="complaint.classified", frozen=True):
    service_code: str
    problem_type: str
    concerns_head: bool = False
    """The complaint is about the head of office: he may not approve involving APIP."""


class Analysed(CaseEvent, tag="complaint.analysed", frozen=True):
    core_problem: str
    standard_refs: list[str]
    documents_checked: list[str]
    handling_plan: str


class FindingsRecorded(CaseEvent, tag="complaint.findings_recorded", frozen=True):
    """Seed 6.6.e: the handling plan carried out (clarification, confirmation,
    examination or investigation): what was done, who and what was consulted, and what
    it proved."""

    actions: list[str]
    consulted: list[str]
    outcome: FindingsOutcome
    note: str | None = None


class ApipInvolvementApproved(CaseEvent, tag="complaint.apip_involvement_approved", frozen=True):
    reason: str
    authority: str


class TrackChosen(CaseEvent, tag="complaint.track_chosen", frozen=True):
    track: Track
    agencies: list[str] = []


class Responded(CaseEvent, tag="complaint.responded", frozen=True):
    text: str


class ComplainantNotified(CaseEvent, tag="complaint.complainant_notified", frozen=True):
    channel: str


class ReportedToSuperior(CaseEvent, tag="complaint.reported_to_superior", frozen=True):
    text: str
    to_tier: str | None = None


class Closed(CaseEvent, tag="complaint.closed", frozen=True):
    note: str | None = None


# Assignment, escalation and personal data (UU 27/2022): as for every case type.
(Assigned, Escalated, AuditHoldPlaced, AuditHoldReleased, PersonalDataErased, ErasureRefused,
 NotificationDelivered) = shared_events("complaint", __name__)


class ConfidentialityMarked(CaseEvent, tag="complaint.confidentiality_marked", frozen=True):
    """The complainant's identity is confidential: handling staff no longer see it."""

    reason: str


EVENT_TYPES: tuple[type[CaseEvent], ...] = (
    Received, Reclassified, Classified, Analysed, FindingsRecorded, ApipInvolvementApproved,
    TrackChosen, Responded, ComplainantNotified, ReportedToSuperior, Closed, Assigned, Escalated,
    AuditHoldPlaced, AuditHoldReleased, PersonalDataErased, ErasureRefused, ConfidentialityMarked,
    NotificationDelivered,
)
