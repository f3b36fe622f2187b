"""Bearer tokens: minted, signed and checked.

A token is `<claims>.<mac>`: base64url JSON claims (role, actor, channel, tier, unit,
id `jti`, issue and expiry times) and an HMAC-SHA256 over them with the office's token
secret, a file under the data dir, so `ptsp token` and `ptsp up` on the same data dir agree
without a database. Revocation is the one thing that needs the database
(`services.infra.credentials`); the services hold the revoked ids in memory
(`RevocationList`), so authenticating a request makes no query.

Who may do what with a token's claims is `services.domain.policy`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable
from pathlib import Path

import msgspec

from contracts.vocabulary import FIRST_TIER
from services.domain.actors import (
    ALL_CHANNELS,
    ROLES,
    TIERS,
    Actor,
)
from services.infra.signing import b64url, unb64url, write_secret_once


class Claims(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    role: str
    actor: str
    jti: str
    """The token's id: what `ptsp token list` shows and `ptsp token revoke` names."""
    iat: float
    """Issued at (Unix time, real clock)."""
    exp: int
    """Expires at (Unix time, real clock)."""
    channel: str | None = None
    tier: str | None = None
    unit: str | None = None


class Unauthenticated(Exception):
    """No, malformed, forged, expired or revoked token (HTTP 401)."""


class MissingToken(Unauthenticated):
    """No bearer token at all (HTTP 401, without an `error` in WWW-Authenticate)."""


class RevocationList:
    """The revoked token ids, and per actor a time before which every token of that
    actor is void (`ptsp token revoke --actor`, which also reaches tokens issued while no
    database was reachable). Swapped whole on each refresh, read without a lock."""

    def __init__(self) -> None:
        self._jtis: frozenset[str] = frozenset()
        self._actors: dict[str, float] = {}

    def replace(self, jtis: Iterable[str], actors: dict[str, float]) -> None:
        self._jtis, self._actors = frozenset(jtis), dict(actors)

    def revoked(self, claims: Claims) -> bool:
        if claims.jti in self._jtis:
            return True
        not_before = self._actors.get(claims.actor)
        return not_before is not None and claims.iat < not_before


class TokenIssuer:
    def __init__(self, secret: bytes, revocations: RevocationList | None = None) -> None:
        self._secret = secret
        self.revocations = revocations or RevocationList()

    @classmethod
    def of_keys_dir(cls, keys_dir: Path) -> TokenIssuer:
        """The office's issuer: its secret is `token-secret` in the data dir's keys."""
        return cls.load_or_create(keys_dir / "token-secret")

    @classmethod
    def load_or_create(cls, path: Path) -> TokenIssuer:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_secret_once(path, secrets.token_bytes(32))
        return cls(path.read_bytes())

    def issue(self, role: str, actor: str, ttl_seconds: float, channel: str | None = None,
              tier: str | None = None, unit: str | None = None) -> str:
        return self.mint(role, actor, ttl_seconds, channel, tier, unit)[0]

    def mint(self, role: str, actor: str, ttl_seconds: float, channel: str | None = None,
             tier: str | None = None, unit: str | None = None) -> tuple[str, Claims]:
        """A new token and its claims (what `ptsp token` records, never the token)."""
        check_claims(role, actor, channel, tier, unit)
        tier = effective_tier(role, tier)
        now = time.time()
        claims = Claims(role=role, actor=actor, jti=secrets.token_hex(8), iat=now,
                        exp=int(now + ttl_seconds), channel=channel, tier=tier, unit=unit)
        body = b64url(msgspec.json.encode(claims))
        return f"{body}.{self._mac(body)}", claims

    def authenticate(self, token: str) -> Actor:
        body, _, mac = token.partition(".")
        # Bytes, not str: compare_digest refuses non-ASCII text, and a header may hold any.
        if not body or not mac or not hmac.compare_digest(
                mac.encode("utf-8", "replace"), self._mac(body).encode()):
            raise Unauthenticated("the token is not valid")
        try:
            claims = msgspec.json.decode(unb64url(body), type=Claims)
        except (msgspec.DecodeError, ValueError) as exc:
            raise Unauthenticated("the token is not valid") from exc
        if claims.exp < time.time():  # real time, whatever the simulated clock says
            raise Unauthenticated("the token has expired")
        if self.revocations.revoked(claims):
            raise Unauthenticated("the token has been revoked")
        return Actor(id=claims.actor, role=claims.role, channel=claims.channel,
                     tier=effective_tier(claims.role, claims.tier), unit=claims.unit)

    def _mac(self, body: str) -> str:
        data = body.encode("utf-8", "replace")
        return b64url(hmac.digest(self._secret, data, hashlib.sha256))


def token_hash(token: str) -> str:
    """What the credentials table keeps of a token: its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def effective_tier(role: str, tier: str | None) -> str | None:
    """An officer's tier: `pelaksana` unless given (the first tier, where every case
    starts), in the token, in `ptsp token list` and in every event's actor; tokens minted
    before it was written into them read the same. Other roles span the tiers: none."""
    return (tier or FIRST_TIER) if role == "officer" else tier


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
