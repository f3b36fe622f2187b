"""HTTP plumbing shared by every service: one mapping from errors to status codes, the
bearer-token middleware and dependency, and the intake rate-limit guard.

Order on every request: 401 (no, bad, expired or revoked token: the middleware, before the
body is read) → 429 (intake over budget: a guard, still before the body) → 400/413/422
(the body) → 403 (the role may never do this) → 404 (unknown, or outside the token's unit
or channel) → 403 (the case's tier) → 409 (the case's state)."""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import ClientException, HTTPException
from litestar.handlers.base import BaseRouteHandler

from services.domain.actors import Actor
from services.domain.errors import (
    ConcurrencyConflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    RuleViolation,
)
from services.http.ratelimit import RateLimited, TokenBuckets
from services.infra.json_depth import MAX_DEPTH, nesting_exceeds
from services.infra.tokens import MissingToken, Unauthenticated
from services.infra.unavailable import (
    CONNECTION_FAILURES,
    RETRY_AFTER_SECONDS,
    is_connection_failure,
    unreachable_server,
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


def overflow_handler(_: Request[Any, Any, Any], exc: OverflowError) -> Response[dict[str, Any]]:
    # Only input drives a computation off the calendar or past a numeric range (a year
    # 9999 plus a deadline): the request is at fault, and nothing was written.
    return error_response(422, f"a date or number in the request is out of range: {exc}",
                          {"rule": "out_of_range"})


def unauthenticated_handler(_: Request[Any, Any, Any], exc: Unauthenticated,
                            ) -> Response[dict[str, Any]]:
    # RFC 6750 §3: no error code when the request carried no token at all.
    challenge = 'Bearer realm="ptsp"' if isinstance(exc, MissingToken) else (
        f'Bearer realm="ptsp", error="invalid_token", error_description="{exc}"')
    return error_response(401, str(exc), headers={"WWW-Authenticate": challenge})


def rate_limited_handler(_: Request[Any, Any, Any], exc: RateLimited) -> Response[dict[str, Any]]:
    retry_after = max(1, math.ceil(exc.retry_after))
    return error_response(429, str(exc), {"channel": exc.key, "retry_after": retry_after},
                          headers={"Retry-After": str(retry_after)})


_FIELD_FIRST = re.compile(r"^(?P<field>[a-z_][a-z0-9_]*): ")


def _name_the_field(problem: Any) -> Any:
    """A request Struct's `__post_init__` says `field: reason`; msgspec reports it at the
    Struct itself (Litestar's key `data` for the body), so the key gets the field."""
    if not isinstance(problem, dict) or not isinstance(problem.get("message"), str):
        return problem
    match = _FIELD_FIRST.match(problem["message"])
    if match is None:
        return problem
    key = problem.get("key")
    at = match["field"] if key in (None, "", "data") else f"{key}.{match['field']}"
    return {**problem, "key": at}


def http_exception_handler(_: Request[Any, Any, Any], exc: HTTPException,
                           ) -> Response[dict[str, Any]]:
    extra = exc.extra or {}
    if isinstance(extra, list):
        extra = [_name_the_field(problem) for problem in extra]
    return error_response(exc.status_code, exc.detail, extra, headers=exc.headers)


def unavailable_response(request: Request[Any, Any, Any], exc: BaseException,
                         ) -> Response[dict[str, Any]]:
    server = unreachable_server(exc)
    log.error("%s unreachable on %s %s: %s: %s", server, request.method, request.url.path,
              type(exc).__name__, exc)
    return error_response(
        503, f"{server} is unreachable; retry later",
        {"rule": "unavailable", "retry_after": RETRY_AFTER_SECONDS},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception,
                           ) -> Response[dict[str, Any]]:
    # Postgres or NATS gone shows up as many exception types, from any layer and often
    # wrapped: all of them are 503, so a client that retries on 503 loses nothing.
    if is_connection_failure(exc):
        return unavailable_response(request, exc)
    # The trace goes to the log, never to the client.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error; it has been logged")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: domain_error_handler,
    Unauthenticated: unauthenticated_handler,
    RateLimited: rate_limited_handler,
    HTTPException: http_exception_handler,
    OverflowError: overflow_handler,
    # Named too (not only via Exception), so a handler registered for a base class
    # such as OSError or RuntimeError elsewhere cannot turn them into 500.
    **dict.fromkeys(CONNECTION_FAILURES, unavailable_response),
    Exception: internal_error_handler,
}


def _nul_at(value: Any, path: str) -> str | None:
    """Where the first NUL character is in decoded JSON, as `a.b[2]`; None: nowhere."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return f"{path}.{key!r}".lstrip(".")
        where = _nul_at(item, f"{path}[{key}]" if isinstance(key, int)
                        else f"{path}.{key}".lstrip("."))
        if where is not None:
            return where
    return None


async def refuse_nul(request: Request[Any, Any, Any]) -> None:
    """Before every handler: no text field takes a NUL character. Postgres cannot store
    one in text or jsonb, so a case carrying it would stop every read model that
    projects it; refused here, at the door, it names where it was. And no body nests
    deeper than MAX_DEPTH: decoding it (and every walk over it) recurses per level."""
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise InvalidInput(name, "contains a NUL character (\\u0000), which no field takes")
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    body = await request.body()  # cached: the handler's body parsing reads it again
    if nesting_exceeds(body):
        raise ClientException(
            detail=f"the JSON body nests arrays and objects deeper than {MAX_DEPTH} levels, "
                   f"the limit", extra={"rule": "nesting_too_deep", "limit": MAX_DEPTH})
    if b"\\u0000" not in body and b"\x00" not in body:
        return
    try:
        where = _nul_at(msgspec.json.decode(body), "")
    except msgspec.DecodeError:
        return  # malformed JSON: the body parser answers 400
    if where is not None:
        raise InvalidInput(where or "body",
                           "contains a NUL character (\\u0000), which no field takes")


async def intake_quota(connection: ASGIConnection[Any, Any, Any, Any],
                       _: BaseRouteHandler) -> None:
    """Guard on intake routes that have other guards (Open311): `charge_intake`. A
    coroutine although it never waits: Litestar runs a plain function guard on a worker
    thread, a thread hop on every intake request."""
    charge_intake(connection)


async def intake_gate(request: Request[Any, Any, Any]) -> None:
    """Before the intake handlers: `charge_intake`, then the door's checks (`refuse_nul`,
    which reads the body). A before-request hook rather than a guard: Litestar hands each
    guard its own copy of the route handler, made on every request (a twentieth of an
    HTTP worker's time under intake load, `bench/intake.py --profile`)."""
    charge_intake(request)
    await refuse_nul(request)


def charge_intake(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """One token bucket per channel (per actor for other roles, who are refused anyway),
    taken before the body is read; 429 when it is empty."""
    actor = connection.scope.get("user")
    if not isinstance(actor, Actor):
        return
    limiter: TokenBuckets = connection.app.state.intake_limiter
    limiter.take(actor.channel if actor.role == "channel" and actor.channel
                 else f"{actor.role}:{actor.id}")
