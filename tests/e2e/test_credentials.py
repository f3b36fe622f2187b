"""Credentials: `ptsp token` issues (and records), lists and revokes; the services refuse
expired, forged and revoked tokens with 401; intake is rate-limited per channel."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from services.http.ratelimit import RateLimited, TokenBuckets
from services.infra.signing import b64url, unb64url
from services.infra.tokens import Claims, TokenIssuer, Unauthenticated
from services.runtime import System
from services.settings import Settings

pytestmark = pytest.mark.e2e

PTSP = str(Path(sys.executable).with_name("ptsp"))


async def ptsp(settings: Settings, *args: str, database_url: str | None = None
               ) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PTSP_DATA_DIR")}
    if database_url:
        env["DATABASE_URL"] = database_url
    proc = await asyncio.create_subprocess_exec(
        PTSP, *args, "--data-dir", str(settings.data_dir), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = json.loads(unb64url(token.split(".")[0]))
    return claims


async def issue(settings: Settings, database_url: str | None, *args: str) -> str:
    code, out, err = await ptsp(settings, "token", *args, database_url=database_url)
    assert code == 0, err
    assert out.count("\n") == 1, "the token alone on stdout"
    return out.strip()


async def test_issue_record_list_revoke(http: httpx.AsyncClient, system: System,
                                        settings: Settings, database_url: str) -> None:
    token = await issue(settings, database_url, "--role", "auditor", "--actor", "inspektorat-7")
    claims = claims_of(token)
    assert claims["exp"] - time.time() >= 24 * 3600
    assert (await http.get("/cases", headers=bearer(token))).status_code == 200

    # Recorded: the claims and the token's hash, never the token.
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT jti, actor, role, secret_hash, revoked_at FROM credentials"
                           ).fetchone()
        dump = str(conn.execute("SELECT * FROM credentials").fetchall())
    assert row == (claims["jti"], "inspektorat-7", "auditor",
                   hashlib.sha256(token.encode()).hexdigest(), None)
    assert token not in dump and token.split(".")[1] not in dump

    code, out, _ = await ptsp(settings, "token", "list", database_url=database_url)
    assert code == 0 and claims["jti"] in out and "active" in out
    code, out, _ = await ptsp(settings, "token", "list", "--json", database_url=database_url)
    [listed] = [json.loads(line) for line in out.splitlines()]
    assert (listed["jti"], listed["state"]) == (claims["jti"], "active")

    code, out, err = await ptsp(settings, "token", "revoke", claims["jti"], "--reason", "mutasi",
                                database_url=database_url)
    assert code == 0, err
    await system.reload_revocations()
    r = await http.get("/cases", headers=bearer(token))
    assert r.status_code == 401 and r.json()["detail"] == "the token has been revoked"
    assert r.headers["www-authenticate"].startswith('Bearer realm="ptsp", error="invalid_token"')
    code, out, _ = await ptsp(settings, "token", "list", "--json", database_url=database_url)
    assert json.loads(out)["state"] == "revoked"

    code, _, err = await ptsp(settings, "token", "revoke", "0123456789abcdef",
                              database_url=database_url)
    assert code == 1 and "no recorded token" in err


async def test_revoking_an_actor_reaches_unrecorded_tokens(
        http: httpx.AsyncClient, system: System, settings: Settings, database_url: str,
        token: Any) -> None:
    unrecorded = token("officer", "budi", unit="perizinan", tier="pelaksana")
    other = token("officer", "ani", unit="perizinan", tier="pelaksana")
    assert (await http.get("/cases", headers=unrecorded)).status_code == 200
    # Through a running `ptsp up`'s runtime file this time, not DATABASE_URL.
    (settings.data_dir / "runtime.json").write_text(json.dumps({"database_url": database_url}))
    code, _, err = await ptsp(settings, "token", "revoke", "--actor", "budi")
    assert code == 0, err
    await system.reload_revocations()
    assert (await http.get("/cases", headers=unrecorded)).status_code == 401
    assert (await http.get("/cases", headers=other)).status_code == 200
    # A token issued after the revocation is good.
    fresh = await issue(settings, None, "--role", "officer", "--actor", "budi",
                        "--unit", "perizinan")
    assert (await http.get("/cases", headers=bearer(fresh))).status_code == 200


async def test_the_services_pick_up_revocations_by_themselves(
        settings: Settings, database_url: str) -> None:
    system = System.build(replace(settings, revocation_refresh_seconds=0.1), database_url)
    await system.start()
    try:
        token = await issue(settings, database_url, "--role", "head", "--actor", "kepala")
        system.tokens.authenticate(token)
        code, _, err = await ptsp(settings, "token", "revoke", claims_of(token)["jti"],
                                  database_url=database_url)
        assert code == 0, err
        for _ in range(50):
            try:
                system.tokens.authenticate(token)
            except Unauthenticated:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the revocation was not picked up")
    finally:
        await system.stop()


async def test_without_a_database_the_token_is_printed_and_not_recorded(
        settings: Settings, http: httpx.AsyncClient) -> None:
    code, out, err = await ptsp(settings, "token", "--role", "channel", "--actor", "oss-gw",
                                "--channel", "oss")
    assert code == 0 and out.count("\n") == 1
    assert "NOT recorded" in err
    r = await http.get("/calendar/2026", headers=bearer(out.strip()))
    assert r.status_code == 200
    code, _, err = await ptsp(settings, "token", "--role", "officer", "--actor", "x")
    assert code == 2 and "--unit" in err


async def test_bad_tokens_are_401(http: httpx.AsyncClient, settings: Settings) -> None:
    issuer = TokenIssuer.load_or_create(settings.keys_dir / "token-secret")
    good = issuer.issue("supervisor", "sri", ttl_seconds=60)
    expired = issuer.issue("supervisor", "sri", ttl_seconds=-1)
    mac = good.split(".")[1]
    promoted = {**claims_of(good), "role": "head"}
    forged = b64url(json.dumps(promoted).encode()) + "." + mac
    other_secret = TokenIssuer(b"x" * 32).issue("head", "kepala", ttl_seconds=60)
    cases: dict[str, dict[str, Any]] = {
        "missing": {},
        "not bearer": {"Authorization": f"Basic {good}"},
        "empty": {"Authorization": "Bearer"},
        "garbage": bearer("garbage"),
        "non-ascii": {"Authorization": "Bearer \xe9.\xfc".encode("latin-1")},
        "forged claims": bearer(forged),
        "another secret": bearer(other_secret),
        "expired": bearer(expired),
    }
    for name, headers in cases.items():
        r = await http.get("/sla", headers=headers)
        assert r.status_code == 401, name
        assert r.json()["status_code"] == 401 and r.json()["detail"], name
        assert r.headers["www-authenticate"].startswith('Bearer realm="ptsp"'), name
    assert (await http.get("/sla", headers=bearer(expired))).json()["detail"] == \
        "the token has expired"
    assert (await http.get("/sla", headers=bearer(good))).status_code == 200
    # Authentication comes before the body: an anonymous bad body is still 401.
    r = await http.post("/applications", content=b"{", headers={"content-type": "application/json"})
    assert r.status_code == 401


def test_tokens_carry_an_id_and_times() -> None:
    issuer = TokenIssuer(b"k" * 32)
    a, claims = issuer.mint("head", "kepala", ttl_seconds=3600)
    b = issuer.issue("head", "kepala", ttl_seconds=3600)
    assert isinstance(claims, Claims) and claims.jti != claims_of(b)["jti"]
    assert claims.exp == int(claims.iat + 3600)
    issuer.revocations.replace([claims.jti], {})
    with pytest.raises(Unauthenticated, match="revoked"):
        issuer.authenticate(a)
    issuer.authenticate(b)
    issuer.revocations.replace([], {"kepala": time.time() + 1})
    with pytest.raises(Unauthenticated, match="revoked"):
        issuer.authenticate(b)


# -- rate limits ------------------------------------------------------------------------
def test_token_bucket() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=2, burst=3, clock=lambda: now[0])
    for _ in range(3):
        buckets.take("oss")
    with pytest.raises(RateLimited) as exc:
        buckets.take("oss")
    assert exc.value.retry_after == pytest.approx(0.5)
    buckets.take("mpp_counter")  # a bucket per key
    now[0] = 0.5
    buckets.take("oss")
    with pytest.raises(RateLimited):
        buckets.take("oss")
    now[0] = 100.0  # refilled, but never above the burst
    for _ in range(3):
        buckets.take("oss")
    with pytest.raises(RateLimited):
        buckets.take("oss")
