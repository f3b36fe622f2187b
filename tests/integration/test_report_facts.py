"""The read side on a real Postgres: the per-month facts and the clock columns the
reports read, and the lists paged and sorted in SQL (issue 11, target 4; issue 12,
items 9, 10, 17).

Events (contract events, decoded by the streams' own contract registries) are applied
to the read models as the projection runner applies them, in batches and in either
order of the streams; the reports read back with `monthly_report.load` must be exactly
the ones the pure folds give (`tests.reports.History`), and the lists must walk every
matching case once, in order, by offset or by cursor."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import pytest
import pytest_asyncio

from contracts.vocabulary import SLA_STATES, TIERS
from projections import case_views, escalation_queues, monthly_report, satisfaction_report
from projections.case_views import CaseViews
from projections.sla_timers import SlaTimers, sla_now
from projections.survey_responses import SurveyResponses
from services.applications.application import CONTRACTS as APPLICATION_CONTRACTS
from services.calendar.application import CONTRACTS as CALENDAR_CONTRACTS
from services.calendar.domain import OFFICE_CALENDAR_ID
from services.complaints.application import CONTRACTS as COMPLAINT_CONTRACTS
from services.domain.clock import JAKARTA
from services.domain.workdays import OfficeDay, WorkingCalendar
from services.infra.eventlog import LoggedEvent
from tests.reports import History, application, case_id, ev, received, submitted
from tests.unit.test_monthly_report_rules import ITEM_9

pytestmark = pytest.mark.integration

Doc = dict[str, Any]
REGISTRY = {"application": ("applications", APPLICATION_CONTRACTS),
            "complaint": ("complaints", COMPLAINT_CONTRACTS),
            "calendar": ("calendar", CALENDAR_CONTRACTS)}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=JAKARTA)


def logged(events: Sequence[Doc], first: int = 1) -> list[LoggedEvent]:
    out = []
    for n, e in enumerate(events, start=first):
        stream, registry = REGISTRY[e["type"].partition(".")[0]]
        out.append(LoggedEvent(stream=stream, position=n,
                               event=registry.decode(msgspec.json.encode(e))))
    return out


def correction(version: int, day: str, kind: str, reason: str, declared: str) -> Doc:
    when = at(declared).isoformat()
    return {"type": "calendar.day_declared", "case_id": str(OFFICE_CALENDAR_ID),
            "version": version, "at": when, "recorded_at": when,
            "actor": {"id": "kepala", "role": "head"},
            "date": day, "kind": kind, "reason": reason}


class ReadModels:
    """The two read models the reports read, fed batch by batch as the runner does."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.models = [CaseViews(), SlaTimers(), SurveyResponses()]
        self.position = 0

    async def reset(self) -> None:
        for m in self.models:
            await m.drop(self.conn)
            await m.create(self.conn)

    async def apply(self, events: Sequence[Doc], batch: int = 7) -> None:
        """Each stream's events in order, in batches (streams may interleave by batch)."""
        items = logged(events, self.position + 1)
        self.position += len(items)
        for i in range(0, len(items), batch):
            chunk = items[i:i + batch]
            for stream in dict.fromkeys(e.stream for e in chunk):
                mine = [e for e in chunk if e.stream == stream]
                async with self.conn.transaction():
                    for m in self.models:
                        if stream in m.streams:
                            await m.apply(self.conn, mine)

    async def rows(self) -> dict[str, list[tuple[Any, ...]]]:
        out = {}
        for table, key in (("case_views", "id"), ("sla_timers", "case_id"),
                           ("case_counts", "type, status, tier, unit, assignee"),
                           ("report_counts", "month, case_type, fact, key"),
                           ("sla_counts", "type, unit, tier, assignee, phase"),
                           ("sla_stopped_counts",
                            "month, type, stopped_by, state, working_days, assignee"),
                           ("sla_breach_counts", "month, type")):
            rows = await self.conn.fetch(f"SELECT * FROM {table} ORDER BY {key}")
            # Counts that came back to zero are as good as absent.
            out[table] = [tuple(r) for r in rows if "n" not in r or r["n"]]
        return out


@pytest_asyncio.fixture
async def models(database_url: str) -> AsyncIterator[ReadModels]:
    conn = await asyncpg.connect(database_url)
    read_models = ReadModels(conn)
    await read_models.reset()
    yield read_models
    await conn.close()


# -- a varied history ---------------------------------------------------------------------
class Steps:
    """One case's events, each some time after the one before."""

    def __init__(self, rng: random.Random, events: list[tuple[datetime, int, Doc]],
                 cid: str, t: datetime) -> None:
        self.rng, self.events, self.cid, self.t, self.version = rng, events, cid, t, 1

    def first(self, event: Doc) -> None:
        self.events.append((self.t, len(self.events), event))
        self.version = 2

    def add(self, tag: str, within_days: float, **data: Any) -> datetime:
        self.t += timedelta(hours=self.rng.uniform(1, within_days * 24))
        self.events.append((self.t, len(self.events),
                            ev(self.cid, self.version, tag, self.t.isoformat(), **data)))
        self.version += 1
        return self.t


def history(seed: int, cases: int = 160) -> tuple[list[Doc], list[Doc]]:
    """Case events in the order recorded (applications and complaints over four months,
    each moved on at random: some stall and breach, some are returned, escalated,
    withdrawn, answered, closed), and the calendar's corrections."""
    rng = random.Random(seed)
    events: list[tuple[datetime, int, Doc]] = []
    start = at("2026-02-02T08:00")
    for n in range(cases):
        case = Steps(rng, events, case_id(1000 + n),
                     start + timedelta(hours=rng.randrange(0, 24 * 100)))
        if n % 3:
            case.first(submitted(case.cid, case.t.isoformat()))
            if rng.random() < 0.3:
                case.add("application.assigned", 3, officer=rng.choice(["budi", "ani"]))
            if rng.random() < 0.85:
                case.add("application.file_declared_complete", 3, results={})
                if rng.random() < 0.25:
                    case.add("application.file_returned_for_correction", 8, unmet=["K1"])
                    if rng.random() < 0.7:
                        case.add("application.resubmitted", 10)
                if rng.random() < 0.2:
                    case.add("application.escalated", 12, from_tier="pelaksana",
                             to_tier="kepala_seksi", reason="batas", automatic=True,
                             clock_span=1)
                end = rng.random()
                if end < 0.1:
                    case.add("application.withdrawn", 10, reason="batal")
                elif end < 0.2:
                    case.add("application.decided", 12, outcome="reject", reason="tidak")
                elif end < 0.8:
                    case.add("application.decided", 12, outcome="approve", reason="ok")
                    case.add("application.certificate_issued", 2, certificate={})
        else:
            kind = "suggestion" if rng.random() < 0.25 else "complaint"
            channel = rng.choice(["whatsapp", "email", "letter"])
            by_channel = case.t - timedelta(hours=rng.choice([0, 0, 30]))
            case.first(received(case.cid, case.t.isoformat(), kind, channel,
                                received_at=by_channel.isoformat()))
            if kind == "suggestion" and rng.random() < 0.3:
                case.add("complaint.reclassified", 2, reason="surat",
                         received_at=by_channel.isoformat())
                kind = "complaint"
            if kind == "complaint":
                if rng.random() < 0.8:
                    case.add("complaint.classified", 4, service_code="SS-KBLI-10510",
                             problem_type=rng.choice(["fee", "time", "other"]))
                    if rng.random() < 0.7:
                        case.add("complaint.track_chosen", 4,
                                 track=rng.choice(["internal", "apip"]))
                        case.add("complaint.findings_recorded", 4, actions=["x"], consulted=[],
                                 outcome=rng.choice(["proven", "not_proven", "partly_proven"]))
                if rng.random() < 0.2:
                    case.add("complaint.escalated", 20, from_tier="pelaksana",
                             to_tier="kepala_seksi", reason="batas", automatic=False)
            if rng.random() < 0.7:
                case.add("complaint.responded", 25, text="jawaban")
                if rng.random() < 0.7:
                    case.add("complaint.closed", 5)
    corrections = [
        correction(2, "2026-03-30", "holiday", "hari jadi kabupaten", "2026-03-10T09:00"),
        correction(3, "2026-03-23", "working_day", "cuti bersama dibatalkan", "2026-04-06T09:00"),
        correction(4, "2026-04-20", "holiday", "banjir", "2026-04-21T09:00"),
    ]
    return [e for _, _, e in sorted(events, key=lambda x: (x[0], x[1]))], corrections


def calendar_of(corrections: Sequence[Doc]) -> WorkingCalendar:
    return WorkingCalendar(OfficeDay(date.fromisoformat(c["date"]), c["kind"], c["reason"],
                                     datetime.fromisoformat(c["at"])) for c in corrections)


MONTHS = ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06", "2026-07"]
NOWS = [at("2026-03-15T12:00"), at("2026-05-01T00:00"), at("2026-08-01T00:00")]


async def test_the_reports_read_from_postgres_are_the_pure_folds(models: ReadModels) -> None:
    """Every month at several instants: `monthly_report.load` on the read models equals
    the report computed from the same events folded in memory (the two sum the same
    facts), the satisfaction report's case counts too."""
    events, corrections = history(seed=12)
    # Calendar corrections first, as a rebuild applies them.
    await models.apply([*corrections, *events])
    pure = History(calendar_of(corrections)).add(*events)
    for month in MONTHS:
        for now in NOWS:
            loaded = await monthly_report.load(models.conn, month, now)
            assert loaded == pure.report(month, now), (month, now)
    report = await monthly_report.load(models.conn, "2026-04", NOWS[-1])
    assert report["applications"]["issued"] and report["complaints"]["answered"]
    assert report["applications"]["breached"] and sum(report["days_per_tier"].values())
    assert report["calendar_corrections_after_month_end"] == []
    assert [c["date"] for c in (await monthly_report.load(models.conn, "2026-03", NOWS[-1]))
            ["calendar_corrections_after_month_end"]] == ["2026-03-23"]
    figures = await satisfaction_report.cases_between(models.conn, at("2026-02-01T00:00"),
                                                      at("2026-05-01T00:00"))
    assert figures == pure.case_figures("2026-02", "2026-05")


async def test_the_order_the_streams_arrive_in_changes_nothing(models: ReadModels) -> None:
    """Live, the calendar's consumer may trail the cases' (a case finished after a
    correction was declared, applied before it): the rows end as on a rebuild."""
    events, corrections = history(seed=13)
    await models.apply([*corrections, *events])
    rebuilt = await models.rows()
    await models.reset()
    await models.apply([*events, *corrections], batch=11)
    assert await models.rows() == rebuilt
    await models.reset()
    half = len(events) // 2
    await models.apply([*events[:half], corrections[0], *events[half:], *corrections[1:]])
    assert await models.rows() == rebuilt


async def test_the_item_9_example_on_postgres(models: ReadModels) -> None:
    """A file complete on 2 March is due 12 March, returned on 20 March and resubmitted on
    6 April: March says breached 1 computed on 31 March, and still on 30 April; April 0."""
    await models.apply(ITEM_9[:3])
    march = await monthly_report.load(models.conn, "2026-03", at("2026-03-31T18:00"))
    assert march["applications"]["breached"] == 1
    await models.apply(ITEM_9[3:])
    assert (await monthly_report.load(models.conn, "2026-03", at("2026-04-30T18:00"))
            )["applications"]["breached"] == 1
    assert (await monthly_report.load(models.conn, "2026-04", at("2026-04-30T18:00"))
            )["applications"]["breached"] == 0


async def test_a_correction_declared_later_leaves_a_finished_case_be(models: ReadModels) -> None:
    """Item 10: issued on 2 April, met (due 3 April); the 23 March cuti bersama revoked on 6
    April: still met. A clock still running then moves."""
    finished, running = case_id(1), case_id(2)
    await models.apply([
        *application(finished, ("file_declared_complete", "2026-03-17T10:00", {"results": {}}),
                     ("certificate_issued", "2026-04-02T15:00", {"certificate": {}})),
        *application(running, ("file_declared_complete", "2026-03-17T10:00", {"results": {}})),
        correction(2, "2026-03-23", "working_day", "cuti bersama dibatalkan", "2026-04-06T09:00"),
    ])
    rows = {str(r["case_id"]): r for r in await models.conn.fetch("SELECT * FROM sla_timers")}
    assert rows[finished]["phase"] == "met"
    assert rows[finished]["due_at"] == at("2026-04-03T00:00")
    assert rows[running]["due_at"] == at("2026-04-02T00:00")
    calendar = await SlaTimers.calendar(models.conn)
    assert sla_now(rows[finished], calendar, at("2026-05-01T00:00")).state == "met"


# -- the lists -----------------------------------------------------------------------------
async def walk(fetch: Any, **kwargs: Any) -> list[asyncpg.Record]:
    """Every page by cursor."""
    rows: list[asyncpg.Record] = []
    cursor = None
    while True:
        page, next_cursor = await fetch(cursor=cursor, **kwargs)
        rows += page
        if next_cursor is None:
            return rows
        assert page, "a cursor after an empty page"
        cursor = next_cursor


async def test_the_case_list_pages_and_sorts_in_sql(models: ReadModels) -> None:
    events, corrections = history(seed=14, cases=200)
    await models.apply([*corrections, *events])
    now = at("2026-04-15T12:00")
    conn = models.conn
    everything = await conn.fetch(
        "SELECT c.id, c.type, c.status, c.tier, c.unit, c.assignee, c.created_at, t.* "
        "FROM case_views c JOIN sla_timers t ON t.case_id = c.id "
        "ORDER BY c.created_at DESC, c.id DESC")
    calendar = await SlaTimers.calendar(conn)
    state = {r["id"]: sla_now(r, calendar, now).state for r in everything}
    filters: list[dict[str, Any]] = [
        {}, {"type": "application"}, {"type": "complaint"}, {"status": "issued"},
        {"status": "answered"}, {"tier": "kepala_seksi"}, {"assignee": "budi"},
        {"unit": "perizinan"},
        *({"sla_state": s} for s in SLA_STATES),
        {"sla_state": "breached", "type": "application"},
        {"sla_state": "met", "unit": "pengaduan"},
        {"sla_state": "breached", "tier": "pelaksana"},
        {"sla_state": "running", "status": "complete"},
        {"sla_state": "met", "assignee": "budi"}, {"sla_state": "breached", "assignee": "ani"},
    ]

    async def by_cursor(cursor: str | None, **f: Any) -> tuple[list[asyncpg.Record], str | None]:
        rows, _, _, next_cursor = await case_views.list_cases(conn, now, page_size=7,
                                                              cursor=cursor, **f)
        return rows, next_cursor

    for f in filters:
        expected = [r["id"] for r in everything if all(
            (state[r["id"]] if k == "sla_state" else r[k]) == v for k, v in f.items())]
        walked = [r["id"] for r in await walk(by_cursor, **f)]
        assert walked == expected, f
        paged = []
        for page in range(1, 60):
            rows, total, exact, _ = await case_views.list_cases(conn, now, page=page,
                                                                page_size=9, **f)
            paged += [r["id"] for r in rows]
            if not rows:
                break
        assert paged == expected, f
        assert (total, exact) == (len(expected), True), f
    assert {"breached", "withdrawn", "met", "running"} <= set(state.values())


async def test_the_sla_list_is_by_deadline_and_the_queue_by_urgency(models: ReadModels) -> None:
    events, corrections = history(seed=15, cases=200)
    await models.apply([*corrections, *events])
    now = at("2026-04-15T12:00")
    conn = models.conn
    calendar = await SlaTimers.calendar(conn)
    rows = await conn.fetch("SELECT c.id, c.type, c.tier, c.closed_at, c.created_at, t.* "
                            "FROM case_views c JOIN sla_timers t ON t.case_id = c.id")
    state = {r["id"]: sla_now(r, calendar, now).state for r in rows}

    async def timers(cursor: str | None, **f: Any) -> tuple[list[asyncpg.Record], str | None]:
        page, _, next_cursor = await case_views.list_timers(conn, now, limit=6, cursor=cursor,
                                                            **f)
        return page, next_cursor

    for f in ({}, {"state": "breached"}, {"state": "at_risk"}, {"state": "not_started"},
              {"state": "met", "type": "complaint"}):
        expected = sorted((r for r in rows if (f.get("state") in (None, state[r["id"]]))
                           and f.get("type") in (None, r["type"])),
                          key=lambda r: (r["due_at"] is None, r["due_at"] or now, r["id"]))
        assert [r["id"] for r in await walk(timers, **f)] == [r["id"] for r in expected], f

    rank = {"breached": 0, "at_risk": 1, "running": 2, "paused": 3}

    async def queue(cursor: str | None,
                    tier: str | None) -> tuple[list[asyncpg.Record], str | None]:
        return await escalation_queues.queue(conn, now, tier, 5, cursor)

    for tier in (None, *TIERS):
        expected = sorted((r for r in rows if r["closed_at"] is None and r["started_at"]
                           is not None and tier in (None, r["tier"])),
                          key=lambda r: (rank.get(state[r["id"]], 4), r["due_at"],
                                         r["created_at"], r["id"]))
        walked = await walk(queue, tier=tier)
        assert [r["id"] for r in walked] == [r["id"] for r in expected], tier
    # Item 17: no suggestion, no case without a clock, in the queue.
    queued = {r["id"] for r in await walk(queue, tier=None)}
    kinds = {r["id"]: r["kind"] for r in await conn.fetch("SELECT id, kind FROM case_views")}
    assert queued and not any(kinds[i] == "suggestion" for i in queued)
    assert all(state[i] != "not_started" for i in queued)


async def test_a_bad_cursor_is_refused_naming_it(models: ReadModels) -> None:
    from services.domain.errors import InvalidInput

    for cursor in ("x", "bm9wZQ", str(uuid.uuid4())):
        with pytest.raises(InvalidInput) as raised:
            await case_views.list_cases(models.conn, at("2026-04-01T00:00"), cursor=cursor)
        assert raised.value.field == "cursor"


async def test_tables_left_by_an_earlier_version_are_folded_again(models: ReadModels) -> None:
    """A read model without the columns this version reads is dropped, and its tracked
    positions with it, so the runner folds it again from the first event."""
    conn = models.conn
    await conn.execute("DROP TABLE case_views, case_counts, report_counts; "
                       "CREATE TABLE case_views (id uuid PRIMARY KEY, doc jsonb NOT NULL); "
                       "INSERT INTO case_views VALUES (gen_random_uuid(), '{}');"
                       "CREATE TABLE projection_positions (projection text, stream text, "
                       "position bigint); INSERT INTO projection_positions VALUES "
                       "('case_views', 'applications', 41), ('sla_timers', 'calendar', 3)")
    await CaseViews().create(conn)
    assert await conn.fetchval("SELECT count(*) FROM case_views") == 0
    assert await conn.fetch("SELECT projection FROM projection_positions") == [("sla_timers",)]
    await SlaTimers().create(conn)  # already of this version: left be
    assert await conn.fetchval("SELECT count(*) FROM projection_positions") == 1
