"""The notifier, in the pipeline process: the step consumer (a projection runner of its
own, feeding the outbox) and the sender, on a small connection pool of their own (the
sender holds one connection for its liveness lock; the runner one for its consumer
locks), so that they never wait on the read models' connections nor make them wait."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import asyncpg
from nats.aio.client import Client as NATS

from projections.runner import ProjectionRunner
from services.applications.application import ApplicationService
from services.complaints.application import ComplaintService
from services.infra.event_signing import EventSigner
from services.infra.eventlog import Stream
from services.notifications.outbox import NO_SMTP_HOST, STREAMS, OutboxWriter
from services.notifications.sender import Sender
from services.settings import Settings

POOL_MAX = 4
"""The sender's lock holder, the runner's lock owner, a batch, the sender's updates."""


class Notifier:
    def __init__(self, settings: Settings, database_url: str,
                 applications: ApplicationService, complaints: ComplaintService) -> None:
        self.settings = settings
        self.database_url = database_url
        self.applications = applications
        self.complaints = complaints
        self.pool: asyncpg.Pool | None = None
        self.runner: ProjectionRunner | None = None
        self.sender: Sender | None = None

    async def start(self, nc: NATS, streams: Sequence[Stream], signer: EventSigner) -> None:
        """`nc`: a connection as the `notifier` NATS user (it consumes the case streams
        and sends `ptsp.outbound.<channel>`)."""
        self.pool = await asyncpg.create_pool(self.database_url, min_size=1, max_size=POOL_MAX)
        ours = [s for s in streams if s.name in STREAMS]
        self.sender = Sender(self.pool, nc, self.applications, self.complaints, self.settings)
        writer = OutboxWriter({s.name: s.table for s in ours}, wake=self.sender.wake,
                              email_waits=NO_SMTP_HOST if self.sender.smtp is None else None)
        self.runner = ProjectionRunner(self.pool, nc, ours, [writer], signer=signer)
        await self.runner.start()
        await self.sender.start()

    async def stop(self) -> None:
        if self.sender is not None:
            await self.sender.stop()
        if self.runner is not None:
            await self.runner.stop()
        if self.pool is not None:
            await self.pool.close()
        self.sender = self.runner = self.pool = None

    async def halt(self) -> None:
        """Stop as a crash would: nothing finished, nothing put back, every connection
        cut (its claims are then another sender's to recover)."""
        if self.pool is not None:
            self.pool.terminate()
        if self.sender is not None:
            await self.sender.abort()
        if self.runner is not None:
            with contextlib.suppress(Exception):
                await self.runner.stop()
        self.sender = self.runner = self.pool = None
