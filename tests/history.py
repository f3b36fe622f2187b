"""A generated history: many applications and complaints over several months, driven
through the real services on the simulated clock. Used by the replay and fault tests
and by the benchmarks. Deterministic in what it asks (seeded), bounded in size."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any

from contracts.applications import Applicant, ApplicationIntake, Business
from contracts.complaints import Complainant, ComplaintIntake
from services.domain.actors import COMPLAINT_CHANNELS, Actor
from services.domain.clock import SimulatedClock
from services.domain.errors import DomainError
from services.runtime import System

OSS = Actor(id="oss-gateway", role="channel", channel="oss")
OFFICER = Actor(id="budi", role="officer", tier="kepala_dinas", unit="perizinan")
COMPLAINTS_OFFICER = Actor(id="dewi", role="officer", tier="kepala_dinas", unit="pengaduan")
SUPERVISOR = Actor(id="sri", role="supervisor")
HEAD = Actor(id="kepala", role="head")
CODES = dict.fromkeys(("U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4"), True)
PROBLEMS = ("requirements", "procedure", "time", "fee", "product", "facilities", "competence", "other")


def application_intake(n: int) -> ApplicationIntake:
    return ApplicationIntake(
        channel="oss", external_id=f"GEN-{n:06d}", service_code="SS-KBLI-10510",
        applicant=Applicant(name=f"Pemohon {n}"),
        business=Business(name=f"CV Susu {n}", kbli="10510", scale="kecil",
                          in_industrial_estate=bool(n % 2), address="Purwakarta"))


async def _gather(calls: list[Callable[[], Awaitable[Any]]], width: int = 100) -> None:
    """Run the calls, `width` at a time; a refused step (a rule) is part of history."""
    async def run(call: Callable[[], Awaitable[Any]]) -> None:
        try:
            await call()
        except DomainError:
            pass
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

        async def submit_app(intake: ApplicationIntake) -> None:
            app, _ = await system.applications.submit(intake, OSS)
            created.append(app.id)
        await _gather([lambda i=i: submit_app(i) for i in new_apps])
        app_ids += created

        count = complaints_per_week if week < weeks - 1 else complaints - n_complaint
        today = clock.now()
        new_complaints = []
        for i in range(count):
            n = n_complaint + i
            late = rng.random() < 0.15
            new_complaints.append(ComplaintIntake(
                channel=COMPLAINT_CHANNELS[n % len(COMPLAINT_CHANNELS)], external_id=f"GEN-C-{n:06d}",
                complainant=Complainant(name=f"Pengadu {n}", phone="081234567890")
                if rng.random() > 0.1 else None,
                subject_matter="Layanan terlambat", description="Generated complaint",
                service_received_on=(today - timedelta(days=40 if late else 5)).date(),
                related_application_id=rng.choice(app_ids) if app_ids and rng.random() < 0.3 else None))
        n_complaint += count
        new_c: list[Any] = []

        async def submit_complaint(intake: ComplaintIntake) -> None:
            c, _ = await system.complaints.submit(
                intake, Actor(id=f"gw-{intake.channel}", role="channel", channel=intake.channel))
            if c.kind == "complaint":
                new_c.append(c.id)
        await _gather([lambda i=i: submit_complaint(i) for i in new_complaints])
        complaint_ids += new_c

        # Work on what is open: each case moves one step with some probability.
        steps: list[Callable[[], Awaitable[Any]]] = []
        for case_id in app_ids:
            if rng.random() < 0.6:
                steps.append(lambda c=case_id, r=rng.random(): _advance_application(system, c, r))
        for case_id in complaint_ids:
            if rng.random() < 0.6:
                steps.append(lambda c=case_id, r=rng.random(): _advance_complaint(system, c, r))
        rng.shuffle(steps)
        await _gather(steps)
        clock.jump_to(clock.now() + timedelta(days=7))
    return {"applications": len(app_ids), "complaints": len(complaint_ids)}


async def _advance_application(system: System, case_id: Any, r: float) -> None:
    s = system.applications
    app = await s.get(case_id)
    if app.status == "awaiting_verification":
        results = dict(CODES) if r > 0.2 else {**CODES, "K1": False}
        await s.verify(case_id, results, None, OFFICER)
    elif app.status == "returned_for_correction":
        await s.resubmit(case_id, "dilengkapi", OSS)
    elif app.status == "complete":
        if r < 0.05:
            await s.return_for_correction(case_id, "K2 kurang", ["K2"], OFFICER)
        else:
            await s.review(case_id, "approve" if r > 0.1 else "reject", "ok", OFFICER)
    elif app.status == "reviewed":
        await s.decide(case_id, "approve" if r > 0.1 else "reject", "keputusan", SUPERVISOR)
    elif app.status == "approved":
        await s.issue(case_id, SUPERVISOR)


async def _advance_complaint(system: System, case_id: Any, r: float) -> None:
    s = system.complaints
    c = await s.get(case_id)
    if c.status == "received":
        await s.classify(case_id, "SS-KBLI-10510", PROBLEMS[int(r * len(PROBLEMS))], COMPLAINTS_OFFICER)
    elif c.status == "classified":
        await s.analyse(case_id, "inti masalah", ["SP KBLI 10510"], [], "clarification", COMPLAINTS_OFFICER)
    elif c.status == "analysed":
        if r < 0.1:
            await s.approve_apip(case_id, "perlu APIP", None, HEAD)
            await s.choose_track(case_id, "apip", None, COMPLAINTS_OFFICER)
        elif r < 0.3:
            await s.choose_track(case_id, "technical_team", ["Dinas Perindustrian"], COMPLAINTS_OFFICER)
        else:
            await s.choose_track(case_id, "internal", None, COMPLAINTS_OFFICER)
    elif c.status == "in_resolution":
        await s.respond(case_id, "jawaban", COMPLAINTS_OFFICER)
    elif c.status == "answered":
        await s.notify_complainant(case_id, c.channel, COMPLAINTS_OFFICER)
        await s.close(case_id, None, COMPLAINTS_OFFICER)


def months_between(start: datetime, end: datetime) -> list[str]:
    months, current = [], date(start.year, start.month, 1)
    while current <= end.date():
        months.append(f"{current.year:04d}-{current.month:02d}")
        current = date(current.year + current.month // 12, current.month % 12 + 1, 1)
    return months

