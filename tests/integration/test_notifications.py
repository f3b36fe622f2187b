"""Notifications from the outbox, exactly once (issue 14, item 2), on a real Postgres, a
real nats-server and a real SMTP server (aiosmtpd), all started by the tests:

- one e-mail per step, also when the notifier is killed in the middle of a batch and
  started again, and when two notifiers run at once;
- a WhatsApp adapter on NATS (with the channel's own credentials) that fails twice, then
  acknowledges: one message delivered, and the case records it, the complainant's
  "told" step included, so the complaint closes without staff saying they told them;
- no SMTP host: the e-mail waits, and `ptsp notifications list` shows it; an erased
  person's messages are never sent;
- a message the server keeps deferring becomes a dead letter; `ptsp notifications
  resend` sends it, once; a refused address is dead at once and kept nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

import msgspec
import nats
import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from nats.aio.msg import Msg

from contracts.applications import ApplicationIntake
from contracts.complaints import ComplaintIntake
from services import cli
from services.applications.commands import COMMANDS as APPLICATION_COMMANDS
from services.cases.requests import WithReason
from services.cases.service import CaseService
from services.complaints.commands import COMMANDS as COMPLAINT_COMMANDS
from services.domain.actors import Actor
from services.infra import nats_auth
from services.infra.embedded import EmbeddedNats, free_port
from services.notifications.notifier import Notifier
from services.notifications.sender import NO_SMTP_HOST
from services.privacy import ERASURE
from services.runtime import System
from services.settings import Settings

pytestmark = pytest.mark.integration

OSS = Actor(id="oss-gateway", role="channel", channel="oss")
WHATSAPP = Actor(id="wa-gateway", role="channel", channel="whatsapp")
OFFICER = Actor(id="budi", role="officer", unit="perizinan", tier="pelaksana")
DEWI = Actor(id="dewi", role="officer", unit="pengaduan", tier="pelaksana")
SUPERVISOR = Actor(id="sri", role="supervisor")
HEAD = Actor(id="kepala", role="head")
SITI = "siti.rahma@example.id"
STREAMS = ("PTSP_APPLICATIONS", "PTSP_COMPLAINTS", "PTSP_CALENDAR", "PTSP_SURVEYS",
           "PTSP_STAFF", "PTSP_EVALUATIONS")


# -- a real SMTP server ------------------------------------------------------------------
@dataclass
class Mailbox:
    """aiosmtpd's handler: keeps what it accepted (a 250), and can be told to hold the
    n-th message (then answer 451: the line was cut before it accepted it), to defer
    everything, or to refuse an address."""

    accepted: list[email.message.Message] = field(default_factory=list)
    hold: int | None = None
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    defer: str | None = None
    unknown: set[str] = field(default_factory=set)
    seen: int = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.unknown:
            return f"550 5.1.1 <{address}>: Recipient address rejected: user unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.seen += 1
        if self.seen == self.hold:
            self.held.set()
            while not self.release.is_set():  # noqa: ASYNC110 - a thread's event
                await asyncio.sleep(0.02)
            return "451 4.3.0 the line was cut"
        if self.defer:
            return self.defer
        self.accepted.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def steps(self) -> list[str]:
        return [str(m["Subject"]) for m in self.accepted]


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@contextlib.contextmanager
def smtp_server(mailbox: Mailbox, port: int) -> Iterator[Controller]:
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def settings(settings: Settings, smtp_port: int) -> Settings:
    return replace(settings, smtp_host="127.0.0.1", smtp_port=smtp_port,
                   mail_from="DPMPTSP Purwakarta <ptsp@purwakarta.example>",
                   notify_backoff_seconds=0.3, notify_max_attempts=3)


@contextlib.asynccontextmanager
async def running(settings: Settings, database_url: str, nats_url: str,
                  admin_url: str | None = None) -> AsyncIterator[System]:
    """The whole system with its pipeline (and so its notifier), on fresh streams."""
    admin = await nats.connect(admin_url or nats_url)
    for name in STREAMS:
        with contextlib.suppress(Exception):
            await admin.jetstream().delete_stream(name)
    await admin.close()
    system = System.build(settings, database_url, nats_url=nats_url)
    await system.start()
    try:
        yield system
    finally:
        await system.stop()


@pytest_asyncio.fixture
async def system(settings: Settings, database_url: str,
                 nats_server: EmbeddedNats) -> AsyncIterator[System]:
    async with running(settings, database_url, nats_server.url) as started:
        yield started


# -- helpers -----------------------------------------------------------------------------
async def eventually(check: Callable[[], Awaitable[Any]], seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        if result := await check():
            return result
        assert time.monotonic() < deadline, f"not within {seconds} s"
        await asyncio.sleep(0.05)


async def outbox(system: System, **where: Any) -> list[dict[str, Any]]:
    assert system.pool is not None
    conditions = " AND ".join(f"{key} = ${i}" for i, key in enumerate(where, 1)) or "true"
    rows = await system.pool.fetch(
        f"SELECT * FROM notification_outbox WHERE {conditions} ORDER BY id", *where.values())
    return [dict(r) for r in rows]


def notifier(system: System) -> Notifier:
    assert system.pipeline is not None and system.pipeline.notifier is not None
    return system.pipeline.notifier


async def restart(system: System, notifier: Notifier) -> None:
    """A notifier started in the pipeline's place (the same NATS user's connection)."""
    pipeline = system.pipeline
    assert pipeline is not None and pipeline.notifier_nc is not None
    pipeline.notifier = notifier
    await notifier.start(pipeline.notifier_nc, list(pipeline.eventlog.streams.values()),
                         pipeline.signer)


def application(external_id: str, mail: str | None = SITI) -> ApplicationIntake:
    return msgspec.convert({
        "channel": "oss", "external_id": external_id, "service_code": "SS-KBLI-10510",
        "applicant": {"name": "Siti Rahma", "email": mail},
        "business": {"name": "CV Susu Murni", "kbli": "10510", "scale": "kecil",
                     "in_industrial_estate": True, "address": "Jl. Veteran 139"}},
        ApplicationIntake)


async def act(service: CaseService[Any, Any], command: str, case_id: UUID, actor: Actor,
              **fields: Any) -> Any:
    """A step, as a client takes it. No retry here: the notifier recording a delivery in
    the same case at that moment is the system's write, which the case service runs the
    step again after (services/cases/service.py), so it never reaches the caller."""
    table = APPLICATION_COMMANDS if service.noun == "application" else COMPLAINT_COMMANDS
    return await service.do(table[command], case_id, actor, **fields)


ALL_MET = dict.fromkeys(["U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4"], True)


async def to_certificate(system: System, case_id: UUID) -> None:
    """Returned for correction, resubmitted, complete, reviewed, approved, issued."""
    apps = system.applications
    await act(apps, "verification", case_id, OFFICER, results={**ALL_MET, "K1": False},
              note="foto sarana produksi belum ada")
    await act(apps, "resubmission", case_id, OSS, note="foto dilampirkan")
    await act(apps, "verification", case_id, OFFICER, results=ALL_MET)
    await act(apps, "technical-review", case_id, OFFICER, recommendation="approve",
              note="layak")
    await act(apps, "decision", case_id, SUPERVISOR, outcome="approve")
    await act(apps, "issuance", case_id, SUPERVISOR)


async def printed(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                  system: System, *argv: str) -> tuple[int, str, str]:
    """`ptsp ARGV` against the system's database (in a thread: it runs its own loop)."""
    monkeypatch.setenv("DATABASE_URL", system.database_url)
    capsys.readouterr()
    status = await asyncio.to_thread(
        cli.main, [*argv, "--data-dir", str(system.settings.data_dir)])
    out, err = capsys.readouterr()
    return status, out, err


def listed(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


# -- e-mail, exactly once ------------------------------------------------------------------
STEP_SUBJECTS = ("Permohonan Anda telah diterima", "Berkas permohonan perlu dilengkapi",
                 "Berkas permohonan lengkap", "Sertifikat Standar Anda telah terbit")


async def test_one_e_mail_per_step_even_when_the_notifier_is_killed_mid_batch(
        system: System, mailbox: Mailbox, smtp_port: int) -> None:
    # The SMTP server is down while the case goes through its steps: the e-mail waits
    # (no attempt counted), four messages in all.
    case, _ = await system.applications.submit(application("OSS-MAIL-1"), OSS)
    await to_certificate(system, case.id)

    async def four_waiting() -> bool:
        rows = await outbox(system, destination="email")
        return len(rows) == 4 and all(
            r["status"] == "pending" and r["attempts"] == 0
            and "cannot reach the SMTP server" in (r["last_error"] or "") for r in rows)
    await eventually(four_waiting)

    # The server comes up and holds the second message: the notifier is killed while the
    # batch's second message is on the wire and two more are claimed behind it.
    mailbox.hold = 2
    with smtp_server(mailbox, smtp_port):
        await eventually(lambda: asyncio.to_thread(mailbox.held.wait, 0.1))
        first = notifier(system)
        await first.halt()
        mailbox.release.set()
        in_flight = await outbox(system, destination="email", status="sending")
        assert len(in_flight) == 3, "killed mid-batch: three claimed, not yet sent"
        assert len(mailbox.accepted) == 1

        # Started again, it takes back what the dead one held, and sends each once.
        await restart(system, Notifier(system.settings, system.database_url,
                                       system.applications, system.complaints))

        async def all_sent() -> bool:
            rows = await outbox(system, destination="email")
            return all(r["status"] == "sent" and r["recorded_at"] for r in rows)
        await eventually(all_sent)
        await asyncio.sleep(1.0)  # and nothing more comes
    subjects = mailbox.steps()
    assert sorted(subjects) == sorted(f"[{case.tracking_number}] {s}" for s in STEP_SUBJECTS)
    assert {m["To"] for m in mailbox.accepted} == {SITI}
    assert len({m["Message-ID"] for m in mailbox.accepted}) == 4
    # Claimed is counted as tried: the three in doubt went twice, the first once.
    attempts = {r["step"]: r["attempts"] for r in await outbox(system, destination="email")}
    assert attempts == {"received": 1, "returned_for_correction": 2, "complete": 2,
                        "issued": 2}
    issued = next(m for m in mailbox.accepted if "terbit" in str(m["Subject"]))
    body = issued.get_payload(decode=True)
    assert isinstance(body, bytes)
    view = await system.applications.view(await system.applications.get(case.id), SUPERVISOR)
    assert view.certificate is not None
    assert view.certificate["verification_url"] in body.decode()

    # One row per (step, destination): the restarted consumer added nothing twice; the
    # channel's messages wait for an adapter that is not there.
    rows = await outbox(system)
    assert len(rows) == 8
    assert {(r["step"], r["destination"]) for r in rows} == {
        (s, d) for s in ("received", "returned_for_correction", "complete", "issued")
        for d in ("email", "channel")}
    channel_rows = [r for r in rows if r["destination"] == "channel"]
    assert all(r["status"] == "pending" and r["channel"] == "oss" for r in channel_rows)
    assert any("no adapter answers on ptsp.outbound.oss" in (r["last_error"] or "")
               for r in channel_rows)
    # Each delivery is an event in the case, by the system's notifier.
    stored = await system.applications.get(case.id)
    assert sorted(stored.notified) == sorted(r["id"] for r in rows if r["status"] == "sent")
    # No address and no name in the outbox.
    assert system.pool is not None
    dump = json.dumps([dict(r) for r in await system.pool.fetch(
        "SELECT * FROM notification_outbox")], default=str)
    assert SITI not in dump and "Siti" not in dump


async def test_two_notifiers_at_once_send_each_message_once(
        system: System, mailbox: Mailbox, smtp_port: int) -> None:
    second = Notifier(system.settings, system.database_url, system.applications,
                      system.complaints)
    pipeline = system.pipeline
    assert pipeline is not None and pipeline.notifier_nc is not None
    await second.start(pipeline.notifier_nc, list(pipeline.eventlog.streams.values()),
                       pipeline.signer)
    try:
        with smtp_server(mailbox, smtp_port):
            for i in range(12):
                await system.applications.submit(application(f"OSS-TWO-{i}"), OSS)

            async def twelve() -> bool:
                rows = await outbox(system, destination="email", status="sent")
                return len(rows) == 12
            await eventually(twelve)
            await asyncio.sleep(1.0)
    finally:
        await second.stop()
    assert len(mailbox.accepted) == 12
    assert len({m["Message-ID"] for m in mailbox.accepted}) == 12


# -- a channel adapter on NATS ------------------------------------------------------------
@pytest.fixture
def locked_nats(settings: Settings) -> Iterator[EmbeddedNats]:
    """The embedded server as `ptsp up` starts it: every part and channel its own user."""
    server = EmbeddedNats(settings.data_dir / "nats", port=free_port(),
                          keys_dir=settings.keys_dir)
    server.start()
    yield server
    server.stop()


async def test_a_whatsapp_adapter_that_fails_twice_then_acknowledges(
        settings: Settings, database_url: str, locked_nats: EmbeddedNats) -> None:
    settings = replace(settings, smtp_host=None, notify_max_attempts=4)
    requests: list[dict[str, Any]] = []
    delivered: dict[int, dict[str, Any]] = {}

    async def adapter(msg: Msg) -> None:
        """Fails the first two requests, then delivers; an id it delivered before is
        acknowledged without sending it again (the contract)."""
        body = json.loads(msg.data)
        requests.append(body)
        if len(requests) <= 2:
            await msg.respond(b'{"ok": false, "error": "provider busy"}')
            return
        delivered.setdefault(body["notification"], body)
        await msg.respond(b'{"ok": true}')

    # The channel's own credentials: it may take ptsp.outbound.whatsapp and answer.
    wa = await nats.connect(locked_nats.url_for(nats_auth.channel_user("whatsapp")),
                            inbox_prefix=nats_auth.inbox_prefix("whatsapp"))
    await wa.subscribe("ptsp.outbound.whatsapp", cb=adapter)
    # Another channel may not listen in (the texts are the complainant's case).
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc).lower())
    oss = await nats.connect(locked_nats.url_for(nats_auth.channel_user("oss")),
                             inbox_prefix=nats_auth.inbox_prefix("oss"), error_cb=on_error)
    overheard: list[Msg] = []

    async def overhear(msg: Msg) -> None:
        overheard.append(msg)
    await oss.subscribe("ptsp.outbound.whatsapp", cb=overhear)
    await oss.flush()

    async def refused() -> bool:
        return any("permissions violation" in e and "ptsp.outbound.whatsapp" in e
                   for e in errors)
    await eventually(refused, seconds=5)
    try:
        async with running(settings, database_url, locked_nats.address,
                           locked_nats.url) as system:
            case, _ = await system.complaints.submit(msgspec.convert({
                "channel": "whatsapp", "external_id": "WA-628123",
                "complainant": {"name": "Budi Santoso", "phone": "+62 899 1111 2222"},
                "subject_matter": "pungutan di loket",
                "description": "diminta uang untuk mempercepat",
                "service_received_on": str(system.clock.now().date())}, ComplaintIntake),
                WHATSAPP)

            async def received_sent() -> bool:
                rows = await outbox(system, destination="channel", step="received")
                return bool(rows) and rows[0]["status"] == "sent"
            await eventually(received_sent)
            row = (await outbox(system, destination="channel", step="received"))[0]
            assert row["attempts"] == 3
            assert [r["notification"] for r in requests] == [row["id"]] * 3
            told = delivered[row["id"]]
            assert told["tracking_number"] == case.tracking_number
            assert told["external_id"] == "WA-628123" and told["step"] == "received"
            assert "akan dijawab paling lambat" in told["text"]
            assert "Budi" not in json.dumps(told) and "1111" not in json.dumps(told)

            # An anonymous submission: a suggestion, told why on its channel; nobody to
            # write an e-mail to, so no e-mail row at all.
            anonymous, _ = await system.complaints.submit(msgspec.convert({
                "channel": "whatsapp", "external_id": "WA-ANON-1", "complainant": None,
                "subject_matter": "antrean panjang", "description": "menunggu lama",
                "service_received_on": str(system.clock.now().date())}, ComplaintIntake),
                WHATSAPP)

            async def suggestion_told() -> list[dict[str, Any]]:
                rows = await outbox(system, case_id=anonymous.id)
                return rows if rows and rows[0]["status"] == "sent" else []
            rows = await eventually(suggestion_told)
            assert [r["destination"] for r in rows] == ["channel"]
            assert "dicatat sebagai saran/masukan karena tanpa identitas pelapor" in \
                delivered[rows[0]["id"]]["text"]

            complaints = system.complaints
            await act(complaints, "classification", case.id, DEWI,
                      service_code="SS-KBLI-10510", problem_type="fee")
            await act(complaints, "analysis", case.id, DEWI, core_problem="pungutan liar",
                      standard_refs=["SP 10510"], handling_plan="clarification")
            await act(complaints, "track", case.id, DEWI, track="internal")
            await act(complaints, "findings", case.id, DEWI,
                      actions=["klarifikasi petugas loket"], outcome="proven")
            await act(complaints, "response", case.id, DEWI,
                      text="Uang Anda dikembalikan; petugas diberi sanksi.")

            async def answer_recorded() -> bool:
                rows = await outbox(system, destination="channel", step="answered")
                return bool(rows) and rows[0]["recorded_at"] is not None
            await eventually(answer_recorded)
            answer = (await outbox(system, destination="channel", step="answered"))[0]
            assert answer["attempts"] == 1
            assert "Uang Anda dikembalikan" in delivered[answer["id"]]["text"]
            # The case records both deliveries, and the complainant told, by the system.
            stored = await complaints.get(case.id)
            assert sorted(stored.notified) == sorted([row["id"], answer["id"]])
            assert stored.notifications == [
                {"channel": "whatsapp", "by": "notifier", "at": stored.notifications[0]["at"]}]
            # So the complaint closes with no one saying they told the complainant.
            await act(complaints, "superior-report", case.id, DEWI,
                      text="selesai di tingkat pelaksana")
            closed = await act(complaints, "closure", case.id, DEWI)
            assert closed.status == "closed"
            # No e-mail without an SMTP host: it waits (the complainant gave none anyway;
            # that is only known when it is sent).
            waiting = await outbox(system, destination="email", step="received")
            assert waiting[0]["status"] == "pending"
            # The closure is told too; the adapter saw each message once, but for the two
            # failures of the first.
            await eventually(lambda: _closed_told(system, case.id))
            steps = {r["id"]: r["step"] for r in await outbox(
                system, destination="channel", case_id=case.id)}
            asked = [steps[r["notification"]] for r in requests if r["notification"] in steps]
            assert sorted(asked) == ["answered", "closed", "received", "received", "received"]
            assert sorted(steps[i] for i in delivered if i in steps) == [
                "answered", "closed", "received"]
            assert overheard == []
    finally:
        await wa.close()
        await oss.close()


async def _closed_told(system: System, case_id: UUID) -> bool:
    rows = await outbox(system, destination="channel", step="closed")
    return bool(rows) and rows[0]["status"] == "sent" and rows[0]["case_id"] == case_id


# -- without an SMTP host; erasure ----------------------------------------------------------
async def test_without_an_smtp_host_e_mail_waits_and_an_erased_person_is_never_written_to(
        settings: Settings, database_url: str, nats_server: EmbeddedNats, mailbox: Mailbox,
        smtp_port: int, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    async with running(replace(settings, smtp_host=None), database_url,
                       nats_server.url) as system:
        kept, _ = await system.applications.submit(application("OSS-WAIT-1"), OSS)
        gone, _ = await system.applications.submit(
            application("OSS-WAIT-2", mail="other@example.id"), OSS)

        async def waiting() -> list[dict[str, Any]]:
            rows = [r for r in await outbox(system, destination="email")
                    if r["last_error"] == NO_SMTP_HOST]
            return rows if len(rows) == 2 else []
        rows = await eventually(waiting)
        status, out, _ = await printed(capsys, monkeypatch, system,
                                       "notifications", "list", "--json")
        assert status == 0
        shown = {r["id"]: r for r in listed(out)}
        for row in rows:
            assert shown[row["id"]]["status"] == "pending"
            assert shown[row["id"]]["destination"] == "email"
            assert shown[row["id"]]["last_error"] == NO_SMTP_HOST
        assert {shown[r["id"]]["tracking_number"] for r in rows} == {
            kept.tracking_number, gone.tracking_number}
        status, out, _ = await printed(capsys, monkeypatch, system, "notifications", "list")
        assert "PTSP_SMTP_HOST" in out and "pending" in out

        # One applicant's data is erased; then an SMTP host is set (a restart).
        await system.applications.execute(ERASURE, gone.id,
                                          WithReason(reason="permintaan subjek data"), HEAD)
        with smtp_server(mailbox, smtp_port):
            await notifier(system).stop()
            await restart(system, Notifier(settings, system.database_url,
                                           system.applications, system.complaints))

            async def settled() -> bool:
                states = {r["case_id"]: r["status"]
                          for r in await outbox(system, destination="email")}
                return states == {kept.id: "sent", gone.id: "erased"}
            await eventually(settled)
        assert [m["To"] for m in mailbox.accepted] == [SITI]
        # Its channel message is never sent either (it is marked erased once its turn
        # comes; here it waits, behind the other case's, for an adapter on oss).
        erased = await outbox(system, case_id=gone.id, destination="channel")
        assert erased[0]["status"] in ("pending", "erased")


# -- dead letters, resend -------------------------------------------------------------------
async def test_a_message_that_keeps_failing_is_a_dead_letter_until_resent(
        system: System, mailbox: Mailbox, smtp_port: int, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    mailbox.defer = "451 4.7.1 greylisted, try again later"
    mailbox.unknown = {"nobody@example.id"}
    with smtp_server(mailbox, smtp_port):
        case, _ = await system.applications.submit(application("OSS-DEAD-1"), OSS)
        bad, _ = await system.applications.submit(
            application("OSS-DEAD-2", mail="nobody@example.id"), OSS)

        async def dead() -> list[dict[str, Any]]:
            rows = await outbox(system, destination="email", status="dead")
            return rows if len(rows) == 2 else []
        rows = {r["case_id"]: r for r in await eventually(dead)}
        deferred, refused = rows[case.id], rows[bad.id]
        assert deferred["attempts"] == 3 and "451" in deferred["last_error"]
        assert "given up" in deferred["last_error"]
        # A refused address is dead at the first attempt, and kept nowhere.
        assert refused["attempts"] == 1 and "550" in refused["last_error"]
        assert "nobody@example.id" not in refused["last_error"]
        assert mailbox.accepted == []

        status, out, _ = await printed(capsys, monkeypatch, system, "notifications", "list",
                                       "--status", "dead", "--json")
        assert status == 0 and {r["id"] for r in listed(out)} == {
            deferred["id"], refused["id"]}

        mailbox.defer = None
        status, out, _ = await printed(capsys, monkeypatch, system, "notifications", "resend",
                                       str(deferred["id"]))
        assert status == 0, out

        async def sent() -> bool:
            row = (await outbox(system, id=deferred["id"]))[0]
            return row["status"] == "sent" and row["recorded_at"] is not None
        await eventually(sent)
        await asyncio.sleep(0.5)
        assert mailbox.steps() == [f"[{case.tracking_number}] Permohonan Anda telah diterima"]
        # Once delivered, never again; an unknown id says so.
        status, _, err = await printed(capsys, monkeypatch, system, "notifications", "resend",
                                       str(deferred["id"]))
        assert status == 1 and "delivered already" in err
        status, _, err = await printed(capsys, monkeypatch, system, "notifications", "resend",
                                       "999999")
        assert status == 1 and "no such notification" in err
    assert len(mailbox.accepted) == 1


# -- channels no electronic message can reach ------------------------------------------------
async def test_a_letter_gets_no_channel_message_the_e_mail_still_goes(
        system: System, mailbox: Mailbox, smtp_port: int, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A complaint by letter, its writer gave an e-mail address: told by e-mail; no row for
    the channel (no adapter can ever answer for a letter, so it would wait for ever). A
    channel row an earlier release wrote for such a case is settled by the sender, saying
    why, in `ptsp notifications list`."""
    letter = Actor(id="surat-masuk", role="channel", channel="letter")
    with smtp_server(mailbox, smtp_port):
        case, _ = await system.complaints.submit(msgspec.convert({
            "channel": "letter", "external_id": "SURAT-2026-001",
            "complainant": {"name": "Budi Santoso", "email": SITI},
            "subject_matter": "pungutan di loket", "description": "diminta uang",
            "service_received_on": str(system.clock.now().date())}, ComplaintIntake), letter)

        async def e_mailed() -> list[dict[str, Any]]:
            rows = await outbox(system, case_id=case.id)
            return rows if rows and rows[0]["status"] == "sent" else []
        rows = await eventually(e_mailed)
        assert [r["destination"] for r in rows] == ["email"]
        assert [m["To"] for m in mailbox.accepted] == [SITI]

        # As the step consumer wrote it before the list was settled: a channel row.
        assert system.pool is not None
        old = await system.pool.fetchval(
            "INSERT INTO notification_outbox (case_type, case_id, step, about_version, "
            "destination, channel, step_at, facts) SELECT case_type, case_id, step, "
            "about_version, 'channel', 'letter', step_at, facts FROM notification_outbox "
            "WHERE id = $1 RETURNING id", rows[0]["id"])
        notifier(system).sender.wake()  # type: ignore[union-attr]

        async def settled() -> dict[str, Any] | None:
            row = (await outbox(system, id=old))[0]
            return row if row["status"] == "no_address" else None
        row = await eventually(settled)
        assert row["attempts"] == 1 and row["sent_at"] is None
        status, out, _ = await printed(capsys, monkeypatch, system, "notifications", "list",
                                       "--status", "no_address", "--json")
        assert status == 0
        shown = {r["id"]: r for r in listed(out)}[old]
        assert shown["channel"] == "letter"
        assert "letter" in shown["last_error"] and "electronic" in shown["last_error"]
    assert len(mailbox.accepted) == 1  # the e-mail, once; nothing for the letter
