"""End to end over HTTP with the whole pipeline (relay, JetStream, read models) on the
simulated clock: the monthly report's rules where they show in the API (issue 12, items
8, 9, 10, 11, 17), and the supervision lists paged by cursor (issue 11, target 4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from services.runtime import System
from services.settings import Settings
from tests.conftest import People
from tests.readmodels import caught_up

pytestmark = pytest.mark.e2e

ALL_MET = dict.fromkeys(("U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4"), True)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The office clock starts on Monday 2 March 2026."""
    from dataclasses import replace

    return replace(settings, simulated_clock=datetime.fromisoformat("2026-03-02T08:00:00+07:00"))


class Office:
    def __init__(self, http: httpx.AsyncClient, system: System, people: People) -> None:
        self.http, self.system, self.people = http, system, people

    async def at(self, when: str) -> None:
        r = await self.http.post("/admin/clock", json={"now": f"{when}:00+07:00"},
                                 headers=self.people["head"])
        assert r.status_code == 200, r.text

    async def post(self, path: str, who: str, body: dict[str, Any] | None = None,
                   status: int = 200) -> dict[str, Any]:
        # No retry: the pipeline writes to cases too (a breach escalates the moment the
        # clock passes it), but a race with the system's own write is run again by the
        # case service (services/cases/service.py), never a 409 for the officer.
        r = await self.http.post(path, json=body or {}, headers=self.people[who])
        assert r.status_code == status, r.text
        answer: dict[str, Any] = r.json()
        return answer

    async def get(self, path: str, who: str = "supervisor", **params: Any) -> dict[str, Any]:
        await caught_up(self.system)
        r = await self.http.get(path, params=params, headers=self.people[who])
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer

    async def application(self, external_id: str) -> str:
        created = await self.post("/applications", "oss", {
            "channel": "oss", "external_id": external_id, "service_code": "SS-KBLI-10510",
            "applicant": {"name": "Siti Rahma"},
            "business": {"name": "CV Susu", "kbli": "10510", "scale": "kecil",
                         "in_industrial_estate": True, "address": "Purwakarta"}}, 201)
        return str(created["id"])

    async def month(self, month: str) -> dict[str, Any]:
        return await self.get(f"/reports/monthly/{month}")

    async def complete(self, when: str, *cases: str) -> str:
        """The files found complete at `when`: the deadline their clock runs to."""
        await self.at(when)
        due = ""
        for case in cases:
            view = await self.post(f"/applications/{case}/verification", "officer",
                                   {"results": ALL_MET})
            due = view["sla"]["due_at"]
        return due


async def test_a_closed_months_breach_stays_and_a_withdrawal_is_withdrawn(
        pipeline_http: httpx.AsyncClient, pipeline_system: System, people: People) -> None:
    office = Office(pipeline_http, pipeline_system, people)
    # Item 9: complete on 2 March (due 12 March), returned 20 March, resubmitted 6 April.
    late = await office.application("OSS-ITEM-9")
    withdrawn = await office.application("OSS-ITEM-11")
    assert (await office.complete("2026-03-02T10:00", late, withdrawn)).startswith(
        "2026-03-12T00:00")
    # Item 11: withdrawn before its deadline.
    await office.at("2026-03-05T10:00")
    view = await office.post(f"/applications/{withdrawn}/withdrawal", "oss", {"reason": "batal"})
    assert view["sla"]["state"] == "withdrawn"
    await office.at("2026-03-20T11:00")
    await office.post(f"/applications/{late}/return", "kasi",
                      {"reason": "K1 kurang", "unmet": ["K1"]})
    await office.at("2026-03-31T18:00")
    march = (await office.month("2026-03"))["applications"]
    assert (march["breached"], march["withdrawn"], march["issued_within_sla"]) == (1, 1, 0)
    withdrawn_list = await office.get("/cases", sla_state="withdrawn")
    assert [c["id"] for c in withdrawn_list["items"]] == [withdrawn]
    assert withdrawn_list["items"][0]["sla"]["state"] == "withdrawn"

    await office.at("2026-04-06T09:00")
    await office.post(f"/applications/{late}/resubmission", "oss", {"note": "lengkap"})
    await office.at("2026-04-30T18:00")
    assert (await office.month("2026-03"))["applications"] == march
    assert (await office.month("2026-04"))["applications"]["breached"] == 0


async def test_suggestions_apart_and_out_of_the_queue(
        pipeline_http: httpx.AsyncClient, pipeline_system: System, people: People) -> None:
    office = Office(pipeline_http, pipeline_system, people)
    body = {"channel": "whatsapp", "description": "Antrean lama",
            "service_received_on": "2026-02-27", "subject_matter": "antrean"}
    complaint = (await office.post("/complaints", "whatsapp", {
        **body, "external_id": "WA-1",
        "complainant": {"name": "Siti", "phone": "081234567890"}}, 201))["id"]
    suggestion = await office.post("/complaints", "whatsapp", {
        **body, "external_id": "WA-2", "complainant": None}, 201)
    assert suggestion["kind"] == "suggestion"
    # Item 17: a suggestion has no clock, so no place in the escalation queue.
    queue = await office.get("/queues/escalation")
    assert [c["id"] for c in queue["items"]] == [complaint]
    # The staff register names the officer in the figures per officer.
    await office.post("/staff", "head", {"actor": "dewi", "name": "Dewi Lestari",
                                         "role": "officer", "unit": "pengaduan"}, 201)
    await office.post(f"/complaints/{complaint}/assignment", "supervisor", {"officer": "dewi"})
    await office.post(f"/complaints/{complaint}/classification", "dewi",
                      {"service_code": "SS-KBLI-10510", "problem_type": "time"})
    await office.post(f"/complaints/{complaint}/analysis", "dewi", {
        "core_problem": "antrean", "standard_refs": ["SOP"], "documents_checked": [],
        "handling_plan": "clarification"})
    await office.post(f"/complaints/{complaint}/findings", "dewi", {
        "actions": ["klarifikasi"], "consulted": ["petugas loket"], "outcome": "proven"})
    await office.post(f"/complaints/{complaint}/track", "dewi", {"track": "internal"})
    await office.at("2026-03-04T09:00")
    await office.post(f"/complaints/{complaint}/response", "dewi", {"text": "Maaf"})
    await office.post(f"/complaints/{suggestion['id']}/response", "dewi", {"text": "Terima kasih"})
    # Item 8: one complaint answered in time, one suggestion acknowledged apart.
    report = (await office.month("2026-03"))["complaints"]
    assert (report["answered"], report["answered_within_sla"],
            report["share_answered_within_sla"], report["suggestions_answered"]) == (1, 1, 1.0, 1)
    assert report["findings"] == {"proven": 1, "not_proven": 0, "partly_proven": 0}
    assert report["by_problem_type"] == {"time": 1}
    officers = (await office.month("2026-03"))["by_officer"]
    assert officers == {"dewi": {"name": "Dewi Lestari", "cases_handled": 1,
                                 "median_working_days": 2.0, "breached": 0}}
    csv_text = (await pipeline_http.get("/reports/monthly/2026-03", headers={
        **people["supervisor"], "accept": "text/csv"})).text
    assert "complaints,suggestions_answered,,1" in csv_text
    assert "complaints,findings,proven,1" in csv_text
    # Asked as HTML: the page a head signs, the officer named, in Indonesian unless the
    # caller's Accept-Language puts English first.
    html = {**people["supervisor"], "accept": "text/html"}
    page = (await pipeline_http.get("/reports/monthly/2026-03", headers=html)).text
    assert 'lang="id"' in page and "Dewi Lestari" in page and "Laporan" in page
    english = (await pipeline_http.get("/reports/monthly/2026-03", headers={
        **html, "accept-language": "en-US,en;q=0.9"})).text
    assert 'lang="en"' in english and "Monthly service report" in english


async def test_lists_page_by_cursor(pipeline_http: httpx.AsyncClient, pipeline_system: System,
                                    people: People) -> None:
    office = Office(pipeline_http, pipeline_system, people)
    made = [await office.application(f"OSS-PAGE-{n}") for n in range(5)]
    seen: list[str] = []
    page = await office.get("/cases", page_size=2)
    assert page["total"] == 5 and page["total_exact"] is True
    while True:
        seen += [c["id"] for c in page["items"]]
        if page["next_cursor"] is None:
            break
        page = await office.get("/cases", page_size=2, cursor=page["next_cursor"])
    assert seen == made[::-1]  # newest first
    timers = await office.get("/sla", limit=3)
    assert len(timers["items"]) == 3 and timers["next_cursor"] and timers["total"] == 5
    for params in ({"cursor": "not-a-cursor"}, {"cursor": page_cursor(), "page": 2}):
        r = await pipeline_http.get("/cases", params=params, headers=people["supervisor"])
        assert r.status_code in (400, 422), r.text
        assert "cursor" in r.text


def page_cursor() -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(
        ["2026-03-02T08:00:00+07:00", "6b1f8a2e-0000-5000-8000-000000000001"]).encode()).decode()


async def test_a_correction_after_a_case_finished_leaves_its_outcome(
        pipeline_http: httpx.AsyncClient, pipeline_system: System, people: People) -> None:
    """Item 10: a file complete on 17 March is due 3 April (Nyepi, Lebaran and their cuti
    bersama between); issued on 2 April, met. On 6 April the head revokes the 23 March
    cuti bersama: the issued case stays met, a case still running becomes due 2 April,
    and March's report names the correction."""
    office = Office(pipeline_http, pipeline_system, people)
    issued, running = await office.application("OSS-CAL-1"), await office.application("OSS-CAL-2")
    assert (await office.complete("2026-03-17T10:00", issued, running)).startswith(
        "2026-04-03T00:00")
    await office.at("2026-03-30T10:00")
    await office.post(f"/applications/{issued}/technical-review", "officer",
                      {"recommendation": "approve", "note": "sesuai"})
    await office.post(f"/applications/{issued}/decision", "supervisor",
                      {"outcome": "approve", "reason": "memenuhi"})
    await office.at("2026-04-02T15:00")
    assert (await office.post(f"/applications/{issued}/issuance", "supervisor"))["sla"][
        "state"] == "met"
    await office.at("2026-04-06T09:00")
    await office.post("/calendar/days", "head", {"date": "2026-03-23", "kind": "working_day",
                                                 "reason": "cuti bersama dibatalkan"}, 201)
    kept = await office.get(f"/applications/{issued}")
    assert kept["sla"]["state"] == "met" and kept["sla"]["due_at"].startswith("2026-04-03")
    moved = await office.get(f"/applications/{running}")
    assert moved["sla"]["due_at"].startswith("2026-04-02T00:00")
    assert (await office.month("2026-04"))["applications"]["issued_within_sla"] == 1
    named = (await office.month("2026-03"))["calendar_corrections_after_month_end"]
    assert [(c["date"], c["kind"]) for c in named] == [("2026-03-23", "working_day")]
