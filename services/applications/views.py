"""What the applications service answers: the case view, the issuance's answer, the
intake's answer and the certificate check. Field names and order are the API's."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NotRequired, TypedDict

import msgspec

from contracts.vocabulary import ApplicationChannel, BusinessScale, NibSource, Tier, Verdict
from services.cases.views import AuditHold, PersonalDataErasure
from services.domain.sla import Sla


class BusinessRecord(TypedDict):
    name: str
    kbli: str
    scale: BusinessScale
    in_industrial_estate: bool
    address: str
    nib: str | None
    """The NIB the channel gave with the intake (null: none given)."""


class VerificationRecord(TypedDict):
    """One check of the file against the checklist."""

    at: datetime
    results: dict[str, bool]
    complete: bool
    note: str | None
    exceptions: NotRequired[dict[str, str]]
    """By requirement code, the legal ground for one met by an exception (U4 outside an
    industrial estate: Pasal 65 PP 5/2021)."""


class ReviewRecord(TypedDict):
    recommendation: Verdict
    note: str
    by: str
    at: datetime


class DecisionRecord(TypedDict):
    outcome: Verdict
    reason: str
    by: str
    at: datetime


class Revocation(TypedDict):
    reason: str
    at: datetime


class Certificate(TypedDict):
    """The signed Sertifikat Standar: the signed payload, its signature, and the link a
    reader checks it by."""

    certificate_number: str
    nib: str
    nib_source: NotRequired[NibSource]
    """`given`: the business's NIB from the intake (OSS's); `derived`: a stand-in the
    office drew because none was given. Absent on certificates issued before it was
    recorded."""
    application_id: str
    service_code: str
    business_name: str | None
    kbli: str | None
    issued_at: str
    signature: str
    key_id: str
    verification_url: str
    revoked: NotRequired[Revocation]


class WithdrawalRecord(TypedDict):
    reason: str
    at: datetime
    by: str


class ApplicationView(msgspec.Struct, kw_only=True):
    """An application as it stands (`GET /applications/{id}` and every step's answer)."""

    id: str
    tracking_number: str
    status: str
    service_code: str
    unit: str
    channel: ApplicationChannel
    external_id: str
    applicant: dict[str, Any]
    """Name, NIK, e-mail, phone; `{"erased": true}` once erased."""
    business: BusinessRecord
    procedure_classification: int | None
    """The seed's procedure (3, 7, 12 or 16 for KBLI 10510), as given at intake."""
    fee: int
    tier: Tier
    assignee: str | None
    submitted_at: datetime
    declared_complete_at: datetime | None
    sla: Sla
    unmet_requirements: list[str]
    verifications: list[VerificationRecord]
    review: ReviewRecord | None
    decision: DecisionRecord | None
    certificate: Certificate | None
    withdrawal: WithdrawalRecord | None
    audit_hold: AuditHold | None
    personal_data_erasure: PersonalDataErasure | None
    version: int


class IssuedApplicationView(ApplicationView, kw_only=True):
    """The issuance's answer: the view, and the certificate's number, NIB and link at the
    top level."""

    certificate_number: str
    nib: str
    nib_source: NibSource | None
    verification_url: str


def issued(view: ApplicationView) -> IssuedApplicationView:
    certificate = view.certificate
    assert certificate is not None  # the issuance has just stored it
    return IssuedApplicationView(
        **msgspec.structs.asdict(view), certificate_number=certificate["certificate_number"],
        nib=certificate["nib"], nib_source=certificate.get("nib_source"),
        verification_url=certificate["verification_url"])


class ApplicationIntakeAccepted(msgspec.Struct, kw_only=True):
    """`POST /applications` (201, and 200 for a repeat) and its NATS reply."""

    id: str
    tracking_number: str
    status: str
    pin: str
    """The secret the channel hands to the applicant: with the tracking number it opens
    `GET /track/{tracking_number}?pin=`. The same on a repeat."""


class CertificateCheck(msgspec.Struct, kw_only=True):
    """`GET /certificates/{number}`: genuine, unaltered, not revoked?"""

    valid: bool
    certificate_number: str
    nib: str
    nib_source: NibSource | None
    """`given` (the business's NIB from OSS) or `derived` (a stand-in); null on
    certificates issued before it was recorded."""
    business_name: str | None
    kbli: str | None
    service_code: str
    issued_at: str
    genuine: bool
    """Signed by this office's key, and the stored record still matches the signature."""
    unaltered: bool
    """Genuine, and the presented copy's signature is the office's record's."""
    revoked: Revocation | None
    problems: list[str]
    key_id: str | None
    public_key: str
    """The office's Ed25519 public key (base64url)."""


SIGNED_RECORD_FORMAT = "ptsp.sertifikat-standar.v1"


class SignedRecord(msgspec.Struct, kw_only=True, frozen=True):
    """What a certificate's holder carries (the PDF's attachment `sertifikat-standar.json`):
    the facts exactly as the office signed them, the signature over their canonical JSON
    and the signing key's id. `verification_url` is not signed: it is where the copy is
    checked online (revocation is known only there)."""

    format: str = SIGNED_RECORD_FORMAT
    payload: dict[str, Any]
    signature: str
    key_id: str
    verification_url: str


class CertificateCopy(msgspec.Struct, kw_only=True, frozen=True):
    """The public check of a certificate and, to whoever presented its signature (the QR
    link's `sig`), the signed record itself."""

    check: CertificateCheck
    signed: SignedRecord | None
