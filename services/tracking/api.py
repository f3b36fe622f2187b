"""`GET /track/{tracking_number}?pin=PIN` (public): a case as its holder sees it, as JSON
or, for `Accept: text/html`, a small page in Bahasa Indonesia.

An unknown number and a wrong PIN answer the same 404 (the same body, JSON or page).
Attempts are throttled per client address and per tracking number (token buckets in
each process, `services/http/ratelimit.py`): 429 with `Retry-After`. The PIN travels in
the query string, so the answer is never cached (`Cache-Control: no-store`) and the page
sends no referrer; the access log names the route template, never the path or the query
(services/ops/logs.py).
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import cache
from typing import Annotated, Any

from babel.dates import format_date, format_time
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from services.cases.routes import ErrorBody
from services.domain.clock import JAKARTA
from services.domain.errors import InvalidInput
from services.http.auth import PUBLIC
from services.http.errors import error_response
from services.http.ratelimit import RateLimited, TokenBuckets
from services.infra.tracking_key import normalized
from services.tracking.lookup import Tracker
from services.tracking.texts import KIND_TEXT
from services.tracking.views import Tracking

ATTEMPTS_PER_NUMBER = 10
"""At once, on one tracking number; then one more every `SECONDS_PER_NUMBER_ATTEMPT`. A
PIN has 10^8 values: guessing one takes decades at this pace."""
SECONDS_PER_NUMBER_ATTEMPT = 30.0
ATTEMPTS_PER_ADDRESS = 60
"""At once, from one client address; then one a second."""
ATTEMPTS_PER_ADDRESS_PER_SECOND = 1.0
MAX_KEYS = 100_000
"""Buckets kept per kind at most (memory; services/http/ratelimit.py)."""

NOT_FOUND = "no case has this tracking number with this PIN"
"""The one 404 of an unknown number and of a wrong PIN."""
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class TrackingThrottle:
    """The two budgets every attempt draws on (in the application's state: per process)."""

    def __init__(self) -> None:
        self.by_address = TokenBuckets(ATTEMPTS_PER_ADDRESS_PER_SECOND, ATTEMPTS_PER_ADDRESS,
                                       max_keys=MAX_KEYS)
        self.by_number = TokenBuckets(1.0 / SECONDS_PER_NUMBER_ATTEMPT, ATTEMPTS_PER_NUMBER,
                                      max_keys=MAX_KEYS)

    def take(self, address: str, number: str | None) -> None:
        """RateLimited when either budget is spent; the address's first, so that one
        client cannot spend a number's budget beyond its own. `number`: None for text
        that is no tracking number (it opens nothing; the address pays for it)."""
        self.by_address.take(address)
        if number is not None:
            self.by_number.take(number)


@cache
def _pages() -> Environment:
    return Environment(loader=PackageLoader("services.tracking", "templates"),
                       autoescape=select_autoescape(default=True), undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def when(instant: datetime) -> str:
    """"17 Maret 2026, 09.00 WIB"."""
    local = instant.astimezone(JAKARTA)
    return (f"{format_date(local, format='long', locale='id')}, "
            f"{format_time(local, format='short', locale='id')} WIB")


def page(state: State, status: int, outcome: str, number: str, *,
         tracking: Tracking | None = None, retry_after: int | None = None,
         headers: dict[str, str] | None = None) -> Response[Any]:
    html = _pages().get_template("track.html").render(
        office=state.system.settings.office_name, outcome=outcome, number=number,
        tracking=tracking, kind_text=KIND_TEXT[tracking.kind] if tracking else "",
        retry_after=retry_after, when=when)
    return Response(html, status_code=status, media_type="text/html; charset=utf-8",
                    headers={**PRIVATE_HEADERS, **(headers or {})})


TRACK_ERRORS = {
    404: f"an unknown tracking number or a wrong PIN: the same answer (`{NOT_FOUND}`)",
    422: "no `pin` (for `Accept: text/html`: a page asking for it, 200)",
    429: "too many attempts from this address or on this number (`Retry-After`)",
}


@get("/track/{tracking_number:str}", exclude_from_auth=True, security=PUBLIC,
     tags=["tracking"], operation_id="track_case",
     responses={status: ResponseSpec(data_container=ErrorBody, description=text,
                                     generate_examples=False)
                for status, text in TRACK_ERRORS.items()})
async def track(tracking_number: str, state: State, request: Request[Any, Any, Any],
                pin: Annotated[str | None, Parameter(max_length=32)] = None,
                ) -> Response[Tracking]:
    """Public: where a case stands, for the person holding its tracking number and PIN
    (both from the channel at intake): status and its text in Bahasa Indonesia, the
    deadline while the service's clock runs, the milestones so far. No personal data, no
    staff. `Accept: text/html`: a page (with a PIN form when the PIN is missing)."""
    number = normalized(tracking_number)[:64]
    html = "text/html" in request.headers.get("accept", "")
    if pin is None:
        if html:
            return page(state, 200, "ask", number)
        raise InvalidInput("pin", "give the PIN handed out with the tracking number")
    system = state.system
    key = system.applications.tracking
    try:
        state.tracking_throttle.take(
            request.client.host if request.client else "unknown",
            number if key.id_range(number) is not None else None)
    except RateLimited as exc:
        retry_after = max(1, math.ceil(exc.retry_after))
        headers = {"Retry-After": str(retry_after)}
        if html:
            return page(state, 429, "throttled", number, retry_after=retry_after,
                        headers=headers)
        throttled: Response[Any] = error_response(
            429, "too many tracking attempts; retry later",
            {"rule": "too_many_attempts", "retry_after": retry_after},
            headers={**PRIVATE_HEADERS, **headers})
        return throttled
    assert system.audit is not None and system.pool is not None  # a started system
    tracker = Tracker(key, system.pool, system.audit.eventlog,
                      {"applications": system.applications, "complaints": system.complaints})
    found = await tracker.find(number, pin)
    if found is None:
        if html:
            return page(state, 404, "not_found", number)
        not_found: Response[Any] = error_response(404, NOT_FOUND, {"rule": "not_found"},
                                                  headers=PRIVATE_HEADERS)
        return not_found
    if html:
        return page(state, 200, "found", number, tracking=found)
    return Response(found, headers=PRIVATE_HEADERS)
