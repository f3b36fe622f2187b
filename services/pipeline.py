"""Events out of the event store and into the read models: the relay (Postgres →
JetStream), the projection runner (JetStream → read models), the SLA breach watcher
(read models → escalation commands) and the notifier (JetStream → the outbox → e-mail and
the channels: services/notifications). Started by `System` when NATS is configured."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

import asyncpg
import nats
from nats.aio.client import Client as NATS

from projections.escalation_queues import BreachWatcher
from projections.runner import Projection, ProjectionRunner
from services.domain.clock import Clock
from services.infra.event_signing import EventSigner
from services.infra.eventlog import EventLog, Stream
from services.infra.nats_auth import NOTIFIER, PROJECTIONS, RELAY, NatsAuth, servers
from services.infra.relay import Relay
from services.notifications.notifier import Notifier

Escalate = Callable[[str, UUID, int], Awaitable[None]]
"""The SLA timer's command: (case type, case id, clock span) → the owning service."""


class Pipeline:
    """Built by the composition root (`services.runtime.System`), which hands it the
    streams, the read models, the clock and the escalation command."""

    def __init__(self, pool: asyncpg.Pool, nats_url: str, streams: list[Stream],
                 projections: Sequence[Projection], clock: Clock, escalate: Escalate,
                 stream_replicas: int = 1, *, signer: EventSigner,
                 auth: NatsAuth | None = None, notifier: Notifier | None = None) -> None:
        self.pool = pool
        self.nats_url = nats_url
        self.projections = projections
        self.clock = clock
        self.escalate = escalate
        self.stream_replicas = stream_replicas
        self.signer = signer
        self.auth = auth or NatsAuth()
        self.eventlog = EventLog(pool, streams)
        self.nc: NATS | None = None
        self.consumer_nc: NATS | None = None
        """The projections' own connection: on the embedded server they may only consume."""
        self.relay: Relay | None = None
        self.runner: ProjectionRunner | None = None
        self.watcher: BreachWatcher | None = None
        self.notifier = notifier
        self.notifier_nc: NATS | None = None
        """The notifier's own connection: it consumes, and sends `ptsp.outbound.<channel>`."""

    async def start(self) -> None:
        self.nc = await nats.connect(servers(self.nats_url), name="ptsp-relay",
                                     max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                                     **self.auth.options(self.nats_url, RELAY))
        self.consumer_nc = await nats.connect(servers(self.nats_url), name="ptsp-projections",
                                              max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                                              **self.auth.options(self.nats_url, PROJECTIONS))
        self.relay = Relay(self.pool, self.eventlog, self.nc, signer=self.signer,
                           replicas=self.stream_replicas)
        await self.relay.start()
        self.runner = ProjectionRunner(self.pool, self.consumer_nc,
                                       list(self.eventlog.streams.values()), self.projections,
                                       signer=self.signer)
        await self.runner.start()
        self.watcher = BreachWatcher(self.pool, self.clock, self.escalate)
        await self.watcher.start()
        if self.notifier is not None:
            self.notifier_nc = await nats.connect(
                servers(self.nats_url), name="ptsp-notifier", max_reconnect_attempts=-1,
                reconnect_time_wait=0.5, **self.auth.options(self.nats_url, NOTIFIER))
            await self.notifier.start(self.notifier_nc, list(self.eventlog.streams.values()),
                                      self.signer)

    async def stop(self) -> None:
        for part in (self.notifier, self.watcher, self.runner, self.relay):
            if part is not None:
                await part.stop()
        for nc in (self.notifier_nc, self.consumer_nc, self.nc):
            if nc is not None:
                # Nothing to flush: the relay awaited every publish ack, consumers acked.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(nc.close(), 5)
