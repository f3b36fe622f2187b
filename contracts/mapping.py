"""Domain event (inside eventsourcing) → contract Struct (on the wire and in history).

Contract classes are named like the domain events they carry, so the mapping is by
name; refactoring an aggregate's internals never changes what consumers see."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from contracts.common import ActorRef, CaseEvent


class ContractRegistry:
    def __init__(self, types: Iterable[type[CaseEvent]],
                 enrich: Callable[[Any], dict[str, Any]] | None = None) -> None:
        types = tuple(types)
        self.by_name = {t.__name__: t for t in types}
        self.enrich = enrich or (lambda _e: {})
        """Fields a contract carries that its domain event does not spell out (a
        tracking number made from the case id), from the domain event."""
        self.enriches = enrich is not None
        """Whether there is an `enrich` to call (services/infra/transcoding.py makes the
        domain event for it only then)."""
        # One decoder for the stream: the tagged union of its event types.
        self._decoder: msgspec.json.Decoder[CaseEvent] = msgspec.json.Decoder(
            functools.reduce(operator.or_, types))

    def decode(self, data: bytes) -> CaseEvent:
        """A contract event from its JSON (as published on JetStream)."""
        return self._decoder.decode(data)

    def tag_of(self, event: Any) -> str:
        return str(self.by_name[type(event).__name__].__struct_config__.tag)

    def to_contract(self, event: Any) -> CaseEvent:
        cls = self.by_name[type(event).__name__]
        state = dict(vars(event))
        actor = state.pop("actor")
        fields = {
            name: state[name] for name in cls.__struct_fields__ if name in state
        }
        fields.update(self.enrich(event))
        return cls(case_id=str(event.originator_id), version=event.originator_version,
                   recorded_at=event.timestamp, actor=ActorRef(**actor), **{
                       k: v for k, v in fields.items()
                       if k not in ("case_id", "version", "recorded_at", "actor")})
