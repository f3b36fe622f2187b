"""Read model: survey responses — one row per answer with its service, channel, period
and scores. A pure fold plus its SQL. The IKM reports are computed from it.

Respondent facts (personal data) are not copied here: the reports need only scores, and
personal data kept in one place (the event store) is personal data erased or encrypted
in one place."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from projections.doc_table import Doc, DocTable
from projections.schema import drop_if_outdated
from services.domain.clock import JAKARTA
from services.infra.eventlog import LoggedEvent
from services.surveys.ikm import quarter_of


def evolve(doc: Doc | None, e: Doc) -> Doc | None:
    """Pure: the response's row after one event (the event as plain JSON data)."""
    if e["type"] == "survey.responded":
        responded_at = datetime.fromisoformat(e["responded_at"])
        return {
            "id": e["case_id"], "channel": e["channel"], "service_code": e["service_code"],
            "scores": dict(sorted(e["scores"].items())),
            "responded_at": e["responded_at"], "recorded_at": e["at"],
            "quarter": quarter_of(responded_at),
            "month": responded_at.astimezone(JAKARTA).strftime("%Y-%m"),
            # The monthly report's month: when answered, or when recorded if that month
            # had ended by then (a closed month's report never changes).
            "report_month": max(responded_at, datetime.fromisoformat(e["at"]))
            .astimezone(JAKARTA).strftime("%Y-%m"),
            "linked_case_id": e.get("linked_case_id"),
            "linked_case_type": e.get("linked_case_type"),
            "version": e["version"],
        }
    return doc


TABLE = """
CREATE TABLE IF NOT EXISTS survey_responses (
    id uuid PRIMARY KEY,
    service_code text NOT NULL,
    channel text NOT NULL,
    responded_at timestamptz NOT NULL,
    quarter text NOT NULL,
    month text NOT NULL,
    report_month text NOT NULL,
    linked_case_id uuid,
    scores jsonb NOT NULL,
    doc jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS survey_responses_when ON survey_responses (responded_at);
CREATE INDEX IF NOT EXISTS survey_responses_report_month ON survey_responses (report_month);
"""


class SurveyResponses(DocTable):
    name = "survey_responses"
    streams = ("surveys",)
    ddl = TABLE

    async def create(self, conn: asyncpg.Connection) -> None:
        await drop_if_outdated(conn, self.name, self.name, [(self.name, "report_month")],
                               f"DROP TABLE IF EXISTS {self.name}")
        await conn.execute(self.ddl)

    async def apply(self, conn: asyncpg.Connection, events: Sequence[LoggedEvent]) -> None:
        docs = await self.folded(conn, events, evolve)
        await conn.executemany(
            """INSERT INTO survey_responses (id, service_code, channel, responded_at, quarter,
                   month, report_month, linked_case_id, scores, doc)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb)
               ON CONFLICT (id) DO UPDATE SET service_code = excluded.service_code,
                   channel = excluded.channel, responded_at = excluded.responded_at,
                   quarter = excluded.quarter, month = excluded.month,
                   report_month = excluded.report_month,
                   linked_case_id = excluded.linked_case_id, scores = excluded.scores,
                   doc = excluded.doc""",
            [(UUID(d["id"]), d["service_code"], d["channel"],
              datetime.fromisoformat(d["responded_at"]), d["quarter"], d["month"],
              d["report_month"],
              UUID(d["linked_case_id"]) if d["linked_case_id"] else None,
              json.dumps(d["scores"], sort_keys=True), json.dumps(d, sort_keys=True))
             for d in docs.values() if d is not None],
        )


async def responses_between(conn: asyncpg.Connection, start: datetime,
                            end: datetime) -> list[Doc]:
    """The responses given in [start, end), as {service_code, channel, scores, ...}."""
    rows = await conn.fetch(
        "SELECT doc FROM survey_responses WHERE responded_at >= $1 AND responded_at < $2 "
        "ORDER BY id", start, end)
    return [json.loads(r["doc"]) for r in rows]


async def responses_of_month(conn: asyncpg.Connection, month: str) -> list[Doc]:
    """The responses the monthly report of `month` counts (`report_month`)."""
    rows = await conn.fetch(
        "SELECT doc FROM survey_responses WHERE report_month = $1 ORDER BY id", month)
    return [json.loads(r["doc"]) for r in rows]
