"""HTTP API of the audit service (API.md, "Supervision, audit, calendar"): a case's
history, the case as of a time or version, and the verification of the whole store."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, get
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.params import Parameter

from contracts.audit import HistoryEntry, Verification
from services.audit.history import AS_OF_HELP
from services.audit.service import AuditService
from services.audit.views import ApplicationAsOf, ComplaintAsOf
from services.domain.actors import Actor
from services.domain.policy import require_role

# Auditors (Inspektorat, APIP) read every case's record; the head of office too.
AUDIT_READERS: tuple[str, ...] = ("auditor", "head")


def audit_of(state: State) -> AuditService:
    audit: AuditService | None = getattr(state.system, "audit", None)
    if audit is None:
        raise HTTPException(status_code=503, detail="the audit service is not running yet")
    return audit


class CaseRecordController(Controller):
    path = "/cases"
    tags = ["audit"]

    @get("/{case_id:uuid}/history")
    async def history(self, case_id: UUID, actor: Actor, state: State) -> list[HistoryEntry]:
        """Every stored event of the case, oldest first: position, time, type, actor,
        channel, data and its hash-chain links."""
        require_role(actor, *AUDIT_READERS)
        return msgspec.convert(await audit_of(state).history(case_id), list[HistoryEntry])

    @get("/{case_id:uuid}")
    async def read(self, case_id: UUID, actor: Actor, state: State,
                   as_of: Annotated[str | None, Parameter(
                       max_length=64, description=AS_OF_HELP)] = None,
                   ) -> ApplicationAsOf | ComplaintAsOf:
        """The case as it stood at `as_of`, rebuilt from its events (without `as_of`: as it
        stands now), in the shape of GET /applications/{id} or GET /complaints/{id}."""
        require_role(actor, *AUDIT_READERS)
        return await audit_of(state).state(case_id, as_of, actor)


class AuditController(Controller):
    path = "/audit"
    tags = ["audit"]

    @get("/verify")
    async def verify(self, actor: Actor, state: State) -> Verification:
        """Recompute the whole store's hash chain: `{ok, checked, first_broken, ...}`."""
        require_role(actor, *AUDIT_READERS)
        return msgspec.convert(await audit_of(state).verify(), Verification)
