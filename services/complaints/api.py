"""HTTP API of the complaints service (API.md, "Complaints (pengaduan)")."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.di import Provide

from contracts.complaints import ComplaintChannel, ComplaintIntake, ComplaintIntakeAccepted
from services.complaints.application import ComplaintService
from services.domain.actors import COMPLAINT_CHANNELS, Actor
from services.domain.errors import Forbidden, NotFound
from services.domain.policy import (
    CASE_READERS,
    CASE_WORKERS,
    require_case_worker,
    require_channel,
    require_role,
)
from services.http.errors import intake_quota

Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
Note = Annotated[str, msgspec.Meta(max_length=20_000)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class Reclassification(msgspec.Struct, kw_only=True):
    reason: Reason


class Classification(msgspec.Struct, kw_only=True):
    service_code: Short
    problem_type: Literal["requirements", "procedure", "time", "fee", "product", "facilities",
                          "competence", "other"]


class Analysis(msgspec.Struct, kw_only=True):
    core_problem: Reason
    standard_refs: list[Short]
    documents_checked: list[Short] = []
    handling_plan: Literal["clarification", "confirmation", "examination", "investigation"]


class ApipApproval(msgspec.Struct, kw_only=True):
    reason: Reason
    authority: Short | None = None
    """The approving head: of DPMPTSP by default (`kepala_dpmptsp`), or of the agency named."""


class Track(msgspec.Struct, kw_only=True):
    track: Literal["internal", "technical_team", "apip"]
    agencies: list[Short] | None = None


class Answer(msgspec.Struct, kw_only=True):
    text: Reason


class ComplainantNotification(msgspec.Struct, kw_only=True):
    channel: ComplaintChannel


class Closure(msgspec.Struct, kw_only=True):
    note: Note | None = None


class Assignment(msgspec.Struct, kw_only=True):
    officer: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Escalation(msgspec.Struct, kw_only=True):
    to_tier: Literal["pelaksana", "kepala_seksi", "kepala_bidang", "kepala_dinas"]
    reason: Reason


def provide_service(state: State) -> ComplaintService:
    return state.complaints


def hidden(case_id: UUID) -> NotFound:
    """What a case outside the caller's unit answers: the unknown case's 404."""
    return NotFound(f"no complaint {case_id}")


class ComplaintsController(Controller):
    path = "/complaints"
    tags = ["complaints"]
    dependencies = {"service": Provide(provide_service, sync_to_thread=False)}

    @post("/", status_code=201, guards=[intake_quota])
    async def submit(self, data: ComplaintIntake, actor: Actor,
                     service: ComplaintService) -> Response[ComplaintIntakeAccepted]:
        """Intake from a channel; idempotent on (channel, external_id). A late, anonymous
        or objectless submission is recorded as a suggestion, and says why."""
        require_channel(actor, data.channel, COMPLAINT_CHANNELS)
        complaint, created = await service.submit(data, actor)
        body = ComplaintIntakeAccepted(
            id=str(complaint.id), tracking_number=complaint.tracking_number,
            kind=complaint.kind, reason=complaint.reason,  # type: ignore[arg-type]
            reasons=list(complaint.reasons))  # type: ignore[arg-type]
        return Response(body, status_code=201 if created else 200)

    @get("/{case_id:uuid}")
    async def read(self, case_id: UUID, actor: Actor, service: ComplaintService) -> dict[str, Any]:
        require_role(actor, *CASE_READERS)
        complaint = await service.get(case_id)
        require_case_worker(actor, complaint.unit, complaint.tier, write=False,
                            hidden=hidden(case_id))
        return await service.view(complaint, actor)

    @post("/{case_id:uuid}/reclassification", status_code=200)
    async def reclassification(self, case_id: UUID, data: Reclassification, actor: Actor,
                               service: ComplaintService) -> dict[str, Any]:
        """A late suggestion becomes a complaint, with the reason recorded."""
        await self._may_work(service, case_id, actor)
        return await service.view(await service.reclassify(case_id, data.reason, actor), actor)

    @post("/{case_id:uuid}/classification", status_code=200)
    async def classification(self, case_id: UUID, data: Classification, actor: Actor,
                             service: ComplaintService) -> dict[str, Any]:
        await self._may_work(service, case_id, actor)
        return await service.view(await service.classify(
            case_id, data.service_code, data.problem_type, actor), actor)

    @post("/{case_id:uuid}/analysis", status_code=200)
    async def analysis(self, case_id: UUID, data: Analysis, actor: Actor,
                       service: ComplaintService) -> dict[str, Any]:
        await self._may_work(service, case_id, actor)
        return await service.view(await service.analyse(
            case_id, data.core_problem, data.standard_refs, data.documents_checked,
            data.handling_plan, actor), actor)

    @post("/{case_id:uuid}/apip-approval", status_code=200)
    async def apip_approval(self, case_id: UUID, data: ApipApproval, actor: Actor,
                            service: ComplaintService) -> dict[str, Any]:
        """The head approves involving APIP (the Inspektorat)."""
        require_role(actor, "head")
        return await service.view(await service.approve_apip(
            case_id, data.reason, data.authority, actor), actor)

    @post("/{case_id:uuid}/track", status_code=200)
    async def track(self, case_id: UUID, data: Track, actor: Actor,
                    service: ComplaintService) -> dict[str, Any]:
        await self._may_work(service, case_id, actor)
        return await service.view(await service.choose_track(
            case_id, data.track, data.agencies, actor), actor)

    @post("/{case_id:uuid}/escalation", status_code=200)
    async def escalation(self, case_id: UUID, data: Escalation, actor: Actor,
                         service: ComplaintService) -> dict[str, Any]:
        await self._may_work(service, case_id, actor)
        return await service.view(await service.escalate(
            case_id, data.to_tier, data.reason, actor), actor)

    @post("/{case_id:uuid}/assignment", status_code=200)
    async def assignment(self, case_id: UUID, data: Assignment, actor: Actor,
                         service: ComplaintService) -> dict[str, Any]:
        if actor.role == "officer" and actor.tier in (None, "pelaksana"):
            raise Forbidden("assigning cases needs a supervisor or an officer of kepala_seksi "
                            "or above")
        await self._may_work(service, case_id, actor)
        return await service.view(await service.assign(case_id, data.officer, actor), actor)

    @post("/{case_id:uuid}/response", status_code=200)
    async def response(self, case_id: UUID, data: Answer, actor: Actor,
                       service: ComplaintService) -> dict[str, Any]:
        """The answer: meets the clock; a second answer is 409."""
        await self._may_work(service, case_id, actor)
        return await service.view(await service.respond(case_id, data.text, actor), actor)

    @post("/{case_id:uuid}/complainant-notification", status_code=200)
    async def complainant_notification(self, case_id: UUID, data: ComplainantNotification,
                                       actor: Actor, service: ComplaintService) -> dict[str, Any]:
        await self._may_work(service, case_id, actor)
        return await service.view(
            await service.notify_complainant(case_id, data.channel, actor), actor)

    @post("/{case_id:uuid}/superior-report", status_code=200)
    async def superior_report(self, case_id: UUID, data: Answer, actor: Actor,
                              service: ComplaintService) -> dict[str, Any]:
        await self._may_work(service, case_id, actor)
        return await service.view(
            await service.report_to_superior(case_id, data.text, actor), actor)

    @post("/{case_id:uuid}/closure", status_code=200)
    async def closure(self, case_id: UUID, actor: Actor, service: ComplaintService,
                      data: Closure | None = None) -> dict[str, Any]:
        """`{note?}`; the body may be left out."""
        await self._may_work(service, case_id, actor)
        note = data.note if data is not None else None
        return await service.view(await service.close(case_id, note, actor), actor)

    @staticmethod
    async def _may_work(service: ComplaintService, case_id: UUID, actor: Actor) -> None:
        """Officers of unit `pengaduan` at the case's tier or above; supervisors and the
        head on every case; channels and auditors change nothing."""
        require_role(actor, *CASE_WORKERS)
        if actor.role in ("supervisor", "head"):
            return
        complaint = await service.get(case_id)
        require_case_worker(actor, complaint.unit, complaint.tier, write=True,
                            hidden=hidden(case_id))
