"""Which failures mean "a server we need cannot be reached now" (HTTP 503, retry later),
as opposed to a fault of ours (500).

Postgres and NATS fail in many shapes: asyncpg's connection and shutdown errors, a
closed pool, the socket's own `ConnectionRefusedError` or a bare `OSError("Multiple
exceptions: ... Connect call failed")` when a name resolves to several addresses,
eventsourcing's wrapped psycopg `OperationalError`, nats-py's closed or missing
connection. A client that retries on 503 must see every one of them as 503: the same
request works once the server is back (intake is idempotent on its external id).
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator

import asyncpg
import nats.errors
import nats.js.errors
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError

RETRY_AFTER_SECONDS = 5
DATABASE = "the database"
NATS = "the message server (NATS)"


class Unavailable(RuntimeError):
    """A server this request needs is unreachable now."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is unreachable; retry later")
        self.what = what


# Exceptions that always mean the connection or the server is gone.
CONNECTION_FAILURES: tuple[type[BaseException], ...] = (
    Unavailable,
    ConnectionError,           # refused, reset, aborted, broken pipe
    TimeoutError,              # includes asyncio's, nats-py's and eventsourcing's pool timeout
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin/crash shutdown, cannot connect now
    asyncpg.exceptions.TooManyConnectionsError,
    # The protocol's state machine left mid-operation when the server went away ("cannot
    # switch to state 12; another operation (2) is in progress": MagicStack/asyncpg#1069);
    # the pool drops that connection, and a retry gets a fresh one.
    asyncpg.exceptions._base.InternalClientError,
    StoreOperationalError,
    StoreInterfaceError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionDrainingError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.NoServersError,
    nats.errors.NoRespondersError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.js.errors.ServiceUnavailableError,
)

_NETWORK_ERRNOS = frozenset({
    errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EHOSTUNREACH,
    errno.ENETUNREACH, errno.ENETDOWN, errno.ETIMEDOUT, errno.EPIPE, errno.EADDRNOTAVAIL,
})


def is_connection_failure(exc: BaseException) -> bool:
    """True when `exc`, or an exception it was raised from, says a server is unreachable."""
    return any(_names_a_lost_connection(e) for e in _chain(exc))


@contextlib.contextmanager
def reaching(what: str) -> Iterator[None]:
    """Inside: a lost connection surfaces as `Unavailable(what)`, naming the server."""
    try:
        yield
    except Unavailable:
        raise
    except Exception as exc:
        if is_connection_failure(exc):
            raise Unavailable(what) from exc
        raise


def unreachable_server(exc: BaseException) -> str:
    """Which server the failure names, for the client's message and the log."""
    for current in _chain(exc):
        if isinstance(current, Unavailable):
            return current.what
        if isinstance(current, nats.errors.Error):
            return NATS
    return DATABASE


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and those it was raised from or during, each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _names_a_lost_connection(exc: BaseException) -> bool:
    if isinstance(exc, CONNECTION_FAILURES):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        # "pool is closing", "connection is closed"; not a misuse such as "another
        # operation is in progress", which is a fault of ours.
        text = str(exc)
        return "clos" in text and ("pool" in text or "connection" in text)
    if isinstance(exc, OSError):
        # asyncio reports several failed addresses as one bare OSError without errno.
        return exc.errno in _NETWORK_ERRNOS or "Connect call failed" in str(exc)
    return False
