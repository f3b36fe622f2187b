"""One factory makes the HTTP routes of a case type from its command table: the intake
POST, the read, and one POST per row, each with its summary, status code, documented
errors (from the row and its policy) and typed request and response bodies.

The handlers hold no rule: who may is the row's policy, checked by the case service.
Their parameter and return types differ per row; Litestar resolves the names `Body` and
`Answer` in their annotations through each handler's `signature_namespace`, so the OpenAPI
document shows every row's own request and response.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_type_hints
from uuid import UUID

import msgspec
from litestar import Response, Router, get, post
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec

from services.cases.commands import Command, CommandTable, Intake
from services.cases.service import CaseService
from services.domain.actors import Actor
from services.domain.policy import READS, Policy
from services.http.errors import intake_gate

Body = Any
"""A row's request Struct (given to Litestar per handler)."""
Answer = Any
"""A row's response Struct (given to Litestar per handler)."""


class ErrorBody(msgspec.Struct, kw_only=True):
    """Every error: the status again, what went wrong, and `extra.rule` (or, for a body
    that does not fit its schema, a list naming each field)."""

    status_code: int
    detail: str
    extra: dict[str, Any] | list[Any]


CONFLICT = "another write reached the case first (`concurrent_write_lost`): read it again"


@dataclass(frozen=True, kw_only=True)
class CaseRoutes:
    """How a case type is served."""

    noun: str
    """"application": its operations are named `<noun>_<row>`."""
    path: str
    """"/applications"."""
    service: str
    """The key of its `CaseService` in the application's state."""
    view: type[msgspec.Struct]
    """What a read (and a row without its own `answer`) answers."""
    tags: tuple[str, ...] = ()


def returned(function: Callable[..., Any]) -> Any:
    """The documented response of an answer function: its return annotation."""
    return get_type_hints(function)["return"]


def _joined(*parts: str | None) -> str | None:
    return "; ".join(p for p in parts if p) or None


def _listed(names: tuple[str, ...]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def refusals(policy: Policy) -> str:
    """When the policy answers 403, in words."""
    text = _joined(
        f"the role may not (needs: {', '.join(policy.roles)})",
        f"an officer below {policy.officer_min_tier}" if policy.officer_min_tier else None,
        "an officer below the case's tier" if policy.case_tier else None) or ""
    return text if policy.rule == "forbidden" else f"{text} (`{policy.rule}`)"


def documented_errors(policy: Policy, conflicts: tuple[str, ...] = (),
                      invalid: tuple[str, ...] = (), on_case: bool = True,
                      more: Mapping[int, str] | None = None) -> dict[int, ResponseSpec]:
    """The error responses of a route: from its policy, the rules its case's state may
    refuse it with, the fields its domain may find invalid, and `more`."""
    found: dict[int, str | None] = {
        401: "no, bad, expired or revoked token",
        403: refusals(policy),
        422: f"invalid: {_listed(invalid)}" if invalid else None,
    }
    if on_case:
        found[404] = _joined(
            "no such case",
            "or one of another unit (the same answer)" if policy.own_unit else None,
            "or another channel's case (the same answer)" if policy.own_channel else None)
        found[409] = _joined(
            f"the case's state forbids it now: {_listed(conflicts)}" if conflicts else None,
            CONFLICT)
    for status, text in (more or {}).items():
        found[status] = _joined(found.get(status), text)
    return {status: ResponseSpec(data_container=ErrorBody, description=text,
                                 generate_examples=False)
            for status, text in sorted(found.items()) if text}


def command_handler(kind: CaseRoutes, row: Command) -> HTTPRouteHandler:
    """`POST {path}/{id}/{row.name}`: runs the row."""
    answer = returned(row.answer) if row.answer is not None else kind.view

    async def with_body(case_id: UUID, data: Body, actor: Actor, state: State) -> Answer:
        service: CaseService[Any, Any] = state[kind.service]
        return await service.execute(row, case_id, data, actor)

    async def body_optional(case_id: UUID, actor: Actor, state: State,
                            data: Body | None = None) -> Answer:
        service: CaseService[Any, Any] = state[kind.service]
        assert row.request is not None  # body_optional is only declared with a request
        request = data if data is not None else row.request()
        return await service.execute(row, case_id, request, actor)

    async def bodiless(case_id: UUID, actor: Actor, state: State) -> Answer:
        service: CaseService[Any, Any] = state[kind.service]
        return await service.execute(row, case_id, None, actor)

    handler = (bodiless if row.request is None
               else body_optional if row.body_optional else with_body)
    return post(
        f"/{{case_id:uuid}}/{row.name}", status_code=row.status_code,
        summary=row.summary, description=row.description or None,
        operation_id=f"{kind.noun}_{row.name.replace('-', '_')}",
        responses=documented_errors(row.policy, row.conflicts, row.invalid),
        signature_namespace={"Body": row.request, "Answer": answer},
    )(handler)


def read_handler(kind: CaseRoutes, policy: Policy = READS) -> HTTPRouteHandler:
    """`GET {path}/{id}`: the case as the caller may see it."""

    async def read(case_id: UUID, actor: Actor, state: State) -> Answer:
        service: CaseService[Any, Any] = state[kind.service]
        return await service.read(case_id, actor, policy)

    return get(
        "/{case_id:uuid}", summary=f"The {kind.noun} as it stands",
        description="Reflects every write that returned before it (read-your-writes).",
        operation_id=f"{kind.noun}_read", responses=documented_errors(policy),
        signature_namespace={"Answer": kind.view},
    )(read)


def intake_handler(intake: Intake, service: str, path: str = "/") -> HTTPRouteHandler:
    """`POST {path}`: a channel submits; 201, or 200 for a repeat."""

    async def submit(data: Body, actor: Actor, state: State) -> Response[Answer]:
        answer, created = await intake.take(state[service], data, actor)
        return Response(answer, status_code=201 if created else 200)

    return post(
        path, status_code=201, before_request=intake_gate, summary=intake.summary,
        description=intake.description or None, operation_id=f"{intake.case_type}_intake",
        responses={
            200: ResponseSpec(data_container=returned(intake.accepted), generate_examples=False,
                              description="a repeat of the same (channel, external_id): "
                                          "the same case, nothing written"),
            **documented_errors(
                Policy(roles=("channel",)), on_case=False,
                more={403: "another channel than the token's, or one that does not take "
                           "this kind of case",
                      422: "well-formed but invalid (an unknown service code)",
                      429: "the channel's intake budget is spent (`Retry-After`)"})},
        signature_namespace={"Body": intake.request, "Answer": returned(intake.accepted)},
    )(submit)


def case_router(kind: CaseRoutes, intake: Intake, table: CommandTable) -> Router:
    """Every route of a case type: intake, the read, and one per routed row."""
    return Router(
        path=kind.path, tags=list(kind.tags),
        route_handlers=[intake_handler(intake, kind.service), read_handler(kind),
                        *(command_handler(kind, row) for row in table.routed)])


def command_router(kind: CaseRoutes, *rows: Command) -> Router:
    """Rows served beside a case type's own (personal data)."""
    return Router(path=kind.path, tags=list(kind.tags),
                  route_handlers=[command_handler(kind, row) for row in rows])
