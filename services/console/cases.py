"""A case as its page shows it: the view (through its service, under the same policy
as the API), the steps this person may take now with a form each, the clock and the
timeline.

The steps are the rows of the case type's command table (and the personal-data rows),
each shown when its policy lets this person run it on this case — `authorize` and
`authorize_case`, the very checks `CaseService.run` makes — so a button a person may
not use is not shown, and a forged POST is refused by the service as it would be on the
API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import msgspec

from services.applications.commands import COMMANDS as APPLICATION_COMMANDS
from services.cases.commands import Command
from services.cases.service import CaseService
from services.complaints.commands import COMMANDS as COMPLAINT_COMMANDS
from services.console.forms import Choice, StepForm, form_for
from services.console.timeline import Entry, entries, envelopes
from services.domain.actors import Actor
from services.domain.errors import DomainError, NotFound
from services.domain.policy import authorize, authorize_case
from services.privacy import AUDIT_HOLD, AUDIT_HOLD_RELEASE, CONFIDENTIALITY, ERASURE

STREAM_OF = {"application": "applications", "complaint": "complaints"}
STEPS: dict[str, tuple[Command, ...]] = {
    "application": (*APPLICATION_COMMANDS.routed, ERASURE, AUDIT_HOLD, AUDIT_HOLD_RELEASE),
    "complaint": (*COMPLAINT_COMMANDS.routed, CONFIDENTIALITY, ERASURE, AUDIT_HOLD,
                  AUDIT_HOLD_RELEASE),
}
"""Every step a member of staff may take on a case of each type, in the table's order."""


def step_named(case_type: str, name: str) -> Command | None:
    return next((row for row in STEPS[case_type] if row.name == name), None)


def may_take(row: Command, actor: Actor, case: Any) -> bool:
    """The row's policy lets `actor` run it on this case (the service's own checks, on
    the case aggregate as the service loads it)."""
    try:
        authorize(row.policy, actor)
        authorize_case(row.policy, actor, case, NotFound("hidden"))
    except DomainError:
        return False
    return True


@dataclass(frozen=True)
class CasePage:
    case_type: str
    view: Any
    """The service's view of the case for this person (ApplicationView, ComplaintView)."""
    steps: tuple[StepForm, ...]
    timeline: tuple[Entry, ...]

    @property
    def id(self) -> str:
        return str(self.view.id)


async def located(system: Any, case_id: UUID, actor: Actor) -> tuple[str, Any]:
    """(case type, view) of a case `actor` may read; the same NotFound for an unknown
    case and for one outside their unit."""
    services: dict[str, CaseService[Any, Any]] = {
        "application": system.applications, "complaint": system.complaints}
    for case_type, service in services.items():
        try:
            return case_type, await service.read(case_id, actor)
        except NotFound:
            continue
    raise NotFound(f"no case {case_id}")


def service_of(system: Any, case_type: str) -> CaseService[Any, Any]:
    service: CaseService[Any, Any] = (
        system.applications if case_type == "application" else system.complaints)
    return service


async def choices(system: Any, case_type: str, view: Any) -> dict[str, list[Choice]]:
    """What the case offers its forms' fields: its service's requirement codes (with their
    text), the catalogue's services, the officers of its unit."""
    offered: dict[str, list[Choice]] = {}
    catalogue = system.applications.catalogue
    if case_type == "application":
        service = catalogue.get(view.service_code)
        requirements = list(service.requirements) if service is not None else []
        codes = [Choice(r.code, r.code, literal=True, hint=r.text) for r in requirements]
        offered["results"] = offered["unmet"] = codes
        offered["exceptions"] = [
            Choice(r.code, r.code, literal=True, hint=r.business.exception)
            for r in requirements
            if getattr(r, "business", None) is not None and r.business.exception]
    offered["service_code"] = [Choice(s.service_code, f"{s.service_code} — {s.name}",
                                      literal=True) for s in catalogue.all()]
    officers = await officers_of(system, view.unit)
    if officers:
        offered["officer"] = officers
    return offered


async def officers_of(system: Any, unit: str) -> list[Choice]:
    """The active officers of a unit in the staff register, for an assignment."""
    members = await system.staff.members()
    return [Choice(m.actor, f"{m.name} ({m.actor})", literal=True) for m in members
            if m.active and m.role == "officer" and m.unit == unit]


async def timeline(system: Any, case_type: str, view: Any, actor: Actor) -> list[Entry]:
    assert system.audit is not None, "the system is started"
    events = await system.audit.eventlog.case_events(STREAM_OF[case_type], UUID(view.id))
    vault = system.vault
    if vault is not None:
        await vault.prefetch(envelopes(events))
    confidential = getattr(view, "confidentiality", None) is not None
    return entries(events, actor, vault.open if vault is not None else (lambda v: v),
                   confidential)


async def case_page(system: Any, case_id: UUID, actor: Actor) -> CasePage:
    case_type, view = await located(system, case_id, actor)
    offered = await choices(system, case_type, view)
    # The policies read the case itself (a complaint about the head, say), as the
    # service does when it runs the step.
    case = await service_of(system, case_type).get(case_id)
    steps = tuple(form_for(row, offered) for row in STEPS[case_type]
                  if may_take(row, actor, case))
    return CasePage(case_type, view, steps,
                    tuple(await timeline(system, case_type, view, actor)))


def as_dict(view: Any) -> dict[str, Any]:
    """A view as plain data (for the template's details)."""
    return dict(msgspec.to_builtins(view))


def visible_steps(page: CasePage) -> Sequence[str]:
    return [s.command.name for s in page.steps]
