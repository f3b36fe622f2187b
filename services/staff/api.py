"""HTTP API of the staff register (API.md, "Additions"): the head writes; supervisors, the
head and auditors read."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import ValidationException

from contracts.staff import StaffDisabling, StaffEntry, StaffMember
from services.domain.actors import Actor
from services.domain.errors import NotFound
from services.domain.policy import STAFF_READERS, STAFF_WRITERS, require_role
from services.http.errors import refuse_nul
from services.staff.register import StaffService

_AT = re.compile(r"^(?P<message>.*) - at `\$\.?(?P<key>[^`]*)`$", re.DOTALL)


async def _entry_checked_first(request: Request[Any, Any, Any]) -> None:
    """The entry's body checked before Litestar reads it into the handler's arguments.

    Its field `actor` shares its name with the `actor` dependency of every handler, and
    Litestar takes a bad value there (a wrong type, a bad pattern) for a failed dependency
    and answers 500; here it is the client's 400 naming `actor`, as for any other field.
    A route's `before_request` replaces the app's, so the app's checks run first here."""
    await refuse_nul(request)
    try:
        msgspec.json.decode(await request.body(), type=StaffEntry)
    except msgspec.ValidationError as exc:
        found = _AT.match(str(exc))
        message, key = (found["message"], found["key"]) if found else (str(exc), "")
        raise ValidationException(
            detail=f"Validation failed for {request.method} {request.url.path}",
            extra=[{"message": message, "key": key, "source": "body"}]) from None
    except msgspec.DecodeError:
        pass  # malformed JSON: Litestar's own 400 says so


def _service(state: State) -> StaffService:
    service: StaffService = state.staff
    return service


class StaffController(Controller):
    path = "/staff"
    tags = ["staff"]

    @post("/", status_code=201, before_request=_entry_checked_first)
    async def register(self, data: StaffEntry, actor: Actor,
                       state: State) -> Response[StaffMember]:
        """Register a person, or replace their entry (which re-enables a disabled one):
        201 for a new person, 200 otherwise (the same entry again records nothing)."""
        require_role(actor, *STAFF_WRITERS)
        service = _service(state)
        existed = await service.member(data.actor) is not None
        member, _ = await service.register(data, actor)
        return Response(member, status_code=200 if existed else 201)

    @get("/")
    async def members(self, actor: Actor, state: State,
                      unit: str | None = None) -> list[StaffMember]:
        """Everyone the register holds, active or not, by actor id (`unit`: of one unit)."""
        require_role(actor, *STAFF_READERS)
        return await _service(state).members(unit)

    @get("/{member:str}")
    async def member(self, member: str, actor: Actor, state: State) -> StaffMember:
        require_role(actor, *STAFF_READERS)
        found = await _service(state).member(member)
        if found is None:
            raise NotFound(f"{member} is not in the staff register")
        return found

    @post("/{member:str}/disable", status_code=200)
    async def disable(self, member: str, data: StaffDisabling, actor: Actor,
                      state: State) -> StaffMember:
        """The person no longer works cases nor signs in to the console; the tokens issued
        to them until now are revoked (the services refuse them within seconds)."""
        require_role(actor, *STAFF_WRITERS)
        return await _service(state).disable(member, data.reason, actor)
