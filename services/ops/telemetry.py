"""Per request, around the whole Litestar application (routing included, so an unknown
path is measured too): the duration histogram, the intake counter and one access log
line naming the actor, the route template, the case and the status.

Wrapped around `Litestar.asgi_handler`, outside routing and authentication: both write
into the request's scope (`path_template`, `path_params`, `user`), which is read here
after the request ran. An intake's new case id is in its response body only; that body
(a few hundred bytes, no personal data: `{id, tracking_number, status...}`) is read for
the intake routes alone."""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from services.domain.actors import Actor
from services.ops import metrics
from services.ops.logs import ACCESS, FIELDS

log = logging.getLogger(ACCESS)

INTAKE_ROUTES = {
    "/applications": "application",
    "/complaints": "complaint",
    "/surveys/responses": "survey",
}
"""POST route templates that take intake, and their case type."""
CASE_ID_PARAMS = ("case_id", "id")
"""Path parameters that name a case."""
MAX_CAPTURED = 64 * 1024


class RequestTelemetry:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        captured = bytearray()
        intake: str | None = None

        async def sending(message: Message) -> None:
            nonlocal status, intake
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if scope.get("method") == "POST" and status in (200, 201):
                    intake = INTAKE_ROUTES.get(str(scope.get("path_template", "")))
            elif intake is not None and len(captured) < MAX_CAPTURED:
                body = message.get("body", b"")
                if isinstance(body, bytes):
                    captured.extend(body)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.record(scope, status, time.perf_counter() - started, bytes(captured))

    @staticmethod
    def record(scope: Scope, status: int, seconds: float, body: bytes) -> None:
        route = str(scope.get("path_template") or "unmatched")
        method = str(scope.get("method", ""))
        metrics.observe_request(route, method, status, seconds)
        user = scope.get("user")
        actor = user if isinstance(user, Actor) else None
        case_type = INTAKE_ROUTES.get(route) if method == "POST" else None
        if case_type is not None:
            metrics.count_intake(case_type, actor.channel if actor else None, status)
        fields: dict[str, Any] = {
            "method": method, "route": route, "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "actor": actor.id if actor else None, "role": actor.role if actor else None,
            "case_id": _case_id(scope, body)}
        log.info("request", extra={FIELDS: fields})


def _case_id(scope: Scope, body: bytes) -> str | None:
    params = scope.get("path_params") or {}
    for name in CASE_ID_PARAMS:
        if name in params:
            return str(params[name])
    if body:
        try:
            answer = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return None
        if isinstance(answer, dict) and answer.get("id") is not None:
            return str(answer["id"])
    return None
