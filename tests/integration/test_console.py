"""The staff console over HTTP against a real system (Postgres, the event store, the
services): sign-in, sessions, CSRF, the lockout, disabling, and that a step taken in the
console goes through the same policy and command path as the API.

The app is driven in-process (httpx's ASGI transport: real requests, cookies and forms,
no socket). The console's session clock is a hand-moved wall clock, so expiry and the
lockout are tested without waiting."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote
from uuid import UUID

import httpx
import msgspec
import pytest
import pytest_asyncio

from contracts.staff import StaffEntry
from services.console.access import Console
from services.console.sessions import LockoutPolicy, SessionPolicy, Sessions
from services.domain.actors import Actor
from services.http.app import create_app
from services.runtime import System
from services.staff.passwords import set_password
from tests.conftest import People

pytestmark = pytest.mark.integration

PASSWORD = "rahasia-kantor-1"
HEAD = Actor(id="kepala", role="head")
ALL_MET = dict.fromkeys(("U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4"), True)
CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


@dataclass
class Wall:
    """The console's real-time clock, moved by hand."""

    now: datetime = field(default_factory=lambda: datetime(2026, 3, 16, 2, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Web:
    system: System
    wall: Wall
    app: Any
    people: People

    def client(self) -> httpx.AsyncClient:
        """A browser of its own (its own cookies)."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),
                                 base_url="http://console.test", follow_redirects=False)


@pytest_asyncio.fixture
async def web(system: System, people: People) -> AsyncIterator[Web]:
    wall = Wall()
    app = create_app(system, manage_lifecycle=False)
    app.state["console"] = Console(system, Sessions(
        SessionPolicy(idle=timedelta(minutes=30), lifetime=timedelta(hours=8)),
        LockoutPolicy(max_failures=5, window=timedelta(minutes=15),
                      lock=timedelta(minutes=15)), now=wall))
    for actor, role, unit, tier in (("budi", "officer", "perizinan", "pelaksana"),
                                    ("dewi", "officer", "pengaduan", "pelaksana"),
                                    ("sri", "supervisor", None, None),
                                    ("kepala", "head", None, None),
                                    ("inspektorat-1", "auditor", None, None)):
        await system.staff.register(msgspec.convert(
            {"actor": actor, "name": actor.title(), "role": role, "unit": unit, "tier": tier},
            StaffEntry), HEAD)
        assert system.pool is not None
        async with system.pool.acquire() as conn:
            await set_password(conn, actor, PASSWORD)
    yield Web(system, wall, app, people)


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:2000]
    return found.group(1)


async def sign_in(browser: httpx.AsyncClient, actor: str,
                  password: str = PASSWORD) -> httpx.Response:
    form = await browser.get("/console/login")
    return await browser.post("/console/login", data={
        "actor": actor, "password": password, "csrf_token": csrf_of(form)})


@contextlib.asynccontextmanager
async def signed_in(web: Web, actor: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of its own, signed in as `actor`."""
    async with web.client() as browser:
        r = await sign_in(browser, actor)
        assert r.status_code == 303 and r.headers["location"] == "/console/", r.text[:500]
        yield browser


async def new_application(web: Web, external_id: str) -> dict[str, Any]:
    async with web.client() as api:
        r = await api.post("/applications", headers=web.people["oss"], json={
            "channel": "oss", "external_id": external_id, "service_code": "SS-KBLI-10510",
            "applicant": {"name": "Siti Rahma", "nik": "3214010101800001"},
            "business": {"name": "CV Susu Murni", "kbli": "10510", "scale": "kecil",
                         "in_industrial_estate": True, "address": "Jl. Veteran 139"}})
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def version_of(web: Web, case_id: str) -> int:
    async with web.client() as api:
        r = await api.get(f"/applications/{case_id}", headers=web.people["supervisor"])
    return int(r.json()["version"])


async def refused(web: Web, browser: httpx.AsyncClient, case_id: str, step: str,
                  data: dict[str, Any], status: int = 403) -> httpx.Response:
    """POSTing the step is refused with `status`, and the case is left as it was."""
    before = await version_of(web, case_id)
    r = await browser.post(f"/console/cases/{case_id}/steps/{step}", data=data)
    assert r.status_code == status, r.text[:1000]
    assert await version_of(web, case_id) == before
    return r


# -- sign-in -------------------------------------------------------------------------------
async def test_the_sign_in_form_is_indonesian_with_actor_password_and_a_csrf_token(
        web: Web) -> None:
    async with web.client() as browser:
        r = await browser.get("/console/login")
    assert r.status_code == 200
    assert '<html lang="id">' in r.text and "Masuk" in r.text
    assert 'name="actor"' in r.text and 'name="password"' in r.text and csrf_of(r)
    assert '<label for="actor">ID pengguna</label>' in r.text


async def test_signing_in_sets_a_server_side_session_cookie_and_shows_the_queue(
        web: Web) -> None:
    async with web.client() as browser:
        r = await sign_in(browser, "budi")
        assert r.status_code == 303
        cookie = next(c for c in r.headers.get_list("set-cookie")
                      if c.startswith("ptsp_console="))
        assert "HttpOnly" in cookie and "Path=/console" in cookie
        assert "samesite=lax" in cookie.lower()
        assert "Secure" not in cookie  # plain http here; see the TLS test below
        value = cookie.split(";")[0].split("=", 1)[1]
        assert web.system.pool is not None
        stored = await web.system.pool.fetch("SELECT id_hash, actor FROM console_sessions")
        assert [r["actor"] for r in stored] == ["budi"]
        assert value not in {r["id_hash"] for r in stored}  # only its hash is kept
        queue = await browser.get("/console/")
        assert queue.status_code == 200 and "Antrian saya" in queue.text


async def test_the_cookie_is_secure_behind_tls(system: System, people: People) -> None:
    from dataclasses import replace

    system.settings = replace(system.settings, public_url="https://ptsp.example.go.id")
    app = create_app(system, manage_lifecycle=False)
    await system.staff.register(msgspec.convert(
        {"actor": "sri", "name": "Sri", "role": "supervisor"}, StaffEntry), HEAD)
    assert system.pool is not None
    async with system.pool.acquire() as conn:
        await set_password(conn, "sri", PASSWORD)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://ptsp.example.go.id") as browser:
        r = await sign_in(browser, "sri")
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("ptsp_console="))
    assert "Secure" in cookie


async def test_wrong_password_and_unknown_id_get_the_same_refusal(web: Web) -> None:
    async with web.client() as browser:
        wrong = await sign_in(browser, "budi", "salah-sekali")
        unknown = await sign_in(browser, "nobody", "salah-sekali")
    assert wrong.status_code == unknown.status_code == 401
    assert "ID pengguna atau kata sandi salah." in wrong.text
    assert "ID pengguna atau kata sandi salah." in unknown.text


async def test_five_wrong_passwords_lock_the_id_for_a_while(web: Web) -> None:
    async with web.client() as browser:
        for _ in range(4):
            assert (await sign_in(browser, "budi", "salah-sekali")).status_code == 401
        fifth = await sign_in(browser, "budi", "salah-sekali")
        assert fifth.status_code == 429 and "ditolak untuk sementara" in fifth.text
        # Locked: the right password is refused too.
        assert (await sign_in(browser, "budi")).status_code == 429
        web.wall.advance(minutes=14)
        assert (await sign_in(browser, "budi")).status_code == 429
        web.wall.advance(minutes=2)
        assert (await sign_in(browser, "budi")).status_code == 303
    # Another id was never locked by budi's failures.
    async with web.client() as other:
        assert (await sign_in(other, "sri")).status_code == 303


async def test_a_post_without_the_csrf_token_is_refused(web: Web) -> None:
    async with web.client() as browser:
        await browser.get("/console/login")
        r = await browser.post("/console/login", data={"actor": "budi", "password": PASSWORD})
        assert r.status_code == 403
        r = await browser.post("/console/login", data={
            "actor": "budi", "password": PASSWORD, "csrf_token": "forged"})
        assert r.status_code == 403
    app = await new_application(web, "OSS-CSRF-1")
    async with signed_in(web, "budi") as browser:
        r = await refused(web, browser, app["id"], "verification", {"results": list(ALL_MET)})
        assert "Token keamanan" in r.text
        # Another session's token is no good either.
        async with signed_in(web, "sri") as other:
            foreign = csrf_of(await other.get("/console/"))
        await refused(web, browser, app["id"], "verification",
                      {"results": list(ALL_MET), "csrf_token": foreign})


async def test_a_forged_post_by_the_wrong_role_is_refused_by_the_policy(web: Web) -> None:
    app = await new_application(web, "OSS-ROLE-1")
    async with signed_in(web, "budi") as browser:
        page = await browser.get(f"/console/cases/{app['id']}")
        assert page.status_code == 200
        # An officer sees no decision or issuance: the policy is the supervisor's.
        assert "/steps/verification" in page.text
        assert "/steps/decision" not in page.text and "/steps/issuance" not in page.text
        await refused(web, browser, app["id"], "decision", {
            "outcome": "approve", "reason": "ok", "csrf_token": csrf_of(page)})


async def test_an_officer_of_another_unit_cannot_see_the_case(web: Web) -> None:
    app = await new_application(web, "OSS-UNIT-1")
    async with signed_in(web, "dewi") as browser:
        r = await browser.get(f"/console/cases/{app['id']}")
        assert r.status_code == 404
        unknown = await browser.get("/console/cases/00000000-0000-4000-8000-000000000000")
        assert unknown.status_code == 404
        found = await browser.get("/console/search", params={"q": app["tracking_number"]})
        assert found.status_code == 404 and app["id"] not in found.text
        page = await browser.get("/console/")
        await refused(web, browser, app["id"], "verification", {
            "results": list(ALL_MET), "csrf_token": csrf_of(page)}, status=404)


async def test_verifying_in_the_console_starts_the_clock(web: Web) -> None:
    app = await new_application(web, "OSS-VERIFY-1")
    async with signed_in(web, "budi") as browser:
        found = await browser.get("/console/search", params={"q": app["tracking_number"]})
        assert found.status_code == 303
        assert found.headers["location"] == f"/console/cases/{app['id']}"
        page = await browser.get(found.headers["location"])
        assert app["tracking_number"] in page.text and "Menunggu verifikasi" in page.text
        # Every requirement of the catalogue is offered, with its text.
        for code in ALL_MET:
            assert f'name="results" value="{code}"' in page.text
        r = await browser.post(f"/console/cases/{app['id']}/steps/verification", data={
            "results": list(ALL_MET), "csrf_token": csrf_of(page)})
        assert r.status_code == 303, r.text[:3000]
        done = await browser.get(r.headers["location"])
    assert "Tersimpan: Verifikasi berkas." in done.text
    assert "Berkas lengkap" in done.text and "Berjalan" in done.text
    due = re.search(r"data-clock-due[^>]*>([^<]+)<", done.text)
    assert due and re.fullmatch(r"\d{1,2} (Maret|April) 2026, akhir hari", due.group(1)), due
    async with web.client() as api:
        view = (await api.get(f"/applications/{app['id']}",
                              headers=web.people["officer"])).json()
    assert view["status"] == "complete" and view["sla"]["state"] == "running"
    assert "Berkas dinyatakan lengkap" in done.text  # the timeline, from the event store


async def test_a_refused_step_says_why_beside_the_field(web: Web) -> None:
    app = await new_application(web, "OSS-ERR-1")
    async with signed_in(web, "sri") as browser:
        page = await browser.get(f"/console/cases/{app['id']}")
        token = csrf_of(page)
        # Nothing chosen: the field is named.
        r = await browser.post(f"/console/cases/{app['id']}/steps/decision",
                               data={"csrf_token": token})
        assert r.status_code == 422
        assert 'id="error-outcome"' in r.text and "Isian ini wajib diisi." in r.text
        # The case's state refuses it: the rule, in Indonesian.
        r = await browser.post(f"/console/cases/{app['id']}/steps/issuance",
                               data={"csrf_token": token})
        assert r.status_code == 409
        assert "Sertifikat hanya dapat diterbitkan setelah disetujui." in r.text


async def test_an_idle_session_ends_and_so_does_an_old_one(web: Web) -> None:
    async with signed_in(web, "budi") as browser:
        web.wall.advance(minutes=29)
        assert (await browser.get("/console/")).status_code == 200
        web.wall.advance(minutes=29)  # used a moment ago: still alive
        assert (await browser.get("/console/")).status_code == 200
        web.wall.advance(minutes=31)
        r = await browser.get("/console/")
        assert r.status_code == 303 and r.headers["location"] == "/console/login"
    async with signed_in(web, "budi") as browser:
        for _ in range(17):  # in use every half hour, yet over its 8 hours
            web.wall.advance(minutes=29)
            await browser.get("/console/")
        r = await browser.get("/console/")
        assert r.status_code == 303


async def test_signing_out_ends_the_session(web: Web) -> None:
    async with signed_in(web, "budi") as browser:
        page = await browser.get("/console/")
        r = await browser.post("/console/logout", data={"csrf_token": csrf_of(page)})
        assert r.status_code == 303
        assert (await browser.get("/console/")).status_code == 303


async def test_disabling_a_person_ends_their_sessions(web: Web) -> None:
    async with signed_in(web, "budi") as browser:
        assert (await browser.get("/console/")).status_code == 200
        await web.system.staff.disable("budi", "pindah tugas", HEAD)
        r = await browser.get("/console/")
        assert r.status_code == 303 and r.headers["location"] == "/console/login"
        assert web.system.pool is not None
        assert await web.system.pool.fetchval(
            "SELECT count(*) FROM console_sessions WHERE actor = 'budi'") == 0
        again = await sign_in(browser, "budi")
        assert again.status_code == 403 and "dinonaktifkan" in again.text


async def test_the_console_switches_to_english(web: Web) -> None:
    async with signed_in(web, "budi") as browser:
        page = await browser.get("/console/")
        r = await browser.post("/console/language", data={
            "language": "en", "next": "/console/", "csrf_token": csrf_of(page)})
        assert r.status_code == 303
        english = await browser.get("/console/")
        assert '<html lang="en">' in english.text and "My queue" in english.text
        # A redirect leaves the console never.
        r = await browser.post("/console/language", data={
            "language": "id", "next": "https://evil.example/", "csrf_token": csrf_of(page)})
        assert r.headers["location"] == "/console/"


async def test_pages_by_role(web: Web) -> None:
    async with signed_in(web, "budi") as officer:
        assert (await officer.get("/console/sla")).status_code == 403
        assert (await officer.get("/console/audit")).status_code == 403
        assert "/console/sla" not in (await officer.get("/console/")).text
    async with signed_in(web, "sri") as supervisor:
        board = await supervisor.get("/console/sla")
        assert board.status_code == 200 and "Papan SLA" in board.text
        assert (await supervisor.get("/console/escalations")).status_code == 200
        assert (await supervisor.get("/console/staff")).status_code == 200
    async with signed_in(web, "inspektorat-1") as auditor:
        page = await auditor.get("/console/audit")
        assert page.status_code == 200
        r = await auditor.post("/console/audit/verify", data={"csrf_token": csrf_of(page)})
        assert r.status_code == 200 and 'data-verified="ok"' in r.text


async def new_complaint(web: Web, external_id: str) -> dict[str, Any]:
    async with web.client() as api:
        r = await api.post("/complaints", headers=web.people["whatsapp"], json={
            "channel": "whatsapp", "external_id": external_id,
            "complainant": {"name": "Siti Aminah", "phone": "081234567890"},
            "subject_matter": "Dimintai biaya", "description": "Petugas meminta uang.",
            "service_received_on": "2026-03-13"})
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def test_the_timeline_shows_personal_data_only_to_whom_the_view_shows_it(
        web: Web) -> None:
    complaint = await new_complaint(web, "WA-CONSOLE-1")
    async with signed_in(web, "dewi") as officer:
        page = await officer.get(f"/console/cases/{complaint['id']}")
        assert page.status_code == 200 and "Pengaduan diterima" in page.text
        assert "Siti Aminah" in page.text  # an officer of the unit sees the complainant
    async with signed_in(web, "kepala") as head:
        page = await head.get(f"/console/cases/{complaint['id']}")
        r = await head.post(f"/console/cases/{complaint['id']}/steps/confidentiality",
                            data={"reason": "pelapor meminta", "csrf_token": csrf_of(page)})
        assert r.status_code == 303, r.text[:2000]
        assert "Siti Aminah" in (await head.get(r.headers["location"])).text
    async with signed_in(web, "dewi") as officer:
        page = await officer.get(f"/console/cases/{complaint['id']}")
        assert "Siti Aminah" not in page.text and "081234567890" not in page.text
        assert "***" in page.text and "Identitas dirahasiakan" in page.text


async def test_every_report_renders_in_words_and_prints(web: Web) -> None:
    async with signed_in(web, "kepala") as head:
        for path, words in (("/console/reports/monthly/2026-03", "Maret 2026"),
                            ("/console/reports/quarterly/2026-Q1", "Triwulan I 2026"),
                            ("/console/reports/yearly/2026", "Tahun 2026")):
            r = await head.get(path)
            assert r.status_code == 200, (path, r.text[:3000])
            assert words in r.text and "Periode sebelumnya" in r.text
            assert "_within_sla<" not in r.text and '{"median"' not in r.text
        pdf = await head.get("/console/reports/yearly/2026/pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
        assert pdf.headers["content-disposition"].startswith("attachment")
        csv = await head.get("/console/reports/quarterly/2026-Q1/csv")
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        picked = await head.get("/console/reports/monthly", params={"key": "2026-02"})
        assert picked.headers["location"] == "/console/reports/monthly/2026-02"
        assert (await head.get("/console/reports/monthly/2026-13")).status_code == 400


async def test_the_head_registers_and_disables_a_person_in_the_console(web: Web) -> None:
    async with signed_in(web, "kepala") as head:
        page = await head.get("/console/staff")
        token = csrf_of(page)
        weak = await head.post("/console/staff", data={
            "actor": "ani", "name": "Ani", "role": "officer", "unit": "perizinan",
            "password": "pendek", "csrf_token": token})
        assert weak.status_code == 422 and 'id="error-password"' in weak.text
        r = await head.post("/console/staff", data={
            "actor": "ani", "name": "Ani Rahayu", "role": "officer", "unit": "perizinan",
            "password": "kata-sandi-ani-1", "csrf_token": token})
        assert r.status_code == 303, r.text[:2000]
        member = await web.system.staff.member("ani")
        assert member is not None and (member.role, member.unit, member.tier) == (
            "officer", "perizinan", "pelaksana")
        async with web.client() as ani:
            assert (await sign_in(ani, "ani", "kata-sandi-ani-1")).status_code == 303
            assert (await ani.get("/console/")).status_code == 200
            r = await head.post("/console/staff/ani/disable", data={
                "reason": "mutasi", "csrf_token": token})
            assert r.status_code == 303
            assert (await ani.get("/console/")).status_code == 303
    async with signed_in(web, "sri") as supervisor:  # reads the register, writes nothing
        page = await supervisor.get("/console/staff")
        assert page.status_code == 200 and "Ani Rahayu" in page.text
        assert 'action="/console/staff"' not in page.text
        r = await supervisor.post("/console/staff", data={
            "actor": "x", "name": "X", "role": "auditor", "csrf_token": csrf_of(page)})
        assert r.status_code == 403


async def test_an_open_list_asks_cheaply_and_gets_nothing_when_nothing_changed(
        web: Web) -> None:
    async with signed_in(web, "budi") as browser:
        page = await browser.get("/console/")
        stamp = re.search(r'hx-get="/console/queue/rows\?stamp=([^"]+)"', page.text)
        assert stamp, page.text[:3000]
        same = await browser.get("/console/queue/rows", params={"stamp": unquote(stamp[1])})
        assert same.status_code == 204 and same.content == b""
        changed = await browser.get("/console/queue/rows", params={"stamp": "old"})
        assert changed.status_code == 200 and 'id="queue"' in changed.text
        assert "<html" not in changed.text  # the rows alone, swapped in place


async def test_the_head_corrects_the_calendar(web: Web) -> None:
    async with signed_in(web, "kepala") as head:
        page = await head.get("/console/calendar", params={"year": 2026})
        assert page.status_code == 200 and "Hari Raya Idul Fitri" in page.text
        missing = await head.post("/console/calendar", data={
            "date": "2026-05-04", "kind": "holiday", "reason": "", "csrf_token": csrf_of(page)})
        assert missing.status_code == 422 and 'id="error-reason"' in missing.text
        r = await head.post("/console/calendar", data={
            "date": "2026-05-04", "kind": "holiday", "reason": "cuti bersama daerah",
            "csrf_token": csrf_of(page)})
        assert r.status_code == 303
        shown = await head.get(r.headers["location"])
        assert "4 Mei 2026" in shown.text and "cuti bersama daerah" in shown.text
    assert not web.system.calendar.current.is_working_day(date(2026, 5, 4))
    async with signed_in(web, "sri") as supervisor:  # sees the calendar, corrects nothing
        page = await supervisor.get("/console/calendar")
        assert 'action="/console/calendar"' not in page.text
        r = await supervisor.post("/console/calendar", data={
            "date": "2026-05-05", "kind": "holiday", "reason": "x", "csrf_token": csrf_of(page)})
        assert r.status_code == 403


async def test_an_auditor_reads_the_hash_linked_history_and_the_case_as_it_stood(
        web: Web) -> None:
    app = await new_application(web, "OSS-AUDIT-1")
    async with signed_in(web, "budi") as officer:
        page = await officer.get(f"/console/cases/{app['id']}")
        r = await officer.post(f"/console/cases/{app['id']}/steps/verification", data={
            "results": list(ALL_MET), "csrf_token": csrf_of(page)})
        assert r.status_code == 303
    async with signed_in(web, "inspektorat-1") as auditor:
        record = await auditor.get(f"/console/audit/cases/{app['id']}")
        assert record.status_code == 200
        history = await web.system.audit.history(UUID(app["id"]))  # type: ignore[union-attr]
        for entry in history:
            assert entry["hash"] and f'title="{entry["hash"]}"' in record.text
            assert f'title="{entry["prev_case_hash"]}"' in record.text
        then = await auditor.get(f"/console/audit/cases/{app['id']}", params={"as_of": "1"})
        assert 'data-as-of-status="awaiting_verification"' in then.text
        bad = await auditor.get(f"/console/audit/cases/{app['id']}", params={"as_of": "9"})
        assert bad.status_code == 422 and 'id="error-as_of"' in bad.text
    async with signed_in(web, "budi") as officer:
        assert (await officer.get(f"/console/audit/cases/{app['id']}")).status_code == 403
