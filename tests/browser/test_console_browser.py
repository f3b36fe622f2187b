"""The staff console in a real browser: headless Chromium (Debian's `chromium`, driven
by Playwright) against a real `ptsp up` on a simulated clock, with people registered by
`ptsp staff add` as an office would.

One `ptsp up` and one browser for the module; each person signs in in a browser context
of their own (their own cookies). The screenshots of the queue, a case page and the SLA
board are saved to docs/screenshots/ (the README shows them); axe-core (vendored in
tests/browser/vendor/, used only here) checks the main pages for accessibility."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.infra.embedded import EmbeddedPostgres, free_port
from services.infra.tokens import TokenIssuer
from tests.e2e.test_restart import Up, start

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
SCREENSHOTS = Path(os.environ.get("PTSP_SCREENSHOTS", ROOT / "docs" / "screenshots"))
PTSP = str(Path(sys.executable).with_name("ptsp"))
START = "2026-03-16T09:00:00+07:00"
"""A Monday: the 7 working days of a file complete now end before Nyepi's holidays."""
PASSWORD = "kata-sandi-uji-1"
PEOPLE = {  # actor: (name, role, unit)
    "budi": ("Budi Santoso", "officer", "perizinan"),
    "dewi": ("Dewi Lestari", "officer", "pengaduan"),
    "sri": ("Sri Wahyuni", "supervisor", None),
    "kepala": ("Kepala Dinas", "head", None),
}
ALL_MET = ("U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4")
WAIT_MS = 30_000


@dataclass
class Office:
    up: Up
    url: str
    data_dir: Path

    def token(self, role: str, actor: str, **claims: str) -> dict[str, str]:
        issuer = TokenIssuer.of_keys_dir(self.data_dir / "keys")
        return {"Authorization": "Bearer " + issuer.issue(role=role, actor=actor,
                                                          ttl_seconds=3600, **claims)}

    def submit(self, external_id: str) -> dict[str, Any]:
        r = httpx.post(f"{self.url}/applications", timeout=30,
                       headers=self.token("channel", "oss-gateway", channel="oss"), json={
            "channel": "oss", "external_id": external_id, "service_code": "SS-KBLI-10510",
            "applicant": {"name": "Siti Rahma", "nik": "3214010101800001"},
            "business": {"name": "CV Susu Murni", "kbli": "10510", "scale": "kecil",
                         "in_industrial_estate": True,
                         "address": "Jl. Veteran 139, Purwakarta"}})
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created

    def application(self, case_id: str) -> dict[str, Any]:
        r = httpx.get(f"{self.url}/applications/{case_id}", timeout=30,
                      headers=self.token("supervisor", "sri"))
        found: dict[str, Any] = r.json()
        return found

    def jump_clock(self, to: datetime) -> None:
        r = httpx.post(f"{self.url}/admin/clock", json={"now": to.isoformat()}, timeout=30,
                       headers=self.token("head", "kepala"))
        assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    """`ptsp up` on a simulated clock, and the office's people in its staff register."""
    base = tmp_path_factory.mktemp("console")
    data_dir, port = base / "data", free_port()
    up = start(data_dir, port, "--simulated-clock", START)
    try:
        ready = up.ready()
        assert ready is not None, "".join(up.stderr)[-3000:]
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "NATS_URL")} | {"PTSP_DATA_DIR": str(data_dir)}
        for actor, (name, role, unit) in PEOPLE.items():
            command = [PTSP, "staff", "add", actor, "--name", name, "--role", role]
            if unit:
                command += ["--unit", unit]
            done = subprocess.run(command, input=PASSWORD + "\n", env=env, text=True,
                                  capture_output=True, timeout=120)
            assert done.returncode == 0, done.stderr
        yield Office(up, ready.split()[2], data_dir)
    finally:
        stopped(up, data_dir)


def stopped(up: Up, data_dir: Path) -> None:
    """SIGTERM, as Ctrl-C: `ptsp up` stops everything it started; what a stop that hangs
    leaves (its Postgres) is stopped here."""
    with contextlib.suppress(ProcessLookupError):
        up.proc.terminate()
    try:
        up.proc.wait(60)
    except subprocess.TimeoutExpired:
        up.proc.kill()
        EmbeddedPostgres(data_dir / "postgres").stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless (Playwright's own browsers are never downloaded)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def case(office: Office) -> dict[str, Any]:
    """A new application, as a channel submits it."""
    return office.submit(f"OSS-BROWSER-{time.time_ns()}")


def signed_in(browser: Any, office: Office, actor: str, password: str = PASSWORD) -> Any:
    """A page of a new browser context (its own cookies), signed in as `actor`."""
    context = browser.new_context(base_url=office.url, viewport={"width": 1280, "height": 900},
                                  locale="id-ID")
    page = context.new_page()
    page.goto("/console/login")
    page.get_by_label("ID pengguna").fill(actor)
    page.get_by_label("Kata sandi").fill(password)
    page.get_by_role("button", name="Masuk").click()
    page.wait_for_url(re.compile(r"/console/$"))
    return page


def accessibility_problems(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page (WCAG 2.x A and AA)."""
    page.add_script_tag(content=AXE.read_text())
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_an_officer_finds_a_new_application_verifies_it_and_sees_the_clock_start(
        browser: Any, office: Office, case: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    page = signed_in(browser, office, "budi")
    expect(page.locator("html")).to_have_attribute("lang", "id")
    expect(page.get_by_role("heading", name="Antrian saya")).to_be_visible()
    page.get_by_label("Cari perkara dengan nomor registrasi").fill(case["tracking_number"])
    page.get_by_label("Cari perkara dengan nomor registrasi").press("Enter")
    page.wait_for_url(f"**/console/cases/{case['id']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(case["tracking_number"])
    expect(page.locator("[data-status]")).to_have_text("Menunggu verifikasi")

    page.get_by_text("Verifikasi berkas", exact=True).first.click()  # opens the step
    for code in ALL_MET:
        page.locator(f"#step-verification input[name=results][value={code}]").check()
    page.locator("#step-verification").get_by_role("button", name="Verifikasi berkas").click()
    expect(page.get_by_role("status")).to_contain_text("Tersimpan: Verifikasi berkas.")
    expect(page.locator("[data-status]")).to_have_text("Berkas lengkap")
    expect(page.locator(".clock .badge")).to_have_text("Berjalan")

    # Due at 00:00 after the 7th working day: shown as that working day, end of day.
    due = datetime.fromisoformat(office.application(case["id"])["sla"]["due_at"])
    assert (due.hour, due.minute) == (0, 0)
    last = due - timedelta(days=1)
    months = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
              "September", "Oktober", "November", "Desember")
    expect(page.locator("[data-clock-due]")).to_have_text(
        f"{last.day} {months[last.month - 1]} {last.year}, akhir hari")
    expect(page.locator("[data-days-left]")).to_contain_text("hari kerja")
    expect(page.locator("li[data-event='application.file_declared_complete']")).to_contain_text(
        "Berkas dinyatakan lengkap")
    screenshot(page, "case")

    page.goto("/console/")  # the queue: the case with its deadline (the read model trails)
    row = page.locator(f"tr[data-case='{case['id']}']")
    expect(row).to_contain_text(case["tracking_number"], timeout=WAIT_MS)
    expect(row).to_contain_text("hari kerja", timeout=WAIT_MS)
    screenshot(page, "queue")
    page.context.close()


def test_an_officer_of_another_unit_does_not_see_the_case(
        browser: Any, office: Office, case: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    page = signed_in(browser, office, "dewi")
    expect(page.get_by_role("heading", name="Antrian saya")).to_be_visible()
    assert case["tracking_number"] not in page.content()
    answer = page.goto(f"/console/cases/{case['id']}")
    assert answer is not None and answer.status == 404
    page.goto("/console/")
    page.get_by_label("Cari perkara dengan nomor registrasi").fill(case["tracking_number"])
    page.get_by_label("Cari perkara dengan nomor registrasi").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Tidak ada perkara")
    page.context.close()


def test_forged_posts_are_refused(browser: Any, office: Office,
                                  case: dict[str, Any]) -> None:
    before = office.application(case["id"])["version"]
    page = signed_in(browser, office, "budi")
    # No CSRF token: refused whatever the step.
    r = page.request.post(f"/console/cases/{case['id']}/steps/technical-review",
                          form={"recommendation": "approve", "note": "x"})
    assert r.status == 403
    # With the session's own token, but a step of another role (the supervisor's).
    page.goto(f"/console/cases/{case['id']}")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert page.locator("#step-decision").count() == 0  # not shown to an officer
    r = page.request.post(f"/console/cases/{case['id']}/steps/decision",
                          form={"outcome": "approve", "reason": "x", "csrf_token": token})
    assert r.status == 403
    assert office.application(case["id"])["version"] == before
    page.context.close()


def test_the_sla_board_shows_the_case_breached_after_the_clock_passes_its_deadline(
        browser: Any, office: Office, case: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    view = office.application(case["id"])
    assert view["sla"]["state"] == "running", view["sla"]
    page = signed_in(browser, office, "sri")
    page.goto("/console/sla")
    expect(page.get_by_role("heading", name="Papan SLA")).to_be_visible()
    row = page.locator(f"tr[data-case='{case['id']}']")
    expect(row).to_have_count(0)
    office.jump_clock(datetime.fromisoformat(view["sla"]["due_at"]) + timedelta(hours=1))
    # The open board updates itself (htmx polling); no reload.
    expect(row).to_contain_text("Terlampaui", timeout=WAIT_MS)
    expect(row).to_contain_text(case["tracking_number"])
    expect(row).to_contain_text("terlambat")
    screenshot(page, "sla-board")
    page.context.close()


def test_a_monthly_report_in_words_with_pdf_and_csv(browser: Any, office: Office) -> None:
    from playwright.sync_api import expect

    page = signed_in(browser, office, "kepala")
    page.goto("/console/reports/monthly/2026-03")
    expect(page.get_by_role("heading", level=1)).to_have_text("Laporan bulanan pelayanan")
    expect(page.locator(".period")).to_contain_text("Maret 2026 (1 Maret 2026 – 31 Maret 2026)")
    expect(page.locator("tr[data-key='applications.share_issued_within_sla']")).to_contain_text("100%")
    expect(page.locator("body")).not_to_contain_text("share_issued")  # no wire names
    screenshot(page, "report")
    pdf = page.request.get("/console/reports/monthly/2026-03/pdf")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF-")
    csv = page.request.get("/console/reports/monthly/2026-03/csv")
    assert csv.status == 200 and csv.text().startswith("section,metric,key,value")
    page.context.close()


def test_five_wrong_passwords_refuse_signing_in_for_a_while(browser: Any,
                                                            office: Office) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(base_url=office.url)
    page = context.new_page()
    for attempt in range(6):
        page.goto("/console/login")
        page.get_by_label("ID pengguna").fill("kepala")
        page.get_by_label("Kata sandi").fill("salah" if attempt < 5 else PASSWORD)
        page.get_by_role("button", name="Masuk").click()
        expected = "ID pengguna atau kata sandi salah." if attempt < 4 else \
            "ditolak untuk sementara"
        expect(page.get_by_role("alert")).to_contain_text(expected)
    assert "/console/login" in page.url  # the right password, yet refused
    context.close()


def test_the_main_pages_have_no_serious_accessibility_problems(
        browser: Any, office: Office, case: dict[str, Any]) -> None:
    found: dict[str, list[dict[str, Any]]] = {}
    context = browser.new_context(base_url=office.url)
    page = context.new_page()
    page.goto("/console/login")
    found["login"] = accessibility_problems(page)
    context.close()
    page = signed_in(browser, office, "sri")
    for path in ("/console/", f"/console/cases/{case['id']}", "/console/sla",
                 "/console/escalations", "/console/reports", "/console/reports/monthly/2026-03",
                 "/console/calendar", "/console/staff"):
        page.goto(path)
        found[path] = accessibility_problems(page)
    page.context.close()
    assert not any(found.values()), found


def test_the_english_console(browser: Any, office: Office) -> None:
    from playwright.sync_api import expect

    page = signed_in(browser, office, "budi")
    page.get_by_label("Bahasa").select_option("en")
    page.get_by_role("button", name="Ganti bahasa").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="My queue")).to_be_visible()
    page.context.close()
