"""Escalation queues: the cases at each tier, most urgent first — and the SLA timer
that escalates a breached case one tier, automatically.

The queue is a query over the case views and SLA timers. The automatic escalation is a
command to the case's owning service (so it is an event in the case's own history, with
the same type as a manual escalation); the aggregate accepts it once per run of the
clock, so two timer processes racing still escalate exactly once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from uuid import UUID

import asyncpg

from contracts.vocabulary import CLOSED_STATUSES, TIERS
from projections.sla_timers import STATE_SQL
from services.domain.clock import Clock
from services.domain.errors import ConcurrencyConflict, NotFound, RuleViolation
from services.infra.tasks import cancel_and_wait

log = logging.getLogger("ptsp.timers")

# (case type, case id, clock span) -> None; raises RuleViolation when already done.
Escalate = Callable[[str, UUID, int], Awaitable[object]]


async def queue(conn: asyncpg.Connection, now: datetime, tier: str | None,
                limit: int = 200) -> list[asyncpg.Record]:
    """Open cases (at `tier`, or all), breached first, then at risk, then by deadline."""
    args: list[object] = [now, list(CLOSED_STATUSES), limit]
    tier_filter = ""
    if tier is not None:
        args.append(tier)
        tier_filter = "AND c.tier = $4"
    return list(await conn.fetch(
        f"""SELECT * FROM (
              SELECT c.*, t.doc AS timer, t.due_at AS due_at,
                     coalesce({STATE_SQL}, 'not_started') AS sla_state
              FROM case_views c LEFT JOIN sla_timers t ON t.case_id = c.id
              WHERE NOT (c.status = ANY($2::text[])) {tier_filter}) q
            ORDER BY CASE q.sla_state WHEN 'breached' THEN 0 WHEN 'at_risk' THEN 1
                     WHEN 'running' THEN 2 WHEN 'paused' THEN 3 ELSE 4 END,
                     q.due_at ASC NULLS LAST, q.created_at, q.id
            LIMIT $3""", *args))


BREACHED_SQL = """
SELECT t.case_id, t.type, jsonb_array_length(t.doc->'spans') AS span
FROM sla_timers t JOIN case_views c ON c.id = t.case_id
WHERE t.finished_at IS NULL AND t.paused_at IS NULL AND t.due_at <= $1
  AND c.tier <> $3 AND NOT (c.status = ANY($2::text[]))  -- $3: the top tier
  AND NOT EXISTS (
      SELECT 1 FROM jsonb_array_elements(c.doc->'escalations') x
      WHERE (x->>'clock_span')::int = jsonb_array_length(t.doc->'spans'))
ORDER BY t.due_at LIMIT 500"""


class BreachWatcher:
    """Polls the SLA timers on the (possibly simulated) clock and escalates breaches."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock, escalate: Escalate,
                 interval: float = 0.25) -> None:
        self.pool = pool
        self.clock = clock
        self.escalate = escalate
        self.interval = interval
        self.escalated = 0
        self._done: set[tuple[UUID, int]] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="breach-watcher")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.debug("breach watcher tick failed", exc_info=True)
            await asyncio.sleep(self.interval)

    async def tick(self) -> int:
        rows = await self.pool.fetch(BREACHED_SQL, self.clock.now(), list(CLOSED_STATUSES),
                                     TIERS[-1])
        count = 0
        for row in rows:
            key = (row["case_id"], int(row["span"]))
            if key in self._done:
                continue  # already sent; the case view has not caught up yet
            try:
                await self.escalate(row["type"], row["case_id"], int(row["span"]))
                self.escalated += 1
                count += 1
            except (RuleViolation, NotFound):
                pass  # escalated by another timer, top tier, or closed meanwhile
            except ConcurrencyConflict:
                continue  # the case moved: look again at the next tick
            self._done.add(key)
        return count
