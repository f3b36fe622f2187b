"""Every stored event of a generated history, read by the event log (msgspec, straight
from the stored JSON), is byte for byte the contract event the exact way gives
(eventsourcing's mapper, then the contract mapping): what the relay publishes, the
rebuild folds and the audit history shows does not depend on the way taken."""

from __future__ import annotations

from collections import Counter
from datetime import date

import msgspec
import pytest

from contracts.surveys import SurveyIntake
from contracts.vocabulary import TIERS
from services.applications.commands import COMMANDS as APPLICATION
from services.domain.actors import Actor
from services.infra.eventlog import EventLog
from services.infra.transcoding import PROBES
from services.runtime import System
from tests.history import HEAD, OSS, application_intake, generate

pytestmark = pytest.mark.integration

WA = Actor(id="wa-gateway", role="channel", channel="whatsapp")


async def test_every_stored_event_decodes_as_the_exact_way_gives(system: System) -> None:
    await generate(system, applications=120, complaints=60, months=2)
    await system.calendar.declare_day(date(2026, 4, 20), "holiday", "banjir", HEAD)
    for n in range(5):
        app, _ = await system.applications.submit(application_intake(90_000 + n), OSS)
        await system.applications.do(APPLICATION["escalation"], app.id, HEAD,
                                     to_tier=TIERS[2], reason="laporan")
    for n in range(5):
        await system.surveys.submit(msgspec.convert(
            {"channel": "whatsapp", "external_id": f"WA-S-{n}", "service_code": "SS-KBLI-10510",
             "scores": {"time": 1 + n % 4, "fee": 4}}, SurveyIntake), WA)
    assert system.pool is not None
    eventlog = EventLog(system.pool, system.streams())
    types: Counter[str] = Counter()
    for stream, decoder in eventlog.decoders.items():
        rows = await eventlog.rows(stream, 0, 100_000)
        for row in rows:
            exact = decoder.exact(row.topic, row.originator_id, row.originator_version,
                                  row.state)
            event = eventlog.decode(row).event
            assert msgspec.json.encode(event) == msgspec.json.encode(exact), row
            types[f"{stream}:{type(event).__name__}"] += 1
    assert {"calendar:DayDeclared", "surveys:Responded", "applications:Decided",
            "complaints:Classified", "applications:Escalated"} <= set(types)
    # All but the probes of each class went the direct way.
    assert sum(d.direct for d in eventlog.decoders.values()) == sum(
        max(0, n - PROBES) for n in types.values())
