"""What every case (application or complaint) has: a tier on the ladder, an assignee,
and escalation one tier at a time. Pure domain, shared by both case types."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate, event

from services.domain.actors import TIERS, tier_above, tier_rank
from services.domain.errors import InvalidInput, RuleViolation

# Roles that may move a case more than one tier at once (API.md: "needs a supervisor or
# head token").
MAY_SKIP_TIERS = ("supervisor", "head")


class Case(Aggregate):
    """Base aggregate. Subclasses set `tier`, `assignee` and `tier_since` in __init__ and
    define `is_closed`. (No class-level annotations: eventsourcing would take them for
    constructor arguments.)"""

    if TYPE_CHECKING:  # what each case type's __init__ sets, for the type checker alone
        tier: str
        tier_since: datetime
        tier_history: list[dict[str, Any]]
        assignee: str | None

    class Event(Aggregate.Event):
        """Every event of a case: applying it also notes its office time (`at`)."""

        def mutate(self, aggregate: Any) -> Any:
            case: Any = super().mutate(aggregate)
            at = getattr(self, "at", None)
            if isinstance(at, datetime):
                case._last_at = at
            return case

    @property
    def is_closed(self) -> bool:
        raise NotImplementedError  # pragma: no cover - every case type defines it

    @property
    def last_at(self) -> datetime | None:
        """The office time of the case's latest event."""
        return getattr(self, "_last_at", None)

    def next_stamp(self, now: datetime) -> datetime:
        """When the next event happens: `now`, or the latest event's time if the clock is
        behind it (another worker's clock a moment ahead). The record of a case never
        goes backwards: no event is stamped before the event it follows."""
        last = self.last_at
        return last if last is not None and now < last else now

    # -- assignment ---------------------------------------------------------------
    def assign(self, officer: str, actor: dict[str, Any], at: datetime) -> None:
        self.check_open("assignment")
        if not officer.strip():
            raise InvalidInput("officer", "must name the officer")
        self._assigned(officer=officer, actor=actor, at=at)

    @event("Assigned")
    def _assigned(self, officer: str, actor: dict[str, Any], at: datetime) -> None:
        self.assignee = officer

    # -- escalation ---------------------------------------------------------------
    def escalate(self, to_tier: str, reason: str, actor: dict[str, Any], at: datetime,
                 automatic: bool = False) -> None:
        """Move the case up the ladder. One tier at a time, each with a written report
        (`reason`) to the tier above; more than one tier needs a supervisor or head."""
        self.check_open("escalation")
        if to_tier not in TIERS:
            raise InvalidInput("to_tier", f"must be one of {', '.join(TIERS)}")
        if not reason.strip():
            raise InvalidInput("reason", "an escalation needs a written report to the tier above")
        step = tier_rank(to_tier) - tier_rank(self.tier)
        if step <= 0:
            raise RuleViolation(
                f"escalation must move up: the case is at {self.tier}",
                rule="escalation_must_move_up", tier=self.tier)
        if step > 1 and actor.get("role") not in MAY_SKIP_TIERS:
            raise RuleViolation(
                f"escalating from {self.tier} to {to_tier} skips a tier: only a supervisor "
                "or the head may do that", rule="tier_skip_needs_supervisor", tier=self.tier)
        self._escalated(from_tier=self.tier, to_tier=to_tier, reason=reason,
                        automatic=automatic, actor=actor, at=at)

    def escalate_for_breach(self, clock_span: int, actor: dict[str, Any], at: datetime) -> None:
        """The SLA timer's command when a clock breaches: one tier up, at most once per
        run of the clock (`clock_span` counts the clock's spans), whoever sends it."""
        self.check_open("escalation")
        if clock_span in self.breach_escalations:
            raise RuleViolation("this breach was already escalated",
                                rule="breach_already_escalated")
        to_tier = tier_above(self.tier)
        if to_tier is None:
            raise RuleViolation("the case is already at the top tier", rule="top_tier")
        self._escalated(from_tier=self.tier, to_tier=to_tier,
                        reason=f"SLA breached: escalated automatically to {to_tier}",
                        automatic=True, actor=actor, at=at, clock_span=clock_span)

    @property
    def breach_escalations(self) -> list[int]:
        return list(getattr(self, "_breach_escalations", []))

    @event("Escalated")
    def _escalated(self, from_tier: str, to_tier: str, reason: str, automatic: bool,
                   actor: dict[str, Any], at: datetime, clock_span: int | None = None) -> None:
        if clock_span is not None:
            self._breach_escalations = [*self.breach_escalations, clock_span]
        self.tier_history.append({"tier": from_tier, "from": self.tier_since, "to": at})
        self.tier = to_tier
        self.tier_since = at
        # The case goes to the tier above: whoever held it below no longer does.
        self.assignee = None

    # -- personal data: audit hold and erasure (UU 27/2022) --------------------------
    # The personal data itself is sealed by the services (services/infra/personal_data.py);
    # the case records the hold that blocks an erasure, the erasure and any refusal.
    @property
    def audit_hold(self) -> dict[str, Any] | None:
        return getattr(self, "_audit_hold", None)

    @property
    def personal_data_erasure(self) -> dict[str, Any] | None:
        return getattr(self, "_personal_data_erasure", None)

    def place_audit_hold(self, reason: str, actor: dict[str, Any], at: datetime) -> None:
        """An audit is pending: the case's personal data may not be erased until released."""
        if not reason.strip():
            raise InvalidInput("reason", "an audit hold must give its reason")
        if self.audit_hold is not None:
            raise RuleViolation("the case is already on audit hold",
                                rule="audit_hold_already_placed")
        self._audit_hold_placed(reason=reason, actor=actor, at=at)

    @event("AuditHoldPlaced")
    def _audit_hold_placed(self, reason: str, actor: dict[str, Any], at: datetime) -> None:
        self._audit_hold: dict[str, Any] | None = {"reason": reason, "by": actor["id"], "at": at}

    def release_audit_hold(self, reason: str, actor: dict[str, Any], at: datetime) -> None:
        if self.audit_hold is None:
            raise RuleViolation("the case is not on audit hold", rule="no_audit_hold")
        if not reason.strip():
            raise InvalidInput("reason", "a release must give its reason")
        self._audit_hold_released(reason=reason, actor=actor, at=at)

    @event("AuditHoldReleased")
    def _audit_hold_released(self, reason: str, actor: dict[str, Any], at: datetime) -> None:
        self._audit_hold = None

    def refuse_erasure(self, reason: str, actor: dict[str, Any], at: datetime) -> None:
        """Record that an erasure asked for with `reason` was refused: the audit hold."""
        hold = self.audit_hold
        assert hold is not None
        self._erasure_refused(reason=reason, rule="audit_hold", hold_reason=hold["reason"],
                              actor=actor, at=at)

    @event("ErasureRefused")
    def _erasure_refused(self, reason: str, rule: str, hold_reason: str | None,
                         actor: dict[str, Any], at: datetime) -> None:
        pass

    def record_erasure(self, subjects: list[str], keys_erased: int, reason: str,
                       actor: dict[str, Any], at: datetime) -> None:
        """The subjects' keys were deleted: who, why, which subjects (ids, no data)."""
        if not reason.strip():
            raise InvalidInput("reason", "an erasure must give its reason")
        if self.audit_hold is not None:
            raise RuleViolation("the case is on audit hold", rule="audit_hold")
        self._personal_data_erased(subjects=list(subjects), keys_erased=keys_erased,
                                   reason=reason, actor=actor, at=at)

    @event("PersonalDataErased")
    def _personal_data_erased(self, subjects: list[str], keys_erased: int, reason: str,
                              actor: dict[str, Any], at: datetime) -> None:
        self._personal_data_erasure = {"subjects": subjects, "reason": reason,
                                       "by": actor["id"], "at": at}

    # -- notifications: a message about a step reached the person -------------------
    @property
    def notified(self) -> list[int]:
        """The outbox rows (services/notifications) whose delivery the case records."""
        return list(getattr(self, "_notified", []))

    def record_notification(self, notification: int, step: str, about_version: int, via: str,
                            actor: dict[str, Any], at: datetime) -> bool:
        """The system's notifier delivered a message about the step recorded at
        `about_version`, by e-mail or through the case's channel (`via`). Recorded once
        per message, whatever the case's status (a closed case's last step is told after
        it closed): a second report of the same message records nothing. Returns whether
        it was recorded now."""
        if notification in self.notified:
            return False
        if not step.strip() or not via.strip():
            raise InvalidInput("step" if not step.strip() else "via", "must not be empty")
        if not 0 < about_version <= self.version:
            raise InvalidInput("about_version", f"the case has no version {about_version}")
        self._notification_delivered(notification=notification, step=step,
                                     about_version=about_version, via=via, actor=actor, at=at)
        return True

    @event("NotificationDelivered")
    def _notification_delivered(self, notification: int, step: str, about_version: int,
                                via: str, actor: dict[str, Any], at: datetime) -> None:
        self._notified = [*self.notified, notification]

    # -- guards -------------------------------------------------------------------
    def check_open(self, step: str) -> None:
        if self.is_closed:
            raise RuleViolation(f"{step} is not possible: the case is closed",
                                rule="case_closed")
