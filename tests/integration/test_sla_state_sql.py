"""The read side filters timers by state in SQL (`STATE_SQL`, `state_condition`) and shows
each timer's `sla` from its stored columns (`sla_now`); the API's single-case reads
compute it in Python (`sla_of`). On a real Postgres, all of them must agree at every
boundary of every kind of clock: a microsecond before, at and after each instant that
matters — on a calendar with a correction declared while some clocks were still going."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import pytest
import pytest_asyncio

from contracts.vocabulary import SLA_STATES
from projections.sla_timers import (
    STATE_SQL,
    SlaTimers,
    clock_of,
    evolve,
    sla_now,
    sla_view,
    state_condition,
)
from services.domain.clock import JAKARTA
from services.domain.workdays import OfficeDay, WorkingCalendar

pytestmark = pytest.mark.integration

US = timedelta(microseconds=1)
# Office corrections too, so the deadlines are the calendar's and not the weekdays': one
# known from the start, one declared on 1 April about 31 March (a clock stopped before
# that keeps the outcome it had; one still going moves).
CALENDAR = WorkingCalendar([
    OfficeDay(datetime(2026, 3, 24).date(), "holiday", "Hari jadi"),
    OfficeDay(datetime(2026, 3, 31).date(), "holiday", "Cuti bersama daerah",
              datetime.fromisoformat("2026-04-01T12:00:00+07:00")),
])
Doc = dict[str, Any]


def on(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=JAKARTA)


def ev(case: str, tag: str, at: datetime, **data: Any) -> Doc:
    return {"type": tag, "case_id": case, "at": msgspec.to_builtins(at), **data}


def fold(*events: Doc) -> Doc:
    doc = None
    for e in events:
        doc = evolve(doc, e)
    assert doc is not None
    return doc


def due_of(doc: Doc, ratio: float) -> datetime:
    d = clock_of(doc).deadlines(doc["limit"], CALENDAR, ratio)
    assert d is not None
    return d.due_at


Step = tuple[str, datetime, dict[str, Any]]


def application(case: str, *events: Step) -> Doc:
    return fold(ev(case, "application.submitted", on("2026-03-16T09:00"), sla_working_days=7),
                *(ev(case, tag, at, **data) for tag, at, data in events))


def timers(ratio: float) -> list[Doc]:
    """One doc for every kind of clock, including the ones finished or paused exactly at
    their deadline."""
    ids = iter(str(uuid.UUID(int=n)) for n in range(1, 100))
    complete: Step = ("application.file_declared_complete", on("2026-03-17T10:00"), {})
    returned: Step = ("application.file_returned_for_correction", on("2026-03-20T11:00"), {})
    resumed: Step = ("application.resubmitted", on("2026-04-06T09:00"), {})
    running = application(next(ids), complete)
    due = due_of(running, ratio)
    docs = [
        application(next(ids)),                                    # not started
        application(next(ids), ("application.file_returned_for_correction",
                                on("2026-03-17T10:00"), {"unmet": ["K1"]})),  # never complete
        running,
        application(next(ids), complete, returned),                # paused before the deadline
        application(next(ids), complete, returned, resumed),       # resumed, days used kept
    ]
    for paused_at in (due - US, due, due + US):                    # paused around the deadline
        docs.append(application(next(ids), complete,
                                ("application.file_returned_for_correction", paused_at, {})))
    # Resumed after a pause that came when every day was used: due at once.
    docs.append(application(next(ids), complete,
                            ("application.file_returned_for_correction", due + US, {}),
                            ("application.resubmitted", due + timedelta(days=2), {})))
    for finished_at in (due - US, due, due + US):                  # discharged around the deadline
        docs.append(application(next(ids), complete,
                                ("application.certificate_issued", finished_at, {})))
        docs.append(application(next(ids), complete, ("application.decided", finished_at,
                                                      {"outcome": "reject"})))
    docs.append(application(next(ids), complete, returned,
                            ("application.withdrawn", on("2026-03-25T10:00"), {})))
    docs.append(application(next(ids), ("application.withdrawn", on("2026-03-18T10:00"), {})))
    for withdrawn_at in (due - US, due + US):                      # withdrawn while running
        docs.append(application(next(ids), complete, ("application.withdrawn", withdrawn_at, {})))
    # Finished either side of the correction's declaration, near the deadline.
    for issued in ("2026-04-01T11:00", "2026-04-06T10:00"):
        docs.append(application(next(ids), complete,
                                ("application.certificate_issued", on(issued), {})))
    for kind, then in [("complaint", None), ("complaint", "complaint.responded"),
                       ("suggestion", None), ("suggestion", "complaint.responded"),
                       ("suggestion", "complaint.reclassified")]:
        case = next(ids)
        received = ev(case, "complaint.received", on("2026-03-10T08:00"), kind=kind,
                      sla_working_days=14, received_at="2026-03-09T15:00:00+07:00",
                      unit="pengaduan")
        later = [ev(case, then, on("2026-04-06T16:00"),
                    received_at="2026-03-09T15:00:00+07:00")] if then else []
        docs.append(fold(received, *later))
    return docs


def boundaries(doc: Doc, ratio: float) -> set[datetime]:
    """Each instant a state could change at, a microsecond either side, and far away."""
    clock = clock_of(doc)
    instants = {on("2026-01-01T00:00"), on("2027-01-01T00:00")}
    d = clock.deadlines(doc["limit"], CALENDAR, ratio)
    if d is not None:
        instants |= {d.due_at, d.at_risk_at}
    for span in clock.spans:
        instants |= {span.start} | ({span.end} if span.end else set())
    return {i + k * US for i in instants for k in (-1, 0, 1)}


@pytest_asyncio.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


@pytest.mark.parametrize("ratio", [0.8, 0.5])
async def test_the_sql_state_is_sla_of_at_every_boundary(conn: asyncpg.Connection,
                                                          ratio: float) -> None:
    projection = SlaTimers(at_risk_ratio=ratio)
    await projection.create(conn)
    docs = timers(ratio)
    await projection.write(conn, docs, CALENDAR)
    by_id = {doc["id"]: doc for doc in docs}
    instants = set().union(*(boundaries(doc, ratio) for doc in docs))
    seen: set[str] = set()
    conditions = ", ".join(f"{state_condition(s, '$1')} AS in_{s}" for s in SLA_STATES)
    for now in sorted(instants):
        rows = await conn.fetch(
            f"SELECT t.*, {STATE_SQL} AS state, {conditions} FROM sla_timers t", now)
        assert len(rows) == len(docs)
        for row in rows:
            doc = by_id[str(row["case_id"])]
            expected = sla_view(doc, CALENDAR, now, ratio)
            assert row["state"] == expected["state"], (doc, now.isoformat())
            assert [s for s in SLA_STATES if row[f"in_{s}"]] == [expected["state"]], doc
            # The same instants (datetimes compare as instants, whatever their zone).
            assert sla_now(row, CALENDAR, now) == clock_of(doc).sla(
                doc["limit"], CALENDAR, now, ratio), (doc, now.isoformat())
            seen.add(expected["state"])
    # Every state was met on the way, so no branch of either rule went untested.
    assert seen == set(SLA_STATES)
