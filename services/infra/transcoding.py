"""Stored events straight into contract events, with msgspec.

Every events table holds what eventsourcing's mapper wrote (services/infra/store.py):
the domain event's attributes but its id and version, as JSON by eventsourcing's
`JSONTranscoder`, where each value of a registered type is an object
`{"_type_": <transcoding>, "_data_": <text>}` (datetimes, dates, UUIDs, decimals). The
relay, the rebuild, the audit history and a projection healing a gap read these rows;
the exact way back is `mapper.to_domain_event` then `ContractRegistry.to_contract`:
Python's `json` with a hook called on every object of the state, a domain event, then a
Struct built field by field in Python.

Here msgspec decodes the state into a dict, the transcoded values at its top level are
decoded by the store's own transcodings (those deeper, found by counting them in the
bytes, by a walk of the whole, inner ones first, as eventsourcing's hook does), the
registry's `enrich` is handed the domain event made as eventsourcing's mapper makes it,
and msgspec builds the contract Struct from the dict, with `case_id`, `version` and
`recorded_at` set as `to_contract` sets them, validating it: about two thirds of the
time the exact way takes (6 µs an event against 9, measured on the benchmark's backlog).

What consumers see does not change: `msgspec.json.encode` of both results is the same
bytes. That is held three ways. An event this way cannot take (a value the contract's
types refuse, which the exact way would have carried as it is; a transcoding the store
does not know) goes the exact way. A contract class with a float anywhere goes the
exact way (msgspec would make a stored `1` into `1.0`). And the first events of each
class (`PROBES`) go both ways and are compared; a class that differs once stays on the
exact way. tests/integration/test_eventlog_decoding.py compares both ways on every event
of a generated history.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeGuard
from uuid import UUID

import msgspec
from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, StoredEvent
from eventsourcing.utils import resolve_topic

from contracts.common import CaseEvent
from contracts.mapping import ContractRegistry

PROBES = 3
"""Events of each class decoded both ways and compared before the direct way is trusted."""

_OPEN = b'{"_type_":'
"""How a transcoded value starts, as `json.JSONEncoder` writes it (inside a JSON string
every `"` is escaped: this is never text within a string)."""
_SET_BY_MAPPING = ("case_id", "version", "recorded_at", "actor")
"""What `ContractRegistry.to_contract` sets itself, whatever `enrich` says."""

Way = Callable[[UUID, int, bytes], CaseEvent | None]


class StoredDecoder:
    """Rows of one event store (topic, originator id, version, state bytes) as contract
    events."""

    def __init__(self, store: Application[UUID], contracts: ContractRegistry) -> None:
        self.store = store
        self.contracts = contracts
        mapper: Any = store.mapper
        transcoder = mapper.transcoder
        # Only plain JSON states can be read directly: a cipher or a compressor (none is
        # configured) leaves every event on the exact way.
        self._direct = (isinstance(transcoder, JSONTranscoder) and mapper.cipher is None
                        and mapper.compressor is None)
        names: dict[str, Any] = transcoder.names if self._direct else {}
        self._decoders: dict[str, Callable[[Any], Any]] = {
            name: t.decode for name, t in names.items()}
        self._dict = msgspec.json.Decoder(dict[str, Any])
        self._classes: dict[str, _Class] = {}
        self.direct = 0
        """Events decoded the direct way (for tests and benchmarks)."""

    def decode(self, topic: str, originator_id: UUID, version: int, state: bytes) -> CaseEvent:
        known = self._classes.get(topic)
        if known is None:
            known = self._classes[topic] = self._class_of(topic)
        if known.way is not None:
            event = known.way(originator_id, version, state)
            if event is not None:
                if known.probes_left == 0:
                    self.direct += 1
                    return event
                exact = self.exact(topic, originator_id, version, state)
                if msgspec.json.encode(event) == msgspec.json.encode(exact):
                    known.probes_left -= 1
                else:
                    known.way = None  # for good: this class takes the exact way
                return exact
        return self.exact(topic, originator_id, version, state)

    def exact(self, topic: str, originator_id: UUID, version: int,
              state: bytes) -> CaseEvent:
        """Through eventsourcing's mapper and the contract mapping."""
        domain_event = self.store.mapper.to_domain_event(StoredEvent(
            originator_id=originator_id, originator_version=version, topic=topic,
            state=state))
        return self.contracts.to_contract(domain_event)

    def _class_of(self, topic: str) -> _Class:
        cls = self.contracts.by_name.get(topic.rsplit(".", 1)[-1])
        if not self._direct or cls is None or _has_float(cls):
            return _Class(None)
        return _Class(self._way(cls, resolve_topic(topic) if self.contracts.enriches else None))

    def _way(self, cls: type[CaseEvent], domain_cls: type[Any] | None) -> Way:
        enrich = self.contracts.enrich
        unwrap = self._unwrap
        usual: list[str] = []
        """The top-level fields events of the class had transcoded so far: looked at
        first, every field only when a transcoded value is left after them."""

        def way(originator_id: UUID, version: int, state: bytes) -> CaseEvent | None:
            try:
                fields = self._dict.decode(state)
                wrapped = state.count(_OPEN)
                for key in usual:
                    if _transcoded(value := fields.get(key)):
                        fields[key] = unwrap(value)
                        wrapped -= 1
                if wrapped:
                    for key, value in fields.items():
                        if _transcoded(value):
                            fields[key] = unwrap(value)
                            wrapped -= 1
                            if key not in usual:
                                usual.append(key)
                if wrapped:
                    fields = self._unwrap_all(fields)  # some inside other values
                if domain_cls is not None:
                    # The domain event as eventsourcing's mapper makes it.
                    domain_event = object.__new__(domain_cls)
                    object.__setattr__(domain_event, "__dict__", {
                        **fields, "originator_id": originator_id, "originator_version": version})
                    fields.update((k, v) for k, v in enrich(domain_event).items()
                                  if k not in _SET_BY_MAPPING)
                fields.update(case_id=str(originator_id), version=version,
                              recorded_at=fields.pop("timestamp"))
                event: CaseEvent = msgspec.convert(fields, cls)
            except Exception:  # noqa: BLE001 - anything this way cannot take goes the exact way
                return None
            return event
        return way

    def _unwrap(self, value: dict[str, Any]) -> Any:
        """A transcoded value `{"_type_": name, "_data_": data}` as the store's transcoding
        decodes it."""
        return self._decoders[value["_type_"]](value["_data_"])

    def _unwrap_all(self, value: Any) -> Any:
        """Every transcoded value, at any depth, inner ones first (as eventsourcing's
        object hook does)."""
        if type(value) is list:
            return [self._unwrap_all(v) for v in value]
        if type(value) is dict:
            value = {k: self._unwrap_all(v) for k, v in value.items()}
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                return self._unwrap(value)
        return value


def _transcoded(value: Any) -> TypeGuard[dict[str, Any]]:
    """Whether a decoded value is a transcoded one, `{"_type_": ..., "_data_": text}`."""
    return (type(value) is dict and len(value) == 2 and type(value.get("_data_")) is str
            and "_type_" in value)


class _Class:
    __slots__ = ("probes_left", "way")

    def __init__(self, way: Way | None) -> None:
        self.way = way
        self.probes_left = PROBES


def _has_float(cls: type[Any]) -> bool:
    """Whether a float is anywhere in the type (msgspec decodes `1` into it as `1.0`,
    where the exact way keeps the stored `1`)."""
    seen: set[int] = set()

    def walk(t: msgspec.inspect.Type) -> bool:
        if id(t) in seen:
            return False
        seen.add(id(t))
        if isinstance(t, msgspec.inspect.FloatType):
            return True
        if isinstance(t, msgspec.inspect.StructType):
            return any(walk(f.type) for f in t.fields)
        children: list[msgspec.inspect.Type] = []
        for attr in ("types", "item_type", "key_type", "value_type"):
            child = getattr(t, attr, None)
            if isinstance(child, tuple):
                children += child
            elif child is not None:
                children.append(child)
        return any(walk(c) for c in children)

    return walk(msgspec.inspect.type_info(cls))
