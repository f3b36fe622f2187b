"""A server out of reach is 503 with Retry-After, whatever shape the failure takes and
however deep it is wrapped; a fault of ours stays 500. (The same against a real
Postgres killed under load: tests/e2e/test_database_outage.py.)"""

from __future__ import annotations

import errno

import asyncpg
import nats.errors
import pytest
from eventsourcing.persistence import OperationalError
from litestar import Litestar, get
from litestar.testing import TestClient

from services.http.errors import EXCEPTION_HANDLERS
from services.infra.unavailable import (
    Unavailable,
    is_connection_failure,
    reaching,
    unreachable_server,
)


def wrapped(outer: Exception, inner: Exception) -> Exception:
    """`outer` raised from `inner`, as a layer that wraps what it caught would."""
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize("exc", [
    ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('127.0.0.1', 5)"),
    OSError("Multiple exceptions: [Errno 111] Connect call failed ('::1', 5), "
            "[Errno 111] Connect call failed ('127.0.0.1', 5)"),
    OSError(errno.EHOSTUNREACH, "No route to host"),
    TimeoutError(),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.AdminShutdownError("terminating connection"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
    asyncpg.InterfaceError("pool is closing"),
    asyncpg.exceptions._base.InternalClientError("cannot switch to state 12"),
    OperationalError("connection failed: Connection refused"),
    nats.errors.NoServersError(),
    nats.errors.ConnectionClosedError(),
    wrapped(RuntimeError("the vault could not load a key"), ConnectionRefusedError()),
], ids=lambda e: type(e).__name__)
def test_lost_connections_are_recognised(exc: Exception) -> None:
    assert is_connection_failure(exc)


@pytest.mark.parametrize("exc", [
    FileNotFoundError(errno.ENOENT, "keys/office-ed25519.pem"),
    PermissionError(errno.EACCES, "denied"),
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
    asyncpg.exceptions.UniqueViolationError("duplicate key"),
    ValueError("bad"),
    nats.errors.BadSubjectError(),
], ids=lambda e: type(e).__name__)
def test_faults_of_ours_are_not(exc: Exception) -> None:
    assert not is_connection_failure(exc)


def test_reaching_names_the_server() -> None:
    with pytest.raises(Unavailable, match="the vault is unreachable") as caught, \
            reaching("the vault"):
        raise ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    with pytest.raises(ValueError), reaching("the vault"):
        raise ValueError("not a connection problem")
    assert unreachable_server(nats.errors.NoServersError()) == "the message server (NATS)"


@get("/boom/{kind:str}", sync_to_thread=False)
def boom(kind: str) -> None:
    raise {
        "pg": asyncpg.exceptions.CannotConnectNowError("starting up"),
        "refused": wrapped(RuntimeError("key lookup"), ConnectionRefusedError(111, "x")),
        "nats": nats.errors.NoServersError(),
        "store": OperationalError("server closed the connection unexpectedly"),
        "bug": KeyError("oops"),
        "file": FileNotFoundError(2, "no such file"),
    }[kind]


@pytest.mark.parametrize(("kind", "status", "server"), [
    ("pg", 503, "the database"), ("refused", 503, "the database"),
    ("nats", 503, "the message server (NATS)"), ("store", 503, "the database"),
    ("bug", 500, None), ("file", 500, None),
])
def test_every_route_maps_them_to_503_with_retry_after(kind: str, status: int,
                                                      server: str | None) -> None:
    app = Litestar(route_handlers=[boom], exception_handlers=EXCEPTION_HANDLERS)
    with TestClient(app) as client:
        r = client.get(f"/boom/{kind}")
    assert r.status_code == status
    if server is not None:
        assert int(r.headers["retry-after"]) >= 1
        assert r.json()["detail"] == f"{server} is unreachable; retry later"
    else:
        assert "retry-after" not in r.headers
