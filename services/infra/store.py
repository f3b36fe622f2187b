"""Event store wiring: eventsourcing on Postgres, configured from a DATABASE_URL."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import ClassVar
from urllib.parse import parse_qs, unquote, urlparse
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Transcoding
from eventsourcing.utils import Environment


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


LOCK_TIMEOUT_SECONDS = 5
"""A writer waits at most this long for an events table's lock, then gives up (503)."""

POOL_SIZE, MAX_OVERFLOW = 0, 1
"""eventsourcing's own psycopg connections, per store: none kept open, at most 1. Events
are written and cases loaded over asyncpg (services/infra/eventtable.py); eventsourcing
creates the tables and serves the few reads left to its repository (the office calendar,
survey responses)."""


def eventsourcing_env(database_url: str, pool_size: int = POOL_SIZE,
                      max_overflow: int = MAX_OVERFLOW) -> dict[str, str]:
    """Translate a DATABASE_URL into eventsourcing's POSTGRES_* settings. A unix socket
    directory may be given as `?host=/dir` (as libpq allows)."""
    url = urlparse(database_url)
    if url.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, not {url.scheme}://")
    query = parse_qs(url.query)
    host = query.get("host", [url.hostname or "127.0.0.1"])[0]
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(url.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(max_overflow),
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "POSTGRES_PRE_PING": "y",
        "POSTGRES_LOCK_TIMEOUT": str(LOCK_TIMEOUT_SECONDS),
        "CREATE_TABLE": "y",
    }


class EventStoreApplication(Application[UUID]):
    """Base of every eventsourcing Application in the project: dates transcode, and the
    infrastructure comes from the constructor's env, never from os.environ."""

    env: ClassVar[dict[str, str]] = {}

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        merged = dict(type(self).env)
        if env is not None:
            merged.update(env)
        return Environment(name, merged)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
