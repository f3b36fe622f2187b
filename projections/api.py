"""HTTP queries over the read models (API.md, "Supervision"): lists and reports may
trail the event store by a moment; single-case reads go to the services instead."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

import asyncpg
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.params import Parameter

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
from services.domain.policy import require_role

SlaState = Literal["not_started", "running", "at_risk", "paused", "met", "breached"]
TierName = Literal["pelaksana", "kepala_seksi", "kepala_bidang", "kepala_dinas"]


def _item(row: asyncpg.Record, sla: dict[str, Any] | None) -> dict[str, Any]:
    doc = json.loads(row["doc"])
    return {
        "id": str(row["id"]), "type": row["type"], "tracking_number": row["tracking_number"],
        "status": row["status"], "kind": row["kind"], "channel": row["channel"],
        "unit": row["unit"], "tier": row["tier"], "assignee": row["assignee"],
        "service_code": doc.get("service_code"),
        "created_at": row["created_at"].astimezone(JAKARTA),
        "updated_at": row["updated_at"].astimezone(JAKARTA),
        "sla": sla or {"started_at": None, "due_at": None, "state": "not_started",
                       "working_days_used": 0},
    }


async def _items(conn: asyncpg.Connection, rows: list[asyncpg.Record], state: State) -> list[dict[str, Any]]:
    calendar = await SlaTimers.calendar(conn)
    now = state.system.clock.now()
    ratio = state.system.settings.at_risk_ratio
    return [_item(r, sla_view(json.loads(r["timer"]), calendar, now, ratio) if r["timer"] else None)
            for r in rows]


class SupervisionController(Controller):
    tags = ["supervision"]

    @get("/cases")
    async def cases(
        self, actor: Actor, state: State,
        type: Literal["application", "complaint"] | None = None,
        status: str | None = None, tier: TierName | None = None,
        sla_state: SlaState | None = None, assignee: str | None = None,
        page: Annotated[int, Parameter(ge=1, le=100_000)] = 1,
        page_size: Annotated[int, Parameter(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        """The officers' case list, newest first. An officer sees its own unit's cases."""
        require_role(actor, "officer", "supervisor", "head", "auditor")
        unit = actor.unit if actor.role == "officer" else None
        async with state.system.pool.acquire() as conn:
            rows, total = await case_views.list_cases(
                conn, state.system.clock.now(), type=type, status=status, tier=tier,
                sla_state=sla_state, assignee=assignee, unit=unit, page=page, page_size=page_size)
            items = await _items(conn, rows, state)
        return {"items": items, "page": page, "page_size": page_size, "total": total}

    @get("/queues/escalation")
    async def escalation_queue(self, actor: Actor, state: State,
                               tier: TierName | None = None) -> dict[str, Any]:
        """Open cases at a tier, most urgent first (breached, at risk, then by deadline)."""
        require_role(actor, "supervisor", "head", "auditor")
        async with state.system.pool.acquire() as conn:
            rows = await escalation_queues.queue(conn, state.system.clock.now(), tier)
            items = await _items(conn, rows, state)
        return {"tier": tier, "items": items}

    @get("/sla")
    async def sla(self, actor: Actor, state: State,
                  sla_state: Annotated[SlaState | None, Parameter(query="state")] = None,
                  type: Literal["application", "complaint"] | None = None) -> dict[str, Any]:
        """SLA timers, nearest deadline first, with the office's calendar corrections."""
        require_role(actor, "supervisor", "head", "auditor")
        async with state.system.pool.acquire() as conn:
            rows, total = await case_views.list_cases(
                conn, state.system.clock.now(), type=type, sla_state=sla_state, page_size=500)
            items = await _items(conn, rows, state)
            corrections = await conn.fetch(
                "SELECT date, kind, reason, declared_at, declared_by FROM sla_calendar ORDER BY date")
        items.sort(key=lambda i: (i["sla"]["due_at"] is None, str(i["sla"]["due_at"])))
        return {"state": sla_state, "total": total, "items": items,
                "calendar_corrections": [dict(r) for r in corrections]}

    @get("/reports/monthly/{month:str}")
    async def monthly(self, month: str, actor: Actor, state: State,
                      request: Request[Any, Any, Any]) -> Response[Any]:
        """JSON by default; `Accept: text/csv` or `text/html` (printable, inline SVG)."""
        require_role(actor, "supervisor", "head", "auditor")
        if (not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month)
                or not 2000 <= int(month[:4]) <= 2100):
            raise InvalidInput("month", "must be YYYY-MM, 2000 to 2100")
        async with state.system.pool.acquire() as conn:
            report = await monthly_report.load(conn, month, state.system.clock.now())
        accept = request.headers.get("accept", "")
        if "text/csv" in accept:
            return Response(monthly_report.to_csv(report), media_type="text/csv; charset=utf-8")
        if "text/html" in accept:
            return Response(monthly_report.to_html(report), media_type="text/html; charset=utf-8")
        return Response(report)


REPORT_READERS = ("supervisor", "head", "auditor")


def _rendered(request: Request[Any, Any, Any], report: dict[str, Any],
              module: Any) -> Response[Any]:
    """JSON by default; `Accept: text/csv` or `text/html` (printable, inline SVG)."""
    accept = request.headers.get("accept", "")
    if "text/csv" in accept:
        return Response(module.to_csv(report), media_type="text/csv; charset=utf-8")
    if "text/html" in accept:
        return Response(module.to_html(report), media_type="text/html; charset=utf-8")
    return Response(report)


class EvaluationController(Controller):
    """The satisfaction survey (SKM) by quarter and the yearly evaluation of the service
    standard (API.md, "Satisfaction survey (SKM)")."""

    tags = ["evaluation"]

    @get("/reports/satisfaction/{quarter:str}")
    async def satisfaction(self, quarter: str, actor: Actor, state: State,
                           request: Request[Any, Any, Any]) -> Response[Any]:
        """`YYYY-Qn`: the IKM and grade, each element weakest first beside the complaints
        of the quarter by problem type, and per service."""
        require_role(actor, *REPORT_READERS)
        if not re.fullmatch(r"\d{4}-Q[1-4]", quarter):
            raise InvalidInput("quarter", "must be YYYY-Qn, n from 1 to 4")
        async with state.system.pool.acquire() as conn:
            report = await satisfaction_report.load(conn, quarter)
        return _rendered(request, report, satisfaction_report)

    @get("/reports/yearly/{year:str}")
    async def yearly(self, year: str, actor: Actor, state: State,
                     request: Request[Any, Any, Any]) -> Response[Any]:
        """The yearly evaluation: SLA compliance, complaint handling, the IKM and its
        trend over the four quarters."""
        require_role(actor, *REPORT_READERS)
        if not re.fullmatch(r"\d{4}", year) or not 2000 <= int(year) <= 2100:
            raise InvalidInput("year", "must be YYYY, 2000 to 2100")
        async with state.system.pool.acquire() as conn:
            report = await yearly_report.load(conn, int(year), state.system.clock.now())
        return _rendered(request, report, yearly_report)
