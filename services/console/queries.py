"""What the console's lists read: the open cases of a unit by due date, the SLA board,
and a cheap stamp that tells a polling page whether anything it shows may have changed.

All from the read models (`case_views`, `sla_timers`) through the read side's own
columns and rules (`PAGE_COLUMNS`, `state_condition` in SQL, `sla_now` in Python, as
`GET /cases` and `GET /sla` use them). Lists may trail the event store by a moment; a
case page reads the case itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast
from uuid import UUID

import asyncpg

from contracts.vocabulary import SlaState
from projections.case_views import PAGE_COLUMNS, Params
from projections.sla_timers import SlaTimers, sla_now, state_condition
from services.domain.sla import Sla
from services.infra.pg import Conn

URGENT: tuple[SlaState, ...] = ("breached", "at_risk")
"""The states the SLA board shows."""


@dataclass(frozen=True)
class QueueItem:
    """One open case in a list."""

    id: UUID
    type: str
    tracking_number: str | None
    status: str | None
    kind: str | None
    unit: str | None
    tier: str
    assignee: str | None
    created_at: datetime
    sla: Sla | None
    """None while the case has no clock (an application not yet complete, a suggestion)."""
    business_name: str | None = None

    @property
    def sla_state(self) -> str:
        return self.sla.state if self.sla is not None else "not_started"

    @property
    def due_at(self) -> datetime | None:
        return self.sla.due_at if self.sla is not None else None

    @property
    def working_days_left(self) -> int | None:
        """Working days before the deadline (negative: that many past it); None without a
        running clock."""
        if self.sla is None or self.sla.due_at is None:
            return None
        return self.sla.working_days_limit - self.sla.working_days_used


async def open_cases(conn: Conn, now: datetime, *, unit: str | None = None,
                     unassigned: bool = False, states: Sequence[SlaState] | None = None,
                     limit: int = 500) -> list[QueueItem]:
    """Open cases (of `unit`, or every unit), nearest deadline first, cases without a
    clock after them (oldest first); `states`: only cases whose clock is in one of them."""
    p = Params()
    where = ["c.closed_at IS NULL"]
    if unit is not None:
        where.append(f"c.unit = {p(unit)}")
    if unassigned:
        where.append("c.assignee IS NULL")
    if states is not None:
        now_param = p(now)
        where.append("(" + " OR ".join(state_condition(s, now_param) for s in states) + ")")
    rows = await conn.fetch(
        f"""SELECT {PAGE_COLUMNS}, c.doc->>'business_name' AS business_name
            FROM case_views c LEFT JOIN sla_timers t ON t.case_id = c.id
            WHERE {' AND '.join(where)}
            ORDER BY t.due_at ASC NULLS LAST, c.created_at, c.id
            LIMIT {p(limit)}""", *p.values)
    return await items_of(conn, rows, now)


async def items_of(conn: Conn, rows: Sequence[asyncpg.Record], now: datetime
                   ) -> list[QueueItem]:
    """List items from rows of `PAGE_COLUMNS` (`open_cases`, the escalation queue), each
    clock judged at `now` by the read model's own rule (`sla_now`)."""
    calendar = await SlaTimers.calendar(cast(asyncpg.Connection, conn))

    def sla(row: asyncpg.Record) -> Sla | None:
        if row["phase"] is None:
            return None  # no timer yet (the read model trails the case view a moment)
        judged = sla_now(dict(row), calendar, now)
        return None if judged.state == "not_started" else judged

    return [QueueItem(id=r["id"], type=r["type"], tracking_number=r["tracking_number"],
                      status=r["status"], kind=r["kind"], unit=r["unit"], tier=r["tier"],
                      assignee=r["assignee"], created_at=r["created_at"], sla=sla(r),
                      business_name=r.get("business_name"))
            for r in rows]


@dataclass(frozen=True)
class Board:
    """The SLA board: open cases at risk or breached, and how many per tier and officer."""

    items: list[QueueItem]
    by_tier: dict[str, Counter[str]] = field(default_factory=dict)
    by_officer: dict[str, Counter[str]] = field(default_factory=dict)
    """Per assignee ("" for cases nobody holds), counts by state."""


def board_of(items: list[QueueItem], tiers: Sequence[str]) -> Board:
    by_tier: dict[str, Counter[str]] = {t: Counter() for t in tiers}
    by_officer: dict[str, Counter[str]] = {}
    for item in items:
        by_tier.setdefault(item.tier, Counter())[item.sla_state] += 1
        by_officer.setdefault(item.assignee or "", Counter())[item.sla_state] += 1
    ordered = dict(sorted(by_officer.items(), key=lambda kv: (-kv[1]["breached"],
                                                               -kv[1]["at_risk"], kv[0])))
    return Board(items=items, by_tier=by_tier, by_officer=ordered)


async def stamp(conn: Conn, now: datetime) -> str:
    """Changes whenever a list may show something new: the read models' positions (a new
    event applied) and the office clock's minute (deadlines pass as time does, and a
    simulated clock may jump). One small row set, no scan of the cases."""
    positions = await conn.fetchval(
        "SELECT string_agg(stream || ':' || position, ',' ORDER BY projection, stream) "
        "FROM projection_positions WHERE projection = ANY($1::text[])",
        ["case_views", "sla_timers"])
    return f"{positions or ''}|{now:%Y%m%d%H%M}"
