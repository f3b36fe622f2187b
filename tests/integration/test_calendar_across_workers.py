"""A calendar correction reaches every worker at once (issue 12, item 18; README: "open
deadlines follow at once"): two systems on one database stand for two HTTP workers (or
two replicas), each with its own calendar in memory and its own LISTEN connection."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import msgspec
import pytest

from contracts.applications import ApplicationIntake
from services.applications.commands import COMMANDS
from services.domain.actors import Actor
from services.runtime import System
from services.settings import Settings
from tests.conftest import running

pytestmark = pytest.mark.integration

OSS = Actor(id="oss-gateway", role="channel", channel="oss")
OFFICER = Actor(id="budi", role="officer", unit="perizinan", tier="pelaksana")
HEAD = Actor(id="kepala", role="head")
ALL_MET = dict.fromkeys(("U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4"), True)


async def complete_file(system: System) -> uuid.UUID:
    intake = msgspec.convert({
        "channel": "oss", "external_id": "OSS-CAL", "service_code": "SS-KBLI-10510",
        "applicant": {"name": "Siti"},
        "business": {"name": "CV Susu", "kbli": "10510", "scale": "kecil",
                     "in_industrial_estate": True, "address": "Purwakarta"}}, ApplicationIntake)
    app, _ = await system.applications.submit(intake, OSS)
    await system.applications.do(COMMANDS["verification"], app.id, OFFICER, results=ALL_MET)
    return uuid.UUID(str(app.id))


async def test_every_read_on_another_worker_follows_a_correction_at_once(
        system: System, settings: Settings, database_url: str) -> None:
    other = System.build(settings, database_url, with_pipeline=False, with_intake=False)
    async with running(other):
        case = await complete_file(system)

        async def due(on: System) -> datetime:
            due_at = (await on.applications.read(case, HEAD)).sla.due_at
            assert due_at is not None
            return due_at

        first = await due(other)
        assert first == await due(system)
        last_day = (first - timedelta(days=1)).date()
        seen = []
        # Given the other worker read the deadline just before, when this worker records
        # a correction, then the other's very next read shows the corrected deadline:
        # ten times over, alternating, with no pause between the answer and the read.
        for i in range(10):
            kind = "holiday" if i % 2 == 0 else "working_day"
            await system.calendar.declare_day(last_day, kind, f"koreksi {i}", HEAD)
            expected = await due(system)
            assert await due(other) == expected, f"correction {i}: the other worker lags"
            seen.append(expected)
        assert seen[0] != first and seen[1] == first  # the deadline really moved each time

        # A worker that has not heard (its LISTEN connection down, a notification still
        # on its way) checks the calendar's version before it shows a deadline.
        listening = next(t for t in other._tasks if t.get_name() == "calendar-follow")
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        await system.calendar.declare_day(last_day, "holiday", "koreksi lagi", HEAD)
        assert other.calendar.current.is_working_day(last_day)  # not heard of...
        assert await due(other) == await due(system) == seen[0]  # ...yet shown at once


async def test_the_other_worker_hears_of_a_correction_without_being_asked(
        system: System, settings: Settings, database_url: str) -> None:
    other = System.build(settings, database_url, with_pipeline=False, with_intake=False)
    async with running(other):
        day = (system.clock.now() + timedelta(days=30)).date()
        while not other.calendar.current.is_working_day(day):
            day += timedelta(days=1)
        await system.calendar.declare_day(day, "holiday", "cuti bersama daerah", HEAD)
        # The trigger's NOTIFY reaches the other worker's LISTEN: its calendar in memory
        # follows without any read asking the store.
        for _ in range(100):
            if not other.calendar.current.is_working_day(day):
                break
            await asyncio.sleep(0.02)
        assert not other.calendar.current.is_working_day(day)
