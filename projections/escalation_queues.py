"""Escalation queues: the cases at each tier, most urgent first — and the SLA timer
that escalates a breached case one tier, automatically.

The queue is a query over the case views and SLA timers: the open cases with a clock
(a suggestion has none, and so no place in it). The automatic escalation is a
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
from projections.case_views import Cursor, Params, page_of
from services.domain.clock import Clock
from services.domain.errors import ConcurrencyConflict, NotFound, RuleViolation
from services.infra.tasks import cancel_and_wait

log = logging.getLogger("ptsp.timers")

# (case type, case id, clock span) -> None; raises RuleViolation when already done.
Escalate = Callable[[str, UUID, int], Awaitable[object]]


QUEUE_BRANCHES: tuple[tuple[int, str, str], ...] = (
    (0, "breached", ""),
    (0, "open", "t.due_at <= {now}"),
    (1, "open", "t.due_at > {now} AND t.at_risk_at <= {now}"),
    (2, "open", "t.due_at > {now} AND t.at_risk_at > {now}"),
    (3, "paused", ""),
    (4, "met", ""),
)
"""(rank, phase, condition): most urgent first — breached, at risk, running, paused, then
a clock finished on a case not yet closed (a complaint answered, not yet closed). Each
is the state `STATE_SQL` gives at `now`, on one phase, so that each branch is an ordered
range of an index of the open clocks (`sla_timers_queue`, `sla_timers_queue_tier`)."""


async def queue(conn: asyncpg.Connection, now: datetime, tier: str | None, limit: int = 50,
                cursor: str | None = None) -> tuple[list[asyncpg.Record], str | None]:
    """Open cases whose clock has started (at `tier`, or all), most urgent first, then by
    deadline: (one page, the cursor of the next or None). A case without a clock — a
    suggestion, an application not yet complete — has no deadline to escalate on and is
    not in the queue. Each rank is an ordered scan of the open clocks' index
    (`sla_timers_queue`), the page's cases are read after it: a page costs the same
    whatever the history behind it."""
    p = Params()
    instant: list[str] = []

    def at_now() -> str:
        if not instant:
            instant.append(p(now))
        return instant[0]

    after = Cursor.decode(cursor, int, datetime, datetime, UUID) if cursor else None
    on_tier = [f"t.tier = {p(tier)}"] if tier is not None else []
    take = p(limit + 1)
    branches = []
    for rank, phase, condition in QUEUE_BRANCHES:
        if after is not None and rank < after[0]:
            continue
        keyset = ([f"(t.due_at, t.created_at, t.case_id) > ({p(after[1])}, {p(after[2])}, "
                   f"{p(after[3])})"] if after is not None and rank == after[0] else [])
        where = ["t.case_closed_at IS NULL", "t.started_at IS NOT NULL", *on_tier,
                 f"t.phase = '{phase}'",
                 *([condition.format(now=at_now())] if condition else []), *keyset]
        branches.append(
            f"(SELECT t.case_id, {rank} AS rank, t.due_at, t.created_at FROM sla_timers t "
            f"WHERE {' AND '.join(where)} "
            f"ORDER BY t.due_at, t.created_at, t.case_id LIMIT {take})")
    if not branches:
        return [], None
    rows = await page_of(conn, p, branches, "rank, due_at, created_at, case_id", take,
                         extra=", q.rank")
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    next_cursor = (Cursor.encode(last["rank"], last["due_at"], last["created_at"], last["id"])
                   if more and last is not None else None)
    return rows, next_cursor


BREACHED_SQL = """
SELECT t.case_id, t.type, jsonb_array_length(t.doc->'spans') AS span
FROM sla_timers t JOIN case_views c ON c.id = t.case_id
WHERE t.phase = 'open' AND t.due_at <= $1
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
