"""A token's tier (issue 12, item 19): an officer's defaults to `pelaksana`, in the token,
in the actor every event records, and for tokens minted before it was written into them."""

from __future__ import annotations

import msgspec

from services.infra.signing import b64url
from services.infra.tokens import Claims, TokenIssuer, effective_tier

ISSUER = TokenIssuer(b"0" * 32)


def test_an_officer_token_without_a_tier_is_at_pelaksana() -> None:
    token, claims = ISSUER.mint("officer", "budi", 3600, unit="perizinan")
    assert claims.tier == "pelaksana"
    actor = ISSUER.authenticate(token)
    assert actor.tier == "pelaksana" and actor.as_record()["tier"] == "pelaksana"


def test_a_given_tier_stays_and_other_roles_have_none() -> None:
    assert ISSUER.mint("officer", "kasi", 3600, tier="kepala_seksi", unit="perizinan")[1].tier \
        == "kepala_seksi"
    for role in ("supervisor", "head", "auditor"):
        assert ISSUER.authenticate(ISSUER.issue(role, "x", 3600)).tier is None


def test_an_older_officer_token_without_a_tier_reads_as_pelaksana() -> None:
    claims = Claims(role="officer", actor="budi", jti="j", iat=0, exp=2**40, unit="perizinan")
    body = b64url(msgspec.json.encode(claims))
    token = f"{body}.{ISSUER._mac(body)}"
    assert ISSUER.authenticate(token).tier == "pelaksana"
    assert effective_tier("officer", None) == "pelaksana"
    assert effective_tier("head", None) is None
