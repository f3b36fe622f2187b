"""Read model: SLA timers — the 7-working-day clock of applications and the
14-working-day clock of complaints. A pure fold plus its SQL.

The fold records when each clock ran (spans), when it stopped (finished or withdrawn)
and by which event; the deadline, the at-risk instant, the state and the breach are
computed on the working-day calendar, which this read model keeps from the calendar
stream with every correction and when it was declared. A clock still going (running or
paused) is judged on the current calendar; a stopped one on the calendar as it stood
when it stopped (`services.domain.sla`), so a correction moves only the clocks still
going and a finished case keeps its outcome. Whatever order the streams arrive in
(live, or calendar first on a rebuild) the rows end the same.

Each row keeps what the lists and the reports ask of a clock, in columns with indexes:
its `phase` (the state where it does not depend on the time of asking; `open` for a
running clock, whose state — running, at risk or breached — does), the deadlines, the
instant the breach happened (`breached_at`, counted in that month by the monthly
report) and the working days used. `sla_counts` keeps how many timers are in each phase,
so totals need no scan.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import itemgetter
from typing import Any, cast
from uuid import UUID

import asyncpg
import msgspec

from contracts.vocabulary import FIRST_TIER, SLA_STATES, SlaState
from projections.counts import add_counts
from projections.doc_table import RowWriter, decode_doc, encode_doc, fold_into
from projections.months import month_of
from projections.schema import drop_if_outdated
from services.domain.sla import (
    AT_RISK_RATIO,
    CLOCK_RULES,
    Sla,
    SlaClock,
    Span,
    evolve_clock,
)
from services.domain.workdays import OfficeDay, WorkingCalendar
from services.infra.eventlog import LoggedEvent

Doc = dict[str, Any]

PHASES: tuple[str, ...] = ("not_started", "open", "paused", "met", "breached", "withdrawn")
"""A timer's phase: its state wherever that does not depend on the instant of asking.
`open`: the clock runs (running, at risk or breached by the time of asking); `breached`
covers a clock paused after its deadline passed, as the state does."""


def evolve(doc: Doc | None, e: Doc) -> Doc | None:
    """Pure: the clock of a case after one event. None while the case has no timer. The
    clock moves by `services.domain.sla.CLOCK_RULES`, as in the aggregates (`step`)."""
    moves = e["type"] in CLOCK_RULES
    after, clock = step(None if doc is None else {**doc},
                        clock_of(doc) if moves and doc is not None else NO_CLOCK, e)
    if moves and after is not None:
        settle(after, clock)
    return after


NO_CLOCK = SlaClock()
"""The clock of a timer no event has moved yet."""


def step(doc: Doc | None, clock: SlaClock, e: Doc) -> tuple[Doc | None, SlaClock]:
    """The rule of `evolve`, for a fold that keeps a case's timer doc and its clock
    between events: both after one event, the doc changed in place (only its top-level
    keys), the clock's own fields (`spans`, `finished_at`, `withdrawn_at`) left for
    `settle` to write. A rebuild folds a whole case so and settles it once."""
    tag: str = e["type"]
    if tag == "application.submitted":
        doc = {"id": e["case_id"], "type": "application", "limit": e["sla_working_days"],
               "unit": e.get("unit"), "created_at": e["at"], "spans": [],
               "finished_at": None, "withdrawn_at": None, "assignee": None,
               "tier": FIRST_TIER}
        clock = NO_CLOCK
    elif tag == "complaint.received":
        doc = {"id": e["case_id"], "type": "complaint", "limit": e["sla_working_days"],
               "unit": e.get("unit"), "created_at": e["received_at"], "spans": [],
               "finished_at": None, "withdrawn_at": None, "assignee": None,
               "tier": FIRST_TIER, "received_at": e["received_at"]}
        clock = NO_CLOCK
    elif doc is None:
        return doc, clock
    elif tag.endswith(".assigned"):
        doc["assignee"] = e["officer"]
        return doc, clock
    elif tag.endswith(".escalated"):
        # As the case view: the tier above picks it up (the queue is by tier).
        doc["assignee"] = None
        doc["tier"] = e["to_tier"]
        return doc, clock
    elif tag == "complaint.closed":
        doc["case_closed_at"] = e["at"]
        return doc, clock
    if tag not in CLOCK_RULES:
        return doc, clock
    before = clock
    clock = evolve_clock(before, tag, {"received_at": doc.get("received_at"), **e})
    if clock.started_at is not None and before.started_at is None:
        # When the office recorded the start: a breach is never counted before it (a
        # complaint may be recorded after its channel received it).
        doc["recorded_start"] = e["at"]
    if clock.stopped_at is not None and before.stopped_at is None:
        doc["stopped_by"] = tag
        if doc["type"] == "application":
            # An application's work ends when its clock stops: issued, rejected, withdrawn
            # (a complaint's at its closure, after the answer stopped the clock).
            doc["case_closed_at"] = e["at"]
    return doc, clock


def settle(doc: Doc, clock: SlaClock) -> None:
    """Write the clock into its timer doc (`clock_of` reads it back)."""
    doc["spans"] = [[_text(s.start), _text(s.end)] for s in clock.spans]
    doc["finished_at"] = _text(clock.finished_at)
    doc["withdrawn_at"] = _text(clock.withdrawn_at)


def fold_cases(data: Sequence[Doc]) -> list[tuple[Doc, SlaClock]]:
    """Whole cases (their events as plain data, each case's in order) into their timers
    and clocks, each doc kept and changed in place over its case's events and settled
    once: what `evolve` event by event ends in."""
    docs: dict[str, Doc | None] = {}
    clocks: dict[str, SlaClock] = {}
    for d in data:
        case_id = d["case_id"]
        docs[case_id], clocks[case_id] = step(docs.get(case_id),
                                              clocks.get(case_id, NO_CLOCK), d)
    timers = []
    for case_id, doc in docs.items():
        if doc is not None:
            settle(doc, clocks[case_id])
            timers.append((doc, clocks[case_id]))
    return timers


def clock_of(doc: Doc) -> SlaClock:
    return SlaClock(spans=tuple(Span(datetime.fromisoformat(s), _instant(t))
                                for s, t in doc["spans"]),
                    finished_at=_instant(doc["finished_at"]),
                    withdrawn_at=_instant(doc.get("withdrawn_at")))


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _text(instant: datetime | None) -> str | None:
    """As the events spell it (msgspec's RFC 3339), so the stored doc keeps their text."""
    return None if instant is None else cast(str, msgspec.to_builtins(instant))


@dataclass(frozen=True)
class Judged:
    """A timer as the read model stores it, on a calendar (see the table's columns)."""

    phase: str
    started_at: datetime | None
    due_at: datetime | None
    at_risk_at: datetime | None
    running_since: datetime | None
    working_days_used: int | None
    breached_at: datetime | None
    breach_due: datetime | None


def judge(doc: Doc, calendar: WorkingCalendar, at_risk_ratio: float = AT_RISK_RATIO,
          clock: SlaClock | None = None) -> Judged:
    """What the columns hold for a timer doc: everything about its clock that does not
    depend on the instant of asking, by the rules of `services.domain.sla` (`clock`: the
    doc's, if the caller has it already)."""
    clock = clock or clock_of(doc)
    limit = doc["limit"]
    d = clock.deadlines(limit, calendar, at_risk_ratio)
    if d is None:
        phase = "withdrawn" if clock.withdrawn_at is not None else "not_started"
        return Judged(phase, None, None, None, None, None, None, None)
    recorded = _instant(doc.get("recorded_start")) or clock.spans[0].start
    last = clock.spans[-1]
    # Settled already: the earlier spans, and a resumption with no working day left
    # (due at once). A running span's own deadline counts only when its time comes.
    breached = clock.breached_at(limit, calendar, last.end or last.start)
    breached = None if breached is None else max(breached, recorded)
    if last.end is None:
        return Judged("open", clock.started_at, d.due_at, d.at_risk_at, last.start,
                      d.used_before, breached,
                      None if breached is not None else max(d.due_at, recorded))
    # Paused, finished or withdrawn: the state no longer moves with time.
    sla = clock.sla(limit, calendar, last.end, at_risk_ratio, d)
    return Judged(sla.state, clock.started_at, d.due_at, d.at_risk_at, None,
                  sla.working_days_used, breached, None)


def sla_now(row: Mapping[str, Any] | asyncpg.Record, calendar: WorkingCalendar,
            now: datetime) -> Sla:
    """The API's `sla` of a stored timer row at `now`, from its columns: equal to
    `clock_of(doc).sla(...)` (a test holds the two together at every boundary), without
    computing the deadlines again."""
    limit = int(row["working_days_limit"])
    phase = row["phase"]
    started, due = row["started_at"], row["due_at"]
    if phase in ("not_started", "withdrawn") and started is None:
        return Sla(started_at=None, due_at=None, state=cast(SlaState, phase),
                   working_days_used=0, working_days_limit=limit)
    stopped = row["finished_at"]
    if phase == "open":
        used = int(row["working_days_used"]) + calendar.working_days_between(
            row["running_since"], now)
        state: SlaState = ("breached" if now >= due else "at_risk"
                           if now >= row["at_risk_at"] else "running")
        return Sla(started_at=started, due_at=due, state=state, working_days_used=used,
                   working_days_limit=limit)
    return Sla(started_at=started, due_at=None if stopped is None else due,
               state=cast(SlaState, phase),
               working_days_used=int(row["working_days_used"]), working_days_limit=limit,
               finished_at=stopped)


TABLES = """
CREATE TABLE IF NOT EXISTS sla_timers (
    case_id uuid PRIMARY KEY,
    type text NOT NULL,
    unit text,
    working_days_limit int NOT NULL,
    created_at timestamptz NOT NULL, -- as the case view's: submitted, or received
    phase text NOT NULL,             -- PHASES
    started_at timestamptz,
    due_at timestamptz,              -- deadline of the last span (kept while paused or stopped)
    at_risk_at timestamptz,
    running_since timestamptz,       -- start of the running span (phase open)
    paused_at timestamptz,           -- set while the clock is paused
    finished_at timestamptz,         -- finished (or withdrawn after it started)
    withdrawn_at timestamptz,
    stopped_by text,                 -- the event that stopped it
    working_days_used int,           -- when stopped or paused; open: used before the span
    breached_at timestamptz,         -- the deadline missed, once settled by an event
    breach_due timestamptz,          -- open and not yet breached: when it will count as one
    assignee text,
    tier text,
    case_closed_at timestamptz,      -- the case's work ended (a queue holds open cases)
    doc jsonb NOT NULL
);
-- The running clocks, with what their time-dependent state and the lists' filters read,
-- so that counting or sorting them reads this index alone.
CREATE INDEX IF NOT EXISTS sla_timers_open ON sla_timers (due_at)
    INCLUDE (at_risk_at, created_at, type, unit, tier, assignee) WHERE phase = 'open';
CREATE INDEX IF NOT EXISTS sla_timers_open_newest ON sla_timers (created_at DESC, case_id DESC)
    INCLUDE (due_at, at_risk_at, type, unit, tier, assignee) WHERE phase = 'open';
CREATE INDEX IF NOT EXISTS sla_timers_phase_newest
    ON sla_timers (phase, created_at DESC, case_id DESC);
CREATE INDEX IF NOT EXISTS sla_timers_phase_due ON sla_timers (phase, due_at, case_id);
CREATE INDEX IF NOT EXISTS sla_timers_due ON sla_timers (due_at, case_id);
CREATE INDEX IF NOT EXISTS sla_timers_finished ON sla_timers (finished_at)
    WHERE finished_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS sla_timers_breached ON sla_timers (breached_at)
    WHERE breached_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS sla_timers_breach_due ON sla_timers (breach_due)
    WHERE breach_due IS NOT NULL;
CREATE INDEX IF NOT EXISTS sla_timers_going ON sla_timers (case_id)
    WHERE finished_at IS NULL AND started_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS sla_timers_queue ON sla_timers (phase, due_at, created_at, case_id)
    WHERE case_closed_at IS NULL AND started_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS sla_timers_queue_tier
    ON sla_timers (tier, phase, due_at, created_at, case_id)
    WHERE case_closed_at IS NULL AND started_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS sla_counts (
    type text NOT NULL,
    unit text NOT NULL,
    tier text NOT NULL,
    assignee text NOT NULL,          -- '': nobody holds it
    phase text NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (type, unit, tier, assignee, phase)
);
-- The clocks that stopped in each month, alike in what the monthly report reads of them.
CREATE TABLE IF NOT EXISTS sla_stopped_counts (
    month text NOT NULL,
    type text NOT NULL,
    stopped_by text NOT NULL,
    state text NOT NULL,
    working_days int NOT NULL,       -- -1: none
    assignee text NOT NULL,          -- '': nobody held it
    n bigint NOT NULL,
    PRIMARY KEY (month, type, stopped_by, state, working_days, assignee)
);
-- The breaches settled by an event (a clock paused or stopped past its deadline), by
-- the month of the deadline missed; a clock still running past it is counted live.
CREATE TABLE IF NOT EXISTS sla_breach_counts (
    month text NOT NULL,
    type text NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (month, type)
);
CREATE TABLE IF NOT EXISTS sla_calendar (
    date date PRIMARY KEY,
    kind text NOT NULL,
    reason text NOT NULL,
    declared_at timestamptz NOT NULL,
    declared_by text NOT NULL
);
CREATE TABLE IF NOT EXISTS sla_calendar_history (
    version int PRIMARY KEY,         -- the office calendar's version: the order declared
    date date NOT NULL,
    kind text NOT NULL,
    reason text NOT NULL,
    declared_at timestamptz NOT NULL,
    declared_by text NOT NULL
);
"""

DROP = ("DROP TABLE IF EXISTS sla_timers, sla_counts, sla_stopped_counts, sla_breach_counts, "
        "sla_calendar, sla_calendar_history")

# The state of a timer at instant $1, in SQL (for filters); the same rule as
# services.domain.sla.sla_of, on the columns stored by this read model
# (tests/integration/test_sla_state_sql.py holds the two together at every boundary).
# A case without a timer row yet (the read model trails) is `not_started`.
STATE_SQL = """
CASE
  WHEN t.phase IS NULL THEN 'not_started'
  WHEN t.phase <> 'open' THEN t.phase
  WHEN $1::timestamptz >= t.due_at THEN 'breached'
  WHEN $1::timestamptz >= t.at_risk_at THEN 'at_risk'
  ELSE 'running'
END"""


TIMED: tuple[SlaState, ...] = ("running", "at_risk", "breached")
"""The states that depend on the instant of asking (`state_condition` reads `now`)."""


def state_branches(state: SlaState, now: str) -> list[tuple[str, str]]:
    """The timers in `state` at the instant in parameter `now` (as `STATE_SQL` says; `now`
    read only for the states in `TIMED`): (phase, SQL condition on `t` or ""), one for
    each phase that leads to the state, so that each is an index range of its own."""
    if state not in SLA_STATES:
        raise ValueError(f"not an SLA state: {state!r}")
    return {
        "running": [("open", f"t.at_risk_at > {now}")],
        "at_risk": [("open", f"t.at_risk_at <= {now} AND t.due_at > {now}")],
        "breached": [("breached", ""), ("open", f"t.due_at <= {now}")],
    }.get(state, [(state, "")])


def state_condition(state: SlaState, now: str) -> str:
    """`state_branches` as one SQL condition on `t`."""
    return "(" + " OR ".join(f"(t.phase = '{phase}'{f' AND {extra}' if extra else ''})"
                             for phase, extra in state_branches(state, now)) + ")"


def phases_of(state: SlaState) -> tuple[str, ...]:
    """The phases a timer in `state` may be in."""
    return tuple(phase for phase, _ in state_branches(state, "NULL"))


class SlaTimers:
    name = "sla_timers"
    streams = ("calendar", "applications", "complaints")

    def __init__(self, at_risk_ratio: float = AT_RISK_RATIO) -> None:
        self.at_risk_ratio = at_risk_ratio

    async def create(self, conn: asyncpg.Connection) -> None:
        # Timers an earlier version kept without their phases and the calendar's history
        # are folded again.
        await drop_if_outdated(conn, self.name, "sla_timers", [
            ("sla_timers", "tier"), ("sla_counts", "tier"), ("sla_stopped_counts", "n"),
            ("sla_breach_counts", "n"), ("sla_calendar_history", "version")],
            DROP)
        await conn.execute(TABLES)

    async def drop(self, conn: asyncpg.Connection) -> None:
        await conn.execute(DROP)

    @staticmethod
    async def calendar(conn: asyncpg.Connection) -> WorkingCalendar:
        """The office's calendar with every correction and when it was declared."""
        rows = await conn.fetch("SELECT date, kind, reason, declared_at "
                                "FROM sla_calendar_history ORDER BY version")
        return WorkingCalendar(OfficeDay(r["date"], r["kind"], r["reason"], r["declared_at"])
                               for r in rows)

    async def apply(self, conn: asyncpg.Connection, events: Sequence[LoggedEvent]) -> None:
        case_events = [e for e in events if e.stream != "calendar"]
        corrections = _corrections(events)
        await _store_corrections(conn, corrections)
        calendar = await self.calendar(conn)
        if corrections:
            # A correction moves the clocks still going; a clock that stopped since it
            # was declared (its event applied before the correction reached this read
            # model) is judged again on the calendar as it stood when it stopped.
            earliest = min(datetime.fromisoformat(c["at"]) for c in corrections)
            rows = await conn.fetch(
                f"SELECT case_id, doc, {COUNTED} FROM sla_timers "
                "WHERE (finished_at IS NULL AND started_at IS NOT NULL) OR finished_at >= $1",
                earliest)
            await self.write(conn, [decode_doc(r["doc"]) for r in rows], calendar,
                             {str(r["case_id"]): _counted(r) for r in rows})
        if not case_events:
            return
        data = [e.data for e in case_events]  # decoded once for every read model
        ids = list({UUID(d["case_id"]) for d in data})
        rows = await conn.fetch(f"SELECT case_id, doc, {COUNTED} FROM sla_timers "
                                "WHERE case_id = ANY($1::uuid[])", ids)
        docs: dict[str, Doc | None] = {str(r["case_id"]): decode_doc(r["doc"]) for r in rows}
        fold_into(docs, data, evolve)
        await self.write(conn, [d for d in docs.values() if d is not None], calendar,
                         {str(r["case_id"]): _counted(r) for r in rows})

    async def rebuilding(self, conn: asyncpg.Connection) -> SlaTimersRebuilding:
        # The calendar prepared here, where the rebuild's workers are forked from.
        return SlaTimersRebuilding(self, (await self.calendar(conn)).prepare())

    async def write(self, conn: asyncpg.Connection, docs: list[Doc], calendar: WorkingCalendar,
                    before: dict[str, list[Counted]] | None = None) -> None:
        """Store these timers with their instants on `calendar`, and move the counts
        (`sla_counts`, `sla_stopped_counts`, `sla_breach_counts`) from what the rows
        counted for before (`before`, read here when not given) to what they count for."""
        if before is None:
            rows = await conn.fetch(f"SELECT case_id, {COUNTED} FROM sla_timers "
                                    "WHERE case_id = ANY($1::uuid[])",
                                    [UUID(d["id"]) for d in docs])
            before = {str(r["case_id"]): _counted(r) for r in rows}
        records = [self.row(d, calendar) for d in docs]
        await ROWS.upsert(conn, records)
        moves: Counter[Counted] = Counter()
        for record in records:
            for old in before.get(str(record[0]), []):
                moves[old] -= 1
        count_rows(moves, records)
        await write_counts(conn, moves)

    def row(self, doc: Doc, calendar: WorkingCalendar,
            clock: SlaClock | None = None) -> tuple[Any, ...]:
        """A timer's row, in the columns of `ROWS` (`clock`: the doc's, if the caller has
        it already)."""
        if clock is None:
            clock = clock_of(doc)
        j = judge(doc, calendar, self.at_risk_ratio, clock)
        return (doc["id"], doc["type"], doc.get("unit"), doc["limit"],
                datetime.fromisoformat(doc.get("created_at") or doc.get("received_at")
                                       or clock.spans[0].start.isoformat()),
                j.phase, j.started_at, j.due_at, j.at_risk_at, j.running_since,
                clock.paused_at, clock.finished_at, clock.withdrawn_at, doc.get("stopped_by"),
                j.working_days_used, j.breached_at, j.breach_due, doc.get("assignee"),
                doc.get("tier", FIRST_TIER), _instant(doc.get("case_closed_at")),
                encode_doc(doc))


TimerRows = tuple[list[Doc], bytes, Counter["Counted"]]
"""Whole cases folded: the calendar's corrections among them, the timers' rows
(`RowWriter.encode`), and what these count for."""


class SlaTimersFolder:
    """Whole cases into their timers (`projections.runner.Folder`), judged on `calendar`
    (a rebuild folds the calendar's stream first)."""

    def __init__(self, timers: SlaTimers, calendar: WorkingCalendar) -> None:
        self.timers = timers
        self.calendar = calendar

    def fold(self, events: Sequence[LoggedEvent]) -> TimerRows:
        timers = fold_cases([e.data for e in events if e.stream != "calendar"])
        records = [self.timers.row(doc, self.calendar, clock) for doc, clock in timers]
        moves: Counter[Counted] = Counter()
        count_rows(moves, records)
        return _corrections(events), ROWS.encode(records), moves


class SlaTimersRebuilding:
    """SLA timers folded anew (`projections.runner.Rebuilding`)."""

    def __init__(self, timers: SlaTimers, calendar: WorkingCalendar) -> None:
        self.folder = SlaTimersFolder(timers, calendar)
        self.moves: Counter[Counted] = Counter()

    async def write(self, conn: asyncpg.Connection, folded: TimerRows) -> None:
        corrections, records, moves = folded
        await _store_corrections(conn, corrections)
        await ROWS.copy(conn, records)
        self.moves.update(moves)

    async def finish(self, conn: asyncpg.Connection) -> None:
        await write_counts(conn, self.moves)


def _corrections(events: Sequence[LoggedEvent]) -> list[Doc]:
    """The calendar's corrections among the events (plain data)."""
    return [e.data for e in events if e.stream == "calendar" and e.tag == "calendar.day_declared"]


async def _store_corrections(conn: asyncpg.Connection, corrections: Sequence[Doc]) -> None:
    """The calendar as it stands (the last correction of a date wins) and every
    correction in the order declared."""
    for c in corrections:
        row = (date.fromisoformat(c["date"]), c["kind"], c["reason"],
               datetime.fromisoformat(c["at"]), c["actor"]["id"])
        await conn.execute(
            "INSERT INTO sla_calendar VALUES ($1, $2, $3, $4, $5) ON CONFLICT (date) "
            "DO UPDATE SET kind = excluded.kind, reason = excluded.reason, "
            "declared_at = excluded.declared_at, declared_by = excluded.declared_by", *row)
        await conn.execute("INSERT INTO sla_calendar_history VALUES ($1, $2, $3, $4, $5, "
                           "$6) ON CONFLICT (version) DO NOTHING", c["version"], *row)


def count_rows(moves: Counter[Counted], records: Sequence[tuple[Any, ...]]) -> None:
    """Add what these timer rows (as `SlaTimers.row` makes them) count for to `moves`."""
    for record in records:
        for new in _counts(*_COUNTED_OF(record)):
            moves[new] += 1


async def write_counts(conn: asyncpg.Connection, moves: Mapping[Counted, int]) -> None:
    """Move `sla_counts`, `sla_stopped_counts` and `sla_breach_counts` by `moves`."""
    for table, key in COUNT_TABLES.items():
        await add_counts(conn, table, key, {k[1:]: n for k, n in moves.items() if k[0] == table})


ROWS = RowWriter("sla_timers", "case_id", (
    "case_id", "type", "unit", "working_days_limit", "created_at", "phase", "started_at",
    "due_at", "at_risk_at", "running_since", "paused_at", "finished_at", "withdrawn_at",
    "stopped_by", "working_days_used", "breached_at", "breach_due", "assignee", "tier",
    "case_closed_at", "doc"), kept=("type", "working_days_limit"))


Counted = tuple[Any, ...]
"""(count table, its key...): one count a timer row adds to."""
COUNTED_COLUMNS = ("type", "unit", "tier", "phase", "finished_at", "stopped_by",
                   "working_days_used", "assignee", "breached_at")
COUNTED = ", ".join(COUNTED_COLUMNS)
_COUNTED_OF = itemgetter(1, 2, 18, 5, 11, 13, 14, 17, 15)
"""`COUNTED_COLUMNS` of a row as `SlaTimers.row` makes it."""
COUNT_TABLES = {"sla_counts": "type, unit, tier, assignee, phase",
                "sla_stopped_counts": "month, type, stopped_by, state, working_days, assignee",
                "sla_breach_counts": "month, type"}


def _counted(row: Mapping[str, Any] | asyncpg.Record) -> list[Counted]:
    """What a stored timer row counts for (`_counts`)."""
    return _counts(*(row[c] for c in COUNTED_COLUMNS))


def _counts(type_: str, unit: str | None, tier: str | None, phase: str,
            finished_at: datetime | None, stopped_by: str | None, used: int | None,
            assignee: str | None, breached_at: datetime | None) -> list[Counted]:
    """What a timer row (its `COUNTED_COLUMNS`) counts for: its phase; the month its clock
    stopped in, with how; the month of the deadline it missed, once an event settled it."""
    out: list[Counted] = [("sla_counts", type_, unit or "", tier or FIRST_TIER, assignee or "",
                           phase)]
    if finished_at is not None:
        out.append(("sla_stopped_counts", month_of(finished_at), type_, stopped_by or "",
                    phase, -1 if used is None else used, assignee or ""))
    if breached_at is not None:
        out.append(("sla_breach_counts", month_of(breached_at), type_))
    return out


def sla_view(doc: Doc, calendar: WorkingCalendar, now: datetime,
             at_risk_ratio: float = AT_RISK_RATIO) -> dict[str, Any]:
    """The API's `sla` object for a timer row's doc."""
    sla = clock_of(doc).sla(doc["limit"], calendar, now, at_risk_ratio)
    return cast(dict[str, Any], msgspec.to_builtins(sla))
