"""Given / when / then on events for the pure aggregates (after Emmett's DeciderSpecification)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from services.domain.errors import DomainError

Command = Callable[[Any], Any]
E = TypeVar("E", bound=DomainError)


def given(factory: Callable[[], Any], *commands: Command) -> Any:
    """Run the commands, then rebuild the aggregate from their events alone (replay)."""
    aggregate = factory()
    for command in commands:
        command(aggregate)
    rebuilt = None
    for stored in aggregate.collect_events():
        rebuilt = stored.mutate(rebuilt)
    return rebuilt


def when(aggregate: Any, command: Command) -> list[str]:
    """The names of the events the command records."""
    command(aggregate)
    return [type(e).__name__ for e in aggregate.collect_events()]


def then_raises(aggregate: Any, command: Command, error: type[E],
                rule: str | None = None) -> E:
    """The command fails with `error` (and `rule`), recording nothing."""
    with pytest.raises(error) as raised:
        command(aggregate)
    assert rule is None or raised.value.rule == rule, raised.value.rule
    assert list(aggregate.collect_events()) == []
    return raised.value
