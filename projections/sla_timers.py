"""Read model: SLA timers — the 7-working-day clock of applications and the
14-working-day clock of complaints. A pure fold plus its SQL.

The fold records when each clock ran (spans) and when it was discharged; the deadline
and the at-risk instant are computed on the working-day calendar, which this read model
keeps from the calendar stream. A calendar correction recomputes every timer, so the
read model always equals "every clock on the current calendar", whatever order the
streams arrive in (live or on a rebuild)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from services.domain.sla import AT_RISK_RATIO, Span, deadlines, sla_of
from services.domain.workdays import OfficeDay, WorkingCalendar
from services.infra.eventlog import LoggedEvent

Doc = dict[str, Any]


def evolve(doc: Doc | None, e: Doc) -> Doc | None:
    """Pure: the clock of a case after one event. None while no clock applies."""
    tag: str = e["type"]
    if tag == "application.submitted":
        return {"id": e["case_id"], "type": "application", "limit": e["sla_working_days"],
                "spans": [], "finished_at": None}
    if tag == "complaint.received":
        doc = {"id": e["case_id"], "type": "complaint", "limit": e["sla_working_days"],
               "spans": [], "finished_at": None, "received_at": e["received_at"]}
        if e["kind"] == "complaint":
            doc["spans"] = [[e["received_at"], None]]
        return doc
    if doc is None:
        return None
    spans = [list(s) for s in doc["spans"]]
    running = bool(spans) and spans[-1][1] is None
    if tag == "application.file_declared_complete" and not spans:
        spans.append([e["at"], None])
    elif tag == "application.file_returned_for_correction" and running:
        spans[-1][1] = e["at"]
    elif tag == "application.resubmitted" and spans and not running:
        spans.append([e["at"], None])
    elif tag == "complaint.reclassified" and not spans:
        # The clock counts from receipt: the office has had the complaint since then.
        spans.append([doc["received_at"], None])
    elif (tag in ("application.certificate_issued", "application.withdrawn",
                  "complaint.responded")
          or (tag == "application.decided" and e["outcome"] == "reject")) and spans:
        if running:
            spans[-1][1] = e["at"]
        return {**doc, "spans": spans, "finished_at": e["at"]}
    return {**doc, "spans": spans}


def spans_of(doc: Doc) -> list[Span]:
    return [Span(datetime.fromisoformat(s), datetime.fromisoformat(t) if t else None)
            for s, t in doc["spans"]]


TABLES = """
CREATE TABLE IF NOT EXISTS sla_timers (
    case_id uuid PRIMARY KEY,
    type text NOT NULL,
    working_days_limit int NOT NULL,
    started_at timestamptz,
    due_at timestamptz,          -- deadline of the last span (also kept while paused)
    at_risk_at timestamptz,
    paused_at timestamptz,       -- set while the clock is paused
    finished_at timestamptz,
    doc jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS sla_timers_open ON sla_timers (due_at) WHERE finished_at IS NULL;
CREATE TABLE IF NOT EXISTS sla_calendar (
    date date PRIMARY KEY,
    kind text NOT NULL,
    reason text NOT NULL,
    declared_at timestamptz NOT NULL,
    declared_by text NOT NULL
);
"""

# The state of a timer at instant $1, in SQL (for filters); the same rules as
# services.domain.sla.sla_of, on the instants stored by this read model.
STATE_SQL = """
CASE
  WHEN t.started_at IS NULL THEN 'not_started'
  WHEN t.finished_at IS NOT NULL THEN
       CASE WHEN t.finished_at < t.due_at THEN 'met' ELSE 'breached' END
  WHEN t.paused_at IS NOT NULL THEN
       CASE WHEN t.paused_at >= t.due_at THEN 'breached' ELSE 'paused' END
  WHEN $1::timestamptz >= t.due_at THEN 'breached'
  WHEN $1::timestamptz >= t.at_risk_at THEN 'at_risk'
  ELSE 'running'
END"""


class SlaTimers:
    name = "sla_timers"
    streams = ("calendar", "applications", "complaints")

    def __init__(self, at_risk_ratio: float = AT_RISK_RATIO) -> None:
        self.at_risk_ratio = at_risk_ratio

    async def create(self, conn: asyncpg.Connection) -> None:
        await conn.execute(TABLES)

    async def drop(self, conn: asyncpg.Connection) -> None:
        await conn.execute("DROP TABLE IF EXISTS sla_timers; DROP TABLE IF EXISTS sla_calendar")

    @staticmethod
    async def calendar(conn: asyncpg.Connection) -> WorkingCalendar:
        rows = await conn.fetch("SELECT date, kind, reason FROM sla_calendar")
        return WorkingCalendar(OfficeDay(r["date"], r["kind"], r["reason"]) for r in rows)

    async def apply(self, conn: asyncpg.Connection, events: Sequence[LoggedEvent]) -> None:
        case_events = [e for e in events if e.stream != "calendar"]
        calendar_events = [msgspec.to_builtins(e.event) for e in events if e.stream == "calendar"]
        for c in calendar_events:
            if c["type"] == "calendar.day_declared":
                await conn.execute(
                    "INSERT INTO sla_calendar VALUES ($1, $2, $3, $4, $5) ON CONFLICT (date) "
                    "DO UPDATE SET kind = excluded.kind, reason = excluded.reason, "
                    "declared_at = excluded.declared_at, declared_by = excluded.declared_by",
                    date.fromisoformat(c["date"]), c["kind"], c["reason"],
                    datetime.fromisoformat(c["at"]), c["actor"]["id"])
        calendar = await self.calendar(conn)
        if calendar_events:
            # A correction moves deadlines: every timer is computed again, visibly.
            rows = await conn.fetch("SELECT doc FROM sla_timers")
            await self._write(conn, [json.loads(r["doc"]) for r in rows], calendar)
        if not case_events:
            return
        ids = list({UUID(e.event.case_id) for e in case_events})  # type: ignore[attr-defined]
        rows = await conn.fetch("SELECT case_id, doc FROM sla_timers WHERE case_id = ANY($1::uuid[])", ids)
        docs: dict[str, Doc | None] = {str(r["case_id"]): json.loads(r["doc"]) for r in rows}
        for e in case_events:
            data = msgspec.to_builtins(e.event)
            docs[data["case_id"]] = evolve(docs.get(data["case_id"]), data)
        await self._write(conn, [d for d in docs.values() if d is not None], calendar)

    async def _write(self, conn: asyncpg.Connection, docs: list[Doc], calendar: WorkingCalendar) -> None:
        await conn.executemany(
            """INSERT INTO sla_timers (case_id, type, working_days_limit, started_at, due_at,
                   at_risk_at, paused_at, finished_at, doc)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
               ON CONFLICT (case_id) DO UPDATE SET started_at = excluded.started_at,
                   due_at = excluded.due_at, at_risk_at = excluded.at_risk_at,
                   paused_at = excluded.paused_at, finished_at = excluded.finished_at,
                   doc = excluded.doc""",
            [self._row(d, calendar) for d in docs],
        )

    def _row(self, doc: Doc, calendar: WorkingCalendar) -> tuple[Any, ...]:
        spans = spans_of(doc)
        due = risk = paused = None
        if spans:
            d = deadlines(spans, doc["limit"], calendar, self.at_risk_ratio)
            due, risk = d.due_at, d.at_risk_at
            paused = spans[-1].end if doc["finished_at"] is None else None
        finished = datetime.fromisoformat(doc["finished_at"]) if doc["finished_at"] else None
        return (UUID(doc["id"]), doc["type"], doc["limit"], spans[0].start if spans else None,
                due, risk, paused, finished, json.dumps(doc, sort_keys=True))


def sla_view(doc: Doc, calendar: WorkingCalendar, now: datetime,
             at_risk_ratio: float = AT_RISK_RATIO) -> dict[str, Any]:
    """The API's `sla` object for a timer row's doc."""
    finished = datetime.fromisoformat(doc["finished_at"]) if doc["finished_at"] else None
    sla = sla_of(spans_of(doc), doc["limit"], calendar, now, finished, at_risk_ratio)
    return msgspec.to_builtins(sla)
