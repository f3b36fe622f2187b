"""HTTP queries over the read models (API.md, "Supervision"): lists and reports may
trail the event store by a moment; single-case reads go to the services instead."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.params import Parameter, QueryParameter

from contracts.reports import MonthlyReport, SatisfactionReport, YearlyReport
from contracts.supervision import (
    NOT_STARTED,
    CalendarCorrection,
    CaseList,
    CaseSla,
    CaseSummary,
    EscalationQueue,
    SlaList,
)
from contracts.vocabulary import CaseType, SlaState, Tier
from projections import (
    case_views,
    escalation_queues,
    monthly_report,
    satisfaction_report,
    yearly_report,
)
from projections.sla_timers import SlaTimers, sla_now
from services.console.reports import Period
from services.console.routes import printed_report
from services.domain.actors import Actor
from services.domain.clock import JAKARTA
from services.domain.errors import InvalidInput
from services.domain.policy import CASE_READERS, OVERSEERS, REPORT_READERS, require_role
from services.domain.workdays import WorkingCalendar

Report = TypeVar("Report", MonthlyReport, SatisfactionReport, YearlyReport)


def _summary(row: asyncpg.Record, calendar: WorkingCalendar, now: datetime) -> CaseSummary:
    """A list's row: the case's columns and its clock at `now` (from the timer's columns;
    a case whose timer row is not there yet shows as not started)."""
    sla = NOT_STARTED
    if row["phase"] is not None:
        judged = sla_now(row, calendar, now)
        sla = CaseSla(started_at=_local(judged.started_at), due_at=_local(judged.due_at),
                      state=judged.state, working_days_used=judged.working_days_used,
                      working_days_limit=judged.working_days_limit,
                      finished_at=_local(judged.finished_at))
    return CaseSummary(
        id=str(row["id"]), type=row["type"], tracking_number=row["tracking_number"],
        status=row["status"], kind=row["kind"], channel=row["channel"], unit=row["unit"],
        tier=row["tier"], assignee=row["assignee"], service_code=row["service_code"],
        created_at=row["created_at"].astimezone(JAKARTA),
        updated_at=row["updated_at"].astimezone(JAKARTA), sla=sla)


def _local(instant: datetime | None) -> datetime | None:
    return None if instant is None else instant.astimezone(JAKARTA)


async def _summaries(conn: asyncpg.Connection, rows: list[asyncpg.Record],
                     state: State) -> list[CaseSummary]:
    calendar = await SlaTimers.calendar(conn)
    now = state.system.clock.now()
    return [_summary(r, calendar, now) for r in rows]


Limit = Annotated[int, Parameter(ge=1, le=500, description="items per page (default 50)")]
PageCursor = Annotated[str | None, Parameter(
    max_length=400, description="`next_cursor` of the page before: the page after it")]


class SupervisionController(Controller):
    tags = ["supervision"]

    @get("/cases")
    async def cases(
        self, actor: Actor, state: State,
        type: CaseType | None = None,
        status: str | None = None, tier: Tier | None = None,
        sla_state: SlaState | None = None, assignee: str | None = None,
        page: Annotated[int, Parameter(ge=1, le=100_000)] = 1,
        page_size: Annotated[int, Parameter(ge=1, le=500)] = 50,
        cursor: PageCursor = None,
    ) -> CaseList:
        """The officers' case list, newest first. An officer sees its own unit's cases.
        Paged by `page` or, to walk a long list, by `cursor` (each page's `next_cursor`)."""
        require_role(actor, *CASE_READERS)
        if cursor is not None and page != 1:
            raise InvalidInput("cursor", "give either page or cursor, not both")
        unit = actor.unit if actor.role == "officer" else None
        async with state.system.pool.acquire() as conn:
            rows, total, exact, next_cursor = await case_views.list_cases(
                conn, state.system.clock.now(), type=type, status=status, tier=tier,
                sla_state=sla_state, assignee=assignee, unit=unit, page=page,
                page_size=page_size, cursor=cursor)
            items = await _summaries(conn, rows, state)
        return CaseList(items=items, page=page, page_size=page_size, total=total,
                        total_exact=exact, next_cursor=next_cursor)

    @get("/queues/escalation")
    async def escalation_queue(self, actor: Actor, state: State, tier: Tier | None = None,
                               limit: Limit = 50, cursor: PageCursor = None) -> EscalationQueue:
        """Open cases with a clock at a tier, most urgent first (breached, at risk,
        running, paused, then by deadline), one page at a time (`next_cursor`)."""
        require_role(actor, *OVERSEERS)
        async with state.system.pool.acquire() as conn:
            rows, next_cursor = await escalation_queues.queue(
                conn, state.system.clock.now(), tier, limit, cursor)
            items = await _summaries(conn, rows, state)
        return EscalationQueue(tier=tier, items=items, next_cursor=next_cursor)

    @get("/sla")
    async def sla(self, actor: Actor, state: State,
                  sla_state: Annotated[SlaState | None, QueryParameter(name="state")] = None,
                  type: CaseType | None = None, limit: Limit = 50,
                  cursor: PageCursor = None) -> SlaList:
        """SLA timers, nearest deadline first (a paused clock by the deadline it had;
        cases without one last), one page at a time (`next_cursor`), with the office's
        calendar corrections."""
        require_role(actor, *OVERSEERS)
        async with state.system.pool.acquire() as conn:
            rows, total, next_cursor = await case_views.list_timers(
                conn, state.system.clock.now(), state=sla_state, type=type, limit=limit,
                cursor=cursor)
            items = await _summaries(conn, rows, state)
            corrections = await conn.fetch("SELECT date, kind, reason, declared_at, declared_by "
                                           "FROM sla_calendar ORDER BY date")
        return SlaList(state=sla_state, total=total, items=items, next_cursor=next_cursor,
                       calendar_corrections=[msgspec.convert(dict(r), CalendarCorrection)
                                             for r in corrections])

    @get("/reports/monthly/{month:str}")
    async def monthly(self, month: str, actor: Actor, state: State,
                      request: Request[Any, Any, Any]) -> Response[MonthlyReport]:
        """The month (`YYYY-MM`, Asia/Jakarta) in applications, complaints, escalations
        and survey answers. JSON by default; `Accept: text/csv` or `text/html` (printable,
        inline SVG)."""
        require_role(actor, *REPORT_READERS)
        if (not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month)
                or not 2000 <= int(month[:4]) <= 2100):
            raise InvalidInput("month", "must be YYYY-MM, 2000 to 2100")
        if _asks_html(request):
            return await _html(request, state, "monthly", month)
        names = await _staff_names(state)
        async with state.system.pool.acquire() as conn:
            report = await monthly_report.load(conn, month, state.system.clock.now(), names)
        return _rendered(request, report, MonthlyReport, monthly_report.to_csv)


async def _staff_names(state: State) -> dict[str, str]:
    """The staff register's names by actor id, for the figures per officer."""
    return {m.actor: m.name for m in await state.system.staff.members()}


def _asks_html(request: Request[Any, Any, Any]) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "text/csv" not in accept


async def _html(request: Request[Any, Any, Any], state: State, period: Period,
                key: str) -> Response[Any]:
    """Asked as HTML, a report is the page a head of office signs: the console's, in
    words, figures beside their targets and the previous period (one rendering of a
    report, services/console/reports.py), in Bahasa Indonesia unless `Accept-Language`
    puts English first."""
    page = await printed_report(request, state, period, key, None)
    return Response(page, media_type="text/html; charset=utf-8")


def _rendered(request: Request[Any, Any, Any], report: dict[str, Any], shape: type[Report],
              to_csv: Callable[[dict[str, Any]], str]) -> Response[Any]:
    """The report as data: CSV when the `Accept` header asks for it, JSON otherwise."""
    if "text/csv" in request.headers.get("accept", ""):
        return Response(to_csv(report), media_type="text/csv; charset=utf-8")
    return Response(msgspec.convert(report, shape))


class EvaluationController(Controller):
    """The satisfaction survey (SKM) by quarter and the yearly evaluation of the service
    standard (API.md, "Satisfaction survey (SKM)")."""

    tags = ["evaluation"]

    @get("/reports/satisfaction/{quarter:str}")
    async def satisfaction(self, quarter: str, actor: Actor, state: State,
                           request: Request[Any, Any, Any]) -> Response[SatisfactionReport]:
        """`YYYY-Qn`: the IKM and grade, each element weakest first beside the complaints
        of the quarter by problem type, and per service. Renderings as the monthly report."""
        require_role(actor, *REPORT_READERS)
        if not re.fullmatch(r"\d{4}-Q[1-4]", quarter):
            raise InvalidInput("quarter", "must be YYYY-Qn, n from 1 to 4")
        if _asks_html(request):
            return await _html(request, state, "quarterly", quarter)
        async with state.system.pool.acquire() as conn:
            report = await satisfaction_report.load(conn, quarter)
        return _rendered(request, report, SatisfactionReport, satisfaction_report.to_csv)

    @get("/reports/yearly/{year:str}")
    async def yearly(self, year: str, actor: Actor, state: State,
                     request: Request[Any, Any, Any]) -> Response[YearlyReport]:
        """The yearly evaluation: SLA compliance, complaint handling, the IKM and its
        trend over the four quarters. Renderings as the monthly report."""
        require_role(actor, *REPORT_READERS)
        if not re.fullmatch(r"\d{4}", year) or not 2000 <= int(year) <= 2100:
            raise InvalidInput("year", "must be YYYY, 2000 to 2100")
        if _asks_html(request):
            return await _html(request, state, "yearly", year)
        evaluations = [msgspec.to_builtins(e)
                       for e in await state.system.evaluations.of_year(int(year))]
        names = await _staff_names(state)
        async with state.system.pool.acquire() as conn:
            report = await yearly_report.load(conn, int(year), state.system.clock.now(),
                                              evaluations, names)
        return _rendered(request, report, YearlyReport, yearly_report.to_csv)
