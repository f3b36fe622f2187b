"""A case command, declared once: one row of its case type's table.

A row names the path segment, the request Struct, the aggregate method it runs, who may
run it (a `Policy`), and what the OpenAPI document says of it. The generic case service
(`services.cases.service`) runs every row the same way and the route factory
(`services.cases.routes`) serves it; adding a step to a case is one row, one aggregate
method with its event, its contract and its test.

The request's fields are handed to the aggregate method by name, followed by `actor`
(the record stored in the event) and `at` (the office clock's now): a request Struct's
field names are the method's parameter names. A step that needs the service's own
tools (signing a certificate, the catalogue, the personal-data vault) names a `call`
instead: `call(service, case, request, actor, now)`.

Intake (a channel submitting a new case) is declared here too, once for HTTP and NATS.
No Litestar here: the table is read by the service, the routes and the NATS intake.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import msgspec

from services.cases.requests import Assignment, BreachEscalation, Escalation
from services.domain.actors import Actor
from services.domain.policy import ASSIGNS, SLA_TIMER, WORKS, Policy, require_channel


@dataclass(frozen=True, kw_only=True)
class Command:
    """One step of a case, as a row of its case type's table."""

    name: str
    """The path segment (`POST /<case type>s/{id}/<name>`) and the row's key."""
    request: type[msgspec.Struct] | None
    """The body; None: the step takes none."""
    policy: Policy
    summary: str
    method: str | None = None
    """The aggregate method; the request's fields are its keyword arguments."""
    call: Callable[..., Awaitable[None]] | None = None
    """Instead of `method`: `call(service, case, request, actor, now)` for a step that
    needs the service's tools. It changes the case; the service commits it."""
    answer: Callable[[Any], msgspec.Struct] | None = None
    """What the step answers, from the case's view (the view itself when None); its
    return annotation is the documented response."""
    description: str = ""
    conflicts: tuple[str, ...] = ()
    """The rules the case's state may refuse it with (409 `extra.rule`)."""
    invalid: tuple[str, ...] = ()
    """The fields the aggregate may find invalid (422 `extra.field`)."""
    status_code: int = 200
    body_optional: bool = False
    """The body may be left out altogether (the request's defaults then apply)."""
    routed: bool = True
    """False: not an HTTP route (the SLA timer's own command)."""

    def __post_init__(self) -> None:
        if (self.method is None) == (self.call is None):
            raise ValueError(f"command {self.name}: give either `method` or `call`")

    def arguments(self, request: msgspec.Struct | None) -> dict[str, Any]:
        """The aggregate method's keyword arguments from the request."""
        return {} if request is None else msgspec.structs.asdict(request)


class CommandTable:
    """A case type's commands, by name, in the order they are documented."""

    def __init__(self, *rows: Command) -> None:
        self._rows = {row.name: row for row in rows}
        if len(self._rows) != len(rows):
            raise ValueError("two commands of one table share a name")

    def __getitem__(self, name: str) -> Command:
        return self._rows[name]

    def __iter__(self) -> Iterator[Command]:
        return iter(self._rows.values())

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def routed(self) -> list[Command]:
        return [row for row in self if row.routed]


# -- rows every case type has (tier by tier; DOMAIN.md, "berjenjang") ---------------------
class StaffDirectory(Protocol):
    """The staff register, as assignment asks it (services/staff)."""

    async def check_assignable(self, officer: str, unit: str, tier: str) -> None:
        """Raise InvalidInput naming `officer` unless they may work such a case."""


class Staffed(Protocol):
    """A case service that knows the staff register (None: a bare tool's service)."""

    @property
    def staff(self) -> StaffDirectory | None: ...


class Assignable(Protocol):
    unit: str
    tier: str

    def check_open(self, step: str) -> None: ...

    def assign(self, officer: str, actor: dict[str, Any], at: datetime) -> None: ...


async def assign(service: Staffed, case: Assignable, request: Assignment, actor: Actor,
                 now: datetime) -> None:
    """The assignment row's call: the office must know who handled what (the seed's
    sanctions need it), so only a registered, active officer of the case's unit, at its
    tier or above, is assigned it (422 naming `officer`). A closed case answers 409 first."""
    case.check_open("assignment")
    if service.staff is not None:
        await service.staff.check_assignable(request.officer, case.unit, case.tier)
    case.assign(request.officer, actor.as_record(), now)


ASSIGNMENT = Command(
    name="assignment", request=Assignment, call=assign, policy=ASSIGNS,
    summary="Assign the case to an officer",
    description="A supervisor, the head, or an officer of kepala_seksi or above names who "
                "works the case: a registered, active officer of the case's unit, at its "
                "tier or above (the staff register, `POST /staff`).",
    conflicts=("case_closed",), invalid=("officer",))
ESCALATION = Command(
    name="escalation", request=Escalation, method="escalate", policy=WORKS,
    summary="Escalate the case to a higher tier",
    description="One tier up, with a written report to the tier above; more than one tier "
                "at once needs a supervisor or the head. The assignee is cleared.",
    conflicts=("escalation_must_move_up", "tier_skip_needs_supervisor", "case_closed"),
    invalid=("reason",))
BREACH_ESCALATION = Command(
    name="breach-escalation", request=BreachEscalation, method="escalate_for_breach",
    policy=SLA_TIMER, routed=False,
    summary="The SLA timer escalates a breached case one tier up, once per run of its clock",
    conflicts=("breach_already_escalated", "top_tier", "case_closed"))
EVERY_CASE = (ASSIGNMENT, ESCALATION, BREACH_ESCALATION)
"""The rows at the end of every case type's table."""


# -- intake -------------------------------------------------------------------------------
class ChannelBody(Protocol):
    """An intake body: it names the channel it comes from."""

    @property
    def channel(self) -> str: ...


Submit = Callable[[Any, Actor], Awaitable[tuple[Any, bool]]]
"""A service's intake: (body, actor) → (the case, created now?)."""


class IntakeService(Protocol):
    """A service that takes new cases from channels."""

    @property
    def submit(self) -> Submit: ...


@dataclass(frozen=True, kw_only=True)
class Intake:
    """A channel submits a new case: the same declaration for HTTP and NATS."""

    case_type: str
    """`<case-type>` in the NATS subject `ptsp.intake.<case-type>.<channel>`."""
    request: type[msgspec.Struct]
    channels: tuple[str, ...]
    """The channels that take this kind of case."""
    accepted: Callable[[Any, Any], msgspec.Struct]
    """(the service, the case) → the answer: the same on 201 and on a repeat's 200 (the
    service holds what the answer needs beside the case, the key a PIN is drawn with)."""
    summary: str
    description: str = ""

    async def take(self, service: IntakeService, body: ChannelBody,
                   actor: Actor) -> tuple[msgspec.Struct, bool]:
        """Check the channel, submit, answer; True when the case was created now (False:
        a repeat of the same (channel, external_id), which writes nothing)."""
        require_channel(actor, body.channel, self.channels)
        case, created = await service.submit(body, actor)
        return self.accepted(service, case), created
