"""Contracts of the yearly evaluation of the service standard and the SOP (seed;
DOMAIN.md, "Supervision and evaluation"): the head records the evaluation and the
improvement plan that follows the satisfaction survey, and marks its actions done. Events
travel on JetStream as `ptsp.evaluations.<tag>`, tags `evaluation.<event>`; the yearly
report shows them beside the figures.

Rules (DESIGN.md): frozen, kw_only, an explicit stable tag per event; change by adding
fields with defaults only.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec

from contracts.common import CaseEvent, check_plausible

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Year = Annotated[int, msgspec.Meta(ge=2000, le=2100)]


class PlannedAction(msgspec.Struct, frozen=True, kw_only=True):
    """One action of the improvement plan: what, who answers for it, by when."""

    action: Text
    owner: Short
    """Who answers for it: a person's actor id, a unit, a tier (free text)."""
    due_on: date

    def __post_init__(self) -> None:
        check_plausible("due_on", self.due_on)


class EvaluationEntry(msgspec.Struct, frozen=True, kw_only=True):
    """`POST /evaluations`."""

    year: Year
    """The year evaluated."""
    summary: Text
    """The evaluation of the service standard and the SOP: what the figures and the
    survey showed."""
    actions: list[PlannedAction] = []


class ActionDoneNote(msgspec.Struct, frozen=True, kw_only=True):
    """`POST /evaluations/{id}/actions/{n}/done` (the body may be left out)."""

    note: Annotated[str, msgspec.Meta(max_length=20_000)] | None = None


class ActionDoneRecord(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    by: str
    note: str | None


class ActionView(msgspec.Struct, frozen=True, kw_only=True):
    n: int
    """The action's number in its plan, from 1: the `{n}` of `/actions/{n}/done`."""
    action: str
    owner: str
    due_on: date
    done: ActionDoneRecord | None


class EvaluationView(msgspec.Struct, frozen=True, kw_only=True):
    """An evaluation as recorded, with its plan's progress."""

    id: str
    year: int
    summary: str
    actions: list[ActionView]
    recorded_at: datetime
    recorded_by: str
    actions_done: int
    version: int


# -- events -----------------------------------------------------------------------
class Recorded(CaseEvent, tag="evaluation.recorded", frozen=True):
    """The head's evaluation of a year, and its improvement plan (actions numbered from
    1 in this order)."""

    year: int
    summary: str
    actions: list[PlannedAction] = []


class ActionDone(CaseEvent, tag="evaluation.action_done", frozen=True):
    """Action `n` (from 1) of the evaluation's plan is done."""

    n: int
    note: str | None = None


EVENT_TYPES: tuple[type[CaseEvent], ...] = (Recorded, ActionDone)
