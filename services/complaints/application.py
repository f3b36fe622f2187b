"""The complaints service: intake (complaint or suggestion), the seed's handling steps,
the 14-working-day clock. Each method: get → call the aggregate → save."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any, Protocol

import msgspec
from eventsourcing.application import AggregateNotFoundError

from contracts import complaints as contracts
from contracts.complaints import ComplaintIntake
from contracts.mapping import ContractRegistry
from services.calendar.application import CalendarService
from services.complaints.domain import Complaint, complaint_id, tracking_number
from services.domain.actors import Actor
from services.domain.clock import JAKARTA, Clock
from services.domain.errors import ConcurrencyConflict, InvalidInput, NotFound
from services.domain.sla import Sla, sla_of
from services.infra.groupcommit import GroupCommitter
from services.infra.personal_data import PersonalDataVault, envelopes_in, erase_case
from services.infra.store import EventStoreApplication


class Complaints(EventStoreApplication):
    name = "complaints"


def _contract_extras(event: Any) -> dict[str, Any]:
    """What a contract carries that the domain event does not spell out."""
    if type(event).__name__ == "Received":
        return {"at": event.recorded_at, "tracking_number": tracking_number(event.originator_id)}
    return {}


# Domain event → contract Struct (for the relay and the audit history).
CONTRACTS = ContractRegistry(contracts.EVENT_TYPES, enrich=_contract_extras)


# What the complaints service needs from elsewhere. On the embedded default the
# applications service and its catalogue themselves; scaled out, a client of their HTTP
# API would do (DESIGN.md: services meet through contracts and HTTP, not internals).
class ServiceCatalogue(Protocol):
    def get(self, service_code: str) -> Any: ...


class ApplicationLookup(Protocol):
    async def get(self, case_id: uuid.UUID, version: int | None = None) -> Any: ...


# Roles that see who complained: everyone who may read a complaint; once the complaint
# is marked confidential (POST /complaints/{id}/confidentiality) only the head and the
# auditors, not the handling staff.
MAY_SEE_IDENTITY = ("officer", "supervisor", "head", "auditor")
MAY_SEE_CONFIDENTIAL_IDENTITY = ("head", "auditor")
MAY_MARK_CONFIDENTIAL = ("officer", "head")
MASKED = "***"


def mask_identity(complainant: dict[str, Any] | None, actor: Actor,
                  confidential: bool = False) -> dict[str, Any] | None:
    """The complainant as `actor` may see them: in full, or every given detail masked
    (so a reader still knows which ways to reach them exist). Erased stays erased."""
    allowed = MAY_SEE_CONFIDENTIAL_IDENTITY if confidential else MAY_SEE_IDENTITY
    if complainant is None or actor.role in allowed or complainant.get("erased") is True:
        return complainant
    return {key: MASKED if value else value for key, value in complainant.items()}


class ComplaintService:
    def __init__(self, store: Complaints, committer: GroupCommitter, clock: Clock,
                 calendar: CalendarService, catalogue: ServiceCatalogue,
                 applications: ApplicationLookup, at_risk_ratio: float = 0.8,
                 vault: PersonalDataVault | None = None) -> None:
        self.vault = vault
        """Seals the complainant's identity and narrative before they enter an event;
        None: stored plain (only for tools that build a bare service)."""
        self.store = store
        self.committer = committer
        self.clock = clock
        self.calendar = calendar
        self.catalogue = catalogue
        self.applications = applications
        self.at_risk_ratio = at_risk_ratio

    # -- intake ---------------------------------------------------------------------
    async def submit(self, intake: ComplaintIntake, actor: Actor) -> tuple[Complaint, bool]:
        """Returns the case and whether it was created now (False: a repeat of the same
        (channel, external_id), which writes nothing)."""
        received_at = intake.received_at
        if received_at is not None and received_at.tzinfo is None:
            received_at = received_at.replace(tzinfo=JAKARTA)  # API.md: +07:00 by default
        complaint = Complaint.receive(
            channel=intake.channel, external_id=intake.external_id,
            complainant=(msgspec.to_builtins(intake.complainant)
                         if intake.complainant is not None else None),
            subject_matter=intake.subject_matter, description=intake.description,
            service_received_on=intake.service_received_on, received_at=received_at,
            related_application_id=(str(intake.related_application_id)
                                    if intake.related_application_id is not None else None),
            actor=actor.as_record(), at=self.clock.now(), seal=await self._sealer(intake),
        )
        if intake.related_application_id is not None:
            try:
                await self.applications.get(intake.related_application_id)
            except NotFound:
                raise InvalidInput("related_application_id",
                                   f"no application {intake.related_application_id}") from None
        try:
            await self.committer.save(complaint)
            return complaint, True
        except ConcurrencyConflict:
            return await self.get(complaint.id), False

    async def _sealer(self, intake: ComplaintIntake) -> Any:
        """The complainant's subject: their NIK's, or this case's alone without one."""
        if self.vault is None:
            return None
        nik = intake.complainant.nik if intake.complainant is not None else None
        return await self.vault.sealer(self.vault.subject_of(
            nik, complaint_id(intake.channel, intake.external_id)))

    # -- commands ---------------------------------------------------------------------
    async def get(self, case_id: uuid.UUID, version: int | None = None) -> Complaint:
        try:
            complaint = await asyncio.to_thread(
                lambda: self.store.repository.get(case_id, version=version))
        except AggregateNotFoundError:
            raise NotFound(f"no complaint {case_id}") from None
        if self.vault is not None:  # fresh keys for the view (an erasure elsewhere shows)
            await self.vault.prefetch(envelopes_in(*self.sealed(complaint)))
        return complaint

    @staticmethod
    def sealed(complaint: Complaint) -> tuple[Any, Any, Any]:
        return complaint.complainant, complaint.subject_matter, complaint.description

    def opened(self, value: Any) -> Any:
        return self.vault.open(value) if self.vault is not None else value

    # -- personal data ------------------------------------------------------------------
    async def mark_confidential(self, case_id: uuid.UUID, reason: str, actor: Actor) -> Complaint:
        return await self._do(case_id, lambda c, r, now: c.mark_confidential(reason, r, now), actor)

    async def place_audit_hold(self, case_id: uuid.UUID, reason: str, actor: Actor) -> Complaint:
        return await self._do(case_id, lambda c, r, now: c.place_audit_hold(reason, r, now), actor)

    async def release_audit_hold(self, case_id: uuid.UUID, reason: str, actor: Actor) -> Complaint:
        return await self._do(case_id, lambda c, r, now: c.release_audit_hold(reason, r, now), actor)

    async def erase_personal_data(self, case_id: uuid.UUID, reason: str, actor: Actor) -> Complaint:
        """Crypto-shredding: delete the keys of the complainant's subject (every case of
        the same NIK, or this case alone), then record who erased what and why. On audit
        hold: the refusal is recorded, then 409 `audit_hold`."""
        complaint = await self.get(case_id)
        return await erase_case(self.vault, complaint, self.sealed(complaint), reason, actor,
                                self.clock.now(), self.committer)

    async def reclassify(self, case_id: uuid.UUID, reason: str, actor: Actor) -> Complaint:
        return await self._do(case_id, lambda c, r, now: c.reclassify(reason, r, now), actor)

    async def classify(self, case_id: uuid.UUID, service_code: str, problem_type: str,
                       actor: Actor) -> Complaint:
        if self.catalogue.get(service_code) is None:
            raise InvalidInput("service_code", f"unknown service {service_code!r}; "
                               "GET /services lists them")
        return await self._do(
            case_id, lambda c, r, now: c.classify(service_code, problem_type, r, now), actor)

    async def analyse(self, case_id: uuid.UUID, core_problem: str, standard_refs: list[str],
                      documents_checked: list[str], handling_plan: str,
                      actor: Actor) -> Complaint:
        return await self._do(case_id, lambda c, r, now: c.analyse(
            core_problem, standard_refs, documents_checked, handling_plan, r, now), actor)

    async def approve_apip(self, case_id: uuid.UUID, reason: str, authority: str | None,
                           actor: Actor) -> Complaint:
        return await self._do(
            case_id, lambda c, r, now: c.approve_apip(reason, r, now, authority=authority), actor)

    async def choose_track(self, case_id: uuid.UUID, track: str, agencies: list[str] | None,
                           actor: Actor) -> Complaint:
        return await self._do(
            case_id, lambda c, r, now: c.choose_track(track, agencies, r, now), actor)

    async def respond(self, case_id: uuid.UUID, text: str, actor: Actor) -> Complaint:
        return await self._do(case_id, lambda c, r, now: c.respond(text, r, now), actor)

    async def notify_complainant(self, case_id: uuid.UUID, channel: str, actor: Actor) -> Complaint:
        return await self._do(
            case_id, lambda c, r, now: c.notify_complainant(channel, r, now), actor)

    async def report_to_superior(self, case_id: uuid.UUID, text: str, actor: Actor) -> Complaint:
        return await self._do(case_id, lambda c, r, now: c.report_to_superior(text, r, now), actor)

    async def close(self, case_id: uuid.UUID, note: str | None, actor: Actor) -> Complaint:
        return await self._do(case_id, lambda c, r, now: c.close(note, r, now), actor)

    async def assign(self, case_id: uuid.UUID, officer: str, actor: Actor) -> Complaint:
        return await self._do(case_id, lambda c, r, now: c.assign(officer, r, now), actor)

    async def escalate(self, case_id: uuid.UUID, to_tier: str, reason: str, actor: Actor,
                       automatic: bool = False) -> Complaint:
        return await self._do(
            case_id, lambda c, r, now: c.escalate(to_tier, reason, r, now, automatic), actor)

    async def escalate_for_breach(self, case_id: uuid.UUID, clock_span: int,
                                  actor: Actor) -> Complaint:
        return await self._do(case_id, lambda c, r, now: c.escalate_for_breach(clock_span, r, now), actor)

    async def _do(self, case_id: uuid.UUID, command: Any, actor: Actor) -> Complaint:
        complaint = await self.get(case_id)
        command(complaint, actor.as_record(), self.clock.now())
        await self.committer.save(complaint)
        return complaint

    # -- reads ------------------------------------------------------------------------
    def sla(self, complaint: Complaint, now: datetime | None = None) -> Sla:
        """14 working days from receipt, met by the answer; a suggestion has no clock."""
        return sla_of(complaint.clock, complaint.sla_working_days, self.calendar.current,
                      now or self.clock.now(), complaint.finished_at, self.at_risk_ratio)

    async def related_application(self, complaint: Complaint) -> dict[str, Any] | None:
        """The application the complaint names, as it stands now, with its link."""
        app_id = complaint.related_application_id
        if app_id is None:
            return None
        related: dict[str, Any] = {"id": app_id, "tracking_number": None, "status": None,
                                   "link": f"/applications/{app_id}"}
        try:
            app = await self.applications.get(uuid.UUID(app_id))
        except NotFound:
            return related  # it existed at intake; say what we still know
        return {**related, "tracking_number": app.tracking_number, "status": app.status}

    async def view(self, complaint: Complaint, actor: Actor,
                   now: datetime | None = None) -> dict[str, Any]:
        return {
            "id": str(complaint.id),
            "tracking_number": complaint.tracking_number,
            "kind": complaint.kind,
            "reason": complaint.reason,
            "reasons": complaint.reasons,
            "intake_reasons": complaint.intake_reasons,
            "status": complaint.status,
            "unit": complaint.unit,
            "channel": complaint.channel,
            "external_id": complaint.external_id,
            "complainant": mask_identity(self.opened(complaint.complainant), actor,
                                         confidential=complaint.confidentiality is not None),
            "subject_matter": self.opened(complaint.subject_matter),
            "description": self.opened(complaint.description),
            "confidentiality": complaint.confidentiality,
            "audit_hold": complaint.audit_hold,
            "personal_data_erasure": complaint.personal_data_erasure,
            "service_received_on": complaint.service_received_on,
            "received_at": complaint.received_at,
            "recorded_at": complaint.recorded_at,
            "related_application": await self.related_application(complaint),
            "tier": complaint.tier,
            "tier_history": complaint.tier_history,
            "assignee": complaint.assignee,
            "sla": self.sla(complaint, now),
            "reclassification": complaint.reclassification,
            "classification": complaint.classification,
            "analysis": complaint.analysis,
            "apip_approval": complaint.apip_approval,
            "track": complaint.track,
            "agencies": complaint.agencies,
            "track_history": complaint.track_history,
            "response": complaint.response,
            "notifications": complaint.notifications,
            "superior_reports": complaint.superior_reports,
            "closure": complaint.closure,
            "version": complaint.version,
        }
