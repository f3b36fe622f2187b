"""A rule every intake keeps, checked the same way for each case type over HTTP."""

from __future__ import annotations

from typing import Any

import httpx


async def idempotent_intake(http: httpx.AsyncClient, path: str, body: dict[str, Any],
                            headers: dict[str, str], other_channel: str,
                            other_headers: dict[str, str]) -> str:
    """Intake is idempotent on (channel, external_id): 201, then 200 with the same body for
    a repeat; the same external id from another channel is another case. The case's id."""
    first = await http.post(path, json=body, headers=headers)
    again = await http.post(path, json=body, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    other = await http.post(path, json={**body, "channel": other_channel},
                            headers=other_headers)
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    return str(first.json()["id"])
