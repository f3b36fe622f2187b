"""The command tables and the policies: every row runs an aggregate method that takes its
request, and who may run a row is decided in the order of services/http/errors.py (role
403 before the case is read, then unit or channel 404, then the case's tier 403)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from services.applications.commands import COMMANDS as APPLICATION_COMMANDS
from services.applications.domain import LicenceApplication
from services.cases.commands import Command, CommandTable
from services.complaints.commands import COMMANDS as COMPLAINT_COMMANDS
from services.complaints.domain import Complaint
from services.domain.actors import Actor
from services.domain.errors import Forbidden, NotFound, RuleViolation
from services.domain.policy import (
    ASSIGNS,
    OWN_CHANNEL,
    READS,
    WORKS,
    Policy,
    authorize,
    authorize_case,
)
from services.privacy import AUDIT_HOLD, AUDIT_HOLD_RELEASE, CONFIDENTIALITY, ERASURE

TABLES = [(APPLICATION_COMMANDS, LicenceApplication), (COMPLAINT_COMMANDS, Complaint)]
ROWS = [(row, aggregate) for table, aggregate in TABLES for row in table] + [
    (row, aggregate) for row in (AUDIT_HOLD, AUDIT_HOLD_RELEASE)
    for aggregate in (LicenceApplication, Complaint)] + [(CONFIDENTIALITY, Complaint)]


@pytest.mark.parametrize(("row", "aggregate"), ROWS,
                         ids=[f"{a.__name__}:{r.name}" for r, a in ROWS])
def test_each_row_s_request_fits_its_aggregate_method(row: Command, aggregate: type) -> None:
    """The request's fields are the method's keyword arguments, then `actor` and `at`."""
    if row.call is not None:
        assert callable(row.call)
        return
    assert row.method is not None
    method = getattr(aggregate, row.method)
    fields = dict.fromkeys(row.request.__struct_fields__ if row.request else ())
    inspect.signature(method).bind(None, **fields, actor={}, at=None)


def test_the_tables_serve_the_api_s_paths() -> None:
    assert [r.name for r in APPLICATION_COMMANDS.routed] == [
        "verification", "resubmission", "withdrawal", "return", "technical-review",
        "decision", "issuance", "certificate-revocation", "assignment", "escalation"]
    assert [r.name for r in COMPLAINT_COMMANDS.routed] == [
        "reclassification", "classification", "analysis", "findings", "apip-approval", "track",
        "response", "complainant-notification", "superior-report", "closure", "assignment",
        "escalation"]
    # The SLA timer's escalation is a row too, but no route.
    assert "breach-escalation" in [r.name for r in APPLICATION_COMMANDS]
    assert ERASURE.call is not None


def test_a_row_names_a_method_or_a_call_and_a_table_its_rows_once() -> None:
    with pytest.raises(ValueError, match="either"):
        Command(name="x", request=None, policy=WORKS, summary="x")
    row = Command(name="x", request=None, policy=WORKS, summary="x", method="close")
    with pytest.raises(ValueError, match="share a name"):
        CommandTable(row, row)


def test_a_request_becomes_the_method_s_arguments() -> None:
    request = msgspec.convert({"to_tier": "kepala_seksi", "reason": "perlu kasi"},
                              APPLICATION_COMMANDS["escalation"].request or msgspec.Struct)
    assert APPLICATION_COMMANDS["escalation"].arguments(request) == {
        "to_tier": "kepala_seksi", "reason": "perlu kasi"}
    assert APPLICATION_COMMANDS["issuance"].arguments(None) == {}


# -- policies -----------------------------------------------------------------------
@dataclass
class Case:
    unit: str = "perizinan"
    tier: str = "pelaksana"
    channel: str = "oss"
    concerns_head: bool = False


HIDDEN = NotFound("no application 1")


def officer(tier: str = "pelaksana", unit: str = "perizinan") -> Actor:
    return Actor(id="budi", role="officer", unit=unit, tier=tier)


def outcome(policy: Policy, actor: Actor, case: Case | None = None) -> Any:
    """403 before the case is read, 404 or 403 after, or ok."""
    try:
        authorize(policy, actor)
    except Forbidden as exc:
        return 403, "before", exc.rule
    try:
        authorize_case(policy, actor, case or Case(), HIDDEN)
    except NotFound as exc:
        assert exc is HIDDEN  # the unknown case's very answer
        return 404
    except Forbidden as exc:
        return 403, "after", exc.rule
    except RuleViolation as exc:
        return 409, exc.rule
    return "ok"


def test_a_wrong_role_is_refused_before_the_case_is_read() -> None:
    assert outcome(WORKS, Actor(id="x", role="auditor")) == (403, "before", "forbidden")
    assert outcome(WORKS, Actor(id="x", role="channel", channel="oss")) == (
        403, "before", "forbidden")
    assert outcome(READS, Actor(id="x", role="auditor")) == "ok"


def test_another_unit_s_case_is_the_unknown_case_s_404() -> None:
    assert outcome(WORKS, officer(tier="kepala_dinas", unit="pengaduan")) == 404
    assert outcome(READS, officer(unit="pengaduan")) == 404
    assert outcome(WORKS, Actor(id="s", role="supervisor"), Case(unit="pengaduan")) == "ok"


def test_an_officer_below_the_case_s_tier_may_read_but_not_work_it() -> None:
    case = Case(tier="kepala_bidang")
    assert outcome(WORKS, officer("kepala_seksi"), case)[:2] == (403, "after")
    assert outcome(READS, officer("kepala_seksi"), case) == "ok"
    assert outcome(WORKS, officer("kepala_bidang"), case) == "ok"
    assert outcome(WORKS, officer("kepala_dinas"), case) == "ok"


def test_assignment_needs_kepala_seksi_or_above_whatever_the_case() -> None:
    assert outcome(ASSIGNS, officer("pelaksana"))[:2] == (403, "before")
    assert outcome(ASSIGNS, officer("kepala_seksi")) == "ok"
    # An officer of another unit, senior enough: the case is hidden from them.
    assert outcome(ASSIGNS, officer("kepala_dinas", unit="pengaduan")) == 404
    assert outcome(ASSIGNS, Actor(id="k", role="head")) == "ok"


def test_a_channel_acts_only_on_its_own_cases() -> None:
    assert outcome(OWN_CHANNEL, Actor(id="g", role="channel", channel="oss")) == "ok"
    assert outcome(OWN_CHANNEL, Actor(id="g", role="channel", channel="mpp_counter")) == 404
    assert outcome(OWN_CHANNEL, officer())[:2] == (403, "before")


def test_the_complaint_rows_name_their_own_refusals() -> None:
    apip = COMPLAINT_COMMANDS["apip-approval"].policy
    assert outcome(apip, officer(unit="pengaduan"), Case(unit="pengaduan")) == (
        403, "before", "apip_approval_requires_head")
    for role in ("supervisor", "auditor"):
        assert outcome(apip, Actor(id="s", role=role)) == (
            403, "after", "apip_approval_requires_head")
        assert outcome(apip, Actor(id="s", role=role), Case(concerns_head=True)) == "ok"
    assert outcome(apip, Actor(id="k", role="head")) == "ok"
    # The head does not approve about himself (a 409 naming the rule).
    assert outcome(apip, Actor(id="k", role="head"), Case(concerns_head=True)) == (
        409, "head_cannot_approve_own_case")
    # Confidentiality: the unit's officers and the head, not supervisors.
    assert outcome(CONFIDENTIALITY.policy, Actor(id="s", role="supervisor"))[0] == 403
    assert outcome(CONFIDENTIALITY.policy, officer(unit="pengaduan"),
                   Case(unit="pengaduan")) == "ok"


def test_only_the_sla_timer_escalates_for_a_breach() -> None:
    policy = APPLICATION_COMMANDS["breach-escalation"].policy
    assert outcome(policy, Actor(id="sla-timer", role="system")) == "ok"
    assert outcome(policy, Actor(id="k", role="head"))[0] == 403
