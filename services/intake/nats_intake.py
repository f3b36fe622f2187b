"""Intake over NATS (API.md, "NATS"): a channel service sends the same JSON body as the
HTTP POST as a request on `ptsp.intake.<case-type>.<channel>`.

The reply is what the HTTP call would answer, plus the status code in the body (a NATS
reply has no status line):

    accepted:  {"status_code": 201, "id": ..., "tracking_number": ..., "pin": ..., ...}
               (200: a repeat, with the same body)
    refused:   {"status_code": N, "detail": "...", "extra": {"rule": ..., "field": ...}}

The body after `status_code` is exactly the HTTP response body for that case type
(applications `{id, tracking_number, status, pin}`, complaints `{id, tracking_number, kind,
reason, reasons, pin}`, survey responses `{id}`). Errors: 400 malformed JSON or a body that
does not fit the intake contract (`extra.field` names the field, e.g. `business.kbli`,
`$` for the whole body), 403 the subject's channel is not the body's or does not take
this case type, 404 a case type that has no service, 413 too large, 422 well-formed but
invalid (an unknown service code), 409 a lost race, 503 the event store is down
(retry). Intake is idempotent on `(channel, external_id)` exactly as over HTTP: a repeat
answers 200 with the same case and writes nothing, so a sender retries a request that
timed out freely.

Messages that cannot be read (400, 413), and any refused message that has no reply
subject to tell its sender, are kept in the Postgres table `intake_rejected` for an
operator: never lost silently, and never with the personal data they carry (a redacted
copy of their structure, see services/intake/rejects.py).

Every replica subscribes in one queue group, so N replicas share the load; each message
runs in its own task (at most `max_in_flight` at once) so that concurrent intakes meet in
one group commit. The connection reconnects forever; disconnects are logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import asyncpg
import msgspec
import nats
import nats.errors
from eventsourcing.persistence import OperationalError
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from services.applications.commands import INTAKE as APPLICATION_INTAKE
from services.cases.commands import Intake, IntakeService
from services.complaints.commands import INTAKE as COMPLAINT_INTAKE
from services.domain.actors import ALL_CHANNELS, Actor
from services.domain.errors import DomainError
from services.http.errors import STATUS_OF
from services.http.ratelimit import RateLimited, TokenBuckets
from services.infra.json_depth import MAX_DEPTH, nesting_exceeds
from services.infra.nats_auth import INTAKE, NatsAuth, redacted
from services.intake import rejects
from services.ops import metrics
from services.surveys.commands import INTAKE as SURVEY_INTAKE

log = logging.getLogger("ptsp.intake")

SUBJECT_PREFIX = "ptsp.intake"
QUEUE_GROUP = "ptsp-intake"
CASE_TYPES: tuple[str, ...] = ("application", "complaint", "survey")  # API.md, "NATS"
MAX_IN_FLIGHT = 256
RECONNECT_WAIT_SECONDS = 0.5
STOP_GRACE_SECONDS = 10.0
KEPT_STATUSES = frozenset({400, 413})  # unreadable: an operator should see them



@dataclass(frozen=True)
class CaseType:
    """One case type's intake, as HTTP declares it (`services.cases.commands.Intake`),
    and the service that takes it."""

    intake: Intake
    service: IntakeService

    @property
    def channels(self) -> tuple[str, ...]:
        return self.intake.channels

    @cached_property
    def decoder(self) -> msgspec.json.Decoder[Any]:
        return msgspec.json.Decoder(self.intake.request)


def case_types(applications: Any, complaints: Any = None,
               surveys: Any = None) -> dict[str, CaseType]:
    """The handler table. Complaints and surveys join when their service is given."""
    given = ((APPLICATION_INTAKE, applications), (COMPLAINT_INTAKE, complaints),
             (SURVEY_INTAKE, surveys))
    return {intake.case_type: CaseType(intake, service)
            for intake, service in given if service is not None}


class Rejected(Exception):
    """An intake message refused before it reached the service."""

    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.extra = extra


_AT_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`")


def field_and_reason(message: str) -> tuple[str, str]:
    """From msgspec's "Expected `str`, got `int` - at `$.business.kbli`": the field as a
    dotted path (`$` for the whole body) and the reason."""
    path, reason = "", message
    if m := _AT_PATH.search(message):
        path, reason = m["path"].lstrip("."), message[:m.start()]
    if m := _MISSING.match(reason):
        path = f"{path}.{m['name']}" if path else m["name"]
    return path or "$", reason


def error(status: int, detail: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"status_code": status, "detail": detail, "extra": extra or {}}


class NatsIntake:
    """Answers intake requests on `ptsp.intake.<case-type>.<channel>` (see the module doc)."""

    def __init__(self, url: str, handlers: dict[str, CaseType], *,
                 database_url: str | None = None, max_bytes: int = 1024 * 1024,
                 max_in_flight: int = MAX_IN_FLIGHT, queue: str = QUEUE_GROUP,
                 auth: NatsAuth | None = None, limiter: TokenBuckets | None = None,
                 rejected_retention_days: float = 30.0) -> None:
        self.url = url
        self.auth = auth or NatsAuth()
        self.limiter = limiter
        """Each channel's intake budget, as over HTTP (one per process, like HTTP's)."""
        self.handlers = handlers
        self.database_url = database_url
        self.max_bytes = max_bytes
        self.rejected_retention_days = rejected_retention_days
        self.queue = queue
        self._slots = asyncio.Semaphore(max_in_flight)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._nc: Client | None = None
        self._subs: list[Subscription] = []
        self._pool: asyncpg.Pool | None = None
        self._last_error: tuple[str, float] = ("", 0.0)
        self._stopping = False

    # -- life cycle ----------------------------------------------------------------
    async def start(self) -> None:
        if self.database_url:
            self._pool = await asyncpg.create_pool(self.database_url, min_size=1, max_size=4)
            await self._create_table()
        self._nc = await nats.connect(
            servers=[u.strip() for u in self.url.split(",") if u.strip()],
            name="ptsp-intake",
            max_reconnect_attempts=-1,  # an outage is waited out, however long
            reconnect_time_wait=RECONNECT_WAIT_SECONDS,
            disconnected_cb=self._disconnected, reconnected_cb=self._reconnected,
            error_cb=self._error, closed_cb=self._closed,
            **self.auth.options(self.url, INTAKE),
        )
        for name in CASE_TYPES:
            self._subs.append(await self._nc.subscribe(
                f"{SUBJECT_PREFIX}.{name}.*", queue=self.queue, cb=self._on_message))
        await self._nc.flush()  # the server knows the subscriptions before we are ready
        log.info("NATS intake listening on %s.{%s}.* (queue group %s)", SUBJECT_PREFIX,
                 ",".join(CASE_TYPES), self.queue)

    async def stop(self) -> None:
        """Stop taking messages, let those under way finish and reply, then close."""
        nc = self._nc
        self._stopping = True
        if nc is not None:
            for sub in self._subs:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        sub.drain(),  # type: ignore[no-untyped-call]  # nats-py leaves it unannotated
                        STOP_GRACE_SECONDS)
            self._subs.clear()
            if self._in_flight:
                _, late = await asyncio.wait(set(self._in_flight), timeout=STOP_GRACE_SECONDS)
                for task in late:  # the sender times out and retries: intake is idempotent
                    task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.drain(), STOP_GRACE_SECONDS)  # flushes the replies
            if not nc.is_closed:
                # A connection lost while the server restarts cannot flush on close;
                # there is nothing left to send, so that is not a failure of stop().
                with contextlib.suppress(ConnectionError, OSError):
                    await nc.close()
            self._nc = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _create_table(self) -> None:
        assert self._pool is not None
        async with self._pool.acquire() as conn:
            await rejects.install(conn, self.max_bytes)
        await rejects.purge(self._pool, self.rejected_retention_days)

    # -- connection events ------------------------------------------------------------
    async def _disconnected(self) -> None:
        if self._stopping:
            return
        # Never the URL as given: it may carry the password (logs hold no credentials).
        log.warning("NATS intake disconnected from %s; reconnecting", redacted(self.url))

    async def _reconnected(self) -> None:
        nc = self._nc
        url = nc.connected_url.geturl() if nc is not None and nc.connected_url else self.url
        log.warning("NATS intake reconnected to %s", redacted(url))

    async def _closed(self) -> None:
        log.info("NATS intake connection closed")

    async def _error(self, exc: Exception) -> None:
        # While the server is away every reconnect attempt fails the same way: say it
        # once, then again only every 30 seconds.
        text = f"{type(exc).__name__}: {exc}"
        last, at = self._last_error
        if text != last or time.monotonic() - at > 30:
            log.warning("NATS intake: %s", text)
            self._last_error = (text, time.monotonic())

    # -- messages ---------------------------------------------------------------------
    async def _on_message(self, msg: Msg) -> None:
        # nats-py calls this one message at a time per subscription. Waiting for a slot
        # is the back-pressure; the work itself runs in its own task, so that concurrent
        # intakes are written together by the group committer.
        await self._slots.acquire()
        task = asyncio.create_task(self._handle(msg), name=f"intake {msg.subject}")
        self._in_flight.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slots.release()
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("intake message handling failed", exc_info=exc)

    async def _handle(self, msg: Msg) -> None:
        if (limited := self.over_budget(msg.subject)) is not None:
            # Refused before it is read, and not kept: a flood must not fill a table.
            metrics.count_nats_intake(msg.subject, 429)
            if msg.reply:
                await self._respond(msg.reply, limited)
            return
        reply = await self.answer(msg.subject, msg.data)
        status = reply["status_code"]
        metrics.count_nats_intake(msg.subject, status)
        if status in KEPT_STATUSES or (status >= 400 and not msg.reply):
            await self._keep(msg, status, reply["detail"])
        if msg.reply:
            await self._respond(msg.reply, reply)

    def over_budget(self, subject: str) -> dict[str, Any] | None:
        """The 429 reply when the subject's channel has used its intake budget."""
        if self.limiter is None:
            return None
        channel = subject.rsplit(".", 1)[-1]
        # Only known channels get a bucket of their own: made-up subjects cannot grow
        # the table (they share one, and are refused later anyway).
        key = channel if channel in ALL_CHANNELS else "?"
        try:
            self.limiter.take(key)
        except RateLimited as exc:
            retry_after = max(1, math.ceil(exc.retry_after))
            return error(429, str(exc), {"rule": "rate_limited", "channel": key,
                                         "retry_after": retry_after})
        return None

    async def _respond(self, inbox: str, reply: dict[str, Any]) -> None:
        nc = self._nc
        if nc is None:
            return
        try:
            # Not msg.respond(): that would echo the request's headers into the reply.
            await nc.publish(inbox, msgspec.json.encode(reply))
        except nats.errors.Error as exc:
            # Replies are buffered across a reconnect; if even that fails, the sender
            # times out and retries, and intake is idempotent.
            log.warning("could not reply on %s: %s", inbox, exc)

    async def answer(self, subject: str, data: bytes) -> dict[str, Any]:
        """The reply to one intake message, as a JSON-ready dict with its status_code."""
        try:
            status, body = await self._submit(subject, data)
            return {"status_code": status, **body}
        except Rejected as exc:
            return error(exc.status, exc.detail, exc.extra)
        except DomainError as exc:
            status = next(code for cls, code in STATUS_OF if isinstance(exc, cls))
            return error(status, exc.detail, {"rule": exc.rule, **exc.extra})
        except OperationalError as exc:
            log.error("event store unavailable: %s", exc)
            return error(503, "the event store is unavailable; nothing was written, retry later",
                         {"rule": "store_unavailable", "retry_after": 5})
        except Exception:
            log.exception("unhandled error on intake message %s", subject)
            return error(500, "internal error; it has been logged")

    async def _submit(self, subject: str, data: bytes) -> tuple[int, dict[str, Any]]:
        parts = subject.split(".")
        if len(parts) != 4 or ".".join(parts[:2]) != SUBJECT_PREFIX:
            raise Rejected(404, f"intake subjects are {SUBJECT_PREFIX}.<case-type>.<channel>",
                           rule="unknown_subject")
        name, channel = parts[2], parts[3]
        case_type = self.handlers.get(name)
        if case_type is None:
            raise Rejected(404, f"no such case type yet: {name}", rule="unknown_case_type",
                           case_type=name)
        if channel not in case_type.channels:
            raise Rejected(403, f"channel {channel} does not take {name}s",
                           rule="forbidden", field="channel")
        if len(data) > self.max_bytes:
            raise Rejected(413, f"the message is over {self.max_bytes} bytes",
                           rule="too_large", limit=self.max_bytes)
        if nesting_exceeds(data):
            raise Rejected(400, f"the JSON body nests arrays and objects deeper than "
                                f"{MAX_DEPTH} levels, the limit", rule="nesting_too_deep",
                           limit=MAX_DEPTH)
        try:
            intake = case_type.decoder.decode(data)
        except msgspec.ValidationError as exc:
            field, reason = field_and_reason(str(exc))
            raise Rejected(400, f"{field}: {reason}", rule="invalid_input", field=field,
                           reason=reason) from None
        except msgspec.DecodeError as exc:
            raise Rejected(400, str(exc), rule="malformed_json") from None
        if intake.channel != channel:
            raise Rejected(403, f"subject {subject} submits for channel {channel}, "
                                f"not {intake.channel}", rule="forbidden", field="channel")
        actor = Actor(id=f"nats:{channel}", role="channel", channel=channel)
        answer, created = await case_type.intake.take(case_type.service, intake, actor)
        return (201 if created else 200), msgspec.to_builtins(answer)

    async def _keep(self, msg: Msg, status: int, detail: str) -> None:
        """Store a refused message for an operator (redacted); if even that fails, the log
        has what the table would have had."""
        try:
            if self._pool is None:
                raise RuntimeError("no database for intake_rejected")
            await rejects.keep(self._pool, msg.subject, msg.headers, status, detail, msg.data,
                               self.max_bytes, self.rejected_retention_days)
        except Exception as exc:  # noqa: BLE001 - the log line below is the last resort
            log.error("could not keep a refused intake message (%s) in intake_rejected: %s; "
                      "subject %s, status %d, detail %r, headers %s, %d bytes, redacted %s",
                      type(exc).__name__, exc, msg.subject, status, detail,
                      rejects.bounded_headers(msg.headers), len(msg.data),
                      rejects.redact(msg.data, self.max_bytes).body)
