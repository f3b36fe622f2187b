"""HTTP plumbing shared by every service: one mapping from errors to status codes, and
the bearer-token dependency."""

from __future__ import annotations

import logging
from typing import Any

from eventsourcing.persistence import OperationalError
from litestar import Request, Response
from litestar.exceptions import HTTPException

from services.kernel.actors import Actor
from services.kernel.auth import TokenIssuer, Unauthenticated
from services.kernel.errors import (
    ConcurrencyConflict, DomainError, Forbidden, InvalidInput, NotFound, RuleViolation,
)

log = logging.getLogger("ptsp.http")


def error_response(status: int, detail: str, extra: dict[str, Any] | list[Any] | None = None,
                   headers: dict[str, str] | None = None) -> Response[dict[str, Any]]:
    return Response({"status_code": status, "detail": detail, "extra": extra or {}},
                    status_code=status, headers=headers)


STATUS_OF: list[tuple[type[Exception], int]] = [
    (InvalidInput, 422), (NotFound, 404), (Forbidden, 403),
    (ConcurrencyConflict, 409), (RuleViolation, 409), (DomainError, 409),
]


def domain_error_handler(_: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    status = next(code for cls, code in STATUS_OF if isinstance(exc, cls))
    return error_response(status, exc.detail, {"rule": exc.rule, **exc.extra})


def unauthenticated_handler(_: Request[Any, Any, Any], exc: Unauthenticated) -> Response[dict[str, Any]]:
    return error_response(401, str(exc), headers={"WWW-Authenticate": "Bearer"})


def http_exception_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    return error_response(exc.status_code, exc.detail, exc.extra or {}, headers=exc.headers)


def store_unavailable_handler(_: Request[Any, Any, Any], exc: OperationalError) -> Response[dict[str, Any]]:
    log.error("event store unavailable: %s", exc)
    return error_response(503, "the event store is unavailable; nothing was written, retry later",
                          headers={"Retry-After": "5"})


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    # The trace goes to the log, never to the client.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error; it has been logged")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: domain_error_handler,
    Unauthenticated: unauthenticated_handler,
    HTTPException: http_exception_handler,
    OperationalError: store_unavailable_handler,
    Exception: internal_error_handler,
}


async def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    """Every call but the public reads needs `Authorization: Bearer <token>`."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("missing bearer token (Authorization: Bearer <token>)")
    issuer: TokenIssuer = request.app.state.tokens
    return issuer.authenticate(token.strip())
