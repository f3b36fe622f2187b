"""A generated history: many applications and complaints over several months, driven
through the real services on the simulated clock. Used by the replay and fault tests
and by the benchmarks. Deterministic in what it asks (seeded), bounded in size."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from contracts.applications import Applicant, ApplicationIntake, Business
from contracts.complaints import Complainant, ComplaintIntake
from contracts.vocabulary import COMPLAINT_CHANNELS, PROBLEM_TYPES
from services.applications.commands import COMMANDS as APPLICATION
from services.complaints.commands import COMMANDS as COMPLAINT
from services.domain.actors import Actor
from services.domain.clock import SimulatedClock
from services.domain.errors import DomainError
from services.runtime import System

OSS = Actor(id="oss-gateway", role="channel", channel="oss")
OFFICER = Actor(id="budi", role="officer", tier="kepala_dinas", unit="perizinan")
COMPLAINTS_OFFICER = Actor(id="dewi", role="officer", tier="kepala_dinas", unit="pengaduan")
SUPERVISOR = Actor(id="sri", role="supervisor")
HEAD = Actor(id="kepala", role="head")
CODES = dict.fromkeys(("U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4"), True)
PROBLEMS = PROBLEM_TYPES  # in this order: the seeded history picks by index


def application_intake(n: int) -> ApplicationIntake:
    return ApplicationIntake(
        channel="oss", external_id=f"GEN-{n:06d}", service_code="SS-KBLI-10510",
        applicant=Applicant(name=f"Pemohon {n}"),
        business=Business(name=f"CV Susu {n}", kbli="10510", scale="kecil",
                          in_industrial_estate=True, address="Purwakarta"))


async def _gather(calls: list[Callable[[], Awaitable[Any]]], width: int = 100) -> None:
    """Run the calls, `width` at a time; a refused step (a rule) is part of history."""
    async def run(call: Callable[[], Awaitable[Any]]) -> None:
        with contextlib.suppress(DomainError):
            await call()
    for i in range(0, len(calls), width):
        await asyncio.gather(*(run(c) for c in calls[i:i + width]))


async def generate(system: System, applications: int, complaints: int, months: int = 3,
                   seed: int = 10510) -> dict[str, int]:
    """Spread the cases over `months` months from the system's simulated clock; each
    week some cases move on, some stall (and breach), some are returned."""
    clock = system.clock
    assert isinstance(clock, SimulatedClock), "the history runs on the simulated clock"
    rng = random.Random(seed)
    weeks = months * 4
    apps_per_week = max(1, applications // weeks)
    complaints_per_week = max(1, complaints // weeks)
    app_ids: list[Any] = []
    complaint_ids: list[Any] = []
    n_app = n_complaint = 0
    for week in range(weeks):
        # New intake this week.
        count = apps_per_week if week < weeks - 1 else applications - n_app
        new_apps = [application_intake(n_app + i) for i in range(count)]
        n_app += count
        created: list[Any] = []
        await _gather([partial(_submit_application, system, i, created) for i in new_apps])
        app_ids += created

        count = complaints_per_week if week < weeks - 1 else complaints - n_complaint
        today = clock.now()
        new_complaints = []
        for i in range(count):
            n = n_complaint + i
            late = rng.random() < 0.15
            new_complaints.append(ComplaintIntake(
                channel=COMPLAINT_CHANNELS[n % len(COMPLAINT_CHANNELS)],
                external_id=f"GEN-C-{n:06d}",
                complainant=Complainant(name=f"Pengadu {n}", phone="081234567890")
                if rng.random() > 0.1 else None,
                subject_matter="Layanan terlambat", description="Generated complaint",
                service_received_on=(today - timedelta(days=40 if late else 5)).date(),
                related_application_id=rng.choice(app_ids)
                if app_ids and rng.random() < 0.3 else None))
        n_complaint += count
        new_c: list[Any] = []
        await _gather([partial(_submit_complaint, system, i, new_c) for i in new_complaints])
        complaint_ids += new_c

        # Work on what is open: each case moves one step with some probability.
        steps: list[Callable[[], Awaitable[Any]]] = []
        for case_id in app_ids:
            if rng.random() < 0.6:
                steps.append(partial(_advance_application, system, case_id, rng.random()))
        for case_id in complaint_ids:
            if rng.random() < 0.6:
                steps.append(partial(_advance_complaint, system, case_id, rng.random()))
        rng.shuffle(steps)
        await _gather(steps)
        clock.jump_to(clock.now() + timedelta(days=7))
    return {"applications": len(app_ids), "complaints": len(complaint_ids)}


async def _submit_application(system: System, intake: ApplicationIntake,
                              into: list[Any]) -> None:
    app, _ = await system.applications.submit(intake, OSS)
    into.append(app.id)


async def _submit_complaint(system: System, intake: ComplaintIntake, into: list[Any]) -> None:
    """Complaints only: a suggestion is not worked on."""
    gateway = Actor(id=f"gw-{intake.channel}", role="channel", channel=intake.channel)
    c, _ = await system.complaints.submit(intake, gateway)
    if c.kind == "complaint":
        into.append(c.id)


async def _advance_application(system: System, case_id: Any, r: float) -> None:
    s = system.applications
    app = await s.get(case_id)
    if app.status == "awaiting_verification":
        results = dict(CODES) if r > 0.2 else {**CODES, "K1": False}
        await s.do(APPLICATION["verification"], case_id, OFFICER, results=results)
    elif app.status == "returned_for_correction":
        await s.do(APPLICATION["resubmission"], case_id, OSS, note="dilengkapi")
    elif app.status == "complete":
        if r < 0.05:
            await s.do(APPLICATION["return"], case_id, OFFICER, reason="K2 kurang", unmet=["K2"])
        else:
            await s.do(APPLICATION["technical-review"], case_id, OFFICER,
                       recommendation="approve" if r > 0.1 else "reject", note="ok")
    elif app.status == "reviewed":
        await s.do(APPLICATION["decision"], case_id, SUPERVISOR,
                   outcome="approve" if r > 0.1 else "reject", reason="keputusan")
    elif app.status == "approved":
        await s.do(APPLICATION["issuance"], case_id, SUPERVISOR)


async def _advance_complaint(system: System, case_id: Any, r: float) -> None:
    s = system.complaints
    c = await s.get(case_id)
    officer = COMPLAINTS_OFFICER
    if c.status == "received":
        await s.do(COMPLAINT["classification"], case_id, officer, service_code="SS-KBLI-10510",
                   problem_type=PROBLEMS[int(r * len(PROBLEMS))])
    elif c.status == "classified":
        await s.do(COMPLAINT["analysis"], case_id, officer, core_problem="inti masalah",
                   standard_refs=["SP KBLI 10510"], documents_checked=[],
                   handling_plan="clarification")
    elif c.status == "analysed":
        if r < 0.1:
            await s.do(COMPLAINT["apip-approval"], case_id, HEAD, reason="perlu APIP")
            await s.do(COMPLAINT["track"], case_id, officer, track="apip")
        elif r < 0.3:
            await s.do(COMPLAINT["track"], case_id, officer, track="technical_team",
                       agencies=["Dinas Perindustrian"])
        else:
            await s.do(COMPLAINT["track"], case_id, officer, track="internal")
    elif c.status == "in_resolution":
        if c.findings is None:  # seed 6.6.e: the answer rests on the findings
            await s.do(COMPLAINT["findings"], case_id, officer, actions=["klarifikasi"],
                       outcome=("proven", "not_proven", "partly_proven")[int(r * 3)])
        await s.do(COMPLAINT["response"], case_id, officer, text="jawaban")
    elif c.status == "answered":
        await s.do(COMPLAINT["complainant-notification"], case_id, officer, channel=c.channel)
        await s.do(COMPLAINT["superior-report"], case_id, officer, text="laporan")
        await s.do(COMPLAINT["closure"], case_id, officer)


def months_between(start: datetime, end: datetime) -> list[str]:
    months, current = [], date(start.year, start.month, 1)
    while current <= end.date():
        months.append(f"{current.year:04d}-{current.month:02d}")
        current = date(current.year + current.month // 12, current.month % 12 + 1, 1)
    return months

