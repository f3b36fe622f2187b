"""Survey responses through the whole pipeline (HTTP and NATS intake → event store →
relay → JetStream → read model) into the quarterly, yearly and monthly reports; and a
rebuild of the read model from the event store gives byte-identical reports."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx
import msgspec
import nats
import pytest

from projections import monthly_report, satisfaction_report, yearly_report
from projections.runner import rebuild
from services.runtime import System
from tests.readmodels import caught_up

pytestmark = pytest.mark.integration

ELEMENTS = ("requirements", "procedure", "time", "fee", "product", "competence", "behaviour",
            "facilities", "complaint_handling")
FIXED_NOW = datetime.fromisoformat("2027-01-01T00:00:00+07:00")


def survey(external_id: str, scores: dict[str, int], channel: str = "whatsapp",
           **changes: Any) -> dict[str, Any]:
    return {"channel": channel, "external_id": external_id, "service_code": "SS-KBLI-10510",
            "scores": scores, **changes}


async def post(http: httpx.AsyncClient, path: str, body: dict[str, Any],
               headers: dict[str, str], status: int = 201) -> dict[str, Any]:
    r = await http.post(path, json=body, headers=headers)
    assert r.status_code == status, r.text
    return r.json()


async def test_responses_reach_the_quarterly_report_and_rebuild_byte_for_byte(
        pipeline_http: httpx.AsyncClient, pipeline_system: System, token, nats_server) -> None:
    http, system = pipeline_http, pipeline_system
    wa = token("channel", "wa-gateway", channel="whatsapp")
    oss = token("channel", "oss-gateway", channel="oss")
    officer = token("officer", "dewi", unit="pengaduan", tier="pelaksana")
    supervisor = token("supervisor", "sri")

    # The population served: three applications this quarter.
    for n in range(3):
        await post(http, "/applications", {
            "channel": "oss", "external_id": f"OSS-SKM-{n}", "service_code": "SS-KBLI-10510",
            "applicant": {"name": f"Pemohon {n}"},
            "business": {"name": f"CV {n}", "kbli": "10510", "scale": "kecil",
                         "in_industrial_estate": False, "address": "Purwakarta"}}, oss)
    # Two complaints of the quarter, classified: time, and other (behaviour).
    for n, problem in enumerate(("time", "other")):
        case = await post(http, "/complaints", {
            "channel": "whatsapp", "external_id": f"WA-SKM-{n}",
            "complainant": {"name": "Siti", "phone": "081234567890"},
            "subject_matter": "Layanan lambat", "description": "Menunggu lama.",
            "service_received_on": "2026-03-10"}, wa)
        await post(http, f"/complaints/{case['id']}/classification",
                   {"service_code": "SS-KBLI-10510", "problem_type": problem}, officer, 200)

    # Three answers: over HTTP, one a paper form of February, one over NATS.
    await post(http, "/surveys/responses", survey("SKM-1", dict.fromkeys(ELEMENTS, 4),
               respondent={"sex": "female", "age_band": "30_39"}), wa)
    await post(http, "/surveys/responses", survey(
        "SKM-2", {"time": 2, "behaviour": 3, "fee": 4}, channel="oss",
        responded_at="2026-02-20T10:00:00+07:00"), oss)
    await post(http, "/surveys/responses", survey("SKM-1", {"time": 1}), wa, status=200)
    nc = await nats.connect(nats_server.url)
    try:
        msg = await nc.request("ptsp.intake.survey.whatsapp", msgspec.json.encode(
            survey("SKM-3", {"time": 2})), timeout=15)
    finally:
        await nc.close()
    assert json.loads(msg.data)["status_code"] == 201

    await caught_up(system, seconds=30)
    r = await http.get("/reports/satisfaction/2026-Q1", headers=supervisor)
    assert r.status_code == 200, r.text
    report = r.json()
    # time (4+2+2)/3 = 8/3, behaviour (4+3)/2 = 7/2, fee 4, six others 4:
    # (8/3 + 7/2 + 4 + 24)/9 = 205/54 → IKM 94.91 (A)
    assert report["respondents"] == 3 and report["ikm"] == 94.91 and report["grade"] == "A"
    assert list(report["elements"])[:2] == ["time", "behaviour"]
    assert report["elements"]["time"] == {"name": "Waktu penyelesaian", "answers": 3,
                                          "average": 2.67, "score": 66.67, "grade": "C"}
    assert report["sample"] == {"population": 3, "required": 3, "respondents": 3,
                                "sufficient": True}
    sides = {row["element"]: row for row in report["elements_vs_complaints"]}
    assert sides["time"]["complaints"] == 1 and sides["behaviour"]["complaints"] == 1
    assert sides["behaviour"]["problem_type"] == "other" and sides["fee"]["complaints"] == 0
    assert report["by_channel"] == {"oss": 1, "whatsapp": 2}

    csv_text = (await http.get("/reports/satisfaction/2026-Q1",
                               headers={**supervisor, "accept": "text/csv"})).text
    assert "satisfaction,ikm,,94.91" in csv_text
    page = await http.get("/reports/satisfaction/2026-Q1",
                          headers={**supervisor, "accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    # The page a head signs (the console's): in Indonesian, the index with a decimal comma.
    assert "<svg" in page.text and 'lang="id"' in page.text and "94,91" in page.text

    yearly = (await http.get("/reports/yearly/2026", headers=supervisor)).json()
    assert yearly["satisfaction"]["quarters"]["2026-Q1"]["ikm"] == 94.91
    assert yearly["satisfaction"]["quarters"]["2026-Q2"]["ikm"] is None
    assert yearly["sla"]["applications"]["received"] == 3
    assert yearly["complaint_handling"]["by_problem_type"] == {"other": 1, "time": 1}
    # The February form was recorded in March, after February's report had closed: the
    # monthly report counts it in March (a closed month does not change), the quarter
    # by when it was answered.
    february = (await http.get("/reports/monthly/2026-02", headers=supervisor)).json()
    assert february["surveys"] == {"respondents": 0, "ikm": None, "grade": None}
    march = (await http.get("/reports/monthly/2026-03", headers=supervisor)).json()
    assert march["surveys"]["respondents"] == 3

    # Rebuilt from the event store: the same reports, byte for byte.
    async def rendered() -> list[Any]:
        out: list[Any] = []
        for accept in ("application/json", "text/csv", "text/html"):
            r = await http.get("/reports/satisfaction/2026-Q1",
                               headers={**supervisor, "accept": accept})
            out.append(r.content)
        async with system.pool.acquire() as conn:
            for q in ("2026-Q1", "2026-Q2"):
                out.append(json.dumps(await satisfaction_report.load(conn, q)))
            year = await yearly_report.load(conn, 2026, FIXED_NOW)
            out += [json.dumps(year), yearly_report.to_csv(year)]
            month = await monthly_report.load(conn, "2026-03", FIXED_NOW)
            out += [json.dumps(month), monthly_report.to_csv(month)]
            out.append([tuple(r) for r in await conn.fetch(
                "SELECT * FROM survey_responses ORDER BY id")])
        return out

    live = await rendered()
    pipeline = system.pipeline
    assert pipeline is not None and pipeline.runner is not None
    mine = [p for p in pipeline.runner.projections if p.name == "survey_responses"]
    counts = await rebuild(system.pool, pipeline.eventlog, mine, progress=False)
    assert counts == {"survey_responses": 3}
    assert await rendered() == live
    await rebuild(system.pool, pipeline.eventlog, pipeline.runner.projections, progress=False)
    assert await rendered() == live
