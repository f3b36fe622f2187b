"""Open311 GeoReport v2 under `/open311/v2/` (API.md, "People and channels"), JSON only:

- `GET services.json`, `GET services/{service_code}.json` (public, like `GET /services`):
  one service, `pengaduan`, the complaint intake, and the attributes it takes;
- `POST requests.json` (form-encoded, as the standard has it): a complaint, through the
  complaints service's own intake (`services.complaints.commands.INTAKE`): 201 with
  `[{service_request_id, service_notice, tracking_number, pin}]`, 200 for a repeat;
- `GET requests.json`, `GET requests/{id}.json`: the calling channel's own requests only
  (another channel's answers exactly as an unknown one).

The API key is the channel's token: `api_key` in the query string or the form, or the
`Authorization: Bearer` header. Every error, whatever raised it, is the standard's list
`[{code, description}]` with the HTTP status as `code`, the description naming the field
as the Open311 client sent it; bad input is 400 (the standard's code for it).

`service_request_id` is the case id. A single request is read from the case itself (it
reflects every write that returned before it); the list comes from the read models and
may trail by a moment, like every list of the API.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, cast
from urllib.parse import parse_qs

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, Parameter

from contracts.complaints import ComplaintIntake, ComplaintIntakeAccepted
from projections.sla_timers import SlaTimers, sla_now
from services.complaints.application import ComplaintService
from services.complaints.commands import INTAKE as COMPLAINT_INTAKE
from services.complaints.domain import RESPONSE_WORKING_DAYS
from services.domain.actors import Actor
from services.domain.clock import JAKARTA
from services.domain.errors import Forbidden, InvalidInput, NotFound
from services.domain.policy import require_channel, require_role
from services.http.auth import PUBLIC, bearer_actor
from services.http.errors import EXCEPTION_HANDLERS, intake_quota
from services.infra.tokens import MissingToken, TokenIssuer
from services.intake.nats_intake import field_and_reason
from services.open311.mapping import (
    DEFINITION,
    SERVICE,
    SERVICE_CODE,
    RequestFacts,
    intake_body,
    open311_field,
    service_request,
)
from services.open311.views import (
    NewServiceRequest,
    Open311Error,
    RequestCreated,
    Service,
    ServiceDefinition,
    ServiceRequest,
)
from services.tracking.lookup import RUNNING, kind_of
from services.tracking.texts import TrackedKind, received_notice

BASE = "/open311/v2"
SUFFIX = ".json"
MAX_LISTED = 1000
"""The standard's bound on one answer of `requests.json`."""
MAX_IDS = 50
"""`service_request_id=a,b,...`: at most this many at once."""
WINDOW = timedelta(days=90)
"""The standard's default window of `requests.json`, and the widest one asked for."""


# -- errors: the standard's format ---------------------------------------------------------
def _project_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """What the rest of the API answers for `exc` (one mapping, services/http/errors.py)."""
    for cls in type(exc).__mro__:
        handler = EXCEPTION_HANDLERS.get(cls)
        if handler is not None:
            response: Response[Any] = handler(request, exc)
            return response
    raise exc  # pragma: no cover - Exception itself has a handler


def _descriptions(body: dict[str, Any]) -> list[str]:
    """Each problem in words, naming its field: a body that does not fit the form lists
    one per field (`extra` a list); a domain error names one (`extra.field`)."""
    extra = body.get("extra")
    problems = [p for p in extra if isinstance(p, dict)] if isinstance(extra, list) else []
    found = []
    for problem in problems:
        key, message = str(problem.get("key") or ""), str(problem.get("message"))
        if key in ("", "data"):  # the form as a whole: msgspec names the field inside
            key, message = field_and_reason(message)
        found.append(f"{open311_field(key)}: {message}" if key != "$" else message)
    return found or [str(body.get("detail") or "error")]


def open311_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Any error under /open311/v2 as `[{code, description}]`, headers kept (a 401's
    `WWW-Authenticate`, a 429's or 503's `Retry-After`). The API's 422 (well-formed but
    invalid) is the standard's 400."""
    response = _project_response(request, exc)
    status: int = 400 if response.status_code == 422 else response.status_code or 500
    body = response.content if isinstance(response.content, dict) else {}
    errors = [Open311Error(code=status, description=d) for d in _descriptions(body)]
    return Response(errors, status_code=status, headers=dict(response.headers))


# -- the API key ------------------------------------------------------------------------------
async def _form_api_key(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    if not isinstance(connection, Request):
        return None
    if not connection.headers.get("content-type", "").startswith(RequestEncodingType.URL_ENCODED):
        return None
    body = await connection.body()  # kept: the form is read again for the handler
    keys = parse_qs(body.decode("utf-8", "replace")).get("api_key")
    return keys[0] if keys else None


async def open311_caller(connection: ASGIConnection[Any, Any, Any, Any],
                         _: BaseRouteHandler) -> None:
    """Guard: the caller is the channel whose token is the API key (the bearer header,
    or `api_key` in the query string or the form); 401 without a valid one, 403 for a
    token that is not a channel's. Before the body is decoded, as everywhere."""
    issuer: TokenIssuer = connection.app.state.tokens
    header = connection.headers.get("authorization")
    if header:
        actor = bearer_actor(issuer, header)
    else:
        key = connection.query_params.get("api_key") or await _form_api_key(connection)
        if not key:
            raise MissingToken("no API key: give the channel's token as `api_key` or as "
                               "`Authorization: Bearer`")
        actor = issuer.authenticate(key)
    require_role(actor, "channel")
    connection.scope["user"] = actor


def _errors(*statuses: int, more: dict[int, str] | None = None) -> dict[int, ResponseSpec]:
    texts = {400: "bad input, naming the field", 401: "no valid API key (the channel's token)",
             403: "not a channel's token, or a channel that takes no complaints",
             404: "no such service or service request (another channel's: the same)",
             429: "the channel's intake budget is spent (`Retry-After`)", **(more or {})}
    return {s: ResponseSpec(data_container=list[Open311Error], description=texts[s],
                            generate_examples=False) for s in statuses}


ApiKey = Annotated[str | None, Parameter(
    description="the channel's token (or `Authorization: Bearer`)", max_length=4000)]
Jurisdiction = Annotated[str | None, Parameter(
    description="accepted and ignored: one office", max_length=250)]


def _file_name(name: str) -> str:
    """`<id>.json` → `<id>`; another format is not served."""
    if not name.endswith(SUFFIX):
        raise NotFound(f"{name}: only JSON is served (`{SUFFIX}`)")
    return name[:-len(SUFFIX)]


# -- services ----------------------------------------------------------------------------------
@get("/services.json", exclude_from_auth=True, security=PUBLIC, operation_id="open311_services")
async def services(jurisdiction_id: Jurisdiction = None) -> list[Service]:
    """The services a request may be made for: the complaint intake (`pengaduan`)."""
    return [SERVICE]


@get("/services/{service_file:str}", exclude_from_auth=True, security=PUBLIC,
     operation_id="open311_service_definition", responses=_errors(404))
async def service_definition(service_file: Annotated[str, Parameter(
        description="`<service_code>.json`", max_length=200)],
        jurisdiction_id: Jurisdiction = None) -> ServiceDefinition:
    """The attributes a new request for the service takes (`attribute[code]`)."""
    code = _file_name(service_file)
    if code != SERVICE_CODE:
        raise NotFound(f"service_code: no service {code!r}; services.json lists them")
    return DEFINITION


# -- requests ----------------------------------------------------------------------------------
NewRequestForm = Annotated[NewServiceRequest, Body(media_type=RequestEncodingType.URL_ENCODED)]


@post("/requests.json", exclude_from_auth=True, guards=[open311_caller, intake_quota],
      status_code=201, operation_id="open311_request_create",
      responses={200: ResponseSpec(data_container=list[RequestCreated],
                                   generate_examples=False,
                                   description="the same request again (its "
                                               "`attribute[external_id]`, or its content): "
                                               "the same case, nothing written"),
                 **_errors(400, 401, 403, 429)})
async def create_request(data: NewRequestForm, actor: Actor, state: State,
                         api_key: ApiKey = None) -> Response[list[RequestCreated]]:
    """A new complaint (or suggestion) from the channel of the API key, taken by the
    complaints service's intake with all its rules. The answer carries, beside the
    standard's fields, the `tracking_number` and the `pin` to hand to the person."""
    if data.service_code != SERVICE_CODE:
        raise InvalidInput("service_code", f"no service {data.service_code!r}; services.json "
                                           "lists the one taken here")
    service: ComplaintService = state.complaints
    channel = actor.channel or ""
    try:
        # The intake checks it again; first here, before the body names a channel that
        # takes no complaints (its 403 rather than the body's 400).
        require_channel(actor, channel, COMPLAINT_INTAKE.channels)
    except Forbidden as exc:
        raise Forbidden(f"api_key: {exc.detail}", field="api_key") from None
    try:
        intake = msgspec.convert(intake_body(data, channel), ComplaintIntake)
    except msgspec.ValidationError as exc:
        field, reason = field_and_reason(str(exc))
        if field == "$" and ": " in reason:  # a check of the whole body names its field
            field, _, reason = reason.partition(": ")
        raise InvalidInput(open311_field(field), reason) from None
    try:
        answer, created = await COMPLAINT_INTAKE.take(service, intake, actor)
    except InvalidInput as exc:
        raise InvalidInput(open311_field(exc.field), str(exc.extra.get("reason")),
                           rule=exc.rule) from None
    accepted = cast(ComplaintIntakeAccepted, answer)
    created_request = RequestCreated(
        service_request_id=accepted.id, tracking_number=accepted.tracking_number,
        pin=accepted.pin, account_id=data.account_id,
        service_notice=received_notice(accepted.kind, list(accepted.reasons),
                                       RESPONSE_WORKING_DAYS))
    return Response([created_request], status_code=201 if created else 200)


def _facts_of_case(case: Any, service: ComplaintService) -> RequestFacts:
    """From the case itself (its events)."""
    sla = service.sla(case)
    return RequestFacts(
        id=case.id, tracking_number=case.tracking_number, status=case.status,
        kind=kind_of(case), reasons=list(case.reasons), track=case.track,
        requested=case.received_at, updated=case.last_at or case.recorded_at,
        due=sla.due_at if sla.state in RUNNING else None)


async def _own_case(service: ComplaintService, case_id: uuid.UUID, actor: Actor) -> Any:
    """The channel's own complaint, or None (unknown, or another channel's: the same)."""
    case = await service.committer.load(case_id)
    return case if case is not None and case.channel == actor.channel else None


@get("/requests/{request_file:str}", exclude_from_auth=True, guards=[open311_caller],
     operation_id="open311_request_read", responses=_errors(401, 403, 404))
async def read_request(request_file: Annotated[str, Parameter(
        description="`<service_request_id>.json`", max_length=200)],
        actor: Actor, state: State, api_key: ApiKey = None,
        jurisdiction_id: Jurisdiction = None) -> list[ServiceRequest]:
    """One of the channel's requests as it stands now (read from the case itself)."""
    name = _file_name(request_file)
    service: ComplaintService = state.complaints
    try:
        case_id = uuid.UUID(name)
    except ValueError:
        raise NotFound(f"no service request {name}") from None
    case = await _own_case(service, case_id, actor)
    if case is None:
        raise NotFound(f"no service request {name}")
    await service.calendar.current_calendar()  # every correction committed so far
    return [service_request(_facts_of_case(case, service), state.system.settings.office_name)]


def _moment(field: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "+"))
    except ValueError:
        raise InvalidInput(field, "must be an ISO 8601 date and time, e.g. "
                                  "2026-03-17T09:00:00+07:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=JAKARTA)


def _statuses(text: str | None) -> set[str]:
    wanted = {s.strip() for s in (text or "open,closed").split(",") if s.strip()}
    if not wanted or wanted - {"open", "closed"}:
        raise InvalidInput("status", "open, closed, or both separated by a comma")
    return wanted


def _ids(text: str) -> list[uuid.UUID]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or len(parts) > MAX_IDS:
        raise InvalidInput("service_request_id", f"one to {MAX_IDS} ids separated by commas")
    try:
        return [uuid.UUID(p) for p in parts]
    except ValueError:
        raise InvalidInput("service_request_id", "each must be a service_request_id this "
                                                 "API gave") from None


LISTED = f"""SELECT c.id, c.tracking_number, c.status, c.kind, c.created_at, c.updated_at,
       c.doc->'reasons' AS reasons, c.doc->>'track' AS track, t.working_days_limit,
       t.phase, t.started_at, t.due_at, t.at_risk_at, t.running_since, t.finished_at,
       t.working_days_used
  FROM case_views c LEFT JOIN sla_timers t ON t.case_id = c.id
 WHERE c.type = 'complaint' AND c.channel = $1 AND c.created_at >= $2 AND c.created_at < $3
       AND (c.status = 'closed') = ANY($4::bool[])
 ORDER BY c.created_at DESC, c.id DESC LIMIT {MAX_LISTED}"""
"""The channel's complaints received in the window, newest first (the read model's own
index on type and receipt; `created_at` of a complaint is when its channel received it)."""


def _facts_of_row(row: Any, calendar: Any, now: datetime) -> RequestFacts:
    """From the read model's row and its clock's columns."""
    due = None
    if row["phase"] is not None:
        judged = sla_now(row, calendar, now)
        due = judged.due_at if judged.state in RUNNING else None
    kind: TrackedKind = "suggestion" if row["kind"] == "suggestion" else "complaint"
    return RequestFacts(
        id=row["id"], tracking_number=row["tracking_number"], status=row["status"],
        kind=kind, reasons=json.loads(row["reasons"] or "[]"), track=row["track"],
        requested=row["created_at"], updated=row["updated_at"], due=due)


@get("/requests.json", exclude_from_auth=True, guards=[open311_caller],
     operation_id="open311_requests", responses=_errors(400, 401, 403))
async def list_requests(
        actor: Actor, state: State, api_key: ApiKey = None,
        service_request_id: Annotated[str | None, Parameter(
            description="ids separated by commas: these (the channel's own) and nothing "
                        "else", max_length=2000)] = None,
        service_code: Annotated[str | None, Parameter(max_length=200)] = None,
        start_date: Annotated[str | None, Parameter(
            description="received at or after (ISO 8601)", max_length=64)] = None,
        end_date: Annotated[str | None, Parameter(
            description="received before (ISO 8601); at most 90 days after start_date",
            max_length=64)] = None,
        status: Annotated[str | None, Parameter(
            description="open, closed, or both separated by a comma", max_length=64)] = None,
        jurisdiction_id: Jurisdiction = None) -> list[ServiceRequest]:
    """The channel's requests, newest first: those named by `service_request_id` (read
    from the cases themselves), or those received in the window (by default the last 90
    days; from the read models, which may trail by a moment), at most 1000."""
    system = state.system
    service: ComplaintService = state.complaints
    office = system.settings.office_name
    if service_request_id is not None:
        found = []
        for case_id in _ids(service_request_id):
            case = await _own_case(service, case_id, actor)
            if case is not None:
                found.append(case)
        await service.calendar.current_calendar()
        return [service_request(_facts_of_case(c, service), office) for c in found]
    wanted = _statuses(status)
    start, end = _moment("start_date", start_date), _moment("end_date", end_date)
    now = system.clock.now()
    if end is None:
        end = start + WINDOW if start is not None else now + timedelta(days=1)
    if start is None:
        start = end - WINDOW
    if end <= start or end - start > WINDOW:
        raise InvalidInput("end_date", "must be after start_date, by at most 90 days")
    if service_code is not None and service_code != SERVICE_CODE:
        return []
    async with system.pool.acquire() as conn:
        rows = await conn.fetch(LISTED, actor.channel, start, end,
                                [s == "closed" for s in wanted])
        calendar = await SlaTimers.calendar(conn)
    return [service_request(_facts_of_row(r, calendar, now), office) for r in rows]


open311_router = Router(
    path=BASE, tags=["open311"],
    route_handlers=[services, service_definition, create_request, list_requests, read_request],
    # Every class the API maps (the most specific handler wins, whichever layer has it).
    exception_handlers=dict.fromkeys(EXCEPTION_HANDLERS, open311_error))
"""Registered in the application beside the other routers (services/http/app.py)."""
