"""The HTTP application: every service's routes under one base URL (the embedded
default), plus health, the calendar and the simulated clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Annotated

import msgspec
from litestar import Litestar, Response, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme

from contracts.calendar import CalendarEntry, CalendarYear, CorrectionRecorded
from contracts.common import check_plausible
from contracts.operations import ClockSet, ContractSchemas, Health, Readiness
from contracts.schema import contract_schemas
from contracts.vocabulary import DayKind
from projections.api import EvaluationController, SupervisionController
from services.applications.api import (
    CertificatesController,
    ServicesController,
    applications_router,
)
from services.audit.api import AuditController, CaseRecordController
from services.audit.public_key import office_public_key
from services.complaints.api import complaints_router
from services.console.rendering import template_config
from services.console.routes import console_router
from services.domain.actors import Actor
from services.domain.clock import SimulatedClock
from services.domain.errors import InvalidInput, NotFound
from services.domain.policy import require_role
from services.evaluations.api import EvaluationsController
from services.http.auth import PUBLIC, BearerAuthentication, provide_actor
from services.http.errors import EXCEPTION_HANDLERS, refuse_nul
from services.http.ratelimit import TokenBuckets
from services.infra import shared_clock
from services.open311.api import open311_router
from services.ops import scrape
from services.ops.readiness import Probe
from services.ops.telemetry import RequestTelemetry
from services.privacy import (
    AuditHoldController,
    application_privacy_router,
    complaint_privacy_router,
)
from services.runtime import System
from services.staff.api import StaffController
from services.surveys.api import surveys_router
from services.tracking.api import TrackingThrottle, track


class CalendarDay(msgspec.Struct, kw_only=True):
    date: date
    kind: DayKind
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]

    def __post_init__(self) -> None:
        check_plausible("date", self.date)


class ClockJump(msgspec.Struct, kw_only=True):
    now: datetime

    def __post_init__(self) -> None:
        check_plausible("now", self.now)


@get("/health", exclude_from_auth=True, security=PUBLIC, tags=["operations"])
async def health(state: State) -> Health:
    system: System = state.system
    return Health(status="ok", now=system.clock.now(), simulated_clock=system.clock.simulated)


@get("/ready", exclude_from_auth=True, security=PUBLIC, tags=["operations"],
     responses={503: ResponseSpec(data_container=Readiness,
                                  description="Not ready: `problems` says what is wrong")})
async def ready(state: State) -> Response[Readiness]:
    """Readiness (`/health` is liveness): 200 when Postgres and NATS answer and every lag
    is under its threshold, else 503 naming what is not (services/ops/readiness.py)."""
    system: System = state.system
    probe: Probe = state.probe
    answer = await probe.check(system.pool, system.clock.now(),
                               system.audit.alarm if system.audit else None)
    return Response(answer, status_code=200 if answer.status == "ready" else 503)


METRICS_READERS = ("auditor", "head")
"""Who reads `/metrics` on the API port; `PTSP_METRICS_PORT` serves it without a token on
a port of its own (for a Prometheus on a private network)."""


@get("/metrics", tags=["operations"], media_type=scrape.CONTENT_TYPE)
async def metrics(actor: Actor, state: State) -> Response[str]:
    """Prometheus text exposition, every name prefixed `ptsp_` (services/ops/metrics.py)."""
    require_role(actor, *METRICS_READERS)
    system: System = state.system
    return Response((await system.exposition()).decode(), media_type=scrape.CONTENT_TYPE)


@get("/calendar/{year:int}", tags=["calendar"])
async def calendar_year(year: int, state: State) -> CalendarYear:
    """Every day of the year that is not a working day, or that an office correction
    touches, with its reason."""
    if not 2000 <= year <= 2060:
        raise InvalidInput("year", "must be between 2000 and 2060")
    days = (await state.system.calendar.current_calendar()).year(year)
    return CalendarYear(year=year, days_off_and_corrections=msgspec.convert(
        days, list[CalendarEntry]))


@post("/calendar/days", status_code=201, tags=["calendar"])
async def declare_day(data: CalendarDay, actor: Actor, state: State) -> CorrectionRecorded:
    """The head of office records a correction: a holiday decreed late, a regional day
    off, or a holiday revoked (kind working_day). Open deadlines follow at once."""
    require_role(actor, "head")
    recorded: CorrectionRecorded = await state.system.calendar.declare_day(
        data.date, data.kind, data.reason, actor)
    return recorded


@post("/admin/clock", status_code=200, tags=["operations"])
async def jump_clock(data: ClockJump, actor: Actor, state: State) -> ClockSet:
    """Jump the simulated clock forward (`--simulated-clock` only; 404 otherwise)."""
    clock = state.system.clock
    if not isinstance(clock, SimulatedClock):
        raise NotFound("there is no simulated clock (start with --simulated-clock)")
    require_role(actor, "head")
    try:
        return ClockSet(now=await shared_clock.jump(state.system.pool, clock, data.now))
    except ValueError as exc:
        raise InvalidInput("now", str(exc)) from None


@get("/contracts/schema", tags=["contracts"])
async def contracts_schema() -> ContractSchemas:
    """JSON Schema of every contract: intake messages and events."""
    return msgspec.convert(contract_schemas(), ContractSchemas)


def create_app(system: System, manage_lifecycle: bool = True) -> Litestar:
    probe = system.readiness_probe()

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        if manage_lifecycle:
            await system.start()
        try:
            yield
        finally:
            await probe.close()
            if manage_lifecycle:
                await system.stop()

    app = Litestar(
        route_handlers=[
            applications_router, office_public_key, CertificatesController, ServicesController,
            complaints_router, surveys_router, SupervisionController,
            CaseRecordController, AuditController,
            EvaluationController, health, calendar_year, declare_day, jump_clock, contracts_schema,
            ready, metrics, StaffController, EvaluationsController,
            application_privacy_router, complaint_privacy_router, AuditHoldController,
            console_router,  # the staff console: its own sign-in (services/console)
            track,  # public: a case by its tracking number and PIN (services/tracking)
            open311_router,  # Open311 GeoReport v2 onto the complaint intake (services/open311)
        ],
        template_config=template_config(),
        dependencies={"actor": Provide(provide_actor)},
        # Every route needs a token unless it says exclude_from_auth=True; the OpenAPI
        # document describes the API, it holds no data.
        middleware=[DefineMiddleware(BearerAuthentication, exclude=["^/schema"])],
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=refuse_nul,
        state=State({"system": system, "probe": probe, "applications": system.applications,
                     "complaints": system.complaints, "surveys": system.surveys,
                     "staff": system.staff, "evaluations": system.evaluations,
                     "tokens": system.tokens, "tracking_throttle": TrackingThrottle(),
                     "intake_limiter": TokenBuckets(system.settings.intake_rate_per_second,
                                                    system.settings.intake_burst)}),
        lifespan=[lifespan],
        request_max_body_size=system.settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="ptsp", version="0.1.0", path="/schema",
            # Every operation needs the bearer token but those marked PUBLIC (`[{}]`).
            security=[{"bearer": []}],
            components=Components(security_schemes={"bearer": SecurityScheme(
                type="http", scheme="bearer", description="`ptsp token` prints one")})),
        debug=False,
        # The process's logging is services/ops/logs.py's (JSON lines or text, by
        # PTSP_LOG_FORMAT); Litestar's default config would replace its handlers.
        logging_config=None,
    )
    # Outside routing and authentication: every request is measured and logged, an
    # unknown path or a refused token too (services/ops/telemetry.py).
    app.asgi_handler = RequestTelemetry(app.asgi_handler)
    return app
