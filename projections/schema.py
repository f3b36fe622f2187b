"""A read model's tables as an earlier version of the code left them.

A read model is a cache of the event store: when this version reads a column or a table
an older one did not write, the old tables are dropped together with the model's
tracking rows, and the projection runner folds the model again from the first event
(what JetStream no longer holds it reads from the event store). On a large store
`ptsp projections rebuild` does the same faster, in one transaction per read model.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg


async def drop_if_outdated(conn: asyncpg.Connection, projection: str, main: str,
                           needed: Sequence[tuple[str, str]], drop: str) -> bool:
    """If `main` exists but one of the (table, column) pairs in `needed` does not, run
    `drop` and forget the model's tracked positions. True when it did."""
    if await conn.fetchval("SELECT to_regclass($1)", main) is None:
        return False
    for table, column in needed:
        present = await conn.fetchval(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = $1 AND column_name = $2", table, column)
        if not present:
            await conn.execute(drop)
            if await conn.fetchval("SELECT to_regclass('projection_positions')") is not None:
                await conn.execute("DELETE FROM projection_positions WHERE projection = $1",
                                   projection)
            return True
    return False
