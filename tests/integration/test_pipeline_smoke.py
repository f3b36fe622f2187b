"""Smoke: an event reaches the case view through the relay and JetStream."""
from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.integration


async def test_submitted_application_appears_in_case_list(pipeline_http, token) -> None:
    http = pipeline_http
    oss = token("channel", "oss-gw", channel="oss")
    body = {"channel": "oss", "external_id": "P-1", "service_code": "SS-KBLI-10510",
            "applicant": {"name": "Siti"},
            "business": {"name": "CV Susu", "kbli": "10510", "scale": "kecil",
                         "in_industrial_estate": False, "address": "Jl. Veteran"}}
    r = await http.post("/applications", json=body, headers=oss)
    assert r.status_code == 201
    sup = token("supervisor", "sri")
    for _ in range(100):
        listing = (await http.get("/cases", headers=sup)).json()
        if listing["total"]:
            break
        await asyncio.sleep(0.05)
    assert listing["items"][0]["id"] == r.json()["id"]
    print(listing)
