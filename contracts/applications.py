"""Contracts of the applications service: the intake message (HTTP body and NATS
request on `ptsp.intake.application.<channel>`) and every event as it travels on
JetStream (`ptsp.applications.<tag>`).

Rules (DESIGN.md): frozen, kw_only, an explicit stable tag per event; change by adding
fields with defaults only; an incompatible change is a new tag plus an upcaster.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from contracts.common import CaseEvent

NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Text = Annotated[str, msgspec.Meta(max_length=20_000)]


# -- intake -----------------------------------------------------------------------
class Applicant(msgspec.Struct, frozen=True, kw_only=True):
    name: NonEmpty
    nik: Annotated[str, msgspec.Meta(pattern=r"^\d{16}$")] | None = None
    email: Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)] | None = None
    phone: Annotated[str, msgspec.Meta(pattern=r"^\+?[0-9 ()-]{6,20}$")] | None = None


class Business(msgspec.Struct, frozen=True, kw_only=True):
    name: NonEmpty
    kbli: Annotated[str, msgspec.Meta(pattern=r"^\d{5}$")]
    scale: Literal["mikro", "kecil", "menengah", "besar"]
    in_industrial_estate: bool
    address: NonEmpty


class ApplicationIntake(msgspec.Struct, frozen=True, kw_only=True):
    channel: Literal["oss", "mpp_counter", "web_dpmptsp", "web_mpp"]
    external_id: NonEmpty
    service_code: NonEmpty
    applicant: Applicant
    business: Business
    procedure_classification: int | None = None


class IntakeAccepted(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    tracking_number: str
    status: str


# -- events -----------------------------------------------------------------------


class Submitted(CaseEvent, tag="application.submitted"):
    channel: str
    external_id: str
    service_code: str
    tracking_number: str
    unit: str
    sla_working_days: int
    applicant: dict[str, Any]
    """A sealed envelope `{subject, kid, sealed, v}` of the applicant's identity
    (services/infra/personal_data.py), never the plaintext. `business` is not personal
    data and stays clear."""
    business: dict[str, Any]


class FileDeclaredComplete(CaseEvent, tag="application.file_declared_complete"):
    results: dict[str, bool]
    note: str | None = None


class FileReturnedForCorrection(CaseEvent, tag="application.file_returned_for_correction"):
    unmet: list[str]
    results: dict[str, bool] | None = None
    note: str | None = None


class Resubmitted(CaseEvent, tag="application.resubmitted"):
    note: str | None = None


class TechnicallyReviewed(CaseEvent, tag="application.technically_reviewed"):
    recommendation: Literal["approve", "reject"]
    note: str


class Decided(CaseEvent, tag="application.decided"):
    outcome: Literal["approve", "reject"]
    reason: str


class CertificateIssued(CaseEvent, tag="application.certificate_issued"):
    certificate: dict[str, Any]


class CertificateRevoked(CaseEvent, tag="application.certificate_revoked"):
    reason: str


class Withdrawn(CaseEvent, tag="application.withdrawn"):
    reason: str


class Assigned(CaseEvent, tag="application.assigned"):
    officer: str


class Escalated(CaseEvent, tag="application.escalated"):
    from_tier: str
    to_tier: str
    reason: str
    automatic: bool = False
    clock_span: int | None = None   # set on automatic escalations: which run of the clock breached


# -- personal data (UU 27/2022) -------------------------------------------------------
class AuditHoldPlaced(CaseEvent, tag="application.audit_hold_placed"):
    """An audit is pending: erasing the case's personal data is refused until released."""

    reason: str


class AuditHoldReleased(CaseEvent, tag="application.audit_hold_released"):
    reason: str


class PersonalDataErased(CaseEvent, tag="application.personal_data_erased"):
    """The keys of the case's data subjects were deleted (crypto-shredding): every
    envelope sealed under them, on this case and every other case of the same subject,
    now opens as erased. Carries subject ids (pseudonyms), never the data."""

    subjects: list[str]
    reason: str
    keys_erased: int = 0


class ErasureRefused(CaseEvent, tag="application.erasure_refused"):
    """An erasure asked for with `reason` was refused (`rule`: `audit_hold`)."""

    reason: str
    rule: str
    hold_reason: str | None = None


ApplicationEvent = (
    Submitted | FileDeclaredComplete | FileReturnedForCorrection | Resubmitted
    | TechnicallyReviewed | Decided | CertificateIssued | CertificateRevoked | Withdrawn
    | Assigned | Escalated
    | AuditHoldPlaced | AuditHoldReleased | PersonalDataErased | ErasureRefused
)
EVENT_TYPES: tuple[type[CaseEvent], ...] = (
    Submitted, FileDeclaredComplete, FileReturnedForCorrection, Resubmitted,
    TechnicallyReviewed, Decided, CertificateIssued, CertificateRevoked, Withdrawn,
    Assigned, Escalated,
    AuditHoldPlaced, AuditHoldReleased, PersonalDataErased, ErasureRefused,
)
decoder = msgspec.json.Decoder(ApplicationEvent)
