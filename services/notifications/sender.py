"""The sender: delivers the outbox's messages, each once, and records each delivery in its
case.

Claiming. A sender takes due rows with one `UPDATE ... FOR UPDATE SKIP LOCKED` statement,
committed at once: the rows become `sending`, claimed by this sender (`claimed_by`, the
key of a Postgres advisory lock it holds for as long as it runs), and their attempt is
counted before anything is sent. Two senders never take the same row. A sender that dies
(a crash, `kill -9`, a lost connection) loses its lock with its connection; any sender
that finds rows claimed under a lock nobody holds puts them back (in doubt): at once,
not after a timeout.

Exactly once, and the window that remains. A row is marked `sent` by its own statement
the moment the SMTP server has accepted the message (its `250` to the end of DATA) or
the adapter has acknowledged it, before the next message of the batch is sent: at most
one message per way is between "delivered" and "recorded as delivered" at any time, for
one round trip to Postgres. A sender that dies in that window leaves the row `sending`;
it is sent again (at-least-once: the alternative, never resending a message whose fate
is unknown, would lose the ones that did not get through, and a citizen who hears
nothing is worse off than one who hears twice). What makes the repeat harmless where
possible:
- e-mail carries a Message-ID made from the outbox row (`<ptsp-notification-ID.…@…>`),
  the same on every attempt: mail systems and clients can recognise the repeat;
- a channel request carries the row's id (`notification`, and the header
  `Ptsp-Notification`): the adapter contract says to acknowledge an id it has already
  delivered without sending it again, which makes the channel exactly-once end to end.

Failures. A message the way refuses for good (an SMTP 5xx; an adapter's `"retry":
false`) becomes a dead letter at once; one that fails otherwise (an SMTP 4xx, a dropped
connection, no acknowledgement in time, `"ok": false`) is tried again after
PTSP_NOTIFY_BACKOFF_SECONDS, doubling (at most an hour), and after
PTSP_NOTIFY_MAX_ATTEMPTS attempts becomes a dead letter. A way that is closed for every
message (the SMTP server unreachable or refusing the office's login or sender; no
adapter answering on `ptsp.outbound.<channel>`) counts no attempt: its messages wait,
the way is tried again after a pause (doubling, at most 5 minutes), and `last_error`
says why. With no SMTP host set, e-mail is not taken at all: it waits, and says so.

Personal data: the row names the case and the step's version; the case is read as of
that version and the person's sealed contact opened here, just before sending, and
dropped after. An erased person's messages are marked `erased` and never sent; an error
text never keeps the address (it is replaced before it is stored or logged)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import smtplib
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
import nats.errors
from asyncpg.pool import PoolConnectionProxy
from nats.aio.client import Client as NATS

from services.applications.application import ApplicationService
from services.applications.domain import LicenceApplication
from services.cases.service import CaseService
from services.complaints.application import ComplaintService
from services.complaints.domain import Complaint
from services.domain.errors import ConcurrencyConflict, NotFound
from services.infra.personal_data import ERASED
from services.notifications import outbox
from services.notifications.messages import Message, render
from services.notifications.recording import DELIVERY, NOTIFIER_ACTOR
from services.ops.metrics import count_notification
from services.settings import Settings

log = logging.getLogger("ptsp.notifications")

OUTBOUND = "ptsp.outbound.{channel}"
"""The channel adapter's subject (API.md, "People and channels")."""
NOTIFICATION_HEADER = "Ptsp-Notification"
REPLY_SECONDS = 10.0
"""How long an adapter has to acknowledge a request."""
SMTP_SECONDS = 30.0
"""The SMTP client's timeout for each exchange with the server."""
BATCH = 50
POLL_SECONDS = 0.2
HOUSEKEEPING_SECONDS = 2.0
"""How often orphaned claims are looked for and unrecorded deliveries recorded."""
MAX_BACKOFF_SECONDS = 3600.0
MAX_PAUSE_SECONDS = 300.0
NO_SMTP_HOST = outbox.NO_SMTP_HOST
_CLAIMED = (f"UPDATE notification_outbox o SET status = '{outbox.SENDING}', "
            "attempts = o.attempts + 1, claimed_by = $1, claimed_at = now() "
            "FROM ({due}) due WHERE o.id = due.id RETURNING o.*")
_DUE = (f"SELECT id FROM notification_outbox WHERE status = '{outbox.PENDING}' "
        "AND destination = '{destination}' {way} AND next_attempt_at <= now() "
        "ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED")
CLAIM_EMAIL = _CLAIMED.format(due=_DUE.format(destination=outbox.EMAIL, way=""))
"""Up to `$2` due e-mails, claimed by this sender (`$1`): an ordered scan of
`notification_outbox_due_email`."""
CLAIM_CHANNELS = _CLAIMED.format(due=(
    "SELECT d.id FROM unnest($3::text[]) AS w(way) CROSS JOIN LATERAL ("
    + _DUE.format(destination=outbox.CHANNEL, way=f"AND {outbox.CHANNEL_WAY_SQL} = w.way")
    + ") d"))
"""Up to `$2` due channel messages of each way in `$3` (the open ones), claimed by this
sender (`$1`): one ordered scan of `notification_outbox_due_by_channel` per way, so the
messages waiting on a closed channel are never read."""
UNREACHABLE = ("not sent: the channel {channel} cannot receive an electronic message (the "
               "person is told by e-mail if they gave an address, and by GET /track)")
"""Why a channel row of a case that came in on a channel no message can reach (a letter,
the counter: `outbox.NOT_ELECTRONIC`) is settled `no_address`."""
LOCK_KEYS = (1 << 48, 1 << 62)
"""A sender's advisory-lock key is drawn from here: far above the project's other keys."""


class Unavailable(Exception):
    """The way is closed for every message (not this one's fault): it waits."""


class Failed(Exception):
    """This message did not get through this time: tried again later."""


class Refused(Exception):
    """This message will never get through: a dead letter at once."""


# -- e-mail ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    user: str | None
    password: str | None
    starttls: bool
    mail_from: str

    @classmethod
    def of(cls, settings: Settings) -> SmtpConfig | None:
        """None without PTSP_SMTP_HOST: e-mail then waits in the outbox."""
        if not settings.smtp_host:
            return None
        return cls(settings.smtp_host, settings.smtp_port, settings.smtp_user,
                   settings.smtp_password, settings.smtp_starttls, settings.mail_from)

    @property
    def domain(self) -> str:
        address = parseaddr(self.mail_from)[1]
        return address.rpartition("@")[2] or "localhost"


def email(config: SmtpConfig, to: str, message: Message, notification: int,
          case_id: UUID) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = config.mail_from
    mail["To"] = to
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=True)
    # The same on every attempt at this row: a repeat after a crash is recognisable.
    mail["Message-ID"] = f"<ptsp-notification-{notification}.{case_id.hex[:12]}@{config.domain}>"
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no automatic replies, please
    mail[NOTIFICATION_HEADER] = str(notification)
    mail.set_content(message.body)
    return mail


class SmtpSession:
    """One SMTP connection for a batch, driven from worker threads one call at a time
    (smtplib blocks). Opened at the first message."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._smtp: smtplib.SMTP | None = None

    def send(self, mail: EmailMessage, to: str) -> None:
        """Accepted by the server, or Unavailable, Failed or Refused (no address in the
        text of any of them)."""
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            refused = self._smtp.send_message(mail, to_addrs=[to])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()), (550, b"refused"))
            raise _by_code(code, _said(text), to) from None
        except smtplib.SMTPSenderRefused as exc:
            raise Unavailable(f"the SMTP server refuses the sender: {exc.smtp_code} "
                              f"{_said(exc.smtp_error)}") from None
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, _said(exc.smtp_error), to) from None
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise Failed(f"the SMTP connection broke: {_redact(str(exc), to)}") from None
        if refused:  # one recipient only: refused means this one
            code, text = refused[to]
            raise _by_code(code, _said(text), to)

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        try:
            smtp = smtplib.SMTP(config.host, config.port, timeout=SMTP_SECONDS)
        except (OSError, smtplib.SMTPException) as exc:
            raise Unavailable(f"cannot reach the SMTP server {config.host}:{config.port}: "
                              f"{exc}") from None
        try:
            if config.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if config.user:
                smtp.login(config.user, config.password or "")
        except (OSError, smtplib.SMTPException) as exc:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                smtp.close()
            raise Unavailable(f"the SMTP server {config.host}:{config.port} refused the "
                              f"session: {exc}") from None
        return smtp

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                smtp.quit()
            with contextlib.suppress(OSError, smtplib.SMTPException):
                smtp.close()

    def abort(self) -> None:
        """From another thread: cut the connection (a thread blocked on it returns)."""
        sock = getattr(self._smtp, "sock", None)
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _said(text: bytes | str) -> str:
    return (text.decode("utf-8", "replace") if isinstance(text, bytes) else text)[:300]


def _by_code(code: int, text: str, to: str) -> Exception:
    said = f"{code} {_redact(text, to)}"
    if 500 <= code < 600:
        return Refused(f"the SMTP server refused it: {said}")
    return Failed(f"the SMTP server deferred it: {said}")


def _redact(text: str, *secrets: str) -> str:
    """An error text as it may be stored or logged: never the person's address."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<recipient>")
    return text


# -- channels ----------------------------------------------------------------------------
class Reply(msgspec.Struct, kw_only=True):
    """An adapter's answer to `ptsp.outbound.<channel>`: `{"ok": true}` once the message
    is delivered (or was delivered before under the same `notification`); else
    `{"ok": false, "error": "...", "retry": true|false}` (`retry: false`: it never will
    be: a dead letter at once)."""

    ok: bool
    error: str | None = None
    retry: bool = True


async def request(nc: NATS, channel: str, payload: dict[str, Any]) -> None:
    subject = OUTBOUND.format(channel=channel)
    try:
        msg = await nc.request(subject, json.dumps(payload, ensure_ascii=False).encode(),
                               timeout=REPLY_SECONDS,
                               headers={NOTIFICATION_HEADER: str(payload["notification"])})
    except nats.errors.NoRespondersError:
        raise Unavailable(f"no adapter answers on {subject}") from None
    except nats.errors.TimeoutError:
        raise Failed(f"no acknowledgement on {subject} within {REPLY_SECONDS:g} s") from None
    except nats.errors.Error as exc:
        raise Unavailable(f"NATS: {exc}") from None
    try:
        reply = msgspec.json.decode(msg.data, type=Reply)
    except msgspec.DecodeError as exc:
        raise Failed(f'the adapter\'s reply is not {{"ok": ...}}: {exc}') from None
    if reply.ok:
        return
    error = f"the adapter did not deliver it: {(reply.error or 'no reason given')[:300]}"
    raise Failed(error) if reply.retry else Refused(error)


# -- the sender --------------------------------------------------------------------------
@dataclass
class Claimed:
    """A claimed row, and what is opened for it just before sending (dropped after)."""

    row: asyncpg.Record
    channel: str | None = None
    """The case's channel (the row's; the case's when the row predates knowing it)."""
    person: dict[str, Any] | None = None
    message: Message | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> int:
        return int(self.row["id"])

    @property
    def via(self) -> str:
        return outbox.EMAIL if self.row["destination"] == outbox.EMAIL else str(self.channel)


class Sender:
    def __init__(self, pool: asyncpg.Pool, nc: NATS, applications: ApplicationService,
                 complaints: ComplaintService, settings: Settings) -> None:
        self.pool = pool
        self.nc = nc
        self.applications = applications
        self.complaints = complaints
        self.smtp = SmtpConfig.of(settings)
        self.office = settings.office_name
        self.max_attempts = max(1, settings.notify_max_attempts)
        self.backoff = settings.notify_backoff_seconds
        self.key = random.randrange(*LOCK_KEYS)
        """This sender's advisory lock, and the `claimed_by` of the rows it takes."""
        self._wake = asyncio.Event()
        self._paused: dict[str, tuple[float, float]] = {}
        """By way (`email` or a channel): (closed until, on monotonic time; that pause)."""
        self._task: asyncio.Task[None] | None = None
        self._session: SmtpSession | None = None
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="notifications-sender")

    async def stop(self) -> None:
        """Finish the batch under way (10 s at most), put back what is claimed, stop."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        done, _ = await asyncio.wait([task], timeout=10)
        if not done:
            if self._session is not None:
                self._session.abort()
            task.cancel()
            await asyncio.wait([task])
        await self._release(None)

    async def abort(self) -> None:
        """As a crash: the task cancelled where it stands, its claims left in doubt."""
        if self._session is not None:
            self._session.abort()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])

    async def _run(self) -> None:
        while not self._stopping:
            try:
                async with self.pool.acquire() as holder:
                    # A new key each time: claims made under a lock that was lost with its
                    # connection are orphans (another sender may already be taking them
                    # back), never this sender's again.
                    self.key = random.randrange(*LOCK_KEYS)
                    await holder.execute("SELECT pg_advisory_lock($1)", self.key)
                    await self._serve(holder)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("notifications: the sender lost its database connection; "
                            "starting again", exc_info=True)
                await asyncio.sleep(1.0)

    async def _serve(self, holder: PoolConnectionProxy[asyncpg.Record]) -> None:
        """Send while the lock on `holder` is held: its rows are orphans once it is not."""
        housekept = 0.0
        await self._say_why_email_waits()  # rows from before this start; later ones say it
        while not self._stopping:
            try:
                if time.monotonic() - housekept > HOUSEKEEPING_SECONDS:
                    await self._recover(holder)
                    await self._record_unrecorded()
                    housekept = time.monotonic()
                worked = await self._send_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                if holder.is_closed():
                    raise  # the lock went with it
                log.warning("notifications: sending interrupted; resuming", exc_info=True)
                worked = False
                await asyncio.sleep(1.0)
            if not worked and not self._stopping:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    # -- claiming ---------------------------------------------------------------------
    def _closed_ways(self) -> list[str]:
        now = time.monotonic()
        return [way for way, (until, _) in self._paused.items() if until > now]

    async def _claim(self) -> list[asyncpg.Record]:
        """Up to BATCH due rows of each open way (e-mail; each channel but those paused),
        claimed for this sender, each way by an ordered scan of its own rows: what waits
        on a closed way is not read."""
        closed = self._closed_ways()
        claimed = []
        if self.smtp is not None and outbox.EMAIL not in closed:
            claimed += await self.pool.fetch(CLAIM_EMAIL, self.key, BATCH)
        claimed += await self.pool.fetch(
            CLAIM_CHANNELS, self.key, BATCH,
            [way for way in outbox.CHANNEL_WAYS if way not in closed])
        return claimed

    async def _send_due(self) -> bool:
        rows = await self._claim()
        if not rows:
            return False
        claimed = [Claimed(row, channel=row["channel"]) for row in rows]
        try:
            await self._send(claimed)
        except Exception:
            # Not a crash (that leaves its claims to be recovered): put them back.
            await self._release([c.id for c in claimed])
            raise
        return True

    async def _send(self, claimed: list[Claimed]) -> None:
        """E-mail in order on one SMTP session; each channel in order, the channels side
        by side. Each message is composed just before it is sent (a closed way costs no
        case reads)."""
        cases: dict[tuple[str, UUID, int], Any] = {}
        for c in claimed:  # rows older than the notifier: the case says its channel
            if c.row["destination"] == outbox.CHANNEL and c.channel is None:
                await self._open(c, cases)
        emails = [c for c in claimed if c.row["destination"] == outbox.EMAIL]
        by_channel: dict[str, list[Claimed]] = {}
        for c in claimed:
            if c.row["destination"] != outbox.CHANNEL or c.channel is None:
                continue
            if not outbox.reachable(c.channel):  # written before the list was settled
                await self._settle(c, outbox.NO_ADDRESS, UNREACHABLE.format(channel=c.channel))
                continue
            by_channel.setdefault(c.channel, []).append(c)
        # Every way runs to its end before anything is put back (`_send_due`): a row put
        # back while its way still sends it could go twice.
        outcomes = await asyncio.gather(self._send_emails(emails, cases),
                                        *(self._send_channel(channel, rows, cases)
                                          for channel, rows in by_channel.items()),
                                        return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _release(self, ids: list[int] | None) -> None:
        """Claimed rows this sender still holds (these, or all) back to pending."""
        await self.pool.execute(
            f"UPDATE notification_outbox SET status = '{outbox.PENDING}', claimed_by = NULL, "
            "next_attempt_at = now() + make_interval(secs => $3) "
            "WHERE ($1::bigint[] IS NULL OR id = ANY($1::bigint[])) AND claimed_by = $2 "
            f"AND status = '{outbox.SENDING}'", ids, self.key, self.backoff)

    # -- reading the case, opening the person ------------------------------------------
    def _service(self, case_type: str) -> CaseService[Any, Any]:
        return self.applications if case_type == "application" else self.complaints

    async def _open(self, c: Claimed, cases: dict[tuple[str, UUID, int], Any]) -> bool:
        """The row's case as of its step (read once per batch), its person and the
        step's message; False when it is not to be sent now: settled (erased) or failed
        (no such case, a template's fault)."""
        if c.message is not None:
            return True
        key = (c.row["case_type"], c.row["case_id"], c.row["about_version"])
        try:
            if key not in cases:
                cases[key] = await self._case(*key)
            return await self._compose(c, cases[key])
        except (Failed, Refused) as exc:
            await self._failed(c, exc)
            return False

    async def _case(self, case_type: str, case_id: UUID, version: int) -> Any:
        try:
            return await self._service(case_type).get(case_id, version)
        except NotFound:
            raise Refused(f"the case is not in the record as of version {version}") from None

    async def _compose(self, c: Claimed, case: Any) -> bool:
        person = self._person(case)
        if person is not None and person.get("erased") is True:
            await self._settle(c, outbox.ERASED, "the person's data was erased: not sent")
            return False
        c.person = person
        c.channel = c.channel or case.channel
        c.extra = {"external_id": case.external_id, "channel": case.channel,
                   "tracking_number": case.tracking_number}
        try:
            c.message = render(c.row["case_type"], c.row["step"],
                               await self._facts(c.row, case, person))
        except Exception as exc:
            raise Failed(f"cannot compose the message: {exc!r}") from exc
        return True

    def _person(self, case: Any) -> dict[str, Any] | None:
        """The person's contact, opened (a copy of ERASED once erased); None: nobody."""
        application = isinstance(case, LicenceApplication)
        sealed = case.applicant if application else case.complainant
        if sealed is None:
            return None
        vault = self._service("application" if application else "complaint").vault
        opened = vault.open(sealed) if vault is not None else sealed
        return opened if isinstance(opened, dict) else dict(ERASED)

    async def _facts(self, row: asyncpg.Record, case: Any,
                     person: dict[str, Any] | None) -> dict[str, Any]:
        """What the step's template says: the event's facts and the case's, as of then."""
        at: datetime = row["step_at"]
        facts: dict[str, Any] = {**json.loads(row["facts"]), "at": at, "office": self.office,
                                 "tracking_number": case.tracking_number,
                                 "name": (person or {}).get("name") or None}
        step = row["step"]
        if isinstance(case, LicenceApplication):
            entry = self.applications.catalogue.get(case.service_code)
            texts = {r.code: r.text for r in entry.requirements} if entry else {}
            facts.update(service_name=entry.name if entry else case.service_code,
                         business_name=case.business.get("name", ""))
            if step == "returned_for_correction":
                facts["unmet"] = [{"code": code, "text": texts.get(code, code)}
                                  for code in facts.get("unmet", [])]
            elif step == "issued":
                facts["verification_url"] = self.applications.verification_url(facts)
        elif isinstance(case, Complaint):
            facts["kind"] = case.kind
        if step in ("complete", "received"):
            service = self._service(row["case_type"])
            await service.calendar.current_calendar()  # every correction committed so far
            facts.update(due_at=service.sla(case, at).due_at,
                         working_days=case.sla_working_days)
        return facts

    # -- sending ------------------------------------------------------------------------
    async def _send_emails(self, claimed: list[Claimed],
                           cases: dict[tuple[str, UUID, int], Any]) -> None:
        if not claimed:
            return
        assert self.smtp is not None  # no e-mail row is claimed without a host
        session = self._session = SmtpSession(self.smtp)
        try:
            for i, c in enumerate(claimed):
                if not await self._open(c, cases):
                    continue
                to = str((c.person or {}).get("email") or "").strip()
                if not to or c.message is None:
                    await self._settle(c, outbox.NO_ADDRESS, "no e-mail address was given")
                    continue
                mail = email(self.smtp, to, c.message, c.id, c.row["case_id"])
                try:
                    await asyncio.to_thread(session.send, mail, to)
                except Unavailable as exc:
                    await self._close_way(outbox.EMAIL, claimed[i:], str(exc))
                    return
                except (Failed, Refused) as exc:
                    await self._failed(c, exc)
                    continue
                await self._delivered(c)
        finally:
            self._session = None
            await asyncio.to_thread(session.close)

    async def _send_channel(self, channel: str, claimed: list[Claimed],
                            cases: dict[tuple[str, UUID, int], Any]) -> None:
        for i, c in enumerate(claimed):
            if not await self._open(c, cases) or c.message is None:
                continue
            payload = {"notification": c.id, "case_type": c.row["case_type"],
                       "case_id": str(c.row["case_id"]), **c.extra, "step": c.row["step"],
                       "text": c.message.short}
            try:
                await request(self.nc, channel, payload)
            except Unavailable as exc:
                await self._close_way(channel, claimed[i:], str(exc))
                return
            except (Failed, Refused) as exc:
                await self._failed(c, exc)
                continue
            await self._delivered(c)

    # -- outcomes -----------------------------------------------------------------------
    async def _delivered(self, c: Claimed) -> None:
        """Marked sent at once (see the module: the window), then recorded in the case."""
        await self.pool.execute(
            f"UPDATE notification_outbox SET status = '{outbox.SENT}', sent_at = now(), "
            "last_error = NULL, claimed_by = NULL, channel = coalesce(channel, $3) "
            "WHERE id = $1 AND claimed_by = $2", c.id, self.key, c.channel)
        self._paused.pop(c.via, None)
        count_notification(c.via, "sent")
        await self._record(c.row, c.via)

    async def _failed(self, c: Claimed, exc: Exception) -> None:
        attempts = int(c.row["attempts"])
        if isinstance(exc, Refused) or attempts >= self.max_attempts:
            reason = (str(exc) if isinstance(exc, Refused)
                      else f"{exc} (attempt {attempts} of {self.max_attempts}: given up)")
            await self._settle(c, outbox.DEAD, reason)
            log.warning("notification %d (%s, %s) is a dead letter: %s; `ptsp notifications "
                        "resend %d` sends it again", c.id, c.row["step"], c.via, reason, c.id)
            return
        wait = min(self.backoff * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)
        await self.pool.execute(
            f"UPDATE notification_outbox SET status = '{outbox.PENDING}', claimed_by = NULL, "
            "next_attempt_at = now() + make_interval(secs => $3), last_error = $4, "
            "channel = coalesce(channel, $5) WHERE id = $1 AND claimed_by = $2",
            c.id, self.key, wait, f"attempt {attempts}: {exc}", c.channel)
        count_notification(c.via, "failed")

    async def _settle(self, c: Claimed, status: str, reason: str) -> None:
        await self.pool.execute(
            "UPDATE notification_outbox SET status = $3, claimed_by = NULL, last_error = $4 "
            "WHERE id = $1 AND claimed_by = $2", c.id, self.key, status, reason)
        count_notification(c.via, status)

    async def _close_way(self, way: str, claimed: Iterable[Claimed], reason: str) -> None:
        """Every message of a closed way waits, its attempt not counted; the way is tried
        again after a pause."""
        _, last = self._paused.get(way, (0.0, 0.0))
        pause = min(max(self.backoff, last * 2), MAX_PAUSE_SECONDS)
        self._paused[way] = (time.monotonic() + pause, pause)
        await self.pool.execute(
            f"UPDATE notification_outbox SET status = '{outbox.PENDING}', claimed_by = NULL, "
            "attempts = attempts - 1, next_attempt_at = now(), last_error = $3 "
            "WHERE id = ANY($1::bigint[]) AND claimed_by = $2",
            [c.id for c in claimed], self.key, f"{outbox.WAITING}{reason}")
        log.warning("notifications by %s wait: %s (tried again in %g s)", way, reason, pause)

    # -- recording the delivery in the case -----------------------------------------------
    async def _record(self, row: Any, via: str) -> None:
        """Through the case service, as the system's notifier (idempotent: the case
        records each message once). A failure leaves it for the next round."""
        try:
            await self._service(row["case_type"]).do(
                DELIVERY, row["case_id"], NOTIFIER_ACTOR, notification=int(row["id"]),
                step=row["step"], about_version=int(row["about_version"]), via=via)
        except ConcurrencyConflict:
            return  # another write to the case won: the next round records it
        except Exception:
            log.warning("notification %d: delivered, not yet recorded in case %s",
                        row["id"], row["case_id"], exc_info=True)
            return
        await self.pool.execute(
            "UPDATE notification_outbox SET recorded_at = now() WHERE id = $1", row["id"])

    async def _record_unrecorded(self) -> None:
        rows = await self.pool.fetch(
            "SELECT id, case_type, case_id, step, about_version, destination, channel "
            f"FROM notification_outbox WHERE status = '{outbox.SENT}' AND recorded_at IS NULL "
            "ORDER BY id LIMIT 100")
        for row in rows:
            await self._record(row, outbox.EMAIL if row["destination"] == outbox.EMAIL
                               else str(row["channel"]))

    # -- housekeeping -------------------------------------------------------------------
    async def _recover(self, holder: PoolConnectionProxy[asyncpg.Record]) -> None:
        """Rows claimed by a sender whose lock nobody holds (it died): back to pending, in
        doubt (see the module: sent again)."""
        owners = await self.pool.fetch(
            "SELECT DISTINCT claimed_by FROM notification_outbox "
            f"WHERE status = '{outbox.SENDING}' AND claimed_by <> $1", self.key)
        for owner in (r["claimed_by"] for r in owners):
            if not await holder.fetchval("SELECT pg_try_advisory_lock($1)", owner):
                continue  # alive: its rows are its own
            try:
                await self.pool.execute(
                    f"UPDATE notification_outbox SET status = '{outbox.PENDING}', "
                    "claimed_by = NULL, next_attempt_at = now(), last_error = "
                    "'in doubt: its sender stopped while sending it; sent again' "
                    f"WHERE status = '{outbox.SENDING}' AND claimed_by = $1", owner)
            finally:
                await holder.execute("SELECT pg_advisory_unlock($1)", owner)

    async def _say_why_email_waits(self) -> None:
        """Without an SMTP host, each waiting e-mail says so (`ptsp notifications list`).
        Rows are written saying it (`OutboxWriter.email_waits`); this marks those
        written before, when the sender starts (once: a pass reads every waiting row)."""
        if self.smtp is None:
            await self.pool.execute(
                "UPDATE notification_outbox SET last_error = $1 "
                f"WHERE status = '{outbox.PENDING}' AND destination = '{outbox.EMAIL}' "
                "AND last_error IS DISTINCT FROM $1", NO_SMTP_HOST)

    def paused(self) -> dict[str, float]:
        """The ways closed now, and for how much longer (seconds)."""
        now = time.monotonic()
        return {way: until - now for way, (until, _) in self._paused.items() if until > now}
