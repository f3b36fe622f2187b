"""HTTP queries over the read models (API.md, "Supervision"): lists and reports may
trail the event store by a moment; single-case reads go to the services instead."""

from __future__ import annotations

import json
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
from projections.sla_timers import SlaTimers, sla_view
from services.domain.actors import Actor
from services.domain.clock import JAKARTA
from services.domain.errors import InvalidInput
from services.domain.policy import CASE_READERS, require_role

REPORT_READERS = ("supervisor", "head", "auditor")
"""Who reads the queues, the timers and the reports (API.md)."""

Report = TypeVar("Report", MonthlyReport, SatisfactionReport, YearlyReport)


def _summary(row: asyncpg.Record, sla: dict[str, Any] | None) -> CaseSummary:
    doc = json.loads(row["doc"])
    return CaseSummary(
        id=str(row["id"]), type=row["type"], tracking_number=row["tracking_number"],
        status=row["status"], kind=row["kind"], channel=row["channel"], unit=row["unit"],
        tier=row["tier"], assignee=row["assignee"], service_code=doc.get("service_code"),
        created_at=row["created_at"].astimezone(JAKARTA),
        updated_at=row["updated_at"].astimezone(JAKARTA),
        sla=NOT_STARTED if sla is None else msgspec.convert(sla, CaseSla))


async def _summaries(conn: asyncpg.Connection, rows: list[asyncpg.Record],
                     state: State) -> list[CaseSummary]:
    calendar = await SlaTimers.calendar(conn)
    now = state.system.clock.now()
    ratio = state.system.settings.at_risk_ratio
    return [_summary(r, sla_view(json.loads(r["timer"]), calendar, now, ratio)
                     if r["timer"] else None) for r in rows]


def _due(case: CaseSummary) -> tuple[bool, datetime | None]:
    """Nearest deadline first; cases without one last."""
    return case.sla.due_at is None, case.sla.due_at


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
    ) -> CaseList:
        """The officers' case list, newest first. An officer sees its own unit's cases."""
        require_role(actor, *CASE_READERS)
        unit = actor.unit if actor.role == "officer" else None
        async with state.system.pool.acquire() as conn:
            rows, total = await case_views.list_cases(
                conn, state.system.clock.now(), type=type, status=status, tier=tier,
                sla_state=sla_state, assignee=assignee, unit=unit, page=page, page_size=page_size)
            items = await _summaries(conn, rows, state)
        return CaseList(items=items, page=page, page_size=page_size, total=total)

    @get("/queues/escalation")
    async def escalation_queue(self, actor: Actor, state: State,
                               tier: Tier | None = None) -> EscalationQueue:
        """Open cases at a tier, most urgent first (breached, at risk, then by deadline)."""
        require_role(actor, *REPORT_READERS)
        async with state.system.pool.acquire() as conn:
            rows = await escalation_queues.queue(conn, state.system.clock.now(), tier)
            items = await _summaries(conn, rows, state)
        return EscalationQueue(tier=tier, items=items)

    @get("/sla")
    async def sla(self, actor: Actor, state: State,
                  sla_state: Annotated[SlaState | None, QueryParameter(name="state")] = None,
                  type: CaseType | None = None) -> SlaList:
        """SLA timers, nearest deadline first, with the office's calendar corrections."""
        require_role(actor, *REPORT_READERS)
        async with state.system.pool.acquire() as conn:
            rows, total = await case_views.list_cases(
                conn, state.system.clock.now(), type=type, sla_state=sla_state, page_size=500)
            items = await _summaries(conn, rows, state)
            corrections = await conn.fetch("SELECT date, kind, reason, declared_at, declared_by "
                                           "FROM sla_calendar ORDER BY date")
        return SlaList(state=sla_state, total=total, items=sorted(items, key=_due),
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
        async with state.system.pool.acquire() as conn:
            report = await monthly_report.load(conn, month, state.system.clock.now())
        return _rendered(request, report, MonthlyReport,
                         monthly_report.to_csv, monthly_report.to_html)


def _rendered(request: Request[Any, Any, Any], report: dict[str, Any], shape: type[Report],
              to_csv: Callable[[dict[str, Any]], str],
              to_html: Callable[[dict[str, Any]], str]) -> Response[Report]:
    """The report in the rendering the `Accept` header asks for (JSON by default)."""
    accept = request.headers.get("accept", "")
    rendered: Response[Any]
    if "text/csv" in accept:
        rendered = Response(to_csv(report), media_type="text/csv; charset=utf-8")
    elif "text/html" in accept:
        rendered = Response(to_html(report), media_type="text/html; charset=utf-8")
    else:
        rendered = Response(msgspec.convert(report, shape))
    return rendered


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
        async with state.system.pool.acquire() as conn:
            report = await satisfaction_report.load(conn, quarter)
        return _rendered(request, report, SatisfactionReport,
                         satisfaction_report.to_csv, satisfaction_report.to_html)

    @get("/reports/yearly/{year:str}")
    async def yearly(self, year: str, actor: Actor, state: State,
                     request: Request[Any, Any, Any]) -> Response[YearlyReport]:
        """The yearly evaluation: SLA compliance, complaint handling, the IKM and its
        trend over the four quarters. Renderings as the monthly report."""
        require_role(actor, *REPORT_READERS)
        if not re.fullmatch(r"\d{4}", year) or not 2000 <= int(year) <= 2100:
            raise InvalidInput("year", "must be YYYY, 2000 to 2100")
        async with state.system.pool.acquire() as conn:
            report = await yearly_report.load(conn, int(year), state.system.clock.now())
        return _rendered(request, report, YearlyReport,
                         yearly_report.to_csv, yearly_report.to_html)
