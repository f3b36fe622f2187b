"""The yearly evaluation (issue 12, item 6) as given / when / then on the events of the
`Evaluation` aggregate: the head's evaluation of a year and its improvement plan."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from contracts import evaluations as contracts
from services.domain.clock import JAKARTA
from services.domain.errors import InvalidInput, NotFound, RuleViolation
from services.evaluations.domain import Evaluation
from services.evaluations.service import CONTRACTS, view
from tests.unit.gwt import given, then_raises, when
from tests.unit.roundtrip import round_trip

HEAD = {"id": "kepala", "role": "head"}
AT = datetime(2027, 1, 20, 10, 0, tzinfo=JAKARTA)
PLAN = [
    {"action": "Sederhanakan formulir persyaratan", "owner": "perizinan",
     "due_on": date(2027, 3, 31)},
    {"action": "Pelatihan ulang petugas loket (Diklat PTSP)", "owner": "kasi-pelayanan",
     "due_on": date(2027, 6, 30)},
]


def recorded(**changes: Any) -> Any:
    args: dict[str, Any] = {"year": 2026, "summary": "IKM 82,4 (B); waktu terendah",
                            "actions": PLAN, "actor": HEAD, "at": AT, **changes}
    return lambda: Evaluation.record(**args)


def test_the_evaluation_of_a_year_is_one_event_with_its_plan() -> None:
    e = recorded()()
    assert [type(x).__name__ for x in e.collect_events()] == ["Recorded"]
    e = given(recorded())
    assert (e.year, e.recorded_by) == (2026, "kepala")
    assert [a["done"] for a in e.actions] == [None, None]
    assert [a.n for a in view(e).actions] == [1, 2]


def test_an_action_is_marked_done_once_by_its_number_from_1() -> None:
    e = given(recorded())
    assert when(e, lambda e: e.mark_done(2, "Dilaksanakan 12 Mei", HEAD, AT)) == ["ActionDone"]
    assert e.actions[1]["done"] == {"at": AT, "by": "kepala", "note": "Dilaksanakan 12 Mei"}
    assert view(e).actions_done == 1
    then_raises(e, lambda e: e.mark_done(2, None, HEAD, AT), RuleViolation,
                "action_already_done")


@pytest.mark.parametrize("n", [0, 3, -1])
def test_an_action_that_is_not_in_the_plan_is_not_found(n: int) -> None:
    then_raises(given(recorded()), lambda e: e.mark_done(n, None, HEAD, AT), NotFound)


@pytest.mark.parametrize(("changes", "field"), [
    ({"year": 2028}, "year"),                     # a year not yet over is not evaluated
    ({"year": 1899}, "year"),
    ({"summary": " "}, "summary"),
    ({"actions": [{**PLAN[0], "owner": ""}]}, "actions[0].owner"),
    ({"actions": [{**PLAN[0], "action": " "}]}, "actions[0].action"),
])
def test_an_evaluation_says_what_it_found_and_who_does_what(changes: dict[str, Any],
                                                            field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        recorded(**changes)()
    assert raised.value.field == field


def test_a_plan_may_be_empty() -> None:
    assert given(recorded(actions=[])).actions == []


def test_every_event_has_a_contract_that_round_trips() -> None:
    e = recorded()()
    e.mark_done(1, None, HEAD, AT)
    first = round_trip(CONTRACTS, e.collect_events(), contracts.EVENT_TYPES, "evaluation.")[0]
    assert isinstance(first, contracts.Recorded)
    assert first.actions[1] == contracts.PlannedAction(**PLAN[1])
