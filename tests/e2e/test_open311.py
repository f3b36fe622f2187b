"""Open311 GeoReport v2 over HTTP: discovery, a request from a channel's API key to a closed
complaint, the standard's errors naming the field, and each channel seeing its own
requests only."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.runtime import System
from tests.conftest import TokenMaker
from tests.readmodels import caught_up

pytestmark = pytest.mark.e2e

V2 = "/open311/v2"
PERSON = {"first_name": "Bambang", "last_name": "Sutrisno", "email": "bambang@example.id",
          "phone": "081211112222"}
PERSONAL = ["Bambang", "Sutrisno", "bambang@example.id", "081211112222", "Jl. Veteran",
            "loket MPP", "foto.example.id"]


def key(headers: dict[str, str]) -> str:
    """The API key: the channel's token itself."""
    return headers["Authorization"].removeprefix("Bearer ")


def form(api_key: str | None = None, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "service_code": "pengaduan", **PERSON,
        "description": "Dimintai uang Rp500.000 di loket MPP untuk Sertifikat Standar.",
        "lat": "-6.5569", "long": "107.4431", "address_string": "Jl. Veteran 139",
        "media_url": "https://foto.example.id/bukti.jpg",
        "attribute[subject_matter]": "Biaya Sertifikat Standar",
        "attribute[service_received_on]": "2026-03-10",
        "attribute[external_id]": "O311-1",
    }
    if api_key is not None:
        body["api_key"] = api_key
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def errors(r: httpx.Response) -> list[str]:
    """The standard's error list: each `code` the HTTP status; the descriptions."""
    body = r.json()
    assert isinstance(body, list) and body, r.text
    assert all(e["code"] == r.status_code for e in body), r.text
    return [str(e["description"]) for e in body]


async def worked_to_closure(http: httpx.AsyncClient, case: str,
                            officer: dict[str, str]) -> None:
    for path, body in (
            ("classification", {"service_code": "SS-KBLI-10510", "problem_type": "fee"}),
            ("analysis", {"core_problem": "Pungutan", "standard_refs": ["SP KBLI 10510"],
                          "handling_plan": "clarification"}),
            ("track", {"track": "internal"}),
            ("findings", {"actions": ["Klarifikasi"], "outcome": "proven"}),
            ("response", {"text": "Pungutan dikembalikan."}),
            ("complainant-notification", {"channel": "whatsapp"}),
            ("superior-report", {"text": "Dilaporkan."}),
            ("closure", {})):
        r = await http.post(f"/complaints/{case}/{path}", json=body, headers=officer)
        assert r.status_code == 200, (path, r.text)


async def test_the_whole_request_cycle(pipeline_http: httpx.AsyncClient,
                                       pipeline_system: System, token: TokenMaker) -> None:
    http = pipeline_http
    whatsapp = token("channel", "wa-gw", channel="whatsapp")
    sms = token("channel", "sms-gw", channel="sms")
    officer = token("officer", "dewi", unit="pengaduan", tier="pelaksana")

    # Discovery: public, like GET /services.
    r = await http.get(f"{V2}/services.json")
    assert r.status_code == 200
    [service] = r.json()
    assert (service["service_code"], service["metadata"], service["type"]) == (
        "pengaduan", True, "realtime")
    r = await http.get(f"{V2}/services/pengaduan.json")
    attributes = {a["code"]: a for a in r.json()["attributes"]}
    assert attributes["service_received_on"]["required"] is True
    assert set(attributes) >= {"subject_matter", "external_id", "nik"}

    # A new request, the API key in the form as the standard has it.
    r = await http.post(f"{V2}/requests.json", data=form(key(whatsapp)))
    assert r.status_code == 201, r.text
    [created] = r.json()
    case = created["service_request_id"]
    assert created["tracking_number"].startswith("ADU-") and len(created["pin"]) == 8
    assert "14 hari kerja" in created["service_notice"]
    # Sent again (a retry): the same request, nothing written.
    r = await http.post(f"{V2}/requests.json", data=form(key(whatsapp)))
    assert r.status_code == 200 and r.json() == [created]

    # The office sees a complaint of the WhatsApp channel, the person and the place kept.
    view = (await http.get(f"/complaints/{case}", headers=officer)).json()
    assert (view["channel"], view["kind"], view["external_id"]) == (
        "whatsapp", "complaint", "O311-1")
    assert view["complainant"]["name"] == "Bambang Sutrisno"
    assert view["complainant"]["email"] == "bambang@example.id"
    assert view["subject_matter"] == "Biaya Sertifikat Standar"
    assert view["service_received_on"] == "2026-03-10"
    assert "Lokasi: Jl. Veteran 139" in view["description"]
    assert "Koordinat: -6.5569, 107.4431" in view["description"]
    assert "Lampiran: https://foto.example.id/bukti.jpg" in view["description"]

    # The channel reads it back (the key as the bearer header this time).
    r = await http.get(f"{V2}/requests/{case}.json", headers=whatsapp)
    assert r.status_code == 200, r.text
    [request] = r.json()
    assert request["service_request_id"] == case
    assert (request["status"], request["service_code"]) == ("open", "pengaduan")
    assert request["status_notes"] == "Pengaduan diterima dan menunggu penelaahan"
    assert request["expected_datetime"] and request["requested_datetime"]
    assert request["agency_responsible"] == pipeline_system.settings.office_name
    assert request["tracking_number"] == created["tracking_number"]
    assert "pin" not in request
    for value in PERSONAL:
        assert value not in r.text

    await worked_to_closure(http, case, officer)
    r = await http.get(f"{V2}/requests/{case}.json", params={"api_key": key(whatsapp)})
    [request] = r.json()
    assert (request["status"], request["status_notes"]) == (
        "closed", "Penanganan pengaduan selesai")
    assert "expected_datetime" not in request  # the clock stopped at the answer
    assert request["updated_datetime"] > request["requested_datetime"]

    # The list: the channel's own, from the read models.
    await caught_up(pipeline_system)
    r = await http.get(f"{V2}/requests.json", headers=whatsapp)
    assert r.status_code == 200, r.text
    assert [q["service_request_id"] for q in r.json()] == [case]
    assert r.json()[0]["status"] == "closed"
    assert (await http.get(f"{V2}/requests.json", params={"status": "open"},
                           headers=whatsapp)).json() == []
    r = await http.get(f"{V2}/requests.json", params={"service_request_id": case},
                       headers=whatsapp)
    assert [q["service_request_id"] for q in r.json()] == [case]

    # Another channel: nothing of it, and the same 404 as an unknown request.
    assert (await http.get(f"{V2}/requests.json", headers=sms)).json() == []
    r = await http.get(f"{V2}/requests.json", params={"service_request_id": case},
                       headers=sms)
    assert r.status_code == 200 and r.json() == []
    theirs = await http.get(f"{V2}/requests/{case}.json", headers=sms)
    unknown_id = "00000000-0000-4000-8000-000000000000"
    unknown = await http.get(f"{V2}/requests/{unknown_id}.json", headers=sms)
    assert theirs.status_code == unknown.status_code == 404
    assert errors(theirs) == [d.replace(unknown_id, case) for d in errors(unknown)]


async def test_bad_input_answers_in_the_standards_format_naming_the_field(
        http: httpx.AsyncClient, token: TokenMaker) -> None:
    whatsapp = key(token("channel", "wa-gw", channel="whatsapp"))

    async def refused(status: int, field: str, body: dict[str, Any], **kw: Any) -> None:
        r = await http.post(f"{V2}/requests.json", data=body, **kw)
        assert r.status_code == status, r.text
        assert any(d.startswith(f"{field}: ") for d in errors(r)), r.text

    await refused(400, "service_code", form(whatsapp, service_code="jalan_rusak"))
    await refused(400, "lat", form(whatsapp, lat="-100"))
    await refused(400, "lat", form(whatsapp, lat="selatan"))
    await refused(400, "long", form(whatsapp, long=None))
    await refused(400, "email", form(whatsapp, email="bukan-surel"))
    await refused(400, "phone", form(whatsapp, phone="tidak ada"))
    await refused(400, "attribute[nik]", form(whatsapp, **{"attribute[nik]": "123"}))
    await refused(400, "attribute[service_received_on]",
                  form(whatsapp, **{"attribute[service_received_on]": None}))
    await refused(400, "attribute[service_received_on]",
                  form(whatsapp, **{"attribute[service_received_on]": "kemarin"}))
    await refused(400, "attribute[service_received_on]",  # after it was received
                  form(whatsapp, **{"attribute[service_received_on]": "2026-12-31"}))
    await refused(400, "description", form(whatsapp, description=None))
    await refused(400, "media_url", form(whatsapp, media_url="javascript:alert(1)"))
    await refused(400, "attribute[related_application_id]",
                  form(whatsapp, **{"attribute[related_application_id]": "bukan-uuid"}))

    # The API key: none, a wrong one, a token that is not a channel's, a channel that
    # takes no complaints.
    r = await http.post(f"{V2}/requests.json", data=form())
    assert r.status_code == 401 and "api_key" in errors(r)[0]
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = await http.post(f"{V2}/requests.json", data=form("not-a-token"))
    assert r.status_code == 401
    officer = token("officer", "dewi", unit="pengaduan", tier="pelaksana")
    r = await http.post(f"{V2}/requests.json", data=form(), headers=officer)
    assert r.status_code == 403, r.text
    oss = key(token("channel", "oss-gw", channel="oss"))
    await refused(403, "api_key", form(oss))
    r = await http.get(f"{V2}/requests.json", params={"status": "pending"},
                       headers={"Authorization": f"Bearer {whatsapp}"})
    assert r.status_code == 400 and errors(r)[0].startswith("status: ")
    r = await http.get(f"{V2}/requests.json", params={
        "start_date": "2026-01-01T00:00:00+07:00", "end_date": "2026-12-01T00:00:00+07:00",
        "api_key": whatsapp})
    assert r.status_code == 400 and errors(r)[0].startswith("end_date: ")
    r = await http.get(f"{V2}/services/jalan_rusak.json")
    assert r.status_code == 404 and errors(r)
    r = await http.get(f"{V2}/requests/{'0' * 8}.xml", params={"api_key": whatsapp})
    assert r.status_code == 404 and "JSON" in errors(r)[0]


async def test_without_an_external_id_the_content_is_the_reference(
        http: httpx.AsyncClient, token: TokenMaker) -> None:
    """Open311 has no reference of the client's: the same content again is the same
    request; other content is another; and an anonymous one is a suggestion."""
    whatsapp = key(token("channel", "wa-gw", channel="whatsapp"))
    body = form(whatsapp, **{"attribute[external_id]": None})
    first = await http.post(f"{V2}/requests.json", data=body)
    again = await http.post(f"{V2}/requests.json", data=body)
    other = await http.post(f"{V2}/requests.json", data={**body, "description": "Lain."})
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert again.json() == first.json()
    assert other.json()[0]["service_request_id"] != first.json()[0]["service_request_id"]
    anonymous = await http.post(f"{V2}/requests.json", data={
        "api_key": whatsapp, "service_code": "pengaduan", "description": "Antrean lama.",
        "attribute[service_received_on]": "2026-03-10"})
    assert anonymous.status_code == 201, anonymous.text
    assert anonymous.json()[0]["service_notice"].startswith("Dicatat sebagai saran")
