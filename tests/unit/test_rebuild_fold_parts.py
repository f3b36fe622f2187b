"""The parts a rebuild folds whole cases with end where the live fold does: the SLA
timers kept in place over a case's events and settled once (`sla_timers.fold_cases`)
are the docs `evolve` makes event by event, with their clocks; and rows copied in as
COPY's text are each value escaped by COPY's rules, whether a row takes the fast path
(nothing to escape) or not. (tests/integration/test_rebuild_folds.py compares whole
rebuilds with the live read models on Postgres.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from projections import sla_timers
from projections.doc_table import RowWriter, fold_into
from tests.integration.test_report_facts import calendar_of, history, logged


def test_timers_folded_whole_cases_in_place_are_the_timers_folded_event_by_event() -> None:
    events, corrections = history(seed=5, cases=300)
    data = [e.data for e in logged(events)]
    by_event = {k: d for k, d in fold_into({}, data, sla_timers.evolve).items()
                if d is not None}
    whole = sla_timers.fold_cases(data)
    assert [doc for doc, _ in whole] == list(by_event.values())
    assert len(whole) > 250
    assert any(doc["spans"] for doc, _ in whole) and any(doc.get("stopped_by") for doc, _ in whole)
    calendar = calendar_of(corrections)
    timers = sla_timers.SlaTimers()
    for doc, clock in whole:
        assert clock == sla_timers.clock_of(doc)
        assert timers.row(doc, calendar, clock) == timers.row(doc, calendar)


def test_a_timer_evolved_leaves_the_doc_it_was_given_as_it_was() -> None:
    events, _ = history(seed=6, cases=60)
    doc: dict[str, Any] | None = None
    case = events[0]["case_id"]
    for e in (e.data for e in logged(events)):
        if e["case_id"] != case:
            continue
        before = msgspec.json.encode(doc, order="sorted")
        after = sla_timers.evolve(doc, e)
        assert msgspec.json.encode(doc, order="sorted") == before
        doc = after


def escaped(value: Any) -> str:
    """COPY's text format of one value, by its rules, value by value."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    text = str(msgspec.to_builtins(value)) if isinstance(value, datetime) else str(value)
    return (text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
            .replace("\t", "\\t"))


TEXT = st.text(alphabet=st.sampled_from(["a", "é", "\\", "\n", "\r", "\t", "N", '"', " ",
                                         "𝄞"]), max_size=8)
VALUE = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), TEXT,
                  st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=7))])))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(VALUE, min_size=1, max_size=6).map(tuple), max_size=5))
def test_rows_as_copy_text_are_each_value_escaped(rows: list[tuple[Any, ...]]) -> None:
    expected = "".join("\t".join(escaped(v) for v in row) + "\n" for row in rows).encode()
    assert RowWriter("t", "c", ["c"]).encode(rows) == expected
