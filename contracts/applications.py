"""Contracts of the applications service: the intake message (HTTP body and NATS
request on `ptsp.intake.application.<channel>`) and every event as it travels on
JetStream (`ptsp.applications.<tag>`).

Rules (DESIGN.md): frozen, kw_only, an explicit stable tag per event; change by adding
fields with defaults only; an incompatible change is a new tag plus an upcaster.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from contracts.common import CaseEvent, shared_events
from contracts.vocabulary import ApplicationChannel, BusinessScale, Verdict

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
    scale: BusinessScale
    in_industrial_estate: bool
    address: NonEmpty
    nib: Annotated[str, msgspec.Meta(pattern=r"^\d{13}$")] | None = None
    """The business's NIB (13 digits), when the channel has one: OSS issues it and the
    business keeps it across its applications; the certificate carries it. Without it the
    office derives a stand-in at issuance, marked `nib_source: derived`."""


class ApplicationIntake(msgspec.Struct, frozen=True, kw_only=True):
    channel: ApplicationChannel
    external_id: NonEmpty
    service_code: NonEmpty
    applicant: Applicant
    business: Business
    procedure_classification: int | None = None
    """The seed's procedure for it (Lampiran IV: 3, 7, 12 or 16 for KBLI 10510); checked
    against the catalogue and kept with the case."""


# -- events -----------------------------------------------------------------------


class Submitted(CaseEvent, tag="application.submitted", frozen=True):
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
    procedure_classification: int | None = None


class FileDeclaredComplete(CaseEvent, tag="application.file_declared_complete", frozen=True):
    results: dict[str, bool]
    note: str | None = None
    exceptions: dict[str, str] = {}
    """By requirement code, the legal ground stated for one met by the exception the
    catalogue allows (U4 outside an industrial estate: Pasal 65 PP 5/2021)."""


class FileReturnedForCorrection(CaseEvent, frozen=True,
                                tag="application.file_returned_for_correction"):
    unmet: list[str]
    results: dict[str, bool] | None = None
    note: str | None = None


class Resubmitted(CaseEvent, tag="application.resubmitted", frozen=True):
    note: str | None = None


class TechnicallyReviewed(CaseEvent, tag="application.technically_reviewed", frozen=True):
    recommendation: Verdict
    note: str


class Decided(CaseEvent, tag="application.decided", frozen=True):
    outcome: Verdict
    reason: str


class CertificateIssued(CaseEvent, tag="application.certificate_issued", frozen=True):
    certificate: dict[str, Any]


class CertificateRevoked(CaseEvent, tag="application.certificate_revoked", frozen=True):
    reason: str


class Withdrawn(CaseEvent, tag="application.withdrawn", frozen=True):
    reason: str


# Assignment, escalation and personal data (UU 27/2022): as for every case type.
(Assigned, Escalated, AuditHoldPlaced, AuditHoldReleased, PersonalDataErased, ErasureRefused,
 NotificationDelivered) = shared_events("application", __name__)


EVENT_TYPES: tuple[type[CaseEvent], ...] = (
    Submitted, FileDeclaredComplete, FileReturnedForCorrection, Resubmitted,
    TechnicallyReviewed, Decided, CertificateIssued, CertificateRevoked, Withdrawn,
    Assigned, Escalated,
    AuditHoldPlaced, AuditHoldReleased, PersonalDataErased, ErasureRefused,
    NotificationDelivered,
)
