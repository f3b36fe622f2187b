"""Events out of the event store and into the read models: the relay (Postgres →
JetStream), the projection runner (JetStream → read models) and the SLA breach watcher
(read models → escalation commands). Started by `System` when NATS is configured."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg
import nats
from nats.aio.client import Client as NATS

from projections.case_views import CaseViews
from projections.escalation_queues import BreachWatcher
from projections.runner import Projection, ProjectionRunner
from projections.sla_timers import SlaTimers
from projections.survey_responses import SurveyResponses
from services.applications.application import CONTRACTS as APPLICATION_CONTRACTS
from services.calendar.application import CONTRACTS as CALENDAR_CONTRACTS
from services.complaints.application import CONTRACTS as COMPLAINT_CONTRACTS
from services.kernel.actors import Actor
from services.kernel.eventlog import EventLog, Stream
from services.kernel.relay import Relay
from services.surveys.application import CONTRACTS as SURVEY_CONTRACTS

if TYPE_CHECKING:
    from services.runtime import System

SLA_TIMER = Actor(id="sla-timer", role="system")


def streams_of(system: System) -> list[Stream]:
    stores = {s.name: s for s in system.stores}
    return [
        Stream("calendar", stores["calendar"], CALENDAR_CONTRACTS),
        Stream("applications", stores["applications"], APPLICATION_CONTRACTS),
        Stream("complaints", stores["complaints"], COMPLAINT_CONTRACTS),
        Stream("surveys", stores["surveys"], SURVEY_CONTRACTS),
    ]


def projections_of(system: System) -> list[Projection]:
    return [CaseViews(), SlaTimers(system.settings.at_risk_ratio), SurveyResponses()]


class Pipeline:
    def __init__(self, system: System, pool: asyncpg.Pool, nats_url: str) -> None:
        self.system = system
        self.pool = pool
        self.nats_url = nats_url
        self.eventlog = EventLog(pool, streams_of(system))
        self.nc: NATS | None = None
        self.relay: Relay | None = None
        self.runner: ProjectionRunner | None = None
        self.watcher: BreachWatcher | None = None

    async def start(self) -> None:
        self.nc = await nats.connect(self.nats_url, name="ptsp-pipeline",
                                     max_reconnect_attempts=-1, reconnect_time_wait=0.5)
        self.relay = Relay(self.pool, self.eventlog, self.nc,
                           replicas=self.system.settings.stream_replicas)
        await self.relay.start()
        self.runner = ProjectionRunner(self.pool, self.nc, list(self.eventlog.streams.values()),
                                       projections_of(self.system))
        await self.runner.start()
        self.watcher = BreachWatcher(self.pool, self.system.clock, self.escalate)
        await self.watcher.start()

    async def stop(self) -> None:
        for part in (self.watcher, self.runner, self.relay):
            if part is not None:
                await part.stop()
        if self.nc is not None:
            # Nothing to flush: the relay awaited every publish ack, consumers acked.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.close(), 5)

    async def escalate(self, case_type: str, case_id: UUID, clock_span: int) -> None:
        """The SLA timer's command to the case's owning service."""
        service = self.system.applications if case_type == "application" else self.system.complaints
        await service.escalate_for_breach(case_id, clock_span, SLA_TIMER)
