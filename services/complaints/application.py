"""The complaints service: what is its own beside the generic case service: intake (a
complaint or a suggestion, the personal data sealed), the catalogue check of a
classification, and the view (the identity masked by role). The steps themselves are the
rows of `services.complaints.commands`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, cast

import msgspec

from contracts import complaints as contracts
from contracts.complaints import ComplaintIntake, ComplaintIntakeAccepted
from contracts.mapping import ContractRegistry
from contracts.vocabulary import ComplaintChannel, ComplaintKind, SuggestionReason, Tier, Track
from services.calendar.application import CalendarService
from services.cases.commands import StaffDirectory
from services.cases.service import CaseService
from services.cases.views import AuditHold, PersonalDataErasure, TierStep
from services.complaints.domain import (
    TRACKING_PREFIX,
    Complaint,
    complaint_id,
    legacy_tracking_number,
)
from services.complaints.views import (
    AnalysisRecord,
    ApipApprovalRecord,
    ClassificationRecord,
    ClosureRecord,
    ComplaintView,
    Confidentiality,
    FindingsRecord,
    NotificationRecord,
    ReclassificationRecord,
    RelatedApplication,
    ResponseRecord,
    SuperiorReport,
    TrackStep,
    mask_identity,
)
from services.domain.actors import Actor
from services.domain.clock import JAKARTA, Clock
from services.domain.errors import InvalidInput, NotFound
from services.infra.groupcommit import GroupCommitter
from services.infra.personal_data import PersonalDataVault
from services.infra.store import EventStoreApplication
from services.infra.tracking_key import TrackingKey

__all__ = ["CONTRACTS", "ComplaintService", "Complaints", "accepted", "mask_identity"]


class Complaints(EventStoreApplication):
    name = "complaints"


def _contract_extras(event: Any) -> dict[str, Any]:
    """What a contract carries that the domain event does not spell out."""
    if type(event).__name__ == "Received":
        # The number is recorded since numbers are keyed; derived from the id before.
        return {"at": event.recorded_at,
                "tracking_number": getattr(event, "tracking_number", None)
                or legacy_tracking_number(event.originator_id)}
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


class Classification(Protocol):
    @property
    def service_code(self) -> str: ...

    @property
    def problem_type(self) -> str: ...

    @property
    def concerns_head(self) -> bool: ...


def accepted(service: ComplaintService, complaint: Complaint) -> ComplaintIntakeAccepted:
    """Intake's answer, the same on 201 and on a repeat's 200 (the PIN follows from the
    case id)."""
    return ComplaintIntakeAccepted(
        id=str(complaint.id), tracking_number=complaint.tracking_number,
        kind=cast(ComplaintKind, complaint.kind),
        reason=cast(SuggestionReason | None, complaint.reason),
        reasons=cast(list[SuggestionReason], list(complaint.reasons)),
        pin=service.tracking.pin(complaint.id))


class ComplaintService(CaseService[Complaint, ComplaintView]):
    noun = "complaint"

    def __init__(self, store: Complaints, committer: GroupCommitter, clock: Clock,
                 calendar: CalendarService, catalogue: ServiceCatalogue,
                 applications: ApplicationLookup, at_risk_ratio: float = 0.8,
                 vault: PersonalDataVault | None = None,
                 staff: StaffDirectory | None = None, *, tracking: TrackingKey) -> None:
        super().__init__(store, committer, clock, calendar, at_risk_ratio, vault)
        self.tracking = tracking
        """Draws each new case's tracking number and PIN."""
        self.catalogue = catalogue
        self.applications = applications
        self.staff = staff
        """Who may be assigned a case (None: no register, a bare tool's service)."""

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
            tracking_number=self.tracking.number(
                TRACKING_PREFIX, complaint_id(intake.channel, intake.external_id)),
        )
        if intake.related_application_id is not None:
            try:
                await self.applications.get(intake.related_application_id)
            except NotFound:
                raise InvalidInput("related_application_id",
                                   f"no application {intake.related_application_id}") from None
        return await self.create(complaint)

    async def _sealer(self, intake: ComplaintIntake) -> Callable[[Any], Any] | None:
        """The complainant's subject: their NIK's, or this case's alone without one."""
        if self.vault is None:
            return None
        nik = intake.complainant.nik if intake.complainant is not None else None
        return await self.vault.sealer(self.vault.subject_of(
            nik, complaint_id(intake.channel, intake.external_id)))

    def sealed(self, case: Complaint) -> tuple[Any, Any, Any]:
        return case.complainant, case.subject_matter, case.description

    def opened(self, value: Any) -> Any:
        return self.vault.open(value) if self.vault is not None else value

    # -- steps that need more than the aggregate -------------------------------------------
    async def classify(self, complaint: Complaint, request: Classification, actor: Actor,
                       now: datetime) -> None:
        """The classification row's call: the service must be in the catalogue."""
        if self.catalogue.get(request.service_code) is None:
            raise InvalidInput("service_code", f"unknown service {request.service_code!r}; "
                               "GET /services lists them")
        complaint.classify(request.service_code, request.problem_type, actor.as_record(), now,
                           concerns_head=request.concerns_head)

    # -- the view ---------------------------------------------------------------------
    async def related_application(self, complaint: Complaint) -> RelatedApplication | None:
        """The application the complaint names, as it stands now, with its link."""
        app_id = complaint.related_application_id
        if app_id is None:
            return None
        related: RelatedApplication = {"id": app_id, "tracking_number": None, "status": None,
                                       "link": f"/applications/{app_id}"}
        try:
            app = await self.applications.get(uuid.UUID(app_id))
        except NotFound:
            return related  # it existed at intake; say what we still know
        return {**related, "tracking_number": app.tracking_number, "status": app.status}

    async def view(self, case: Complaint, actor: Actor,
                   now: datetime | None = None) -> ComplaintView:
        """The complaint as `actor` may see it: the identity masked for roles that may
        not see it. (The casts: the case keeps each record as a plain dict of the shape
        its TypedDict documents.)"""
        await self.calendar.current_calendar()  # every correction committed so far
        c = case
        return ComplaintView(
            id=str(c.id),
            tracking_number=c.tracking_number,
            kind=cast(ComplaintKind, c.kind),
            reason=cast(SuggestionReason | None, c.reason),
            reasons=cast(list[SuggestionReason], c.reasons),
            intake_reasons=cast(list[SuggestionReason], c.intake_reasons),
            status=c.status,
            unit=c.unit,
            channel=cast(ComplaintChannel, c.channel),
            external_id=c.external_id,
            complainant=mask_identity(self.opened(c.complainant), actor,
                                      confidential=c.confidentiality is not None),
            subject_matter=self.opened(c.subject_matter),
            description=self.opened(c.description),
            confidentiality=cast(Confidentiality | None, c.confidentiality),
            audit_hold=cast(AuditHold | None, c.audit_hold),
            personal_data_erasure=cast(PersonalDataErasure | None, c.personal_data_erasure),
            service_received_on=c.service_received_on,
            received_at=c.received_at,
            recorded_at=c.recorded_at,
            related_application=await self.related_application(c),
            tier=cast(Tier, c.tier),
            tier_history=cast(list[TierStep], c.tier_history),
            assignee=c.assignee,
            sla=self.sla(c, now),
            reclassification=cast(ReclassificationRecord | None, c.reclassification),
            classification=cast(ClassificationRecord | None, c.classification),
            analysis=cast(AnalysisRecord | None, c.analysis),
            findings=cast(FindingsRecord | None, c.findings),
            apip_approval=cast(ApipApprovalRecord | None, c.apip_approval),
            track=cast(Track | None, c.track),
            agencies=c.agencies,
            track_history=cast(list[TrackStep], c.track_history),
            response=cast(ResponseRecord | None, c.response),
            notifications=cast(list[NotificationRecord], c.notifications),
            superior_reports=cast(list[SuperiorReport], c.superior_reports),
            closure=cast(ClosureRecord | None, c.closure),
            version=c.version,
        )
