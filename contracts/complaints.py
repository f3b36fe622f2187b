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
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from contracts.common import CaseEvent, check_plausible

NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Text = Annotated[str, msgspec.Meta(max_length=20_000)]
# Contact details may come blank from a form: blank is "not given" (and may make the
# submission a suggestion, `no_identity`), not an error. Given, they must look right.
Name = Annotated[str, msgspec.Meta(max_length=500)]
Nik = Annotated[str, msgspec.Meta(pattern=r"^(\d{16})?$")]
Email = Annotated[str, msgspec.Meta(pattern=r"^([^@\s]+@[^@\s]+)?$", max_length=254)]
Phone = Annotated[str, msgspec.Meta(pattern=r"^(\+?[0-9 ()-]{6,20})?$")]
Address = Annotated[str, msgspec.Meta(max_length=1000)]

ComplaintChannel = Literal[
    "officer", "mpp_counter", "letter", "phone", "sms", "whatsapp", "email", "twitter",
    "instagram", "web_dpmptsp", "web_mpp", "form", "complaint_box",
]


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
    kind: Literal["complaint", "suggestion"]
    reason: Literal["late", "no_identity", "no_subject_matter"] | None
    reasons: list[Literal["late", "no_identity", "no_subject_matter"]]


# -- events -----------------------------------------------------------------------


class Received(CaseEvent, tag="complaint.received"):
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
    kind: Literal["complaint", "suggestion"]
    reasons: list[str]
    sla_working_days: int
    related_application_id: str | None = None
    unit: str = "pengaduan"


class Reclassified(CaseEvent, tag="complaint.reclassified"):
    """A late suggestion treated as a complaint after all; its clock runs from receipt."""

    reason: str


class Classified(CaseEvent, tag="complaint.classified"):
    service_code: str
    problem_type: str


class Analysed(CaseEvent, tag="complaint.analysed"):
    core_problem: str
    standard_refs: list[str]
    documents_checked: list[str]
    handling_plan: str


class ApipInvolvementApproved(CaseEvent, tag="complaint.apip_involvement_approved"):
    reason: str
    authority: str


class TrackChosen(CaseEvent, tag="complaint.track_chosen"):
    track: Literal["internal", "technical_team", "apip"]
    agencies: list[str] = []


class Responded(CaseEvent, tag="complaint.responded"):
    text: str


class ComplainantNotified(CaseEvent, tag="complaint.complainant_notified"):
    channel: str


class ReportedToSuperior(CaseEvent, tag="complaint.reported_to_superior"):
    text: str
    to_tier: str | None = None


class Closed(CaseEvent, tag="complaint.closed"):
    note: str | None = None


class Assigned(CaseEvent, tag="complaint.assigned"):
    officer: str


class Escalated(CaseEvent, tag="complaint.escalated"):
    from_tier: str
    to_tier: str
    reason: str
    automatic: bool = False
    clock_span: int | None = None   # set on automatic escalations: which run of the clock breached


# -- personal data (UU 27/2022) -------------------------------------------------------
class AuditHoldPlaced(CaseEvent, tag="complaint.audit_hold_placed"):
    """An audit is pending: erasing the case's personal data is refused until released."""

    reason: str


class AuditHoldReleased(CaseEvent, tag="complaint.audit_hold_released"):
    reason: str


class PersonalDataErased(CaseEvent, tag="complaint.personal_data_erased"):
    """The keys of the case's data subjects were deleted (crypto-shredding): every
    envelope sealed under them, on this case and every other case of the same subject,
    now opens as erased. Carries subject ids (pseudonyms), never the data."""

    subjects: list[str]
    reason: str
    keys_erased: int = 0


class ErasureRefused(CaseEvent, tag="complaint.erasure_refused"):
    """An erasure asked for with `reason` was refused (`rule`: `audit_hold`)."""

    reason: str
    rule: str
    hold_reason: str | None = None


class ConfidentialityMarked(CaseEvent, tag="complaint.confidentiality_marked"):
    """The complainant's identity is confidential: handling staff no longer see it."""

    reason: str


ComplaintEvent = (
    Received | Reclassified | Classified | Analysed | ApipInvolvementApproved | TrackChosen
    | Responded | ComplainantNotified | ReportedToSuperior | Closed | Assigned | Escalated
    | AuditHoldPlaced | AuditHoldReleased | PersonalDataErased | ErasureRefused | ConfidentialityMarked
)
EVENT_TYPES: tuple[type[CaseEvent], ...] = (
    Received, Reclassified, Classified, Analysed, ApipInvolvementApproved, TrackChosen,
    Responded, ComplainantNotified, ReportedToSuperior, Closed, Assigned, Escalated,
    AuditHoldPlaced, AuditHoldReleased, PersonalDataErased, ErasureRefused, ConfidentialityMarked,
)
decoder = msgspec.json.Decoder(ComplaintEvent)
