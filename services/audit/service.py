"""The audit service as the running system holds it: the chain keeper, the checkpoint
file, case histories and verification, wired to one asyncpg pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from services.applications.application import ApplicationService
from services.audit import checkpoints as checkpoint_table
from services.audit.chain import ChainKeeper
from services.audit.checkpoints import Checkpoint, CheckpointLog, HighWater, mirror_file
from services.audit.export import export
from services.audit.history import CaseAudit
from services.audit.verify import verify
from services.audit.views import CaseAsOf
from services.complaints.application import ComplaintService
from services.domain.actors import Actor
from services.infra.eventlog import EventLog, Stream
from services.infra.signing import OfficeKey
from services.settings import Settings

CHECKPOINTS_FILE = "checkpoints.jsonl"
HIGH_WATER_FILE = "high-water.json"


class AuditService:
    def __init__(self, pool: asyncpg.Pool, eventlog: EventLog, checkpoints: CheckpointLog,
                 key: OfficeKey | None, cases: CaseAudit,
                 keeper: ChainKeeper | None = None,
                 high_water: HighWater | None = None) -> None:
        self.pool = pool
        self.eventlog = eventlog
        self.checkpoints = checkpoints
        self.key = key
        self.cases = cases
        self.keeper = keeper
        self.high_water = high_water

    @classmethod
    def of(cls, settings: Settings, pool: asyncpg.Pool, streams: list[Stream],
           office_key: OfficeKey, applications: ApplicationService,
           complaints: ComplaintService, database_url: str,
           keep: bool = True) -> AuditService:
        """The system's audit service; `keep`: also append to the chain and sign
        checkpoints (the running system), else only read (the `ptsp audit` commands)."""
        eventlog = EventLog(pool, streams)
        checkpoints = CheckpointLog(Path(settings.audit_dir) / CHECKPOINTS_FILE,
                                    mirror=mirror_file(settings.checkpoint_mirror))
        high_water = HighWater(Path(settings.audit_dir) / HIGH_WATER_FILE)
        keeper = None
        if keep:
            keeper = ChainKeeper(pool, eventlog, checkpoints, office_key,
                                 every_events=settings.audit_checkpoint_events,
                                 every_seconds=settings.audit_checkpoint_seconds,
                                 listen_url=database_url, high_water=high_water)
        cases = CaseAudit(pool, eventlog, applications, complaints,
                          catch_up=keeper.catch_up if keeper else None)
        return cls(pool, eventlog, checkpoints, office_key, cases, keeper, high_water)

    async def start(self) -> None:
        if self.keeper is not None:
            await self.keeper.start()

    async def stop(self) -> None:
        if self.keeper is not None:
            await self.keeper.stop()

    @property
    def alarm(self) -> str | None:
        """Why the chain keeper stopped (the chain was found shortened or rewritten below
        its high-water mark), or None. In a process without the keeper: the alarm the
        last signed checkpoint carries, if it carries one."""
        if self.keeper is not None and self.keeper.alarm is not None:
            return self.keeper.alarm
        last = self.checkpoints.last()
        return str(last["alarm"]) if last is not None and last.get("alarm") else None

    async def verify(self, allow_missing_checkpoints: bool = False) -> dict[str, Any]:
        if self.keeper is not None:
            await self.keeper.catch_up()  # what was stored until now is checked, not pending
        return await verify(self.pool, self.eventlog, self.checkpoints, self.key,
                            allow_missing=allow_missing_checkpoints,
                            high_water=self.high_water,
                            alarm=self.keeper.alarm if self.keeper is not None else None)

    async def history(self, case_id: UUID) -> list[dict[str, Any]]:
        return await self.cases.history(case_id)

    async def state(self, case_id: UUID, as_of: str | None, actor: Actor) -> CaseAsOf:
        return await self.cases.state(case_id, as_of, actor)

    async def export(self, case_id: UUID | None = None) -> AsyncIterator[dict[str, Any]]:
        """The chain as JSON lines; a case's with its ties to the signed checkpoints."""
        signed: list[Checkpoint] = []
        if case_id is not None and self.key is not None:
            signed = await checkpoint_table.signed(self.pool, self.checkpoints, self.key)
        async for line in export(self.pool, self.eventlog, case_id, signed):
            yield line
