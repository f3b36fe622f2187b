"""Every domain event has a contract: mapped by name, tagged for its stream, and read back
from its JSON as it was written."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from contracts.common import CaseEvent
from contracts.mapping import ContractRegistry


def round_trip(registry: ContractRegistry, events: Iterable[Any], types: Iterable[type],
               prefix: str) -> list[CaseEvent]:
    """The events as their contracts decode them; every one of `types` among them."""
    events = list(events)
    assert {type(e).__name__ for e in events} == {t.__name__ for t in types}
    decoded = []
    for event in events:
        contract = registry.to_contract(event)
        assert registry.tag_of(event).startswith(prefix)
        again = registry.decode(msgspec.json.encode(contract))
        assert msgspec.to_builtins(again) == msgspec.to_builtins(contract)
        decoded.append(again)
    return decoded
