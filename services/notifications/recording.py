"""A delivered message is recorded in its case, by the system itself, through the case
service (the same way the SLA timer escalates: a command row run as a system actor).

`*.notification_delivered` records each message once (its outbox id). A complaint's
answer delivered to the complainant is also seed step 6.8, "the complainant is told the
result": the same save records `complaint.complainant_notified` (the
complainant-notification step's own aggregate method and event), so the complaint can be
closed without a member of staff saying they told them. Idempotent: a delivery reported
again records nothing, and the complainant is recorded as told once per way they were
told (`via`), only while the complaint is answered and not yet closed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from services.cases.commands import Command
from services.domain.actors import Actor
from services.domain.policy import NOTIFIER

NOTIFIER_ACTOR = Actor(id="notifier", role="system")
"""Who records deliveries: the system's notifier (no token carries the role)."""


class Delivery(msgspec.Struct, kw_only=True):
    notification: int
    """The outbox row (services/notifications/outbox.py)."""
    step: str
    about_version: int
    via: str
    """`email`, or the channel whose adapter acknowledged it."""


async def record_delivery(_service: Any, case: Any, request: Delivery, actor: Actor,
                          now: datetime) -> None:
    """The row's call: the delivery, and for a complaint's answer the complainant told."""
    record = actor.as_record()
    recorded = case.record_notification(request.notification, request.step,
                                        request.about_version, request.via, record, now)
    if recorded and request.step == "answered" and _may_tell(case, request.via, actor):
        case.notify_complainant(request.via, record, now)


def _may_tell(case: Any, via: str, actor: Actor) -> bool:
    """A complaint still answered (staff may have told the complainant and closed it
    meanwhile), not yet recorded as told this way by the notifier."""
    notifications: list[dict[str, Any]] | None = getattr(case, "notifications", None)
    if notifications is None or getattr(case, "status", None) != "answered":
        return False
    return not any(n["by"] == actor.id and n["channel"] == via for n in notifications)


DELIVERY = Command(
    name="notification-delivery", request=Delivery, call=record_delivery, policy=NOTIFIER,
    routed=False, summary="A message about a step reached the person (the notifier's own)",
    invalid=("step", "via", "about_version"))
