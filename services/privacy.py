"""HTTP API for personal data (UU 27/2022): erasure, audit holds, confidential complaints.

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

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, post
from litestar.datastructures import State

from services.applications.application import ApplicationService
from services.complaints.api import hidden as hidden_complaint
from services.complaints.application import MAY_MARK_CONFIDENTIAL, ComplaintService
from services.domain.actors import Actor
from services.domain.errors import NotFound
from services.domain.policy import require_case_worker, require_role

Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]

MAY_ERASE = ("head",)
MAY_HOLD = ("auditor", "head")


class WithReason(msgspec.Struct, kw_only=True):
    reason: Reason


def _services(state: State) -> tuple[ApplicationService, ComplaintService]:
    return state.applications, state.complaints


class ApplicationErasureController(Controller):
    path = "/applications"
    tags = ["personal data"]

    @post("/{case_id:uuid}/erasure", status_code=200)
    async def erase(self, case_id: UUID, data: WithReason, actor: Actor,
                    state: State) -> dict[str, Any]:
        """Erase the applicant's personal data (every case of the same NIK); head only.
        On audit hold: 409 `audit_hold`, the refusal recorded."""
        require_role(actor, *MAY_ERASE)
        applications, _ = _services(state)
        return applications.view(await applications.erase_personal_data(case_id, data.reason, actor))


class ComplaintPrivacyController(Controller):
    path = "/complaints"
    tags = ["personal data"]

    @post("/{case_id:uuid}/erasure", status_code=200)
    async def erase(self, case_id: UUID, data: WithReason, actor: Actor,
                    state: State) -> dict[str, Any]:
        """Erase the complainant's personal data and narrative (every case of the same
        NIK, or this case alone); head only. On audit hold: 409 `audit_hold`."""
        require_role(actor, *MAY_ERASE)
        _, complaints = _services(state)
        complaint = await complaints.erase_personal_data(case_id, data.reason, actor)
        return await complaints.view(complaint, actor)

    @post("/{case_id:uuid}/confidentiality", status_code=200)
    async def confidentiality(self, case_id: UUID, data: WithReason, actor: Actor,
                              state: State) -> dict[str, Any]:
        """Mark the complainant's identity confidential: officers (handling staff) then
        see it masked; the head and auditors see it."""
        require_role(actor, *MAY_MARK_CONFIDENTIAL)
        _, complaints = _services(state)
        if actor.role == "officer":
            current = await complaints.get(case_id)
            require_case_worker(actor, current.unit, current.tier, write=True,
                                hidden=hidden_complaint(case_id))
        complaint = await complaints.mark_confidential(case_id, data.reason, actor)
        return await complaints.view(complaint, actor)


class AuditHoldController(Controller):
    path = "/cases"
    tags = ["personal data"]

    @post("/{case_id:uuid}/audit-hold", status_code=200)
    async def hold(self, case_id: UUID, data: WithReason, actor: Actor,
                   state: State) -> dict[str, Any]:
        """An audit is pending: erasure of the case's personal data is refused (and the
        refusal recorded) until the hold is released."""
        require_role(actor, *MAY_HOLD)
        return await _on_case(state, case_id, actor, "place_audit_hold", data.reason)

    @post("/{case_id:uuid}/audit-hold/release", status_code=200)
    async def release(self, case_id: UUID, data: WithReason, actor: Actor,
                      state: State) -> dict[str, Any]:
        require_role(actor, *MAY_HOLD)
        return await _on_case(state, case_id, actor, "release_audit_hold", data.reason)


async def _on_case(state: State, case_id: UUID, actor: Actor, command: str,
                   reason: str) -> dict[str, Any]:
    """Applications and complaints share one id space (UUIDs): try each."""
    applications, complaints = _services(state)
    try:
        await applications.get(case_id)
    except NotFound:
        pass
    else:
        app = await getattr(applications, command)(case_id, reason, actor)
        return {**applications.view(app), "case_type": "application"}
    try:
        await complaints.get(case_id)
    except NotFound:
        raise NotFound(f"no case {case_id}") from None
    complaint = await getattr(complaints, command)(case_id, reason, actor)
    return {**await complaints.view(complaint, actor), "case_type": "complaint"}
