"""What the read models kept as one JSON document per aggregate share: the table made
from its DDL, dropped by name, and each batch of events folded into the documents it
touches (`evolve`, pure) before the read model writes them back in its own columns."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import asyncpg

from services.infra.eventlog import LoggedEvent

Doc = dict[str, Any]
Evolve = Callable[[Doc | None, Doc], Doc | None]
"""A pure fold: the document after one event (the event as plain JSON data)."""


class DocTable:
    name: str
    """The table, and the read model's name in the tracking table."""
    streams: tuple[str, ...]
    ddl: str
    key: str = "id"
    """The column holding the aggregate's id."""

    async def create(self, conn: asyncpg.Connection) -> None:
        await conn.execute(self.ddl)

    async def drop(self, conn: asyncpg.Connection) -> None:
        await conn.execute(f"DROP TABLE IF EXISTS {self.name}")

    async def folded(self, conn: asyncpg.Connection, events: Sequence[LoggedEvent],
                     evolve: Evolve) -> dict[str, Doc | None]:
        """The documents the events touch, each read once and folded over its events in
        order; None where the fold keeps no document."""
        data = [e.data for e in events]
        ids = list({UUID(d["case_id"]) for d in data})
        rows = await conn.fetch(
            f"SELECT {self.key}, doc FROM {self.name} WHERE {self.key} = ANY($1::uuid[])", ids)
        docs: dict[str, Doc | None] = {str(r[self.key]): json.loads(r["doc"]) for r in rows}
        for d in data:
            docs[d["case_id"]] = evolve(docs.get(d["case_id"]), d)
        return docs
