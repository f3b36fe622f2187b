"""HTTP API of the applications service (API.md, "Applications")."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.di import Provide

from contracts.applications import ApplicationIntake
from services.applications.application import ApplicationService
from services.domain.actors import APPLICATION_CHANNELS, Actor
from services.domain.errors import Forbidden, NotFound
from services.domain.policy import (
    CASE_READERS,
    CASE_WORKERS,
    require_case_worker,
    require_channel,
    require_own_channel,
    require_role,
)
from services.http.auth import PUBLIC
from services.http.errors import intake_quota

Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
Note = Annotated[str, msgspec.Meta(max_length=20_000)]


class Verification(msgspec.Struct, kw_only=True):
    results: dict[str, bool]
    note: Note | None = None


class Resubmission(msgspec.Struct, kw_only=True):
    note: Note | None = None


class ReturnForCorrection(msgspec.Struct, kw_only=True):
    reason: Reason
    unmet: list[str] = []


class TechnicalReview(msgspec.Struct, kw_only=True):
    recommendation: Literal["approve", "reject"]
    note: Note = ""


class Decision(msgspec.Struct, kw_only=True):
    outcome: Literal["approve", "reject"]
    reason: Note = ""


class Assignment(msgspec.Struct, kw_only=True):
    officer: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Escalation(msgspec.Struct, kw_only=True):
    to_tier: Literal["pelaksana", "kepala_seksi", "kepala_bidang", "kepala_dinas"]
    reason: Reason


class WithReason(msgspec.Struct, kw_only=True):
    reason: Reason


def provide_service(state: State) -> ApplicationService:
    return state.applications


def hidden(case_id: UUID) -> NotFound:
    """What a case outside the caller's unit or channel answers: the unknown case's 404."""
    return NotFound(f"no application {case_id}")


class ApplicationsController(Controller):
    path = "/applications"
    tags = ["applications"]
    dependencies = {"service": Provide(provide_service, sync_to_thread=False)}

    @post("/", status_code=201, guards=[intake_quota])
    async def submit(self, data: ApplicationIntake, actor: Actor,
                     service: ApplicationService) -> Response[dict[str, Any]]:
        """Intake from a channel; idempotent on (channel, external_id)."""
        require_channel(actor, data.channel, APPLICATION_CHANNELS)
        app, created = await service.submit(data, actor)
        body = {"id": str(app.id), "tracking_number": app.tracking_number, "status": app.status}
        return Response(body, status_code=201 if created else 200)

    @get("/{case_id:uuid}")
    async def read(self, case_id: UUID, actor: Actor, service: ApplicationService) -> dict[str, Any]:
        require_role(actor, *CASE_READERS)
        app = await service.get(case_id)
        require_case_worker(actor, app.unit, app.tier, write=False, hidden=hidden(case_id))
        return service.view(app)

    @post("/{case_id:uuid}/verification", status_code=200)
    async def verification(self, case_id: UUID, data: Verification, actor: Actor,
                           service: ApplicationService) -> dict[str, Any]:
        await self._may_work(service, case_id, actor)
        return service.view(await service.verify(case_id, data.results, data.note, actor))

    @post("/{case_id:uuid}/resubmission", status_code=200)
    async def resubmission(self, case_id: UUID, data: Resubmission, actor: Actor,
                           service: ApplicationService) -> dict[str, Any]:
        await self._own_channel(service, case_id, actor)
        return service.view(await service.resubmit(case_id, data.note, actor))

    @post("/{case_id:uuid}/withdrawal", status_code=200)
    async def withdrawal(self, case_id: UUID, data: WithReason, actor: Actor,
                         service: ApplicationService) -> dict[str, Any]:
        await self._own_channel(service, case_id, actor)
        return service.view(await service.withdraw(case_id, data.reason, actor))

    @post("/{case_id:uuid}/return", status_code=200)
    async def return_for_correction(self, case_id: UUID, data: ReturnForCorrection,
                                    actor: Actor, service: ApplicationService) -> dict[str, Any]:
        """The office sends a complete file back to the applicant: the clock pauses."""
        await self._may_work(service, case_id, actor)
        return service.view(await service.return_for_correction(case_id, data.reason, data.unmet, actor))

    @post("/{case_id:uuid}/technical-review", status_code=200)
    async def technical_review(self, case_id: UUID, data: TechnicalReview, actor: Actor,
                               service: ApplicationService) -> dict[str, Any]:
        await self._may_work(service, case_id, actor)
        return service.view(await service.review(case_id, data.recommendation, data.note, actor))

    @post("/{case_id:uuid}/decision", status_code=200)
    async def decision(self, case_id: UUID, data: Decision, actor: Actor,
                       service: ApplicationService) -> dict[str, Any]:
        require_role(actor, "supervisor", "head")
        return service.view(await service.decide(case_id, data.outcome, data.reason, actor))

    @post("/{case_id:uuid}/issuance", status_code=200)
    async def issuance(self, case_id: UUID, actor: Actor, service: ApplicationService) -> dict[str, Any]:
        """Issues the NIB and the signed Sertifikat Standar; not approved: 409."""
        require_role(actor, "supervisor", "head")
        view = service.view(await service.issue(case_id, actor))
        cert = view["certificate"]
        return {**view, "certificate_number": cert["certificate_number"], "nib": cert["nib"],
                "verification_url": cert["verification_url"]}

    @post("/{case_id:uuid}/certificate-revocation", status_code=200)
    async def revocation(self, case_id: UUID, data: WithReason, actor: Actor,
                         service: ApplicationService) -> dict[str, Any]:
        require_role(actor, "supervisor", "head")
        return service.view(await service.revoke_certificate(case_id, data.reason, actor))

    @post("/{case_id:uuid}/assignment", status_code=200)
    async def assignment(self, case_id: UUID, data: Assignment, actor: Actor,
                         service: ApplicationService) -> dict[str, Any]:
        if actor.role == "officer" and actor.tier in (None, "pelaksana"):
            raise Forbidden("assigning cases needs a supervisor or an officer of kepala_seksi or above")
        await self._may_work(service, case_id, actor)
        return service.view(await service.assign(case_id, data.officer, actor))

    @post("/{case_id:uuid}/escalation", status_code=200)
    async def escalation(self, case_id: UUID, data: Escalation, actor: Actor,
                         service: ApplicationService) -> dict[str, Any]:
        await self._may_work(service, case_id, actor)
        return service.view(await service.escalate(case_id, data.to_tier, data.reason, actor))

    @staticmethod
    async def _may_work(service: ApplicationService, case_id: UUID, actor: Actor) -> None:
        require_role(actor, *CASE_WORKERS)
        if actor.role in ("supervisor", "head"):
            return
        app = await service.get(case_id)
        require_case_worker(actor, app.unit, app.tier, write=True, hidden=hidden(case_id))

    @staticmethod
    async def _own_channel(service: ApplicationService, case_id: UUID, actor: Actor) -> None:
        require_role(actor, "channel")
        app = await service.get(case_id)
        require_own_channel(actor, app.channel, hidden(case_id))


class CertificatesController(Controller):
    path = "/certificates"
    tags = ["certificates"]
    dependencies = {"service": Provide(provide_service, sync_to_thread=False)}

    @get("/{number:str}", exclude_from_auth=True, security=PUBLIC)
    async def verify(self, number: str, service: ApplicationService,
                     sig: str | None = None) -> dict[str, Any]:
        """Public: is this certificate genuine, unaltered and still valid? `sig` is the
        signature printed in the certificate's QR link."""
        return await service.verify_certificate(number, sig)


class ServicesController(Controller):
    path = "/services"
    tags = ["catalogue"]
    dependencies = {"service": Provide(provide_service, sync_to_thread=False)}

    @get("/", exclude_from_auth=True, security=PUBLIC)
    async def list_services(self, service: ApplicationService) -> list[dict[str, Any]]:
        return [msgspec.to_builtins(s) for s in service.catalogue.all()]
