"""Abuse and bad input: schemathesis generates requests from the live application's own
OpenAPI document (`/schema/openapi.json`), inside the schema and outside it, and sends
them over HTTP to the whole system (NATS, relay, projections running).

Every answer must hold: no 5xx, no stack trace in any body, and every 4xx is the JSON
error shape `{status_code, detail, ...}` naming the problem. Bounded: a fixed number of
examples per operation and mode, derandomized (the same examples on every run), and a
wall-clock budget for the whole walk.

Each operation is called with a token of a role that may call it (from the access
matrix), and with an existing case of the right type, so the bodies reach the domain
instead of stopping at 403 or 404.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest

from services.settings import Settings
from tests.conftest import TokenMaker
from tests.e2e.test_access_matrix import COLUMNS, MATRIX, shape

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 20   # per generation mode (positive, negative)
BUDGET_SECONDS = 50.0
# Preferred caller for an operation: the first of these its matrix row allows.
PREFERENCE = ("channel", "head", "supervisor", "officer kasi", "officer", "auditor", "anonymous")
STACK_TRACE = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\.py\", line \d+")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The fuzzer is one fast client per channel: take the rate limit out of its way
    # (test_rate_limits.py is about that).
    return replace(settings, intake_rate_per_second=1e6, intake_burst=1_000_000)


class OutOfTime(Exception):
    """This run's share of the budget is spent."""


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)

    def judge(self, label: str, status: int, text: str, content_type: str,
              request: Callable[[], str]) -> None:
        self.calls[label] = self.calls.get(label, 0) + 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status < 400 and not STACK_TRACE.search(text):
            return
        where = f"{label} -> {status}: {text[:300]!r}\n    request: {request()[:500]}"
        if status >= 500:
            self.problems.append(f"server error: {where}")
        if STACK_TRACE.search(text):
            self.problems.append(f"stack trace in the body: {where}")
        if 400 <= status < 500:
            try:
                body = json.loads(text)
            except ValueError:
                self.problems.append(f"4xx body is not JSON ({content_type}): {where}")
                return
            if " /open311/" in label:  # the standard's own error format
                if not (isinstance(body, list) and body and all(
                        isinstance(e, dict) and e.get("code") == status
                        and isinstance(e.get("description"), str) and e["description"].strip()
                        for e in body)):
                    self.problems.append(f"4xx body is not [{{code, description}}]: {where}")
            elif not (isinstance(body, dict) and body.get("status_code") == status
                      and isinstance(body.get("detail"), str) and body["detail"].strip()):
                self.problems.append(f"4xx body is not {{status_code, detail}}: {where}")


def caller_for(method: str, path: str) -> str:
    row = dict(MATRIX)[next(e for e, _ in MATRIX
                            if e.split()[0] == method and shape(e.split()[1]) == shape(path))]
    allowed = {who for who, cell in zip(COLUMNS, row.split(), strict=True) if cell == "ok"}
    return next(who for who in PREFERENCE if who in allowed)


def fuzz(base_url: str, raw_schema: dict[str, Any], headers_for: dict[str, dict[str, str]],
         case_ids: dict[str, str], channels: dict[str, str]) -> Findings:
    """Runs in a thread (schemathesis and requests are synchronous) while the event loop
    serves the application."""
    import requests
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.core.result import Ok

    findings = Findings()
    deadline = time.monotonic() + BUDGET_SECONDS
    schema = schemathesis.openapi.from_dict(raw_schema)
    session = requests.Session()
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the live schema must load whole
        operations.append(result.ok())
    runs = [(operation, mode) for operation in operations for mode in modes]
    for index, (operation, mode) in enumerate(runs):
        # What is left of the budget, shared fairly by the runs still to come; each run
        # sends at least one request however slow the machine.
        until = time.monotonic() + max(0.0, deadline - time.monotonic()) / (len(runs) - index)
        method, path = operation.method.upper(), operation.path
        who = caller_for(method, path)
        kind = "complaint" if path.startswith(("/complaints", "/open311")) else "application"
        positive = mode is GenerationMode.POSITIVE
        strategy = operation.as_strategy(
            generation_mode=mode,
            path_parameters={"case_id": case_ids[kind]}
            if "{case_id}" in path and positive else None)
        run_one(findings, session, base_url, strategy, until,
                label=f"{method} {path} ({mode.value}, {who})",
                headers=headers_for[f"{kind}:{who}"],
                channel=channels[kind] if who == "channel" and positive else None)
    return findings


def run_one(findings: Findings, session: Any, base_url: str, strategy: Any, until: float, *,
            label: str, headers: dict[str, str], channel: str | None) -> None:
    """Up to EXAMPLES_PER_OPERATION requests of one operation in one mode, until `until`."""
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import settings as hypothesis_settings
    from hypothesis.errors import Unsatisfiable

    @hypothesis_settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                         derandomize=True, phases=[Phase.generate],
                         suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: Any) -> None:
        if label in findings.calls and time.monotonic() > until:
            raise OutOfTime
        if channel is not None and isinstance(case.body, dict):
            # Intake for the token's own channel, or nearly all of it stops at 403.
            case.body["channel"] = channel
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=15)
        findings.judge(label, response.status_code, response.text,
                       response.headers.get("content-type", ""),
                       lambda: case.as_curl_command(headers=headers))

    try:
        run()
    except Unsatisfiable:
        pass  # nothing outside the schema to send (an operation without inputs)
    except OutOfTime:
        pass


async def test_no_input_breaks_the_api(pipeline_http: httpx.AsyncClient, token: TokenMaker) -> None:
    http = pipeline_http
    schema = (await http.get("/schema/openapi.json")).json()
    assert schema["paths"], "the OpenAPI document lists the API"

    def callers(kind: str, channel: str, unit: str) -> dict[str, dict[str, str]]:
        return {
            f"{kind}:channel": token("channel", f"{channel}-gw", channel=channel),
            f"{kind}:head": token("head", "kepala"),
            f"{kind}:supervisor": token("supervisor", "sri"),
            f"{kind}:officer kasi": token("officer", "kasi", unit=unit, tier="kepala_seksi"),
            f"{kind}:officer": token("officer", "budi", unit=unit, tier="pelaksana"),
            f"{kind}:auditor": token("auditor", "inspektorat"),
            f"{kind}:anonymous": {},
        }
    headers_for = {**callers("application", "oss", "perizinan"),
                   **callers("complaint", "whatsapp", "pengaduan")}
    r = await http.post("/applications", headers=headers_for["application:channel"], json={
        "channel": "oss", "external_id": "FUZZ-1", "service_code": "SS-KBLI-10510",
        "applicant": {"name": "Siti Rahma"},
        "business": {"name": "CV Fuzz", "kbli": "10510", "scale": "mikro",
                     "in_industrial_estate": False, "address": "Purwakarta"}})
    assert r.status_code == 201, r.text
    application = r.json()["id"]
    r = await http.post("/complaints", headers=headers_for["complaint:channel"], json={
        "channel": "whatsapp", "external_id": "FUZZ-1", "complainant": {"name": "Siti",
        "phone": "081234567890"}, "subject_matter": "Biaya", "description": "Dimintai uang.",
        "service_received_on": "2026-03-10"})
    assert r.status_code == 201, r.text
    complaint = r.json()["id"]

    started = time.monotonic()
    findings = await asyncio.to_thread(
        fuzz, str(http.base_url).rstrip("/"), schema, headers_for,
        {"application": application, "complaint": complaint},
        {"application": "oss", "complaint": "whatsapp"})
    elapsed = time.monotonic() - started
    print(f"fuzz: {sum(findings.calls.values())} calls over {len(findings.calls)} operation/modes "
          f"in {elapsed:.1f} s; statuses {dict(sorted(findings.statuses.items()))}")

    assert not findings.problems, (
        f"{len(findings.problems)} problems in {sum(findings.calls.values())} calls:\n"
        + "\n".join(findings.problems[:40]))
    operations = {label.split(" (")[0] for label in findings.calls}
    assert operations == schema_operations(schema), "every operation was called"
    assert elapsed < BUDGET_SECONDS + 15
    # The generated input reached past validation, and the API is still up.
    assert any(200 <= s < 300 for s in findings.statuses), findings.statuses
    assert (await http.get("/health")).status_code == 200


def schema_operations(schema: dict[str, Any]) -> set[str]:
    return {f"{m.upper()} {p}" for p, ops in schema["paths"].items() for m in ops
            if m in ("get", "post", "put", "patch", "delete")}


async def test_what_fuzzing_found_stays_fixed(http: httpx.AsyncClient, token: TokenMaker) -> None:
    """Each of these answered 500 once; each now names the field and the reason."""
    wa = token("channel", "wa-gw", channel="whatsapp")
    head, supervisor = token("head", "kepala"), token("supervisor", "sri")
    complaint = {"channel": "whatsapp", "external_id": "FOUND-1", "complainant": None,
                 "subject_matter": None, "description": "x", "service_received_on": "2026-03-01"}

    def problem(r: httpx.Response) -> tuple[int, str]:
        body = r.json()
        assert body["status_code"] == r.status_code and body["detail"], r.text
        extra = body["extra"]
        return r.status_code, extra[0]["key"] if isinstance(extra, list) else extra["field"]

    # Dates the calendar arithmetic cannot follow (year 1 in +07:00 is before year 1 UTC).
    r = await http.post("/complaints", headers=wa,
                        json={**complaint, "received_at": "0001-01-01T00:00:00+07:00"})
    assert problem(r) == (400, "received_at")
    r = await http.post("/complaints", headers=wa,
                        json={**complaint, "service_received_on": "0001-01-01"})
    assert problem(r) == (400, "service_received_on")
    # A simulated clock (or a calendar correction) in year 9999 broke every later intake.
    r = await http.post("/admin/clock", headers=head, json={"now": "9999-12-31T23:59:59+07:00"})
    assert problem(r) == (400, "now")
    r = await http.post("/calendar/days", headers=head,
                        json={"date": "9999-12-31", "kind": "holiday", "reason": "x"})
    assert problem(r) == (400, "date")
    r = await http.get("/reports/monthly/9999-12", headers=supervisor)
    assert problem(r) == (422, "month")
    # NUL characters: Postgres stores none, in a query or in a read model.
    r = await http.get("/cases", params={"assignee": "bu\x00di"}, headers=supervisor)
    assert problem(r) == (422, "assignee")
    r = await http.post("/complaints", headers=wa, json={
        **complaint, "complainant": {"name": "Siti\x00", "phone": "081234567890"}})
    assert problem(r) == (422, "complainant.name")
    r = await http.post("/complaints", headers=wa, json=complaint)
    assert r.status_code == 201, r.text
