"""Which steps of a case the person hears about, read from the case's events. Pure.

An application: received; returned for correction (what is missing); complete (with its
due date); issued (with the certificate link); rejected (with the reason). A complaint or
a suggestion: received (and whether it became a suggestion, and why); answered (with the
answer); closed. Every other event (assignment, escalation, review...) is the office's
own business and tells the person nothing.

A step is identified by the event that made it (`about_version`): a file returned twice
is two steps, each told once."""

from __future__ import annotations

from typing import Any

import msgspec

from contracts import applications as application_events
from contracts import complaints as complaint_events
from contracts.common import CaseEvent

APPLICATION_STEPS = ("received", "returned_for_correction", "complete", "issued", "rejected")
COMPLAINT_STEPS = ("received", "answered", "closed")
STEPS: dict[str, tuple[str, ...]] = {"application": APPLICATION_STEPS,
                                     "complaint": COMPLAINT_STEPS}
"""Each case type's steps, in the order they happen; a template each."""


class Step(msgspec.Struct, frozen=True, kw_only=True):
    """A step the person should hear about, with the facts its message tells that the
    event holds (the rest, such as the tracking number and the due date, is read from
    the case when the message is sent). No personal data: the events hold none in clear."""

    case_type: str
    case_id: str
    step: str
    about_version: int
    channel: str | None = None
    """The case's channel when the event names it (its first); else found later."""
    has_person: bool | None = None
    """Whether there is a person to write to (an anonymous suggestion has none), when the
    event says it (the case's first); else found later."""
    facts: dict[str, Any] = {}


def step_of(event: CaseEvent) -> Step | None:
    """The step `event` makes, or None when the person is not told of it."""
    found = _application_step(event) or _complaint_step(event)
    if found is None:
        return None
    case_type, step, facts, first = found
    return Step(case_type=case_type, case_id=event.case_id, step=step,
                about_version=event.version, facts=facts,
                channel=first[0] if first else None, has_person=first[1] if first else None)


Found = tuple[str, str, dict[str, Any], tuple[str, bool] | None]
"""(case type, step, facts, for a case's first event: (its channel, a person to write to))."""


def _application_step(event: CaseEvent) -> Found | None:
    kind = "application"
    match event:
        case application_events.Submitted():
            return kind, "received", {}, (event.channel, True)  # the applicant is required
        case application_events.FileReturnedForCorrection():
            return kind, "returned_for_correction", {"unmet": list(event.unmet),
                                                     "note": event.note}, None
        case application_events.FileDeclaredComplete():
            return kind, "complete", {}, None
        case application_events.CertificateIssued():
            certificate = event.certificate
            return kind, "issued", {
                "certificate_number": certificate.get("certificate_number"),
                "signature": certificate.get("signature")}, None
        case application_events.Decided() if event.outcome == "reject":
            return kind, "rejected", {"reason": event.reason}, None
    return None


def _complaint_step(event: CaseEvent) -> Found | None:
    kind = "complaint"
    match event:
        case complaint_events.Received():
            facts = {"kind": event.kind, "reasons": list(event.reasons)}
            return kind, "received", facts, (event.channel, event.complainant is not None)
        case complaint_events.Responded():
            return kind, "answered", {"text": event.text}, None
        case complaint_events.Closed():
            return kind, "closed", {"note": event.note}, None
    return None
