"""Who is signed in to the console, and whether a form really comes from them.

Every console route but the sign-in page and the static files is guarded by
`signed_in`: the session cookie must name a live session (`services.console.sessions`)
of a person the staff register still holds as active — checked on every request, so
disabling someone (`ptsp staff disable`) ends their sessions at their next click — and
every POST must carry the session's CSRF token (form field `csrf_token`, or the header
`X-CSRF-Token` for htmx). The sign-in form, before any session exists, carries a token
bound by HMAC to a random cookie of its own (a signed double submit).

The person's role, unit and tier come from the staff register at each request and make
the same `Actor` a bearer token makes, so the console runs every step through the same
policy (`services.domain.policy`) and the same command path (`CaseService.execute`) as
the API: a forged POST is refused the same way.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, cast

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler

from contracts.staff import StaffMember
from contracts.vocabulary import FIRST_TIER
from services.console.sessions import LockoutPolicy, Session, SessionPolicy, Sessions
from services.domain.actors import Actor
from services.infra.signing import secret_bytes
from services.staff.passwords import check_password

if TYPE_CHECKING:
    from services.runtime import System

SESSION_COOKIE = "ptsp_console"
PRE_COOKIE = "ptsp_console_pre"
"""Before sign-in: the random value the sign-in form's CSRF token is bound to."""
LANGUAGE_COOKIE = "ptsp_console_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
PATH = "/console"
PUBLIC = "console_public"
"""A console route's opt key: reachable without a session (sign-in, static files)."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotSignedIn(Exception):
    """No live session: the console answers with the sign-in page."""


class CsrfRefused(Exception):
    """A POST without the right CSRF token (HTTP 403)."""


class SignIn(Enum):
    OK = "ok"
    WRONG = "wrong"
    """Unknown id or wrong password: the same answer."""
    LOCKED = "locked"
    DISABLED = "disabled"


@dataclass(frozen=True)
class StaffUser:
    """The person behind a console request."""

    member: StaffMember
    session: Session

    @property
    def actor(self) -> Actor:
        """As a bearer token of the same person would make it."""
        m = self.member
        tier = m.tier or (FIRST_TIER if m.role == "officer" else None)
        return Actor(id=m.actor, role=m.role, unit=m.unit, tier=tier)

    @property
    def csrf(self) -> str:
        return self.session.csrf


class Console:
    """The console's part of the running system: sessions, lockout and CSRF secrets."""

    def __init__(self, system: System, sessions: Sessions | None = None) -> None:
        settings = system.settings
        self.system = system
        self.sessions = sessions or Sessions(SessionPolicy(
            idle=timedelta(minutes=settings.console_idle_minutes),
            lifetime=timedelta(hours=settings.console_session_hours)), LockoutPolicy())
        self._secret = secret_bytes(settings.keys_dir / "console-csrf.key")
        self._installed = False

    @property
    def pool(self) -> Any:
        pool = self.system.pool
        assert pool is not None, "the system is started before the console serves"
        return pool

    async def ready(self) -> None:
        """Its tables exist (made at the first request of each process)."""
        if not self._installed:
            async with self.pool.acquire() as conn:
                await Sessions.install(conn)
            self._installed = True

    # -- sign-in -------------------------------------------------------------------------
    async def sign_in(self, actor: str, password: str) -> tuple[SignIn, str | None]:
        """Check a password: the outcome, and the new session's cookie value on success."""
        await self.ready()
        member = await self.system.staff.member(actor)
        async with self.pool.acquire() as conn:
            if await self.sessions.locked(conn, actor):
                return SignIn.LOCKED, None
            # An unknown id costs the same as a wrong password (a decoy hash is checked).
            right = await check_password(conn, actor, password) and member is not None
            if not right:
                after = await self.sessions.record_failure(conn, actor)
                return (SignIn.LOCKED if after.locked_until is not None else SignIn.WRONG), None
            await Sessions.clear_failures(conn, actor)
            assert member is not None
            if not member.active:
                return SignIn.DISABLED, None
            session_id, _ = await self.sessions.create(conn, actor)
        return SignIn.OK, session_id

    async def sign_out(self, session_id: str) -> None:
        await self.ready()
        async with self.pool.acquire() as conn:
            await self.sessions.end(conn, session_id)

    async def current(self, session_id: str | None) -> StaffUser | None:
        """The signed-in person of this cookie value, if the session lives and the staff
        register still holds them as active (a disabled person's sessions all end)."""
        if not session_id:
            return None
        await self.ready()
        async with self.pool.acquire() as conn:
            session = await self.sessions.resume(conn, session_id)
            if session is None:
                return None
            member = await self.system.staff.member(session.actor)
            if member is None or not member.active:
                await Sessions.end_all(conn, session.actor)
                return None
        return StaffUser(member=member, session=session)

    # -- CSRF before sign-in -----------------------------------------------------------------
    def pre_token(self, pre: str) -> str:
        """The sign-in form's token, bound to its own random cookie."""
        return hmac.new(self._secret, b"console-sign-in:" + pre.encode(),
                        hashlib.sha256).hexdigest()

    def pre_token_valid(self, pre: str | None, presented: str | None) -> bool:
        return bool(pre and presented) and hmac.compare_digest(
            self.pre_token(cast(str, pre)), cast(str, presented))

    def secure_cookies(self, request: ASGIConnection[Any, Any, Any, Any]) -> bool:
        """`Secure` behind TLS: the public URL is https, or the request came over https
        (uvicorn takes `X-Forwarded-Proto` only from the proxies `FORWARDED_ALLOW_IPS`
        names)."""
        return (self.system.settings.base_url.startswith("https://")
                or request.url.scheme == "https")


def console_of(state: State) -> Console:
    """The app's console, made at its first use (every HTTP worker has its own)."""
    console = state.get("console")
    if console is None:
        console = state["console"] = Console(state.system)
    return cast(Console, console)


async def presented_token(request: Request[Any, Any, Any]) -> str | None:
    """The CSRF token a POST carries: the htmx header, or the form field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    form = await request.form()
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else None


async def signed_in(connection: ASGIConnection[Any, Any, Any, Any],
                    handler: BaseRouteHandler) -> None:
    """The guard of every console route (see the module's docstring)."""
    console = console_of(connection.app.state)
    request = cast("Request[Any, Any, Any]", connection)
    unsafe = connection.scope.get("method", "GET") not in SAFE_METHODS
    if handler.opt.get(PUBLIC):
        if unsafe and not console.pre_token_valid(connection.cookies.get(PRE_COOKIE),
                                                  await presented_token(request)):
            # The session's own token is good too (the language switch when signed in).
            user = await console.current(connection.cookies.get(SESSION_COOKIE))
            if user is None or not hmac.compare_digest(
                    user.csrf, await presented_token(request) or ""):
                raise CsrfRefused("the form's security token is missing or out of date")
        return
    user = await console.current(connection.cookies.get(SESSION_COOKIE))
    if user is None:
        raise NotSignedIn()
    if unsafe and not hmac.compare_digest(user.csrf, await presented_token(request) or ""):
        raise CsrfRefused("the form's security token is missing or out of date")
    connection.state.console_user = user


async def provide_user(request: Request[Any, Any, Any]) -> StaffUser:
    """The person `signed_in` found."""
    user = getattr(request.state, "console_user", None)
    if not isinstance(user, StaffUser):
        raise NotSignedIn()
    return user
