"""The one name for "a Postgres connection" in signatures.

asyncpg hands out two kinds: a direct `Connection` and, from a pool, a `PoolConnectionProxy`
that forwards every call to one. Functions that only run queries take either."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


class PooledConnection(asyncpg.Connection):
    """A pool's connection that can say it was used for one statement and nothing else.

    asyncpg resets a connection each time it goes back to its pool: one more round trip
    (`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) after every
    `pool.fetch`, for the write path once per group commit and once per case loaded.
    Connections that took session state (an advisory lock held by the relay, a
    consumer or the notification sender; a LISTEN) need it; a single statement outside
    any transaction, such as the event store's append or a case's load, leaves nothing
    behind. So the reset is skipped for a connection marked `left_clean` by such a
    statement (`fetch_clean`), and done for every other: unmarked, a use is reset as
    before."""

    clean = False
    """Set by `left_clean`, until the connection is back in its pool."""

    def left_clean(self) -> None:
        self.clean = True


async def reset_unless_clean(conn: asyncpg.Connection) -> None:
    """The pools' reset (asyncpg has already rolled back an open transaction and
    dropped the listeners' callbacks): the session's own reset, unless the connection
    was left clean."""
    if isinstance(conn, PooledConnection) and conn.clean:
        conn.clean = False
        return
    query = conn.get_reset_query()
    if query:
        await conn.execute(query)


async def create_pool(dsn: str, *, min_size: int, max_size: int) -> asyncpg.Pool:
    """A pool of `PooledConnection`s, reset only when they may hold session state."""
    return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size,
                                     connection_class=PooledConnection,
                                     reset=reset_unless_clean)


def mark_clean(conn: object) -> None:
    """A pooled connection (or a pool's proxy of one) whose use left no session state:
    it goes back to its pool without the reset round trip. Anything else: nothing."""
    left_clean = getattr(conn, "left_clean", None)  # the proxy forwards to its connection
    if left_clean is not None:
        left_clean()


async def fetch_clean(pool: asyncpg.Pool, query: str,
                      *args: object) -> list[asyncpg.Record]:
    """`pool.fetch` of one statement that leaves no session state (no lock held past
    it, no LISTEN, no SET): its connection goes back without the reset round trip."""
    async with pool.acquire() as conn:
        records: list[asyncpg.Record] = await conn.fetch(query, *args)
        mark_clean(conn)
        return records
