"""Who may do what: every command's policy, and the one place it is checked.

A command table row (services/cases/commands.py) names its `Policy`; the generic case
service checks it in two steps, in the order of services/http/errors.py:

1. `authorize` before the case is read: a role that may never do this, or an officer
   below the policy's minimum tier, gets 403 whatever the case;
2. `authorize_case` once it is read: a case outside the officer's unit or the channel's
   own cases answers the very 404 of an unknown case, so a token cannot probe which cases
   exist (OWASP API1, object level); then an officer below the case's tier gets 403.

Aggregates keep the domain's own rules (state order, tier order, the head's approval as a
fact of the case); HTTP handlers hold none. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from contracts.vocabulary import FIRST_TIER, Tier
from services.domain.actors import ALL_CHANNELS, Actor, tier_rank
from services.domain.errors import Forbidden, NotFound, RuleViolation

CASE_READERS: tuple[str, ...] = ("officer", "supervisor", "head", "auditor")
CASE_WORKERS: tuple[str, ...] = ("officer", "supervisor", "head")
OVERSEERS: tuple[str, ...] = ("supervisor", "head", "auditor")
"""Who reads the escalation queues and the SLA timers: supervision, not the officers."""
REPORT_READERS: tuple[str, ...] = ("officer", *OVERSEERS)
"""Who reads the monthly, quarterly (satisfaction) and yearly reports: every member of
staff (the seed: evaluation results go to all staff). They hold aggregates only."""
EVALUATION_READERS: tuple[str, ...] = REPORT_READERS
"""Who reads the yearly evaluations and their improvement plans: all staff, as the
reports."""
STAFF_READERS: tuple[str, ...] = OVERSEERS
"""Who reads the staff register."""
STAFF_WRITERS: tuple[str, ...] = ("head",)
"""Who manages the staff register (and `ptsp staff`, which acts as the head)."""
EVALUATION_WRITERS: tuple[str, ...] = ("head",)
"""Who records the yearly evaluation and marks its actions done."""
SYSTEM = "system"
"""The role of the system's own actors (the SLA timer); no token carries it."""

# Who sees a complainant's identity: everyone who may read the complaint; once it is
# marked confidential only the head and the auditors, not the handling staff.
SEES_IDENTITY: tuple[str, ...] = CASE_READERS
SEES_CONFIDENTIAL_IDENTITY: tuple[str, ...] = ("head", "auditor")


@dataclass(frozen=True, kw_only=True)
class Policy:
    """Who may run one command."""

    roles: tuple[str, ...]
    officer_min_tier: Tier | None = None
    """Officers below this tier are refused before the case is read (assignment)."""
    own_unit: bool = False
    """An officer acts only on cases of its unit; another unit's case is 404."""
    case_tier: bool = False
    """An officer acts only on cases at its tier or below it (403)."""
    own_channel: bool = False
    """A channel acts only on the cases it submitted; another's is 404."""
    rule: str = "forbidden"
    """The rule a refusal names (`extra.rule` of the 403)."""
    refusal: str | None = None
    """What a refused caller is told; None: which roles may."""
    on_case: Callable[[Actor, Any], None] | None = None
    """Who may, as far as it depends on a fact of the case (APIP approval of a complaint
    about the head): checked once the case is read, after its unit, channel and tier."""

    def refuse(self, actor: Actor) -> Forbidden:
        detail = self.refusal or (
            f"role {actor.role} may not do this (needs: {', '.join(self.roles)})")
        return Forbidden(detail, rule=self.rule)


class CaseFacts(Protocol):
    """What a policy reads of a case."""

    @property
    def unit(self) -> str: ...

    @property
    def tier(self) -> str: ...

    @property
    def channel(self) -> str: ...


def authorize(policy: Policy, actor: Actor) -> None:
    """Before the case is read: the role, and an officer's minimum tier (403)."""
    if actor.role not in policy.roles:
        raise policy.refuse(actor)
    if (policy.officer_min_tier is not None and actor.role == "officer"
            and tier_rank(actor.tier or FIRST_TIER) < tier_rank(policy.officer_min_tier)):
        raise policy.refuse(actor)


def authorize_case(policy: Policy, actor: Actor, case: CaseFacts, hidden: NotFound) -> None:
    """Once the case is read: unit and channel (`hidden`: pass the very error an unknown
    case raises, so the answer is the same 404), then the case's tier (403)."""
    if policy.own_channel and actor.role == "channel" and case.channel != actor.channel:
        raise hidden
    if actor.role == "officer":
        if policy.own_unit and actor.unit != case.unit:
            raise hidden
        if policy.case_tier and tier_rank(actor.tier or FIRST_TIER) < tier_rank(case.tier):
            raise Forbidden(f"the case is at tier {case.tier}: an officer of that tier or "
                            "above works it")
    if policy.on_case is not None:
        policy.on_case(actor, case)


def require_role(actor: Actor, *roles: str) -> None:
    """For the routes that are not case commands (reports, calendar, audit)."""
    authorize(Policy(roles=roles), actor)


def require_channel(actor: Actor, channel: str, allowed: Iterable[str] = ALL_CHANNELS) -> None:
    """Intake: a channel token submits only for its own channel, of the kinds it takes."""
    require_role(actor, "channel")
    if channel != actor.channel:
        raise Forbidden(f"this token submits for channel {actor.channel}, not {channel}",
                        field="channel")
    if channel not in allowed:
        raise Forbidden(f"channel {channel} does not take this kind of case", field="channel")


# -- the policies of the case commands ----------------------------------------------
READS = Policy(roles=CASE_READERS, own_unit=True)
"""Officers of the case's unit, supervisors, the head, auditors."""
WORKS = Policy(roles=CASE_WORKERS, own_unit=True, case_tier=True)
"""Officers of the case's unit at its tier or above; supervisors and the head."""
ASSIGNS = Policy(roles=CASE_WORKERS, own_unit=True, case_tier=True,
                 officer_min_tier="kepala_seksi",
                 refusal="assigning cases needs a supervisor or an officer of kepala_seksi "
                         "or above")
RECLASSIFIES = Policy(roles=CASE_WORKERS, own_unit=True, case_tier=True,
                      rule="reclassification_requires_officer",
                      refusal="only an officer (or a supervisor or the head) may reclassify "
                              "a suggestion")
OWN_CHANNEL = Policy(roles=("channel",), own_channel=True)
"""The channel the case came in on (the applicant's side)."""
SUPERVISES = Policy(roles=("supervisor", "head"))
HEAD_ONLY = Policy(roles=("head",))


class AboutTheHead(Protocol):
    """What the APIP approval reads of a complaint."""

    @property
    def concerns_head(self) -> bool: ...


APIP_ON_BEHALF: tuple[str, ...] = ("supervisor", "auditor")
"""Who records another authority's APIP approval of a complaint about the head."""


def _apip_approver(actor: Actor, complaint: AboutTheHead) -> None:
    """Seed 6.7.c: involving APIP needs the approval of the head of DPMPTSP, "or as the
    regulations provide". Nobody approves about himself: for a complaint about the head,
    a supervisor or an auditor records the approval of the authority above him."""
    if complaint.concerns_head:
        if actor.role == "head":
            raise RuleViolation("the complaint concerns the head of office: he may not "
                                "approve involving APIP about himself; a supervisor or an "
                                "auditor records the approval of the authority named",
                                rule="head_cannot_approve_own_case")
    elif actor.role != "head":
        raise Forbidden("only the head may approve involving APIP (a supervisor or an "
                        "auditor only for a complaint about the head)",
                        rule="apip_approval_requires_head")


APPROVES_APIP = Policy(roles=("head", *APIP_ON_BEHALF), rule="apip_approval_requires_head",
                       refusal="only the head may approve involving APIP (a supervisor or an "
                               "auditor for a complaint about the head)",
                       on_case=_apip_approver)
MARKS_CONFIDENTIAL = Policy(roles=("officer", "head"), own_unit=True, case_tier=True)
"""The handling officers of the unit, and the head; not supervisors."""
HOLDS_FOR_AUDIT = Policy(roles=("auditor", "head"))
ERASES = HEAD_ONLY
SLA_TIMER = Policy(roles=(SYSTEM,))
"""Only the system's own timer escalates a breached case automatically."""
NOTIFIER = Policy(roles=(SYSTEM,))
"""Only the system's notifier records that a message reached the person (and, with a
complaint's answer, that the complainant was told: services/notifications)."""
