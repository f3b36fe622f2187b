"""Personal data (UU 27/2022): erasure, audit holds, confidential complaints, as command
rows run by the case services like every other step.

- `POST /applications/{id}/erasure`, `POST /complaints/{id}/erasure` (head; `{reason}`):
  crypto-shredding of the personal data of the case's data subject: every case with the
  same NIK, or this case alone when there is none. On audit hold: 409 `audit_hold`, and
  the refusal is recorded on the case (`*.erasure_refused`).
- `POST /cases/{id}/audit-hold`, `POST /cases/{id}/audit-hold/release` (auditor, head;
  `{reason}`): an audit is pending / is over.
- `POST /complaints/{id}/confidentiality` (head, officer of `pengaduan`; `{reason}`): the
  complainant's identity is masked for the handling staff from now on; the head and the
  auditors still see it.

The sealing itself is the services' (services/infra/personal_data.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, post
from litestar.datastructures import State

from services.applications.api import APPLICATIONS
from services.applications.views import ApplicationView
from services.cases.commands import Command
from services.cases.requests import WithReason
from services.cases.routes import command_router, documented_errors
from services.cases.service import CaseService
from services.complaints.api import COMPLAINTS
from services.complaints.views import ComplaintView
from services.domain.actors import Actor
from services.domain.errors import NotFound
from services.domain.policy import ERASES, HOLDS_FOR_AUDIT, MARKS_CONFIDENTIAL

TAGS = ("personal data",)

ERASURE = Command(
    name="erasure", request=WithReason, call=CaseService.erase_personal_data, policy=ERASES,
    summary="Erase the data subject's personal data",
    description="Crypto-shredding: every case of the same NIK, or this case alone without "
                "one. On audit hold the refusal is recorded on the case.",
    conflicts=("audit_hold",), invalid=("reason",))
CONFIDENTIALITY = Command(
    name="confidentiality", request=WithReason, method="mark_confidential",
    policy=MARKS_CONFIDENTIAL,
    summary="Keep the complainant's identity from the handling staff",
    description="Officers then see it masked; the head and the auditors see it.",
    conflicts=("already_confidential",), invalid=("reason",))
AUDIT_HOLD = Command(
    name="audit-hold", request=WithReason, method="place_audit_hold", policy=HOLDS_FOR_AUDIT,
    routed=False, summary="An audit is pending: erasure is refused until released",
    conflicts=("audit_hold_already_placed",), invalid=("reason",))
AUDIT_HOLD_RELEASE = Command(
    name="audit-hold-release", request=WithReason, method="release_audit_hold",
    policy=HOLDS_FOR_AUDIT, routed=False, summary="The audit is over: release the hold",
    conflicts=("no_audit_hold",), invalid=("reason",))

application_privacy_router = command_router(replace(APPLICATIONS, tags=TAGS), ERASURE)
complaint_privacy_router = command_router(replace(COMPLAINTS, tags=TAGS), ERASURE,
                                          CONFIDENTIALITY)


class HeldApplication(ApplicationView, kw_only=True):
    case_type: Literal["application"] = "application"


class HeldComplaint(ComplaintView, kw_only=True):
    case_type: Literal["complaint"] = "complaint"


class AuditHoldController(Controller):
    """Holds are placed by case id alone: applications and complaints share one id space
    (UUIDs), so the case is looked for in each."""

    path = "/cases"
    tags = list(TAGS)

    @post("/{case_id:uuid}/audit-hold", status_code=200, summary=AUDIT_HOLD.summary,
          operation_id="case_audit_hold",
          responses=documented_errors(AUDIT_HOLD.policy, AUDIT_HOLD.conflicts,
                                      AUDIT_HOLD.invalid))
    async def hold(self, case_id: UUID, data: WithReason, actor: Actor,
                   state: State) -> HeldApplication | HeldComplaint:
        """Erasure of the case's personal data is refused (and the refusal recorded)
        until the hold is released."""
        return await on_either_case(state, AUDIT_HOLD, case_id, data, actor)

    @post("/{case_id:uuid}/audit-hold/release", status_code=200,
          summary=AUDIT_HOLD_RELEASE.summary, operation_id="case_audit_hold_release",
          responses=documented_errors(AUDIT_HOLD_RELEASE.policy, AUDIT_HOLD_RELEASE.conflicts,
                                      AUDIT_HOLD_RELEASE.invalid))
    async def release(self, case_id: UUID, data: WithReason, actor: Actor,
                      state: State) -> HeldApplication | HeldComplaint:
        return await on_either_case(state, AUDIT_HOLD_RELEASE, case_id, data, actor)


async def on_either_case(state: State, command: Command, case_id: UUID, request: WithReason,
                         actor: Actor) -> HeldApplication | HeldComplaint:
    """Run `command` on the application or the complaint of that id."""
    applications: CaseService[Any, Any] = state.applications
    complaints: CaseService[Any, Any] = state.complaints
    try:
        view = await applications.execute(command, case_id, request, actor)
        return HeldApplication(**msgspec.structs.asdict(view))
    except NotFound:
        pass
    try:
        view = await complaints.execute(command, case_id, request, actor)
    except NotFound:
        raise NotFound(f"no case {case_id}") from None
    return HeldComplaint(**msgspec.structs.asdict(view))
