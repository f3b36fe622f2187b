"""The applications service: intake, the verification checklist, review, decision and
issuance of a signed certificate. Each method: get → call the aggregate → save."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import datetime
from typing import Any

import msgspec
from eventsourcing.application import AggregateNotFoundError

from contracts import applications as contracts
from contracts.applications import ApplicationIntake
from contracts.mapping import ContractRegistry
from services.applications.catalogue import Catalogue
from services.applications.domain import (
    LicenceApplication,
    application_id,
    certificate_payload,
    tracking_number,
)
from services.calendar.application import CalendarService
from services.domain.actors import Actor
from services.domain.clock import Clock
from services.domain.errors import ConcurrencyConflict, InvalidInput, NotFound
from services.domain.sla import Sla, sla_of
from services.infra.groupcommit import GroupCommitter
from services.infra.personal_data import PersonalDataVault, envelopes_in, erase_case
from services.infra.signing import OfficeKey
from services.infra.store import EventStoreApplication


class Applications(EventStoreApplication):
    name = "applications"


def _contract_extras(event: Any) -> dict[str, Any]:
    if type(event).__name__ == "Submitted":
        return {"tracking_number": tracking_number(event.originator_id)}
    return {}


# Domain event → contract Struct (for the relay and the audit history).
CONTRACTS = ContractRegistry(contracts.EVENT_TYPES, enrich=_contract_extras)


def certificate_number(app: LicenceApplication, issued_at: datetime) -> str:
    """Readable prefix, then the case id in base32: the number leads back to its case
    without any index."""
    code = base64.b32encode(app.id.bytes).decode().rstrip("=")
    return f"SS-{app.business.get('kbli', '00000')}-{issued_at.year}-{code}"


def case_id_of_certificate(number: str) -> uuid.UUID | None:
    code = number.rsplit("-", 1)[-1]
    try:
        raw = base64.b32decode(code + "=" * (-len(code) % 8))
        return uuid.UUID(bytes=raw) if len(raw) == 16 else None
    except (ValueError, TypeError):
        return None


def nib_of(case_id: uuid.UUID) -> str:
    """NIB: 13 digits, stable for the case."""
    return f"{int(case_id.hex[:16], 16) % 10**13:013d}"


class ApplicationService:
    def __init__(self, store: Applications, committer: GroupCommitter, clock: Clock,
                 calendar: CalendarService, catalogue: Catalogue, office_key: OfficeKey,
                 base_url: str, at_risk_ratio: float = 0.8,
                 vault: PersonalDataVault | None = None) -> None:
        self.vault = vault
        """Seals the applicant's identity before it enters an event; None: stored plain
        (only for tools that build a bare service)."""
        self.store = store
        self.committer = committer
        self.clock = clock
        self.calendar = calendar
        self.catalogue = catalogue
        self.office_key = office_key
        self.base_url = base_url
        self.at_risk_ratio = at_risk_ratio

    # -- intake ---------------------------------------------------------------------
    async def submit(self, intake: ApplicationIntake, actor: Actor) -> tuple[LicenceApplication, bool]:
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
        app = LicenceApplication(
            channel=intake.channel, external_id=intake.external_id,
            service_code=service.service_code, requirement_codes=list(service.requirement_codes),
            sla_working_days=service.sla_working_days, unit=service.unit,
            applicant=await self._sealed_applicant(intake),
            business=msgspec.to_builtins(intake.business),  # the business: not personal data
            actor=actor.as_record(), at=self.clock.now(),
        )
        try:
            await self.committer.save(app)
            return app, True
        except ConcurrencyConflict:
            return await self.get(app.id), False

    async def _sealed_applicant(self, intake: ApplicationIntake) -> dict[str, Any]:
        """The applicant's identity, sealed under their subject: their NIK's (shared by
        every case of that NIK), or this case's alone without one."""
        applicant = msgspec.to_builtins(intake.applicant)
        if self.vault is None:
            return applicant
        subject = self.vault.subject_of(intake.applicant.nik,
                                        application_id(intake.channel, intake.external_id))
        return await self.vault.seal(subject, applicant)

    # -- commands ---------------------------------------------------------------------
    async def get(self, case_id: uuid.UUID, version: int | None = None) -> LicenceApplication:
        try:
            app = await asyncio.to_thread(lambda: self.store.repository.get(case_id, version=version))
        except AggregateNotFoundError:
            raise NotFound(f"no application {case_id}") from None
        if self.vault is not None:  # fresh keys for the view (an erasure elsewhere shows)
            await self.vault.prefetch(envelopes_in(app.applicant))
        return app

    # -- personal data ------------------------------------------------------------------
    async def place_audit_hold(self, case_id: uuid.UUID, reason: str, actor: Actor) -> LicenceApplication:
        return await self._do(case_id, lambda a, r, now: a.place_audit_hold(reason, r, now), actor)

    async def release_audit_hold(self, case_id: uuid.UUID, reason: str, actor: Actor) -> LicenceApplication:
        return await self._do(case_id, lambda a, r, now: a.release_audit_hold(reason, r, now), actor)

    async def erase_personal_data(self, case_id: uuid.UUID, reason: str,
                                  actor: Actor) -> LicenceApplication:
        """Crypto-shredding of the applicant's subject (every case of the same NIK, or
        this case alone), recorded on the case; on audit hold the refusal is recorded,
        then 409 `audit_hold`."""
        app = await self.get(case_id)
        return await erase_case(self.vault, app, [app.applicant], reason, actor,
                                self.clock.now(), self.committer)

    async def verify(self, case_id: uuid.UUID, results: dict[str, bool], note: str | None,
                     actor: Actor) -> LicenceApplication:
        return await self._do(case_id, lambda a, r, now: a.verify(results, note, r, now), actor)

    async def return_for_correction(self, case_id: uuid.UUID, reason: str, unmet: list[str],
                                    actor: Actor) -> LicenceApplication:
        return await self._do(case_id, lambda a, r, now: a.return_for_correction(reason, unmet, r, now), actor)

    async def resubmit(self, case_id: uuid.UUID, note: str | None, actor: Actor) -> LicenceApplication:
        return await self._do(case_id, lambda a, r, now: a.resubmit(note, r, now), actor)

    async def review(self, case_id: uuid.UUID, recommendation: str, note: str,
                     actor: Actor) -> LicenceApplication:
        return await self._do(case_id, lambda a, r, now: a.review_technically(recommendation, note, r, now), actor)

    async def decide(self, case_id: uuid.UUID, outcome: str, reason: str,
                     actor: Actor) -> LicenceApplication:
        return await self._do(case_id, lambda a, r, now: a.decide(outcome, reason, r, now), actor)

    async def issue(self, case_id: uuid.UUID, actor: Actor) -> LicenceApplication:
        def issue(app: LicenceApplication, record: dict[str, Any], now: datetime) -> None:
            number = certificate_number(app, now)
            payload = certificate_payload(app, number, nib_of(app.id), now)
            app.issue({**payload, "signature": self.office_key.sign(payload),
                       "key_id": self.office_key.key_id}, record, now)
        return await self._do(case_id, issue, actor)

    async def revoke_certificate(self, case_id: uuid.UUID, reason: str, actor: Actor) -> LicenceApplication:
        return await self._do(case_id, lambda a, r, now: a.revoke_certificate(reason, r, now), actor)

    async def withdraw(self, case_id: uuid.UUID, reason: str, actor: Actor) -> LicenceApplication:
        return await self._do(case_id, lambda a, r, now: a.withdraw(reason, r, now), actor)

    async def assign(self, case_id: uuid.UUID, officer: str, actor: Actor) -> LicenceApplication:
        return await self._do(case_id, lambda a, r, now: a.assign(officer, r, now), actor)

    async def escalate(self, case_id: uuid.UUID, to_tier: str, reason: str, actor: Actor,
                       automatic: bool = False) -> LicenceApplication:
        return await self._do(
            case_id, lambda a, r, now: a.escalate(to_tier, reason, r, now, automatic), actor)

    async def escalate_for_breach(self, case_id: uuid.UUID, clock_span: int,
                                  actor: Actor) -> LicenceApplication:
        return await self._do(case_id, lambda a, r, now: a.escalate_for_breach(clock_span, r, now), actor)

    async def _do(self, case_id: uuid.UUID, command: Any, actor: Actor) -> LicenceApplication:
        app = await self.get(case_id)
        command(app, actor.as_record(), self.clock.now())
        await self.committer.save(app)
        return app

    # -- reads ------------------------------------------------------------------------
    def sla(self, app: LicenceApplication, now: datetime | None = None) -> Sla:
        return sla_of(app.clock, app.sla_working_days, self.calendar.current,
                      now or self.clock.now(), app.finished_at, self.at_risk_ratio)

    def verification_url(self, certificate: dict[str, Any]) -> str:
        return (f"{self.base_url}/certificates/{certificate['certificate_number']}"
                f"?sig={certificate['signature']}")

    def view(self, app: LicenceApplication, now: datetime | None = None) -> dict[str, Any]:
        certificate = None
        if app.certificate is not None:
            certificate = {**app.certificate, "verification_url": self.verification_url(app.certificate)}
        return {
            "id": str(app.id),
            "tracking_number": app.tracking_number,
            "status": app.status,
            "service_code": app.service_code,
            "unit": app.unit,
            "channel": app.channel,
            "external_id": app.external_id,
            "applicant": self.vault.open(app.applicant) if self.vault else app.applicant,
            "business": app.business,
            "fee": 0,
            "tier": app.tier,
            "assignee": app.assignee,
            "submitted_at": app.submitted_at,
            "declared_complete_at": app.declared_complete_at,
            "sla": self.sla(app, now),
            "unmet_requirements": app.unmet if app.status == "returned_for_correction" else [],
            "verifications": app.verifications,
            "review": app.review,
            "decision": app.decision,
            "certificate": certificate,
            "withdrawal": app.withdrawal,
            "audit_hold": app.audit_hold,
            "personal_data_erasure": app.personal_data_erasure,
            "version": app.version,
        }

    async def verify_certificate(self, number: str, presented_signature: str | None) -> dict[str, Any]:
        """Genuine (signed by this office's key), unaltered (the stored record still
        matches its signature, and the presented copy's signature too), not revoked."""
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
                                      datetime.fromisoformat(cert["issued_at"]))
        genuine = self.office_key.verify(payload, cert["signature"])
        copy_matches = presented_signature is None or presented_signature == cert["signature"]
        revoked = cert.get("revoked")
        problems = []
        if not genuine:
            problems.append("the stored record does not match the office's signature")
        if not copy_matches:
            problems.append("the presented copy's signature does not match the office's record")
        if revoked:
            problems.append(f"revoked: {revoked['reason']}")
        return {
            "valid": genuine and copy_matches and not revoked,
            "certificate_number": number,
            "nib": cert["nib"],
            "business_name": payload["business_name"],
            "kbli": payload["kbli"],
            "service_code": payload["service_code"],
            "issued_at": payload["issued_at"],
            "genuine": genuine,
            "unaltered": genuine and copy_matches,
            "revoked": revoked,
            "problems": problems,
            "key_id": cert.get("key_id"),
            "public_key": self.office_key.public_b64,
        }
