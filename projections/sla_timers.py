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
from typing import Any, cast
from uuid import UUID

import asyncpg
import msgspec

from services.domain.sla import AT_RISK_RATIO, CLOCK_RULES, SlaClock, Span, evolve_clock
from services.domain.workdays import OfficeDay, WorkingCalendar
from services.infra.eventlog import LoggedEvent

Doc = dict[str, Any]


def evolve(doc: Doc | None, e: Doc) -> Doc | None:
    """Pure: the clock of a case after one event. None while no clock applies. The
    clock moves by `services.domain.sla.CLOCK_RULES`, as in the aggregates."""
    tag: str = e["type"]
    if tag == "application.submitted":
        doc = {"id": e["case_id"], "type": "application", "limit": e["sla_working_days"],
               "spans": [], "finished_at": None}
    elif tag == "complaint.received":
        doc = {"id": e["case_id"], "type": "complaint", "limit": e["sla_working_days"],
               "spans": [], "finished_at": None, "received_at": e["received_at"]}
    elif doc is None or tag not in CLOCK_RULES:
        return doc
    clock = evolve_clock(clock_of(doc), tag, {"received_at": doc.get("received_at"), **e})
    return {**doc, "spans": [[_text(s.start), _text(s.end)] for s in clock.spans],
            "finished_at": _text(clock.finished_at)}


def clock_of(doc: Doc) -> SlaClock:
    return SlaClock(spans=tuple(Span(datetime.fromisoformat(s), _instant(t))
                                for s, t in doc["spans"]),
                    finished_at=_instant(doc["finished_at"]))


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _text(instant: datetime | None) -> str | None:
    """As the events spell it (msgspec's RFC 3339), so the stored doc keeps their text."""
    return None if instant is None else cast(str, msgspec.to_builtins(instant))


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

# The state of a timer at instant $1, in SQL (for filters); the same rule as
# services.domain.sla.sla_of, on the instants stored by this read model
# (tests/integration/test_sla_state_sql.py holds the two together at every boundary).
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
            await self.write(conn, [json.loads(r["doc"]) for r in rows], calendar)
        if not case_events:
            return
        data = [msgspec.to_builtins(e.event) for e in case_events]
        ids = list({UUID(d["case_id"]) for d in data})
        rows = await conn.fetch(
            "SELECT case_id, doc FROM sla_timers WHERE case_id = ANY($1::uuid[])", ids)
        docs: dict[str, Doc | None] = {str(r["case_id"]): json.loads(r["doc"]) for r in rows}
        for d in data:
            docs[d["case_id"]] = evolve(docs.get(d["case_id"]), d)
        await self.write(conn, [d for d in docs.values() if d is not None], calendar)

    async def write(self, conn: asyncpg.Connection, docs: list[Doc],
                    calendar: WorkingCalendar) -> None:
        """Store these timers with their instants on `calendar`."""
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
        clock = clock_of(doc)
        d = clock.deadlines(doc["limit"], calendar, self.at_risk_ratio)
        due, risk = (d.due_at, d.at_risk_at) if d else (None, None)
        return (UUID(doc["id"]), doc["type"], doc["limit"], clock.started_at, due, risk,
                clock.paused_at, clock.finished_at, json.dumps(doc, sort_keys=True))


def sla_view(doc: Doc, calendar: WorkingCalendar, now: datetime,
             at_risk_ratio: float = AT_RISK_RATIO) -> dict[str, Any]:
    """The API's `sla` object for a timer row's doc."""
    sla = clock_of(doc).sla(doc["limit"], calendar, now, at_risk_ratio)
    return cast(dict[str, Any], msgspec.to_builtins(sla))
