"""A case's timeline for its page: every stored event of the case, oldest first — who,
when, what — read from the event store (not a read model), with personal data shown
exactly as the case's own view shows it to this person.

Personal data travels sealed inside the events (`services.infra.personal_data`). The
timeline opens an envelope only where the view would show its content: a complainant's
identity through the complaints' own rule (`mask_identity`: masked for handling staff
once the complaint is confidential), everything else as the view opens it. An erased
subject reads as erased.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from services.complaints.views import mask_identity
from services.domain.actors import Actor
from services.infra.eventlog import LoggedEvent
from services.infra.personal_data import is_envelope

ENVELOPE_OF_IDENTITY = "complainant"
"""The field whose opened content the complaints' masking rule governs."""
NOT_SHOWN = frozenset({"case_id", "version", "at", "recorded_at", "actor", "type",
                       "tracking_number", "unit", "sla_working_days", "external_id",
                       "clock_span", "subjects", "keys_erased"})
"""Fields every event carries (shown apart) or that say nothing to a reader."""
VOCABULARY_OF_FIELD = {
    "outcome": "verdict", "recommendation": "verdict", "problem_type": "problem_type",
    "handling_plan": "handling_plan", "track": "track", "from_tier": "tier",
    "to_tier": "tier", "channel": "channel", "kind": "kind", "reasons": "suggestion_reason",
}
"""Fields whose values are a fixed list's names: shown by their label."""


@dataclass(frozen=True)
class Detail:
    name: str
    value: Any
    """A plain value, a list, a dict, or `SEALED` / `ERASED`."""
    vocabulary: str | None = None


@dataclass(frozen=True)
class Entry:
    version: int
    at: datetime
    tag: str
    actor_id: str
    actor_role: str
    automatic: bool
    details: tuple[Detail, ...]


SEALED = "__sealed__"
ERASED = "__erased__"


def _shown(value: Any, opened: Any) -> Any:
    if isinstance(opened, dict) and opened.get("erased") is True:
        return ERASED
    return opened if opened is not None else value


def entries(events: Iterable[LoggedEvent], viewer: Actor, open_envelope: Callable[[Any], Any],
            confidential: bool) -> list[Entry]:
    """The timeline of a case for `viewer`. `open_envelope` opens a sealed value (its key
    prefetched); `confidential`: the complaint's identity is confidential now."""
    out: list[Entry] = []
    for logged in events:
        data: dict[str, Any] = msgspec.to_builtins(logged.event)
        details: list[Detail] = []
        for name, value in data.items():
            if name in NOT_SHOWN or value is None or value == [] or value == {}:
                continue
            if name == ENVELOPE_OF_IDENTITY:
                opened = open_envelope(value) if is_envelope(value) else value
                masked = mask_identity(opened, viewer, confidential)
                details.append(Detail(name, _shown(value, masked)))
            elif is_envelope(value):
                details.append(Detail(name, _shown(value, open_envelope(value))))
            elif name == "certificate" and isinstance(value, dict):
                details.append(Detail(name, value.get("certificate_number")))
            else:
                details.append(Detail(name, value, VOCABULARY_OF_FIELD.get(name)))
        out.append(Entry(version=logged.event.version, at=logged.event.at, tag=logged.tag,
                         actor_id=logged.event.actor.id, actor_role=logged.event.actor.role,
                         automatic=bool(data.get("automatic")), details=tuple(details)))
    return out


def envelopes(events: Iterable[LoggedEvent]) -> list[dict[str, Any]]:
    """Every sealed value of these events (their keys are fetched before opening)."""
    found: list[dict[str, Any]] = []
    for logged in events:
        for value in msgspec.to_builtins(logged.event).values():
            if is_envelope(value):
                found.append(value)
    return found
