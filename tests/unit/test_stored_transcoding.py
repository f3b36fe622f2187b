"""Stored events decoded straight into contract events (services/infra/transcoding.py)
give exactly what the exact way gives (eventsourcing's mapper, then the contract
mapping), or take the exact way: every case where the two could differ."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import StoredEvent

from contracts.common import CaseEvent
from contracts.mapping import ContractRegistry
from services.infra.store import EventStoreApplication
from services.infra.transcoding import PROBES, StoredDecoder

WIB = timezone(timedelta(hours=7))
ACTOR = {"id": "budi", "role": "officer", "channel": None, "tier": "pelaksana", "unit": "x"}


class Thing(Aggregate):
    @event("Made")
    def __init__(self, when: datetime, day: date, ref: UUID, extra: dict[str, Any],
                 note: str | None, actor: dict[str, Any], at: datetime) -> None:
        self.note = note

    @event("Noted")
    def note_it(self, note: str, actor: dict[str, Any], at: datetime) -> None:
        self.note = note

    @event("Counted")
    def count(self, n: int, actor: dict[str, Any], at: datetime) -> None:
        pass

    @event("Tagged")
    def tag(self, label: str, actor: dict[str, Any], at: datetime) -> None:
        pass


class Made(CaseEvent, tag="thing.made", frozen=True):
    when: datetime
    day: date
    ref: UUID
    extra: dict[str, Any]
    note: str | None = None


def loosely_made() -> type[CaseEvent]:
    """`Made` as if its contract said text where the aggregate keeps a UUID."""
    own = [f for f in msgspec.structs.fields(Made) if f.name not in CaseEvent.__struct_fields__]
    fields = [(f.name, str if f.name == "ref" else f.type,
               *(() if f.default is msgspec.NODEFAULT else (f.default,))) for f in own]
    return msgspec.defstruct("Made", fields, bases=(CaseEvent,), tag="thing.made", frozen=True)


class Noted(CaseEvent, tag="thing.noted", frozen=True):
    note: str


class Counted(CaseEvent, tag="thing.counted", frozen=True):
    n: float  # msgspec would read a stored 1 as 1.0: this class takes the exact way


class Tagged(CaseEvent, tag="thing.tagged", frozen=True):
    label: str
    code: str  # not in the domain event: the registry's enrich adds it


def extras(e: Any) -> dict[str, Any]:
    return {"code": f"T-{e.originator_id.hex[:6]}"} if type(e).__name__ == "Tagged" else {}


class Things(EventStoreApplication):
    name = "things"


REGISTRY = ContractRegistry((Made, Noted, Counted, Tagged), enrich=extras)


@pytest.fixture
def app() -> Application[UUID]:
    return Things(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def stored(app: Application[UUID], thing: Thing) -> list[StoredEvent]:
    app.save(thing)
    return list(app.recorder.select_events(thing.id))


def both(decoder: StoredDecoder, s: StoredEvent) -> tuple[bytes, bytes]:
    assert isinstance(s.originator_id, UUID)
    exact = decoder.exact(s.topic, s.originator_id, s.originator_version, s.state)
    got = decoder.decode(s.topic, s.originator_id, s.originator_version, s.state)
    return msgspec.json.encode(got), msgspec.json.encode(exact)


def make(**changes: Any) -> Thing:
    args: dict[str, Any] = {
        "when": datetime(2026, 3, 16, 2, 0, 5, 120, tzinfo=UTC), "day": date(2026, 3, 17),
        "ref": uuid4(), "note": 'a "quoted" note \\ with {"_type_":"x","_data_":"y"} inside é',
        "extra": {"issued_at": datetime(2026, 3, 16, 9, tzinfo=WIB),
                  "utc": datetime(2026, 3, 16, 2, tzinfo=UTC), "on": date(2026, 1, 2),
                  "amount": Decimal("12.50"), "ids": [uuid4()], "n": 1, "none": None},
        "actor": ACTOR, "at": datetime(2026, 3, 16, 9, 0, 0, tzinfo=WIB)}
    return Thing(**(args | changes))


def test_every_value_the_transcoder_wraps_comes_out_as_the_exact_way_writes_it(
        app: Application[UUID]) -> None:
    decoder = StoredDecoder(app, REGISTRY)
    things = [make() for _ in range(PROBES + 3)]
    for thing in things:
        thing.note_it("ok", ACTOR, datetime(2026, 3, 17, 10, tzinfo=WIB))
    rows = [s for t in things for s in stored(app, t)]
    for s in rows:
        got, exact = both(decoder, s)
        assert got == exact
    assert decoder.direct == 2 * 3, "after the probes, both classes go the direct way"
    # Inside free-form data a wrapped value reads as msgspec writes the object.
    made = msgspec.json.encode(decoder.decode(*_args(rows[0])))
    assert decoder.direct == 2 * 3 + 1
    for text in (b'"utc":"2026-03-16T02:00:00Z"', b'"issued_at":"2026-03-16T09:00:00+07:00"',
                 b'"on":"2026-01-02"', b'"amount":"12.50"', b'"day":"2026-03-17"',
                 b'"when":"2026-03-16T02:00:05.000120Z"', b'"type":"thing.made"',
                 f'"case_id":"{rows[0].originator_id}","version":1'.encode()):
        assert text in made


def test_a_value_the_contract_refuses_takes_the_exact_way(app: Application[UUID]) -> None:
    decoder = StoredDecoder(app, REGISTRY)
    rows = []
    for _ in range(PROBES + 2):
        rows += stored(app, make())
    odd = make(note=None)
    odd.note_it(None, ACTOR, datetime(2026, 3, 17, tzinfo=WIB))  # type: ignore[arg-type]
    rows += stored(app, odd)
    for s in rows:
        got, exact = both(decoder, s)
        assert got == exact  # `note: str` refuses null: the exact way keeps the null
    assert b'"note":null' in got
    assert decoder.direct == 3  # Made, after its probes; never Noted

    loose = StoredDecoder(app, ContractRegistry((loosely_made(), Noted), enrich=extras))
    for s in rows:
        got, exact = both(loose, s)
        assert got == exact  # a UUID object where the contract says `str`
    assert loose.direct == 0


def test_a_float_field_takes_the_exact_way_and_enrich_adds_its_extras(
        app: Application[UUID]) -> None:
    decoder = StoredDecoder(app, REGISTRY)
    for _ in range(PROBES + 2):
        thing = make()
        thing.count(1, ACTOR, datetime(2026, 3, 18, tzinfo=WIB))
        thing.tag("label", ACTOR, datetime(2026, 3, 18, tzinfo=WIB))
        for s in stored(app, thing):
            got, exact = both(decoder, s)
            assert got == exact
    assert b'"n":1,' in msgspec.json.encode(decoder.decode(*_args(s_of(app, "Counted"))))
    # After their probes Made and Tagged (its code added by enrich) went the direct way;
    # Counted (a float) never.
    assert decoder.direct == 2 + 2


def test_a_state_not_as_eventsourcing_writes_it_takes_the_exact_way(app: Application[UUID]) -> None:
    decoder = StoredDecoder(app, REGISTRY)
    rows = []
    for _ in range(PROBES + 1):
        rows += stored(app, make())
    s = rows[-1]
    assert s.state.startswith(b'{"timestamp":')
    reordered = msgspec.json.encode(dict(reversed(msgspec.json.decode(s.state).items())))
    transcoded_not_text = s.state.replace(b'"_data_":"2026-03-17"}', b'"_data_":1}')
    assert isinstance(s.originator_id, UUID)
    before = decoder.direct
    got = decoder.decode(s.topic, s.originator_id, s.originator_version, reordered)
    exact = decoder.exact(s.topic, s.originator_id, s.originator_version, reordered)
    assert msgspec.json.encode(got) == msgspec.json.encode(exact)
    with pytest.raises(Exception):  # noqa: B017 - whatever the exact way raises
        decoder.decode(s.topic, s.originator_id, s.originator_version, transcoded_not_text)
    assert decoder.direct == before


def _args(s: StoredEvent) -> tuple[str, UUID, int, bytes]:
    assert isinstance(s.originator_id, UUID)
    return s.topic, s.originator_id, s.originator_version, s.state


def s_of(app: Application[UUID], name: str) -> StoredEvent:
    return next(s for s in app.recorder.select_notifications(0, 10_000)
                if s.topic.endswith(name))


def test_enrich_is_handed_the_domain_event_with_its_objects(app: Application[UUID]) -> None:
    def day_of(e: Any) -> dict[str, Any]:  # date arithmetic on the event's datetime
        return {"code": e.at.date().isoformat()} if type(e).__name__ == "Tagged" else {}

    decoder = StoredDecoder(app, ContractRegistry((Made, Noted, Tagged), enrich=day_of))
    for _ in range(PROBES + 2):
        thing = make()
        thing.tag("label", ACTOR, datetime(2026, 3, 18, 23, tzinfo=WIB))
        for s in stored(app, thing):
            got, exact = both(decoder, s)
            assert got == exact
    assert b'"code":"2026-03-18"' in got
    assert decoder.direct == 2 + 2
