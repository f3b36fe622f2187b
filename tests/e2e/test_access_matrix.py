"""Who may call what: every endpoint against every kind of caller, over real HTTP.

`MATRIX` below is the one source: the test walks it cell by cell (each cell on a case of
its own, so one caller's step cannot change what the next one sees), checks that it
lists every route the application serves, and `python tests/e2e/test_access_matrix.py`
prints it as the README's table.

A cell says what the caller gets:
- `ok`   allowed: neither 401, 403 nor (on an existing case) 404. The step may still be
         refused for domain reasons (409 for the case's state, 422 for its data).
- `401`  no token (with `WWW-Authenticate`); bad, expired and revoked tokens are
         `test_credentials.py`'s.
- `403`  valid token, but the role (or tier) may never do this.
- `404`  someone else's case: the same answer as an unknown case, so it leaks nothing.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest

from services.settings import Settings

pytestmark = pytest.mark.e2e

# Who calls. The case of a row is an application of channel `oss` (unit perizinan) or a
# complaint of channel `whatsapp` (unit pengaduan), fresh at tier pelaksana.
COLUMNS: dict[str, str] = {
    "anonymous": "no token",
    "channel": "channel token of the case's channel (intake: its own channel in the body)",
    "other channel": "channel token of another channel (intake: another channel in the body)",
    "officer": "officer of the case's unit, tier pelaksana",
    "officer kasi": "officer of the case's unit, tier kepala_seksi",
    "other unit": "officer of another unit, tier kepala_dinas",
    "supervisor": "supervisor (spans units)",
    "head": "head of office, Kepala DPMPTSP (spans units)",
    "auditor": "auditor, Inspektorat/APIP (reads everything, changes nothing)",
}

WORKS = "401 403 403 ok  ok  404 ok  ok  403"   # officers of the unit, supervisor, head
READS = "401 403 403 ok  ok  404 ok  ok  ok"    # ...and the auditor
OWN_CHANNEL = "401 ok  404 403 403 403 403 403 403"
INTAKE = "401 ok  403 403 403 403 403 403 403"
SUPERVISES = "401 403 403 403 403 403 ok  ok  403"
OVERSEES = "401 403 403 403 403 403 ok  ok  ok"
HEAD_ONLY = "401 403 403 403 403 403 403 ok  403"
ASSIGNS = "401 403 403 403 ok  404 ok  ok  403"
PUBLIC = "ok  ok  ok  ok  ok  ok  ok  ok  ok"
ANY_TOKEN = "401 ok  ok  ok  ok  ok  ok  ok  ok"
AUDITS = "401 403 403 403 403 403 403 ok  ok"     # the auditor and the head
ALL_STAFF = "401 403 403 ok  ok  ok  ok  ok  ok"  # every role but a channel (reports: aggregates)
ANY_CHANNEL = "401 ok  ok  403 403 403 403 403 403"  # Open311: each channel for itself

#  method, path                                        who: see COLUMNS, in order
MATRIX: list[tuple[str, str]] = [
    ("GET /health", PUBLIC),
    ("GET /ready", PUBLIC),
    ("GET /metrics", AUDITS),
    ("GET /services", PUBLIC),
    ("GET /certificates/{number}", PUBLIC),
    ("GET /certificates/public-key", PUBLIC),
    ("POST /applications", INTAKE),
    ("GET /applications/{id}", READS),
    ("POST /applications/{id}/verification", WORKS),
    ("POST /applications/{id}/return", WORKS),
    ("POST /applications/{id}/resubmission", OWN_CHANNEL),
    ("POST /applications/{id}/withdrawal", OWN_CHANNEL),
    ("POST /applications/{id}/technical-review", WORKS),
    ("POST /applications/{id}/assignment", ASSIGNS),
    ("POST /applications/{id}/escalation", WORKS),
    ("POST /applications/{id}/decision", SUPERVISES),
    ("POST /applications/{id}/issuance", SUPERVISES),
    ("POST /applications/{id}/certificate-revocation", SUPERVISES),
    ("POST /complaints", INTAKE),
    ("GET /complaints/{id}", READS),
    ("POST /complaints/{id}/reclassification", WORKS),
    ("POST /complaints/{id}/classification", WORKS),
    ("POST /complaints/{id}/analysis", WORKS),
    ("POST /complaints/{id}/findings", WORKS),
    ("POST /complaints/{id}/apip-approval", HEAD_ONLY),
    ("POST /complaints/{id}/track", WORKS),
    ("POST /complaints/{id}/escalation", WORKS),
    ("POST /complaints/{id}/assignment", ASSIGNS),
    ("POST /complaints/{id}/response", WORKS),
    ("POST /complaints/{id}/complainant-notification", WORKS),
    ("POST /complaints/{id}/superior-report", WORKS),
    ("POST /complaints/{id}/closure", WORKS),
    ("GET /cases", "401 403 403 ok  ok  ok  ok  ok  ok"),
    ("GET /queues/escalation", OVERSEES),
    ("GET /sla", OVERSEES),
    ("GET /reports/monthly/{month}", ALL_STAFF),
    ("POST /surveys/responses", INTAKE),
    ("GET /reports/satisfaction/{quarter}", ALL_STAFF),
    ("GET /reports/yearly/{year}", ALL_STAFF),
    ("POST /staff", HEAD_ONLY),
    ("GET /staff", OVERSEES),
    ("GET /staff/{member}", OVERSEES),
    ("POST /staff/{member}/disable", HEAD_ONLY),
    ("POST /evaluations", HEAD_ONLY),
    ("GET /evaluations", ALL_STAFF),
    ("POST /evaluations/{evaluation}/actions/{n}/done", HEAD_ONLY),
    ("GET /calendar/{year}", ANY_TOKEN),
    ("POST /calendar/days", HEAD_ONLY),
    ("POST /admin/clock", HEAD_ONLY),
    ("GET /contracts/schema", ANY_TOKEN),
    ("GET /cases/{id}", AUDITS),
    ("GET /cases/{id}/history", AUDITS),
    ("GET /audit/verify", AUDITS),
    ("POST /applications/{id}/erasure", HEAD_ONLY),
    ("POST /complaints/{id}/erasure", HEAD_ONLY),
    ("POST /complaints/{id}/confidentiality", "401 403 403 ok  ok  404 403 ok  403"),
    ("POST /cases/{id}/audit-hold", AUDITS),
    ("POST /cases/{id}/audit-hold/release", AUDITS),
    ("GET /track/{tracking_number}", PUBLIC),
    ("GET /open311/v2/services.json", PUBLIC),
    ("GET /open311/v2/services/{service_code}.json", PUBLIC),
    ("POST /open311/v2/requests.json", ANY_CHANNEL),
    ("GET /open311/v2/requests.json", ANY_CHANNEL),
    ("GET /open311/v2/requests/{id}.json", OWN_CHANNEL),
]

ALL_MET = dict.fromkeys(("U1", "U2", "U3", "U4", "K1", "K2", "K3", "K4"), True)
APPLICATION: dict[str, Any] = {
    "channel": "oss", "service_code": "SS-KBLI-10510",
    "applicant": {"name": "Siti Rahma", "nik": "3214010101800001"},
    "business": {"name": "CV Susu Murni", "kbli": "10510", "scale": "kecil",
                 "in_industrial_estate": True, "address": "Jl. Veteran 139, Purwakarta"},
}
COMPLAINT: dict[str, Any] = {
    "channel": "whatsapp", "complainant": {"name": "Siti Aminah", "phone": "081234567890"},
    "subject_matter": "Biaya Sertifikat Standar", "description": "Dimintai uang di loket.",
    "service_received_on": "2026-03-10",
}
BODIES: dict[str, Any] = {
    "POST /applications": APPLICATION,
    "POST /applications/{id}/verification": {"results": ALL_MET},
    "POST /applications/{id}/return": {"reason": "berkas kurang jelas"},
    "POST /applications/{id}/resubmission": {"note": "dilengkapi"},
    "POST /applications/{id}/withdrawal": {"reason": "batal"},
    "POST /applications/{id}/technical-review": {"recommendation": "approve", "note": "sesuai"},
    "POST /applications/{id}/assignment": {"officer": "budi"},
    "POST /applications/{id}/escalation": {"to_tier": "kepala_seksi", "reason": "perlu kasi"},
    "POST /applications/{id}/decision": {"outcome": "approve", "reason": "memenuhi"},
    "POST /applications/{id}/issuance": None,
    "POST /applications/{id}/certificate-revocation": {"reason": "dicabut"},
    "POST /complaints": COMPLAINT,
    "POST /complaints/{id}/reclassification": {"reason": "tetap pengaduan"},
    "POST /complaints/{id}/classification": {"service_code": "SS-KBLI-10510",
                                             "problem_type": "fee"},
    "POST /complaints/{id}/analysis": {"core_problem": "pungutan", "standard_refs": ["SP"],
                                       "handling_plan": "clarification"},
    "POST /complaints/{id}/findings": {"actions": ["klarifikasi"], "outcome": "proven"},
    "POST /complaints/{id}/apip-approval": {"reason": "perlu APIP"},
    "POST /complaints/{id}/track": {"track": "internal"},
    "POST /complaints/{id}/escalation": {"to_tier": "kepala_seksi", "reason": "perlu kasi"},
    "POST /complaints/{id}/assignment": {"officer": "dewi"},
    "POST /complaints/{id}/response": {"text": "Tidak ada biaya."},
    "POST /complaints/{id}/complainant-notification": {"channel": "whatsapp"},
    "POST /complaints/{id}/superior-report": {"text": "Dilaporkan."},
    "POST /complaints/{id}/closure": {},
    "POST /surveys/responses": {"channel": "oss", "service_code": "SS-KBLI-10510",
                                "scores": {"requirements": 4, "time": 3}},
    "POST /calendar/days": {"date": "2026-12-24", "kind": "holiday", "reason": "cuti bersama"},
    "POST /admin/clock": {"now": "2026-03-16T09:00:00+07:00"},
    "POST /applications/{id}/erasure": {"reason": "permintaan subjek data"},
    "POST /complaints/{id}/erasure": {"reason": "permintaan subjek data"},
    "POST /complaints/{id}/confidentiality": {"reason": "pelapor meminta dirahasiakan"},
    "POST /cases/{id}/audit-hold": {"reason": "pemeriksaan Inspektorat"},
    "POST /cases/{id}/audit-hold/release": {"reason": "pemeriksaan selesai"},
    "POST /staff": {"actor": "matrix-officer", "name": "Petugas", "role": "officer",
                    "unit": "perizinan"},
    "POST /staff/{member}/disable": {"reason": "pindah tugas"},
    "POST /evaluations": {"year": 2025, "summary": "IKM B",
                          "actions": [{"action": "x", "owner": "perizinan",
                                       "due_on": "2026-06-30"}]},
    "POST /evaluations/{evaluation}/actions/{n}/done": {"note": "selesai"},
    "POST /open311/v2/requests.json": {
        "service_code": "pengaduan", "first_name": "Siti", "phone": "081234567890",
        "description": "Dimintai uang di loket.", "attribute[service_received_on]": "2026-03-10",
        "attribute[subject_matter]": "Biaya Sertifikat Standar"},
}
PATH_VALUES = {"{number}": "SS-10510-2026-UNKNOWN", "{month}": "2026-03", "{year}": "2026",
               "{quarter}": "2026-Q1", "{member}": "nobody-registered",
               "{evaluation}": "00000000-0000-4000-8000-000000000000", "{n}": "1",
               "{tracking_number}": "PRM-00000-00000", "{service_code}": "pengaduan"}
INTAKE_ENDPOINTS = ("POST /applications", "POST /complaints", "POST /surveys/responses")


@dataclass(frozen=True)
class Cell:
    endpoint: str
    who: str
    expected: str


def cells() -> list[Cell]:
    names = list(COLUMNS)
    result = []
    for endpoint, row in MATRIX:
        expected = row.split()
        assert len(expected) == len(names), endpoint
        result += [Cell(endpoint, who, e) for who, e in zip(names, expected, strict=True)]
    return result


def markdown() -> str:
    """The table for the README."""
    lines = ["| endpoint | " + " | ".join(COLUMNS) + " |",
             "|---|" + "---|" * len(COLUMNS)]
    for endpoint, row in MATRIX:
        lines.append(f"| `{endpoint}` | " + " | ".join(row.split()) + " |")
    return "\n".join(lines)


def shape(path: str) -> str:
    # Open311's `{id}.json` is served as one path parameter (`{request_file}`).
    return re.sub(r"\{[^}]*\}(\.json)?", "{}", path.rstrip("/") or "/")


# -- the walk -----------------------------------------------------------------------
@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, intake_rate_per_second=1e6, intake_burst=1_000_000)


@pytest.fixture
def callers(token: TokenMaker) -> Callers:
    """Who calls, for a case of each type: Authorization headers (none: anonymous)."""
    def officer(unit: str, tier: str) -> Headers:
        return token("officer", f"{unit}-{tier}", unit=unit, tier=tier)

    def channel(name: str) -> Headers:
        return token("channel", f"{name}-gw", channel=name)

    shared: dict[str, Headers] = {"anonymous": {}, "supervisor": token("supervisor", "sri"),
              "head": token("head", "kepala"), "auditor": token("auditor", "inspektorat")}
    # Each case type: its own channel and another, its own unit and the other one.
    sides = {"application": ("oss", "mpp_counter", "perizinan", "pengaduan"),
             "complaint": ("whatsapp", "sms", "pengaduan", "perizinan")}
    return {kind: {**shared,
                   "channel": channel(own), "other channel": channel(other),
                   "officer": officer(unit, "pelaksana"),
                   "officer kasi": officer(unit, "kepala_seksi"),
                   "other unit": officer(other_unit, "kepala_dinas")}
            for kind, (own, other, unit, other_unit) in sides.items()}


# Written out, not imported from tests.conftest: `python tests/e2e/test_access_matrix.py`
# (the README's way to print the matrix) runs without the test suite on the path.
Headers = dict[str, str]
TokenMaker = Callable[..., Headers]
Callers = dict[str, dict[str, Headers]]
"""For a case of each type: who calls, as Authorization headers."""


def case_type(endpoint: str) -> str:
    path = endpoint.split()[1]
    return "complaint" if path.startswith(("/complaints", "/open311")) else "application"


def open311(path: str) -> bool:
    """Open311 takes a form and answers errors as the standard's `[{code, description}]`."""
    return path.startswith("/open311/")


def error_shape(body: Any) -> Any:
    """An Open311 error list as the API's error object, so one check reads both."""
    if isinstance(body, list) and body and isinstance(body[0], dict) and "code" in body[0]:
        return {"status_code": body[0]["code"], "detail": body[0]["description"], "extra": {}}
    return body


async def new_case(http: httpx.AsyncClient, callers: Callers, kind: str) -> str:
    body = {**(APPLICATION if kind == "application" else COMPLAINT),
            "external_id": f"M-{uuid.uuid4().hex[:12]}"}
    r = await http.post(f"/{kind}s", json=body, headers=callers[kind]["channel"])
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def call(http: httpx.AsyncClient, endpoint: str, headers: dict[str, str],
               case_id: str | None, intake_channel: str | None) -> httpx.Response:
    method, path = endpoint.split()
    for placeholder, value in PATH_VALUES.items():
        path = path.replace(placeholder, value)
    if case_id is not None:
        path = path.replace("{id}", case_id)
    body = BODIES.get(endpoint)
    if body is not None and intake_channel is not None:
        body = {**body, "channel": intake_channel, "external_id": f"M-{uuid.uuid4().hex[:12]}"}
    if open311(path) and method == "POST":
        return await http.request(method, path, headers=headers, data=body)
    return await http.request(method, path, headers=headers,
                              json=body if method == "POST" and body is not None else None)


async def check(http: httpx.AsyncClient, callers: Callers, cell: Cell) -> str | None:
    """None when the cell holds; else what went wrong."""
    kind = case_type(cell.endpoint)
    headers = callers[kind][cell.who]
    case_id = await new_case(http, callers, kind) if "{id}" in cell.endpoint else None
    # Intake: "channel" submits for its own channel, "other channel" names the case's.
    intake_channel = APPLICATION["channel"] if kind == "application" else COMPLAINT["channel"]
    intake = cell.endpoint in INTAKE_ENDPOINTS
    r = await call(http, cell.endpoint, headers, case_id, intake_channel if intake else None)
    where = (f"{cell.endpoint} as {cell.who}: expected {cell.expected}, "
             f"got {r.status_code} {r.text[:200]}")
    if r.status_code >= 500:
        return where
    if cell.expected == "ok":
        refused = {401, 403} | ({404} if case_id else set())
        return where if r.status_code in refused else None
    if r.status_code != int(cell.expected):
        return where
    body = error_shape(r.json())
    if body.get("status_code") != r.status_code or not body.get("detail"):
        return f"{where}: not the error shape"
    if r.status_code == 401 and not r.headers.get("www-authenticate", "").startswith("Bearer"):
        return f"{where}: no WWW-Authenticate: Bearer"
    if r.status_code == 404 and case_id is not None:
        # Exactly what an unknown case answers, to the same caller.
        unknown = str(uuid.uuid4())
        u = await call(http, cell.endpoint, headers, unknown, None)
        expected = error_shape(u.json())
        expected["detail"] = expected["detail"].replace(unknown, case_id)
        if (u.status_code, expected) != (404, body):
            return f"{where}: differs from an unknown case's {u.status_code} {u.text}"
    return None


async def test_every_endpoint_against_every_caller(http: httpx.AsyncClient,
                                                   callers: Callers) -> None:
    problems: list[str] = []
    for endpoint, _ in MATRIX:
        row = [c for c in cells() if c.endpoint == endpoint]
        # A row's cells at once: each on its own case, so they cannot interfere.
        results = await asyncio.gather(*(check(http, callers, c) for c in row))
        problems += [p for p in results if p]
    assert not problems, "\n".join(problems)


async def test_the_matrix_lists_every_route(http: httpx.AsyncClient) -> None:
    """A new route fails here until MATRIX (and so the README's table) says who may call it."""
    schema = (await http.get("/schema/openapi.json")).json()
    served = {f"{method.upper()} {shape(path)}"
              for path, operations in schema["paths"].items()
              for method in operations if method in ("get", "post", "put", "patch", "delete")}
    listed = {f"{e.split()[0]} {shape(e.split()[1])}" for e, _ in MATRIX}
    assert served - listed == set(), "routes missing from MATRIX"
    assert listed - served == set(), "MATRIX rows for routes that do not exist"


def test_every_cell_names_a_known_outcome() -> None:
    assert {c.expected for c in cells()} <= {"ok", "401", "403", "404"}
    assert len({e for e, _ in MATRIX}) == len(MATRIX)
    for endpoint, _ in MATRIX:
        if endpoint.startswith("POST") and "{id}" not in endpoint:
            assert endpoint in BODIES, endpoint


if __name__ == "__main__":
    print(markdown())
