"""Bearer tokens and who may do what.

A token is `<claims>.<mac>`: base64url JSON claims (role, actor, channel, tier, unit,
expiry) and an HMAC-SHA256 over them with the office's token secret, a file under the
data dir, so `ptsp token` and `ptsp up` on the same data dir agree without a database.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path

import msgspec

from services.kernel.actors import (
    ALL_CHANNELS, ROLES, TIERS, Actor, tier_rank,
)
from services.kernel.errors import Forbidden
from services.kernel.signing import b64url, unb64url


class Claims(msgspec.Struct, frozen=True, kw_only=True):
    role: str
    actor: str
    exp: int
    channel: str | None = None
    tier: str | None = None
    unit: str | None = None


class Unauthenticated(Exception):
    """No, malformed, forged or expired token (HTTP 401)."""


class TokenIssuer:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def load_or_create(cls, path: Path) -> TokenIssuer:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(secrets.token_bytes(32))
            except FileExistsError:
                pass  # another process made it first: use theirs
        return cls(path.read_bytes())

    def issue(self, role: str, actor: str, ttl_seconds: float, channel: str | None = None,
              tier: str | None = None, unit: str | None = None) -> str:
        check_claims(role, actor, channel, tier, unit)
        claims = Claims(role=role, actor=actor, exp=int(time.time() + ttl_seconds),
                        channel=channel, tier=tier, unit=unit)
        body = b64url(msgspec.json.encode(claims))
        return f"{body}.{self._mac(body)}"

    def authenticate(self, token: str) -> Actor:
        body, _, mac = token.partition(".")
        if not body or not mac or not hmac.compare_digest(mac, self._mac(body)):
            raise Unauthenticated("the token is not valid")
        try:
            claims = msgspec.json.decode(unb64url(body), type=Claims)
        except (msgspec.DecodeError, ValueError) as exc:
            raise Unauthenticated("the token is not valid") from exc
        if claims.exp < time.time():  # real time, whatever the simulated clock says
            raise Unauthenticated("the token has expired")
        return Actor(id=claims.actor, role=claims.role, channel=claims.channel,
                     tier=claims.tier, unit=claims.unit)

    def _mac(self, body: str) -> str:
        return b64url(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())


def check_claims(role: str, actor: str, channel: str | None, tier: str | None,
                 unit: str | None) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not actor:
        raise ValueError("actor must name who holds the token")
    if role == "channel" and channel not in ALL_CHANNELS:
        raise ValueError(f"a channel token needs --channel, one of {', '.join(ALL_CHANNELS)}")
    if role == "officer":
        if tier is not None and tier not in TIERS:
            raise ValueError(f"tier must be one of {', '.join(TIERS)}")
        if not unit:
            raise ValueError("an officer token needs --unit (e.g. perizinan, pengaduan)")


# -- who may do what --------------------------------------------------------------
def require_role(actor: Actor, *roles: str) -> None:
    if actor.role not in roles:
        raise Forbidden(f"role {actor.role} may not do this (needs: {', '.join(roles)})")


def require_channel(actor: Actor, channel: str, allowed: Iterable[str] = ALL_CHANNELS) -> None:
    """A channel token submits only for its own channel."""
    require_role(actor, "channel")
    if channel != actor.channel:
        raise Forbidden(f"this token submits for channel {actor.channel}, not {channel}")
    if channel not in allowed:
        raise Forbidden(f"channel {channel} does not take this kind of case")


def require_case_worker(actor: Actor, unit: str, tier: str, *, write: bool) -> None:
    """An officer works cases of its unit at its tier or below; supervisors and the head
    span every unit; auditors read everything and change nothing."""
    if actor.role in ("supervisor", "head"):
        return
    if actor.role == "auditor" and not write:
        return
    if actor.role != "officer":
        raise Forbidden(f"role {actor.role} may not {'work' if write else 'read'} cases")
    if actor.unit != unit:
        raise Forbidden(f"this case belongs to unit {unit}")
    if write and tier_rank(actor.tier or "pelaksana") < tier_rank(tier):
        raise Forbidden(f"the case is at tier {tier}: an officer of that tier or above works it")


