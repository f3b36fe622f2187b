"""The applications service: what is its own beside the generic case service: intake
(sealing the applicant's identity), the signed certificate (its number, NIB, signature
and public check) and the view. The steps themselves are the rows of
`services.applications.commands`."""

from __future__ import annotations

import base64
import hmac
import secrets
import uuid
from datetime import datetime
from typing import Any, Protocol, cast

import msgspec

from contracts import applications as contracts
from contracts.applications import ApplicationIntake
from contracts.mapping import ContractRegistry
from contracts.vocabulary import ApplicationChannel, NibSource, Tier
from services.applications.catalogue import Catalogue
from services.applications.domain import (
    TRACKING_PREFIX,
    LicenceApplication,
    application_id,
    certificate_payload,
    legacy_tracking_number,
    nib_of,
)
from services.applications.views import (
    ApplicationIntakeAccepted,
    ApplicationView,
    BusinessRecord,
    Certificate,
    CertificateCheck,
    CertificateCopy,
    DecisionRecord,
    ReviewRecord,
    SignedRecord,
    VerificationRecord,
    WithdrawalRecord,
)
from services.calendar.application import CalendarService
from services.cases.commands import StaffDirectory
from services.cases.service import CaseService
from services.cases.views import AuditHold, PersonalDataErasure
from services.domain.actors import Actor
from services.domain.clock import JAKARTA, Clock
from services.domain.errors import InvalidInput, NotFound
from services.infra.groupcommit import GroupCommitter
from services.infra.personal_data import PersonalDataVault
from services.infra.signing import OfficeKey
from services.infra.store import EventStoreApplication
from services.infra.tracking_key import TrackingKey


class Applications(EventStoreApplication):
    name = "applications"


def _contract_extras(event: Any) -> dict[str, Any]:
    if type(event).__name__ == "Submitted":
        # Recorded since numbers are keyed; derived from the id for the cases before.
        return {"tracking_number": getattr(event, "tracking_number", None)
                or legacy_tracking_number(event.originator_id)}
    return {}


# Domain event → contract Struct (for the relay and the audit history).
CONTRACTS = ContractRegistry(contracts.EVENT_TYPES, enrich=_contract_extras)


CASE_CODE_CHARS = 26  # a case id (16 bytes) in unpadded base32
SECRET_CODE_CHARS = 8  # 40 random bits: a number cannot be worked out from the case id


def certificate_number(app: LicenceApplication, issued_at: datetime, secret: str) -> str:
    """`SS-<kbli>-<YYYY>-<code>` (API.md): the code is the case id in base32, which leads
    back to the case without an index, then a random part, so that knowing a case (its id
    follows from the channel's own reference) is not enough to name its certificate."""
    case_code = base64.b32encode(app.id.bytes).decode().rstrip("=")
    year = issued_at.astimezone(JAKARTA).year
    return f"SS-{app.business.get('kbli', '00000')}-{year}-{case_code}{secret}"


def new_secret_code() -> str:
    return base64.b32encode(secrets.token_bytes(5)).decode()


def new_nib() -> str:
    """A stand-in NIB, 13 random digits, for a business the channel gave none for (OSS
    issues the real one); the certificate marks it `nib_source: derived`."""
    return f"{secrets.randbelow(10**13):013d}"


def nib_for(app: LicenceApplication) -> tuple[str, NibSource]:
    """The certificate's NIB and where it came from: the business's own (given with the
    intake), or a stand-in drawn now."""
    given = nib_of(app)
    return (given, "given") if given is not None else (new_nib(), "derived")


def case_id_of_certificate(number: str) -> uuid.UUID | None:
    code = number.rsplit("-", 1)[-1][:CASE_CODE_CHARS]
    try:
        raw = base64.b32decode(code + "=" * (-len(code) % 8))
        return uuid.UUID(bytes=raw) if len(raw) == 16 else None
    except (ValueError, TypeError):
        return None


def accepted(service: ApplicationService, app: LicenceApplication) -> ApplicationIntakeAccepted:
    """Intake's answer, the same on 201 and on a repeat's 200 (the PIN follows from the
    case id)."""
    return ApplicationIntakeAccepted(id=str(app.id), tracking_number=app.tracking_number,
                                     status=app.status, pin=service.tracking.pin(app.id))


class Verification(Protocol):
    """The verification request, as the row's call reads it."""

    @property
    def results(self) -> dict[str, bool]: ...

    @property
    def note(self) -> str | None: ...

    @property
    def exceptions(self) -> dict[str, str]: ...


class ApplicationService(CaseService[LicenceApplication, ApplicationView]):
    noun = "application"

    def __init__(self, store: Applications, committer: GroupCommitter, clock: Clock,
                 calendar: CalendarService, catalogue: Catalogue, office_key: OfficeKey,
                 base_url: str, at_risk_ratio: float = 0.8,
                 vault: PersonalDataVault | None = None,
                 staff: StaffDirectory | None = None, *, tracking: TrackingKey) -> None:
        super().__init__(store, committer, clock, calendar, at_risk_ratio, vault)
        self.tracking = tracking
        """Draws each new case's tracking number and PIN."""
        self.catalogue = catalogue
        self.office_key = office_key
        self.base_url = base_url
        self.staff = staff
        """Who may be assigned a case (None: no register, a bare tool's service)."""

    # -- intake ---------------------------------------------------------------------
    async def submit(self, intake: ApplicationIntake,
                     actor: Actor) -> tuple[LicenceApplication, bool]:
        """Returns the case and whether it was created now (False: a repeat of the same
        (channel, external_id), which writes nothing)."""
        service = self.catalogue.get(intake.service_code)
        if service is None:
            raise InvalidInput("service_code", f"unknown service {intake.service_code!r}; "
                               "GET /services lists them")
        if intake.business.kbli != service.kbli:
            raise InvalidInput("business.kbli",
                               f"service {service.service_code} is for KBLI {service.kbli}")
        if (intake.procedure_classification is not None
                and intake.procedure_classification not in service.procedure_classifications):
            raise InvalidInput("procedure_classification", "must be one of "
                               f"{service.procedure_classifications}")
        case_id = application_id(intake.channel, intake.external_id)
        return await self.create(LicenceApplication(
            channel=intake.channel, external_id=intake.external_id,
            service_code=service.service_code, requirement_codes=list(service.requirement_codes),
            sla_working_days=service.sla_working_days, unit=service.unit,
            applicant=await self._sealed_applicant(intake, case_id),
            business=msgspec.to_builtins(intake.business),  # the business: not personal data
            actor=actor.as_record(), at=self.clock.now(),
            procedure_classification=intake.procedure_classification,
            tracking_number=self.tracking.number(TRACKING_PREFIX, case_id),
        ))

    async def _sealed_applicant(self, intake: ApplicationIntake,
                                case_id: uuid.UUID) -> dict[str, Any]:
        """The applicant's identity, sealed under their subject: their NIK's (shared by
        every case of that NIK), or this case's alone without one."""
        applicant: dict[str, Any] = msgspec.to_builtins(intake.applicant)
        if self.vault is None:
            return applicant
        subject = self.vault.subject_of(intake.applicant.nik, case_id)
        return await self.vault.seal(subject, applicant)

    def sealed(self, case: LicenceApplication) -> tuple[Any]:
        return (case.applicant,)

    # -- verification ---------------------------------------------------------------------
    async def verify(self, app: LicenceApplication, request: Verification, actor: Actor,
                     now: datetime) -> None:
        """The verification row's call: the checklist against the service's requirements,
        those a fact of the business decides included (the catalogue's conditions)."""
        service = self.catalogue.get(app.service_code)
        app.verify(request.results, request.note, actor.as_record(), now,
                   conditions=service.conditions if service is not None else (),
                   exceptions=request.exceptions)

    # -- the certificate ------------------------------------------------------------------
    async def issue(self, app: LicenceApplication, _: None, actor: Actor,
                    now: datetime) -> None:
        """The issuance row's call: number and NIB (the business's own, or a stand-in;
        each random part drawn here and kept in the event) and the office's signature,
        then the aggregate's `issue`."""
        number = certificate_number(app, now, new_secret_code())
        nib, nib_source = nib_for(app)
        payload = certificate_payload(app, number, nib, now, nib_source)
        app.issue({**payload, "signature": self.office_key.sign(payload),
                   "key_id": self.office_key.key_id}, actor.as_record(), now)

    def verification_url(self, certificate: dict[str, Any]) -> str:
        return (f"{self.base_url}/certificates/{certificate['certificate_number']}"
                f"?sig={certificate['signature']}")

    async def verify_certificate(self, number: str,
                                 presented_signature: str | None) -> CertificateCheck:
        """Genuine (signed by this office's key), unaltered (the stored record still
        matches its signature, and the presented copy's signature too), not revoked.

        The business's name is shown only to someone holding the copy's signature (the QR
        link's `sig`): the number alone confirms a certificate, not whose it is."""
        return (await self.certificate_copy(number, presented_signature)).check

    async def certificate_copy(self, number: str,
                               presented_signature: str | None) -> CertificateCopy:
        """The check of `verify_certificate` and, to the holder of the copy's signature,
        the signed record (what the certificate's page and PDF show)."""
        case_id = case_id_of_certificate(number)
        if case_id is None:
            raise NotFound(f"no certificate {number}")
        try:
            app = await self.get(case_id)
        except NotFound:
            raise NotFound(f"no certificate {number}") from None
        cert = app.certificate
        if cert is None or cert.get("certificate_number") != number:
            raise NotFound(f"no certificate {number}")
        payload = certificate_payload(app, number, cert["nib"],
                                      datetime.fromisoformat(cert["issued_at"]),
                                      cert.get("nib_source"))
        genuine = self.office_key.verify(payload, cert["signature"])
        holds_copy = presented_signature is not None and hmac.compare_digest(
            presented_signature, cert["signature"])
        copy_matches = presented_signature is None or holds_copy
        revoked = cert.get("revoked")
        problems = []
        if not genuine:
            problems.append("the stored record does not match the office's signature")
        if not copy_matches:
            problems.append("the presented copy's signature does not match the office's record")
        if revoked:
            problems.append(f"revoked: {revoked['reason']}")
        check = CertificateCheck(
            valid=genuine and copy_matches and not revoked,
            certificate_number=number,
            nib=cert["nib"],
            nib_source=cert.get("nib_source"),
            business_name=payload["business_name"] if holds_copy else None,
            kbli=payload["kbli"],
            service_code=payload["service_code"],
            issued_at=payload["issued_at"],
            genuine=genuine,
            unaltered=genuine and copy_matches,
            revoked=revoked,
            problems=problems,
            key_id=cert.get("key_id"),
            public_key=self.office_key.public_b64,
        )
        signed = SignedRecord(payload=payload, signature=cert["signature"],
                              key_id=cert.get("key_id") or self.office_key.key_id,
                              verification_url=self.verification_url(cert))
        return CertificateCopy(check=check, signed=signed if holds_copy else None)

    # -- the view -------------------------------------------------------------------------
    async def view(self, case: LicenceApplication, actor: Actor,
                   now: datetime | None = None) -> ApplicationView:
        """Every role that may read an application sees all of it. (The casts: the case
        keeps each record as a plain dict of the shape its TypedDict documents.)"""
        await self.calendar.current_calendar()  # every correction committed so far
        certificate = None
        if case.certificate is not None:
            certificate = cast(Certificate, {
                **case.certificate, "verification_url": self.verification_url(case.certificate)})
        return ApplicationView(
            id=str(case.id),
            tracking_number=case.tracking_number,
            status=case.status,
            service_code=case.service_code,
            unit=case.unit,
            channel=cast(ApplicationChannel, case.channel),
            external_id=case.external_id,
            applicant=self.vault.open(case.applicant) if self.vault else case.applicant,
            business=cast(BusinessRecord, {"nib": None, **case.business}),
            procedure_classification=case.procedure_classification,
            fee=0,
            tier=cast(Tier, case.tier),
            assignee=case.assignee,
            submitted_at=case.submitted_at,
            declared_complete_at=case.declared_complete_at,
            sla=self.sla(case, now),
            unmet_requirements=case.unmet if case.status == "returned_for_correction" else [],
            verifications=cast(list[VerificationRecord], case.verifications),
            review=cast(ReviewRecord | None, case.review),
            decision=cast(DecisionRecord | None, case.decision),
            certificate=certificate,
            withdrawal=cast(WithdrawalRecord | None, case.withdrawal),
            audit_hold=cast(AuditHold | None, case.audit_hold),
            personal_data_erasure=cast(PersonalDataErasure | None, case.personal_data_erasure),
            version=case.version,
        )
