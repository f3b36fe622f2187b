"""The read models folded three ways end in the same rows: a batch holding several events
of a case, each event applied on its own, and a rebuild's folders (whole cases, nothing
read back, rows copied in as COPY's text). And that text stores what an upsert stores.

On a real Postgres (tests/conftest.py); the events are contract events decoded by the
streams' own registries (`tests/integration/test_report_facts.py`)."""

from __future__ import annotations

import pickle
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from projections.case_views import CaseViews
from projections.doc_table import RowWriter, decode_doc, encode_doc
from projections.runner import Rebuildable
from projections.sla_timers import SlaTimers
from projections.survey_responses import SurveyResponses
from services.infra.eventlog import LoggedEvent
from tests.integration.test_report_facts import Doc, ReadModels, history, logged

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def models(database_url: str) -> AsyncIterator[ReadModels]:
    conn = await asyncpg.connect(database_url)
    read_models = ReadModels(conn)
    await read_models.reset()
    yield read_models
    await conn.close()


READ_MODELS: list[Rebuildable] = [CaseViews(), SlaTimers(), SurveyResponses()]
"""As `ReadModels` has them."""


async def rebuilt(models: ReadModels, events: Sequence[Doc], cases_per_batch: int) -> None:
    """The events folded as `projections.runner.rebuild` folds them: the calendar's stream
    first, then each stream whole cases at a time, each batch through a copy of the
    folder (as a worker process has it), its rows written, the counts at the end."""
    items = logged(events)
    streams = sorted(dict.fromkeys(e.stream for e in items), key=lambda s: s != "calendar")
    for stream in streams:
        by_case: dict[str, list[LoggedEvent]] = {}
        for e in items:
            if e.stream == stream:
                by_case.setdefault(str(e.event.case_id), []).append(e)
        cases = list(by_case.values())
        async with models.conn.transaction():
            rebuildings = [await m.rebuilding(models.conn) for m in READ_MODELS
                           if stream in m.streams]
            for i in range(0, len(cases), cases_per_batch):
                batch = [e for case in cases[i:i + cases_per_batch] for e in case]
                for model in rebuildings:
                    folder = pickle.loads(pickle.dumps(model.folder))
                    await model.write(models.conn, pickle.loads(pickle.dumps(
                        folder.fold(batch))))
            for model in rebuildings:
                await model.finish(models.conn)


async def test_a_batch_of_several_events_per_case_ends_as_one_event_at_a_time(
        models: ReadModels) -> None:
    events, corrections = history(seed=21, cases=120)
    everything = [*corrections, *events]
    per_case: dict[str, int] = {}
    for e in events:
        per_case[e["case_id"]] = per_case.get(e["case_id"], 0) + 1
    assert max(per_case.values()) >= 4, "cases with several events"

    await models.apply(everything, batch=len(everything))  # one batch per stream
    in_one_batch = await models.rows()
    assert in_one_batch["case_views"] and in_one_batch["sla_timers"]
    await models.reset()
    await models.apply(everything, batch=1)
    assert await models.rows() == in_one_batch
    for cases_per_batch in (1, 7, 1000):
        await models.reset()
        await rebuilt(models, everything, cases_per_batch)
        assert await models.rows() == in_one_batch, cases_per_batch


# -- COPY's text --------------------------------------------------------------------------
TRICKY = ["plain", "", 'with "quotes"', "comma, and\nnewline\r\n", "tab\there",
          "back\\slash", "\\.", "\\N", "NULL", " leading and trailing ", "unicode é ✓ 𝄞",
          '"', '""', ",", "\n"]


@pytest_asyncio.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    for table in ("copy_in", "upserted"):
        await connection.execute(
            f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id uuid PRIMARY KEY, "
            "t text, n int, b boolean, at timestamptz, doc jsonb)")
    yield connection
    await connection.execute("DROP TABLE copy_in, upserted")
    await connection.close()


def tricky_rows() -> list[tuple[Any, ...]]:
    jakarta = timezone(timedelta(hours=7))
    rows: list[tuple[Any, ...]] = []
    for i, text in enumerate([*TRICKY, None]):
        at = (None if i % 5 == 4 else datetime(2026, 3, 16, 9, 0, i, i * 7919,
                                                tzinfo=jakarta if i % 2 else UTC))
        doc = {"text": text, "nested": {"list": [text, i, None, 1.5, True]}, "i": -i}
        rows.append((str(uuid.UUID(int=i + 1)), text, None if i % 3 == 2 else i - 7,
                     None if i % 4 == 3 else bool(i % 2), at, encode_doc(doc)))
    return rows


async def test_rows_copied_in_as_text_are_the_rows_an_upsert_stores(
        conn: asyncpg.Connection) -> None:
    columns = ("id", "t", "n", "b", "at", "doc")
    rows = tricky_rows()
    await RowWriter("copy_in", "id", columns).copy(conn, RowWriter("copy_in", "id",
                                                                   columns).encode(rows))
    await RowWriter("upserted", "id", columns).upsert(conn, rows)
    copied = [tuple(r) for r in await conn.fetch("SELECT * FROM copy_in ORDER BY id")]
    upserted = [tuple(r) for r in await conn.fetch("SELECT * FROM upserted ORDER BY id")]
    assert copied == upserted
    assert [(str(r[0]), *r[1:5], decode_doc(r[5])) for r in copied] == [
        (*r[:5], decode_doc(r[5])) for r in rows]
    assert [r[1] for r in copied].count(None) == 1 and "" in [r[1] for r in copied]


def test_a_value_without_a_copy_form_is_refused() -> None:
    with pytest.raises(TypeError, match="float"):
        RowWriter("copy_in", "id", ("id", "n")).encode([("x", 1.5)])
