"""Bearer authentication: every route needs a token unless it opts out."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from services.domain.actors import Actor
from services.infra.tokens import MissingToken, TokenIssuer


def bearer_actor(issuer: TokenIssuer, authorization: str) -> Actor:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingToken("missing bearer token (Authorization: Bearer <token>)")
    return issuer.authenticate(token.strip())


PUBLIC: list[dict[str, list[str]]] = [{}]
"""OpenAPI `security` of a route with `exclude_from_auth=True`: no token needed."""


class BearerAuthentication(AbstractAuthenticationMiddleware):
    """Every route needs `Authorization: Bearer <token>` unless it opts out with
    `exclude_from_auth=True` (the public reads) or is the OpenAPI schema: secure by
    default, so a new route cannot be left open by forgetting a dependency."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]
                                   ) -> AuthenticationResult:
        issuer: TokenIssuer = connection.app.state.tokens
        actor = bearer_actor(issuer, connection.headers.get("authorization", ""))
        return AuthenticationResult(user=actor, auth=None)


async def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    """The caller, as the middleware authenticated it."""
    user = request.scope.get("user")
    if isinstance(user, Actor):
        return user
    return bearer_actor(request.app.state.tokens, request.headers.get("authorization", ""))
