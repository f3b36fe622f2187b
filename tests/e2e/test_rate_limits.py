"""Intake is rate-limited per channel (a token bucket each): over it, 429 with
Retry-After and the JSON error shape, before the body is even read."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from services.settings import Settings
from tests.conftest import TokenMaker

pytestmark = pytest.mark.e2e


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, intake_rate_per_second=0.5, intake_burst=3)


async def test_intake_over_budget_is_429_per_channel(
        http: httpx.AsyncClient, token: TokenMaker) -> None:
    oss = token("channel", "oss-gw", channel="oss")
    mpp = token("channel", "mpp-gw", channel="mpp_counter")
    body = {"channel": "oss", "external_id": "RL-1", "service_code": "SS-KBLI-10510",
            "applicant": {"name": "Siti"},
            "business": {"name": "CV X", "kbli": "10510", "scale": "mikro",
                         "in_industrial_estate": False, "address": "Purwakarta"}}
    statuses = [(await http.post("/applications", json=body, headers=oss)).status_code
                for _ in range(3)]
    assert statuses == [201, 200, 200]  # the same (channel, external_id): idempotent
    # The budget is per channel and counts every intake route.
    r = await http.post("/complaints", content=b"not even json", headers=oss)
    assert r.status_code == 429
    assert r.json()["status_code"] == 429 and "oss" in r.json()["detail"]
    assert r.json()["extra"]["channel"] == "oss"
    assert int(r.headers["retry-after"]) >= 1
    r = await http.post("/applications", json={**body, "channel": "mpp_counter"}, headers=mpp)
    assert r.status_code == 201
    # Authentication first: no token is 401, not 429; reads are not limited.
    assert (await http.post("/applications", json=body)).status_code == 401
    assert (await http.get("/services")).status_code == 200
