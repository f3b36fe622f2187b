"""Counts a read model keeps beside its rows, moved in the same transaction as they are."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import asyncpg

from projections.doc_table import batch_insert, columns_of

K = TypeVar("K", bound=tuple[Any, ...])


async def add_counts(conn: asyncpg.Connection, table: str, key: str,
                     moves: Mapping[K, int]) -> None:
    """Add each move (key values → how many more, or fewer) to `table`, whose primary key
    is `key` (its columns, in order) and whose last column is the count `n`. A count
    back at zero stays as a row with `n = 0`: readers treat it as absent."""
    # Sorted: concurrent writers lock the rows they share in one order (an INSERT takes
    # the rows as `unnest` yields them). One statement a batch: each key is there once.
    changed = [(*k, n) for k, n in sorted(moves.items(), key=lambda kv: str(kv[0])) if n]
    if not changed:
        return
    statement = await batch_insert(conn, table, None,
                                   f"ON CONFLICT ({key}) DO UPDATE SET n = {table}.n + excluded.n")
    await conn.execute(statement, *columns_of(changed))
