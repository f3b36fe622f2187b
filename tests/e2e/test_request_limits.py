"""Bodies nested deeper than the limit are refused at the door (400 naming it), never a
500 from a decoder's recursion; and the office's public key is published without a
token, routed before `/certificates/{number}`."""

from __future__ import annotations

import base64
import hashlib
import json

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from services.infra.json_depth import MAX_DEPTH, nesting_exceeds

pytestmark = pytest.mark.e2e

BODY = {"channel": "oss", "external_id": "DEEP-1", "service_code": "SS-KBLI-10510",
        "applicant": {"name": "Siti"},
        "business": {"name": "CV X", "kbli": "10510", "scale": "mikro",
                     "in_industrial_estate": False, "address": "Purwakarta"}}


async def test_a_body_nested_past_the_limit_is_400_naming_it(http: httpx.AsyncClient,
                                                             token) -> None:
    oss = token("channel", "oss-gw", channel="oss")
    for body in (b"[" * 5000 + b"]" * 5000,             # the finding: ~1000 levels gave 500
                 b'{"a":' * 3000 + b"1" + b"}" * 3000,
                 b"[" * 100_000,                          # not even closed
                 json.dumps({**BODY, "note": [[[[[[[[[[1]]]]]]]]]]}).replace(
                     "1", "[" * 60 + "1" + "]" * 60).encode()):
        r = await http.post("/applications", content=body, headers={
            **oss, "content-type": "application/json"})
        assert r.status_code == 400, r.text
        assert r.json()["extra"]["limit"] == MAX_DEPTH
        assert str(MAX_DEPTH) in r.json()["detail"]
    # On every route that takes a body, before the route's own checks.
    officer = token("officer", "budi", unit="perizinan")
    r = await http.post("/calendar/days", content=b"{" + b'"a":{' * 200 + b"}" * 201,
                        headers=officer)
    assert r.status_code == 400 and r.json()["extra"]["limit"] == MAX_DEPTH


async def test_nesting_up_to_the_limit_and_brackets_in_text_pass(http: httpx.AsyncClient,
                                                                 token) -> None:
    oss = token("channel", "oss-gw", channel="oss")
    # Brackets inside strings are text, not nesting: a name full of them is accepted.
    body = {**BODY, "applicant": {"name": "[" * 200 + "{\"\\" + "}" * 10}}
    r = await http.post("/applications", json=body, headers=oss)
    assert r.status_code == 201, r.text
    # At the limit the body reaches the decoder, which judges it on its own terms.
    deep = json.loads("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))
    r = await http.post("/applications", json={**BODY, "external_id": "DEEP-2",
                                               "applicant": deep}, headers=oss)
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "applicant", r.text


def test_the_depth_scan_counts_only_structure() -> None:
    assert not nesting_exceeds(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    assert nesting_exceeds(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
    assert nesting_exceeds(b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1))
    assert not nesting_exceeds(json.dumps({"t": "[" * 1000}).encode())
    assert not nesting_exceeds(json.dumps({"t": '\\"[' * 1000}).encode())
    # Many brackets side by side are not depth.
    assert not nesting_exceeds(json.dumps([[1]] * 10_000).encode())
    # An escaped backslash ends the string: what follows is structure again.
    assert nesting_exceeds(b'{"a":"\\\\",' + b"[" * 100)


async def test_the_office_public_key_is_published(http: httpx.AsyncClient, system) -> None:
    r = await http.get("/certificates/public-key")  # no token
    assert r.status_code == 200, r.text
    published = r.json()
    text = published["public_key"]
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    assert "=" not in text and len(raw) == 32
    assert published["algorithm"] == "Ed25519"
    assert published["key_id"] == hashlib.sha256(raw).hexdigest()[:16]
    assert published["public_key"] == system.office_key.public_b64
    pem_key = load_pem_public_key(published["public_key_pem"].encode())
    assert isinstance(pem_key, Ed25519PublicKey)
    # It verifies what the office signs.
    payload = {"seq": 1, "hash": "0" * 64}
    signature = system.office_key.sign(payload)
    pem_key.verify(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
                   json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
    # Any other segment is still a certificate number.
    r = await http.get("/certificates/SS-10510-2026-NOPE")
    assert r.status_code == 404, r.text
