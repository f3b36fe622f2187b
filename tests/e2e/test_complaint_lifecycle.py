"""End to end over HTTP: complaints from intake to closure on each of the seed's three
tracks, suggestions, tiers, and the intake's rules. The system's simulated clock starts
on Monday 2026-03-16 09:00 Asia/Jakarta (the `settings` fixture)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from services.runtime import System
from tests.conftest import Headers, People, TokenMaker
from tests.intake import idempotent_intake
from tests.staff import register_officer

pytestmark = pytest.mark.e2e

NOW = datetime.fromisoformat("2026-03-16T09:00:00+07:00")
SITI = {"name": "Siti Aminah", "phone": "081234567890", "nik": "3214010101900001"}


def intake(external_id: str = "WA-0001", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "whatsapp", "external_id": external_id, "complainant": SITI,
        "subject_matter": "Dimintai biaya untuk Sertifikat Standar yang gratis",
        "description": "Petugas meminta uang administrasi Rp500.000 di loket MPP.",
        "service_received_on": "2026-03-10",
    }
    body.update(changes)
    return body


@pytest.fixture
def people(people: People, token: TokenMaker) -> People:
    """The cast, with two more channels and the complaints unit's officers: `officer` is
    dewi, then one at each tier above her; and a licensing officer at the top tier."""
    def officer(actor: str, tier: str, unit: str = "pengaduan") -> dict[str, str]:
        return token("officer", actor, unit=unit, tier=tier)

    return {
        **people,
        "letter": token("channel", "tata-usaha", channel="letter"),
        "box": token("channel", "kotak-pengaduan", channel="complaint_box"),
        "officer": people["dewi"],
        "kasi": officer("kasi-pengaduan", "kepala_seksi"),
        "kabid": officer("kabid-pelayanan", "kepala_bidang"),
        "kadis": officer("kadis-pengaduan", "kepala_dinas"),
        "licensing_officer": officer("budi", "kepala_dinas", unit="perizinan"),
    }


async def submit(http: httpx.AsyncClient, people: People, who: str = "whatsapp",
                 **changes: Any) -> dict[str, Any]:
    r = await http.post("/complaints", json=intake(**changes), headers=people[who])
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def step(http: httpx.AsyncClient, case: str, path: str, body: dict[str, Any] | None,
               headers: Headers, status: int = 200) -> dict[str, Any]:
    r = await http.post(f"/complaints/{case}/{path}", json=body, headers=headers)
    assert r.status_code == status, r.text
    answer: dict[str, Any] = r.json()
    return answer


async def refused(http: httpx.AsyncClient, case: str, path: str, body: dict[str, Any] | None,
                  headers: Headers, rule: str) -> None:
    """The step is refused with 409, naming the rule it breaks."""
    answer = await step(http, case, path, body, headers, status=409)
    assert answer["extra"]["rule"] == rule, answer


FINDINGS = {"actions": ["Klarifikasi kepada petugas loket MPP", "Pemeriksaan bukti transfer"],
            "consulted": ["Petugas loket MPP", "Bukti transfer Rp500.000"],
            "outcome": "proven"}


async def classified_and_analysed(http: httpx.AsyncClient, people: People,
                                  external_id: str, concerns_head: bool = False) -> str:
    case = str((await submit(http, people, external_id=external_id))["id"])
    await step(http, case, "classification",
               {"service_code": "SS-KBLI-10510", "problem_type": "fee",
                "concerns_head": concerns_head}, people["officer"])
    await step(http, case, "analysis", {
        "core_problem": "Pungutan untuk layanan yang gratis",
        "standard_refs": ["Standar Pelayanan KBLI 10510, komponen biaya/tarif"],
        "documents_checked": ["Bukti transfer", "Daftar hadir petugas loket"],
        "handling_plan": "clarification"}, people["officer"])
    return case


# -- the three tracks -----------------------------------------------------------------
async def test_internal_track_tier_by_tier_from_intake_to_closure(
        http: httpx.AsyncClient, people: People) -> None:
    created = await submit(http, people)
    case = created["id"]
    assert created["tracking_number"].startswith("ADU-")
    assert (created["kind"], created["reason"], created["reasons"]) == ("complaint", None, [])
    assert set(created) == {"id", "tracking_number", "kind", "reason", "reasons", "pin"}

    view = (await http.get(f"/complaints/{case}", headers=people["officer"])).json()
    assert (view["status"], view["tier"], view["track"], view["unit"]) == (
        "received", "pelaksana", None, "pengaduan")
    assert view["sla"]["state"] == "running"
    assert view["sla"]["working_days_limit"] == 14
    assert datetime.fromisoformat(view["sla"]["started_at"]) >= NOW
    assert view["complainant"] == {**SITI, "email": None, "address": None}

    # Classification names a service of the catalogue.
    r = await http.post(f"/complaints/{case}/classification",
                        json={"service_code": "SS-NOPE", "problem_type": "fee"},
                        headers=people["officer"])
    assert r.status_code == 422 and r.json()["extra"]["field"] == "service_code"
    view = await step(http, case, "classification",
                      {"service_code": "SS-KBLI-10510", "problem_type": "fee"}, people["officer"])
    assert view["status"] == "classified"
    assert view["classification"]["problem_type"] == "fee"
    assert view["classification"]["by"] == "dewi"

    # Too early for a track: the analysis comes first.
    await refused(http, case, "track", {"track": "internal"}, people["officer"],
                  "track_requires_analysis")
    view = await step(http, case, "analysis", {
        "core_problem": "Pungutan untuk layanan yang gratis",
        "standard_refs": ["Standar Pelayanan KBLI 10510"], "handling_plan": "clarification",
    }, people["officer"])
    assert view["status"] == "analysed"
    view = await step(http, case, "track", {"track": "internal"}, people["officer"])
    assert (view["status"], view["track"], view["agencies"]) == ("in_resolution", "internal", [])

    # Tier by tier: the officer reports to the kepala seksi...
    view = await step(http, case, "escalation",
                      {"to_tier": "kepala_seksi", "reason": "Perlu keputusan kepala seksi"},
                      people["officer"])
    assert view["tier"] == "kepala_seksi"
    # ...and no longer works the case: it is above the officer's tier.
    await step(http, case, "response", {"text": "x"}, people["officer"], 403)
    # An officer may not skip a tier, not even a kepala seksi.
    await refused(http, case, "escalation",
                  {"to_tier": "kepala_dinas", "reason": "langsung ke kepala"}, people["kasi"],
                  "tier_skip_needs_supervisor")
    await refused(http, case, "escalation", {"to_tier": "pelaksana", "reason": "turun"},
                  people["kasi"], "escalation_must_move_up")
    view = await step(http, case, "escalation",
                      {"to_tier": "kepala_bidang", "reason": "Melibatkan petugas loket"},
                      people["kasi"])
    assert view["tier"] == "kepala_bidang"
    assert [t["tier"] for t in view["tier_history"]] == ["pelaksana", "kepala_seksi"]

    # The answer rests on the findings (seed 6.6.e): without them it is refused.
    await refused(http, case, "response", {"text": "Pungutan dikembalikan."}, people["kabid"],
                  "findings_required")
    view = await step(http, case, "findings", {**FINDINGS, "note": "Diakui petugas"},
                      people["kabid"])
    assert view["findings"]["outcome"] == "proven"
    assert view["findings"]["by"] == "kabid-pelayanan"
    assert view["findings"]["note"] == "Diakui petugas"
    # The answer stops the clock, in time.
    view = await step(http, case, "response",
                      {"text": "Pungutan dikembalikan; petugas diberi sanksi disiplin."},
                      people["kabid"])
    assert view["status"] == "answered"
    assert view["sla"]["state"] == "met"
    assert view["sla"]["finished_at"] is not None
    assert view["response"]["by"] == "kabid-pelayanan"
    await refused(http, case, "response", {"text": "lagi"}, people["kabid"], "already_answered")

    view = await step(http, case, "complainant-notification", {"channel": "whatsapp"},
                      people["kabid"])
    assert [n["channel"] for n in view["notifications"]] == ["whatsapp"]
    view = await step(http, case, "superior-report",
                      {"text": "Laporan hasil penanganan pengaduan terlampir."}, people["kabid"])
    assert view["superior_reports"][0]["to_tier"] == "kepala_dinas"
    view = await step(http, case, "closure", {"note": "Selesai"}, people["kabid"])
    assert view["status"] == "closed" and view["closure"]["note"] == "Selesai"

    # Closed is closed.
    await refused(http, case, "superior-report", {"text": "lagi"}, people["kabid"], "case_closed")
    await refused(http, case, "escalation", {"to_tier": "kepala_dinas", "reason": "x"},
                  people["supervisor"], "case_closed")

    audited = (await http.get(f"/complaints/{case}", headers=people["auditor"])).json()
    assert audited["status"] == "closed" and audited["sla"]["state"] == "met"
    assert audited["complainant"]["name"] == "Siti Aminah"


async def test_technical_team_track_with_a_supervisor_skipping_a_tier(
        http: httpx.AsyncClient, people: People, system: System) -> None:
    await register_officer(system, "kabid-pelayanan", "pengaduan", "kepala_bidang")
    await register_officer(system, "budi", "perizinan", "kepala_dinas")
    case = await classified_and_analysed(http, people, "WA-TECH")
    r = await http.post(f"/complaints/{case}/track", json={"track": "technical_team"},
                        headers=people["officer"])
    assert r.status_code == 422 and r.json()["extra"]["field"] == "agencies"
    view = await step(http, case, "track", {
        "track": "technical_team",
        "agencies": ["Dinas Perindustrian dan Perdagangan", "Dinas Lingkungan Hidup"],
    }, people["officer"])
    assert view["track"] == "technical_team"
    assert view["agencies"] == ["Dinas Perindustrian dan Perdagangan", "Dinas Lingkungan Hidup"]

    # A supervisor may move it more than one tier, with a written reason.
    await step(http, case, "escalation", {"to_tier": "kepala_bidang"}, people["supervisor"], 400)
    view = await step(http, case, "escalation",
                      {"to_tier": "kepala_bidang", "reason": "Lintas perangkat daerah"},
                      people["supervisor"])
    assert view["tier"] == "kepala_bidang"

    # Assignment: a supervisor or an officer of kepala_seksi or above...
    await step(http, case, "assignment", {"officer": "dewi"}, people["officer"], 403)
    # ...names a registered, active officer of the case's unit, at its tier or above.
    for officer, why in (("siapa-saja", "not in the staff register"),
                         ("budi", "not of pengaduan"),
                         ("dewi", "not in the staff register")):
        r = await http.post(f"/complaints/{case}/assignment", json={"officer": officer},
                            headers=people["supervisor"])
        assert r.status_code == 422, r.text
        assert r.json()["extra"]["field"] == "officer" and why in r.json()["detail"]
    view = await step(http, case, "assignment", {"officer": "kabid-pelayanan"},
                      people["supervisor"])
    assert view["assignee"] == "kabid-pelayanan"

    await step(http, case, "findings", {**FINDINGS, "outcome": "not_proven"}, people["kabid"])
    view = await step(http, case, "response",
                      {"text": "Hasil rapat tim teknis: izin lingkungan tidak dipungut biaya."},
                      people["kabid"])
    assert view["sla"]["state"] == "met"
    await refused(http, case, "closure", {}, people["kabid"], "closure_requires_notification")
    await step(http, case, "complainant-notification", {"channel": "letter"}, people["kabid"])
    # Seed 6.8: informed *and* reported to the direct superior.
    await refused(http, case, "closure", {}, people["kabid"], "superior_report_required")
    await step(http, case, "superior-report", {"text": "Dilaporkan ke kepala dinas."},
               people["kabid"])
    # The note is optional, and so is the body.
    r = await http.post(f"/complaints/{case}/closure", headers=people["kabid"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed" and r.json()["closure"]["note"] is None


async def test_apip_track_needs_the_head_s_approval(
        http: httpx.AsyncClient, people: People) -> None:
    case = await classified_and_analysed(http, people, "WA-APIP")
    await refused(http, case, "track", {"track": "apip"}, people["officer"],
                  "apip_requires_head_approval")

    approval = {"reason": "Tidak dapat diselesaikan secara internal maupun lintas perangkat daerah"}
    for who in ("officer", "kadis", "supervisor", "auditor"):
        r = await http.post(f"/complaints/{case}/apip-approval", json=approval, headers=people[who])
        assert r.status_code == 403, who
    view = await step(http, case, "apip-approval", approval, people["head"])
    assert view["apip_approval"]["authority"] == "kepala_dpmptsp"
    assert view["apip_approval"]["by"] == "kepala"
    await refused(http, case, "apip-approval", approval, people["head"], "apip_already_approved")

    view = await step(http, case, "track",
                      {"track": "apip", "agencies": ["Inspektorat Kabupaten Purwakarta"]},
                      people["officer"])
    assert (view["status"], view["track"]) == ("in_resolution", "apip")
    await step(http, case, "findings", {**FINDINGS, "outcome": "partly_proven"},
               people["officer"])
    view = await step(http, case, "response", {"text": "Hasil pemeriksaan Inspektorat."},
                      people["officer"])
    assert view["sla"]["state"] == "met"
    await step(http, case, "complainant-notification", {"channel": "phone"}, people["officer"])
    view = await step(http, case, "superior-report", {"text": "Dilaporkan ke kepala seksi."},
                      people["officer"])
    assert view["superior_reports"][0]["to_tier"] == "kepala_seksi"
    view = await step(http, case, "closure", {"note": "Ditindaklanjuti APIP"}, people["officer"])
    assert view["status"] == "closed"
    assert [t["track"] for t in view["track_history"]] == ["apip"]


# -- suggestions ----------------------------------------------------------------------
async def test_a_late_submission_is_a_suggestion_until_reclassified(
        http: httpx.AsyncClient, people: People) -> None:
    # Day 30 after the service is still a complaint; day 31 is late.
    on_time = await submit(http, people, external_id="WA-DAY30", service_received_on="2026-02-14")
    assert on_time["kind"] == "complaint"
    late = await submit(http, people, external_id="WA-DAY31", service_received_on="2026-02-13")
    assert (late["kind"], late["reason"], late["reasons"]) == ("suggestion", "late", ["late"])
    case = late["id"]
    view = (await http.get(f"/complaints/{case}", headers=people["officer"])).json()
    assert view["sla"]["state"] == "not_started" and view["sla"]["due_at"] is None

    await refused(http, case, "classification",
                  {"service_code": "SS-KBLI-10510", "problem_type": "fee"}, people["officer"],
                  "not_a_complaint")
    await step(http, case, "reclassification", {"reason": ""}, people["officer"], 400)
    r = await http.post(f"/complaints/{case}/reclassification", json={"reason": "x"},
                        headers=people["whatsapp"])
    assert r.status_code == 403

    view = await step(http, case, "reclassification",
                      {"reason": "Pelapor dirawat di rumah sakit; surat keterangan dokter"},
                      people["officer"])
    assert (view["kind"], view["reason"], view["reasons"]) == ("complaint", None, [])
    assert view["intake_reasons"] == ["late"]
    assert view["reclassification"]["by"] == "dewi"
    # The 14 working days count from the reclassification, when the office takes it on;
    # both instants are on record.
    assert view["sla"]["state"] == "running"
    assert view["sla"]["started_at"] == view["reclassification"]["at"]
    assert view["reclassification"]["received_at"] == view["received_at"]
    assert view["sla"]["working_days_used"] == 0
    await refused(http, case, "reclassification", {"reason": "lagi"}, people["officer"],
                  "already_a_complaint")
    view = await step(http, case, "classification",
                      {"service_code": "SS-KBLI-10510", "problem_type": "time"}, people["officer"])
    assert view["status"] == "classified"


@pytest.mark.parametrize(("changes", "reasons"), [
    ({"complainant": None}, ["no_identity"]),
    ({"complainant": {"name": "Siti Aminah"}}, ["no_identity"]),
    ({"complainant": {"name": "", "email": "siti@example.id"}}, ["no_identity"]),
    ({"complainant": {"name": None, "phone": "", "email": "", "nik": ""}}, ["no_identity"]),
    ({"subject_matter": None}, ["no_subject_matter"]),
    ({"subject_matter": "  "}, ["no_subject_matter"]),
    ({"complainant": None, "subject_matter": None, "service_received_on": "2026-01-02"},
     ["late", "no_identity", "no_subject_matter"]),
])
async def test_without_identity_or_subject_matter_it_is_a_suggestion(
        http: httpx.AsyncClient, people: People, changes: dict[str, Any],
        reasons: list[str]) -> None:
    created = await submit(http, people, who="box", channel="complaint_box",
                           external_id=f"BOX-{'-'.join(reasons)}-{len(str(changes))}", **changes)
    assert (created["kind"], created["reason"], created["reasons"]) == (
        "suggestion", reasons[0], reasons)
    case = created["id"]
    view = (await http.get(f"/complaints/{case}", headers=people["supervisor"])).json()
    assert view["sla"]["state"] == "not_started"
    # Only a suggestion that is late and nothing else may become a complaint.
    r = await http.post(f"/complaints/{case}/reclassification", json={"reason": "alasan"},
                        headers=people["officer"])
    assert r.status_code == 409
    assert r.json()["extra"]["rule"] == "reclassification_only_when_only_late"
    # A suggestion may be acknowledged and closed at once.
    await step(http, case, "response", {"text": "Terima kasih atas masukan Anda."},
               people["officer"])
    view = await step(http, case, "closure", {}, people["officer"])
    assert view["status"] == "closed" and view["sla"]["state"] == "not_started"


# -- intake -----------------------------------------------------------------------------
async def test_intake_is_idempotent_on_channel_and_external_id(
        http: httpx.AsyncClient, people: People) -> None:
    case = await idempotent_intake(http, "/complaints", intake("WA-DUP"), people["whatsapp"],
                                   "letter", people["letter"])
    view = (await http.get(f"/complaints/{case}", headers=people["officer"])).json()
    assert view["version"] == 1, "a repeat writes nothing"


async def test_a_letter_received_earlier_starts_the_clock_at_receipt(
        http: httpx.AsyncClient, people: People) -> None:
    created = await submit(http, people, who="letter", channel="letter", external_id="SRT-7",
                           received_at="2026-03-02T10:00:00+07:00",
                           service_received_on="2026-02-27")
    view = (await http.get(f"/complaints/{created['id']}", headers=people["officer"])).json()
    assert datetime.fromisoformat(view["received_at"]) == datetime.fromisoformat(
        "2026-03-02T10:00:00+07:00")
    assert view["sla"]["started_at"] == view["received_at"]
    assert view["sla"]["working_days_used"] > 0
    # Without an offset, a time is Jakarta's.
    created = await submit(http, people, who="letter", channel="letter", external_id="SRT-8",
                           received_at="2026-03-02T10:00:00", service_received_on="2026-02-27")
    view = (await http.get(f"/complaints/{created['id']}", headers=people["officer"])).json()
    assert datetime.fromisoformat(view["received_at"]) == datetime.fromisoformat(
        "2026-03-02T10:00:00+07:00")


async def test_a_channel_submits_only_for_itself(http: httpx.AsyncClient, people: People) -> None:
    r = await http.post("/complaints", json=intake(channel="sms"), headers=people["whatsapp"])
    assert r.status_code == 403
    r = await http.post("/complaints", json=intake(), headers=people["letter"])
    assert r.status_code == 403
    r = await http.post("/complaints", json=intake(), headers=people["officer"])
    assert r.status_code == 403
    r = await http.post("/complaints", json=intake())
    assert r.status_code == 401
    # `oss` takes applications, not complaints.
    r = await http.post("/complaints", json=intake(channel="oss"), headers=people["oss"])
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "channel"


def named_field(r: httpx.Response) -> str:
    """The field an error names: a 400 (malformed input) or a 422 (a value refused)."""
    extra = r.json()["extra"]
    return str(extra[0]["key"] if r.status_code == 400 else extra["field"])


# Intakes with one thing wrong: (what changes, the status, the field it names).
BAD_INTAKES: list[tuple[dict[str, Any], int, str]] = [
    ({"service_received_on": "2026-02-30"}, 400, "service_received_on"),
    ({"service_received_on": "16/03/2026"}, 400, "service_received_on"),
    ({"received_at": "2026-03-20T09:00:00+07:00"}, 422, "received_at"),
    ({"received_at": "yesterday"}, 400, "received_at"),
    ({"service_received_on": "2026-03-17"}, 422, "service_received_on"),
    ({"complainant": {**SITI, "nik": "123"}}, 400, "complainant.nik"),
    ({"related_application_id": "not-a-uuid"}, 400, "related_application_id"),
    ({"related_application_id": "00000000-0000-4000-8000-000000000000"}, 422,
     "related_application_id"),
]


async def test_bad_input_names_the_field(http: httpx.AsyncClient, people: People) -> None:
    h = {**people["whatsapp"], "content-type": "application/json"}
    r = await http.post("/complaints", content=b'{"channel": "whatsapp",', headers=h)
    assert r.status_code == 400

    for changes, status, field in BAD_INTAKES:
        r = await http.post("/complaints", json=intake(**changes), headers=people["whatsapp"])
        assert (r.status_code, named_field(r)) == (status, field), r.text
    missing = intake()
    del missing["description"]
    r = await http.post("/complaints", json=missing, headers=people["whatsapp"])
    assert r.status_code == 400 and "description" in r.text

    case = (await submit(http, people, external_id="WA-BAD"))["id"]
    r = await http.post(f"/complaints/{case}/classification",
                        json={"service_code": "SS-KBLI-10510", "problem_type": "rudeness"},
                        headers=people["officer"])
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "problem_type"
    r = await http.post(f"/complaints/{case}/analysis", json={
        "core_problem": "x", "standard_refs": ["SP"], "handling_plan": "prayer"},
        headers=people["officer"])
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "handling_plan"
    r = await http.get(f"/complaints/{case[:-1]}{'1' if case[-1] == '0' else '0'}",
                       headers=people["officer"])
    assert r.status_code == 404


async def test_who_may_read_and_work_a_complaint(http: httpx.AsyncClient, people: People) -> None:
    case = (await submit(http, people, external_id="WA-WHO"))["id"]
    for who in ("officer", "kadis", "supervisor", "head", "auditor"):
        r = await http.get(f"/complaints/{case}", headers=people[who])
        assert r.status_code == 200, who
        assert r.json()["complainant"]["name"] == "Siti Aminah", who
    # Another unit's officer: 404, as for an unknown case; a channel reads no case: 403.
    for who, status in (("licensing_officer", 404), ("whatsapp", 403)):
        assert (await http.get(f"/complaints/{case}", headers=people[who])).status_code == status
    body = {"service_code": "SS-KBLI-10510", "problem_type": "fee"}
    for who, status in (("licensing_officer", 404), ("auditor", 403), ("whatsapp", 403)):
        r = await http.post(f"/complaints/{case}/classification", json=body, headers=people[who])
        assert r.status_code == status, who


async def test_the_related_application_is_shown_and_linked(
        http: httpx.AsyncClient, people: People) -> None:
    r = await http.post("/applications", headers=people["oss"], json={
        "channel": "oss", "external_id": "OSS-ADU", "service_code": "SS-KBLI-10510",
        "applicant": {"name": "Siti Aminah", "nik": "3214010101900001"},
        "business": {"name": "CV Susu Murni", "kbli": "10510", "scale": "kecil",
                     "in_industrial_estate": False, "address": "Jl. Veteran 139, Purwakarta"},
    })
    assert r.status_code == 201, r.text
    application = r.json()
    created = await submit(http, people, external_id="WA-REL",
                           related_application_id=application["id"])
    view = (await http.get(f"/complaints/{created['id']}", headers=people["supervisor"])).json()
    related = view["related_application"]
    assert related == {"id": application["id"], "tracking_number": application["tracking_number"],
                       "status": "awaiting_verification",
                       "link": f"/applications/{application['id']}"}
    linked = await http.get(related["link"], headers=people["supervisor"])
    assert linked.status_code == 200
    assert linked.json()["tracking_number"] == application["tracking_number"]
    # Without one, there is none.
    plain = await submit(http, people, external_id="WA-NOREL")
    view = (await http.get(f"/complaints/{plain['id']}", headers=people["supervisor"])).json()
    assert view["related_application"] is None


# -- the findings, the head's own case, the superior's report (issue 12) -------------------
async def test_the_findings_step(http: httpx.AsyncClient, people: People) -> None:
    case = str((await submit(http, people, external_id="WA-FIND"))["id"])
    # Not before the analysis...
    await refused(http, case, "findings", FINDINGS, people["officer"],
                  "findings_requires_analysis")
    await step(http, case, "classification",
               {"service_code": "SS-KBLI-10510", "problem_type": "fee"}, people["officer"])
    await step(http, case, "analysis", {
        "core_problem": "Pungutan", "standard_refs": ["SP KBLI 10510"],
        "handling_plan": "investigation"}, people["officer"])
    # ...then before or after the track; the outcome is one of three, and actions are named.
    r = await http.post(f"/complaints/{case}/findings", json={**FINDINGS, "outcome": "maybe"},
                        headers=people["officer"])
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "outcome"
    r = await http.post(f"/complaints/{case}/findings", json={**FINDINGS, "actions": []},
                        headers=people["officer"])
    assert r.status_code == 422 and r.json()["extra"]["field"] == "actions"
    view = await step(http, case, "findings", FINDINGS, people["officer"])
    assert (view["status"], view["findings"]["consulted"]) == (
        "analysed", FINDINGS["consulted"])
    await refused(http, case, "findings", FINDINGS, people["officer"],
                  "findings_already_recorded")
    # A channel, an auditor, another unit's officer may not record them.
    for who, status in (("whatsapp", 403), ("auditor", 403), ("licensing_officer", 404)):
        r = await http.post(f"/complaints/{case}/findings", json=FINDINGS, headers=people[who])
        assert r.status_code == status, who
    await step(http, case, "track", {"track": "internal"}, people["officer"])
    view = await step(http, case, "response", {"text": "Terbukti; dikembalikan."},
                      people["officer"])
    assert view["sla"]["state"] == "met"
    await refused(http, case, "findings", FINDINGS, people["officer"],
                  "findings_not_allowed_when_answered")


async def test_a_suggestion_is_answered_without_findings(
        http: httpx.AsyncClient, people: People) -> None:
    case = (await submit(http, people, external_id="WA-SUG-F", complainant=None))["id"]
    await refused(http, case, "findings", FINDINGS, people["officer"], "not_a_complaint")
    view = await step(http, case, "response", {"text": "Terima kasih."}, people["officer"])
    assert view["findings"] is None
    view = await step(http, case, "closure", {}, people["officer"])
    assert view["status"] == "closed"


async def test_a_complaint_about_the_head_is_approved_for_apip_by_another_authority(
        http: httpx.AsyncClient, people: People) -> None:
    case = await classified_and_analysed(http, people, "WA-HEAD", concerns_head=True)
    view = (await http.get(f"/complaints/{case}", headers=people["auditor"])).json()
    assert view["classification"]["concerns_head"] is True
    approval = {"reason": "Pengaduan menyangkut Kepala DPMPTSP"}
    # The head may not approve about himself: 409 naming the rule.
    await refused(http, case, "apip-approval", {**approval, "authority": "Inspektorat"},
                  people["head"], "head_cannot_approve_own_case")
    # A supervisor or an auditor records it, naming the authority that approved.
    r = await http.post(f"/complaints/{case}/apip-approval", json=approval,
                        headers=people["auditor"])
    assert r.status_code == 422 and r.json()["extra"]["field"] == "authority"
    for who in ("officer", "kadis"):
        r = await http.post(f"/complaints/{case}/apip-approval",
                            json={**approval, "authority": "x"}, headers=people[who])
        assert r.status_code == 403, who
    view = await step(http, case, "apip-approval", {
        **approval, "authority": "Inspektorat Kabupaten Purwakarta (persetujuan Bupati)"},
        people["auditor"])
    assert view["apip_approval"]["authority"] == (
        "Inspektorat Kabupaten Purwakarta (persetujuan Bupati)")
    assert view["apip_approval"]["by"] == "inspektorat-1"
    view = await step(http, case, "track", {"track": "apip"}, people["officer"])
    assert view["track"] == "apip"
    # An ordinary complaint: the head approves, a supervisor may not.
    plain = await classified_and_analysed(http, people, "WA-PLAIN")
    r = await http.post(f"/complaints/{plain}/apip-approval", json=approval,
                        headers=people["supervisor"])
    assert r.status_code == 403
    assert r.json()["extra"]["rule"] == "apip_approval_requires_head"
    await step(http, plain, "apip-approval", approval, people["head"])
