"""The one name for "a Postgres connection" in signatures.

asyncpg hands out two kinds: a direct `Connection` and, from a pool, a `PoolConnectionProxy`
that forwards every call to one. Functions that only run queries take either."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
