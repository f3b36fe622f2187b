"""Who may do what: roles, units, channels and tiers checked against a command's caller.

A role that may never do a thing gets 403 before the case is even looked up; a case
outside the token's unit or channel answers 404 exactly like an unknown one, so a token
cannot probe which cases exist (OWASP API1, object level). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.domain.actors import ALL_CHANNELS, Actor, tier_rank
from services.domain.errors import Forbidden, NotFound

CASE_READERS: tuple[str, ...] = ("officer", "supervisor", "head", "auditor")
CASE_WORKERS: tuple[str, ...] = ("officer", "supervisor", "head")


def require_role(actor: Actor, *roles: str) -> None:
    if actor.role not in roles:
        raise Forbidden(f"role {actor.role} may not do this (needs: {', '.join(roles)})")


def require_channel(actor: Actor, channel: str, allowed: Iterable[str] = ALL_CHANNELS) -> None:
    """A channel token submits only for its own channel."""
    require_role(actor, "channel")
    if channel != actor.channel:
        raise Forbidden(f"this token submits for channel {actor.channel}, not {channel}",
                        field="channel")
    if channel not in allowed:
        raise Forbidden(f"channel {channel} does not take this kind of case", field="channel")


def require_own_channel(actor: Actor, channel: str, hidden: NotFound) -> None:
    """A channel acts on the cases it submitted; another channel's case is `hidden` (the
    same 404 as an unknown case). Call `require_role(actor, "channel")` before loading."""
    require_role(actor, "channel")
    if channel != actor.channel:
        raise hidden


def require_case_worker(actor: Actor, unit: str, tier: str, *, write: bool,
                        hidden: NotFound | None = None) -> None:
    """An officer works cases of its unit at their tier or above it; supervisors and the
    head span every unit; auditors read everything and change nothing.

    A case of another unit is `hidden`: pass the very error an unknown case raises, so
    the answer is the same 404. Gate the role with `require_role(actor, *CASE_READERS)` /
    `*CASE_WORKERS` before loading the case, so a role's 403 does not depend on it either.
    """
    if actor.role in ("supervisor", "head"):
        return
    if actor.role == "auditor" and not write:
        return
    if actor.role != "officer":
        raise Forbidden(f"role {actor.role} may not {'work' if write else 'read'} cases")
    if actor.unit != unit:
        raise hidden or NotFound("no such case")
    if write and tier_rank(actor.tier or "pelaksana") < tier_rank(tier):
        raise Forbidden(f"the case is at tier {tier}: an officer of that tier or above works it")
