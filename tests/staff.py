"""Putting the tests' people in the staff register: assignment takes only a registered,
active officer of the case's unit (issue 12, item 5), so a test that assigns registers
its officers first, as the head would."""

from __future__ import annotations

import msgspec

from contracts.staff import StaffEntry
from services.domain.actors import Actor
from services.runtime import System

HEAD = Actor(id="kepala", role="head")


async def register_officer(system: System, actor: str, unit: str,
                           tier: str = "pelaksana") -> None:
    entry = msgspec.convert({"actor": actor, "name": actor, "role": "officer", "unit": unit,
                             "tier": tier}, StaffEntry)
    await system.staff.register(entry, HEAD)


async def register_cast(system: System, *names: str) -> None:
    """The conftest CAST's officers by name (`officer`, `kasi`, `dewi`, ...)."""
    from tests.conftest import CAST

    for name in names:
        role, actor, claims = CAST[name]
        assert role == "officer", name
        await register_officer(system, actor, claims["unit"], claims.get("tier", "pelaksana"))
