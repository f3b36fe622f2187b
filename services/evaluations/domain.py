"""The yearly evaluation of the service standard and the SOP, and the improvement plan
that follows the satisfaction survey (seed; DOMAIN.md: "at least once a year"; "results
go to all staff to plan improvements"). One aggregate per evaluation: the head may
evaluate more than once a year. Pure domain: no I/O, no wall clock."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from contracts.common import PLAUSIBLE_YEARS
from services.domain.errors import InvalidInput, NotFound, RuleViolation


class Evaluation(Aggregate):
    @classmethod
    def record(cls, year: int, summary: str, actions: list[dict[str, Any]],
               actor: dict[str, Any], at: datetime) -> Evaluation:
        """The evaluation of `year` (it may be recorded in the year after it), with the
        plan's actions numbered from 1 in the order given."""
        if year not in PLAUSIBLE_YEARS or year > at.year:
            raise InvalidInput("year", f"must be a year evaluated, at most {at.year}")
        if not summary.strip():
            raise InvalidInput("summary", "say what the evaluation found")
        for i, a in enumerate(actions):
            for field in ("action", "owner"):
                if not str(a.get(field) or "").strip():
                    raise InvalidInput(f"actions[{i}].{field}", "must not be empty")
            if not isinstance(a.get("due_on"), date):
                raise InvalidInput(f"actions[{i}].due_on", "must be a date")
        return cls(year=year, summary=summary,
                   actions=[{"action": a["action"], "owner": a["owner"], "due_on": a["due_on"]}
                            for a in actions], actor=actor, at=at)

    @event("Recorded")
    def __init__(self, year: int, summary: str, actions: list[dict[str, Any]],
                 actor: dict[str, Any], at: datetime) -> None:
        self.year = year
        self.summary = summary
        self.actions = [{**a, "done": None} for a in actions]
        self.recorded_at = at
        self.recorded_by = actor["id"]
        self.last_at = at

    def stamp(self, now: datetime) -> datetime:
        """No event before the one it follows (another process's clock a moment ahead)."""
        return max(now, self.last_at)

    def mark_done(self, n: int, note: str | None, actor: dict[str, Any], at: datetime) -> None:
        """Action `n` (from 1) of the plan is done; once."""
        if not 1 <= n <= len(self.actions):
            raise NotFound(f"the evaluation's plan has no action {n} "
                           f"(it has {len(self.actions)}, numbered from 1)")
        if self.actions[n - 1]["done"] is not None:
            raise RuleViolation(f"action {n} is already done", rule="action_already_done")
        self._action_done(n=n, note=note, actor=actor, at=at)

    @event("ActionDone")
    def _action_done(self, n: int, note: str | None, actor: dict[str, Any],
                     at: datetime) -> None:
        self.actions[n - 1] = {**self.actions[n - 1],
                               "done": {"at": at, "by": actor["id"], "note": note}}
        self.last_at = at
