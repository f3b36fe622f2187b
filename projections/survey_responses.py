"""Read model: survey responses — one row per answer with its service, channel, period
and scores. A pure fold plus its SQL. The IKM reports are computed from it.

Respondent facts (personal data) are not copied here: the reports need only scores, and
personal data kept in one place (the event store) is personal data erased or encrypted
in one place."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from projections.doc_table import Doc, DocTable, RowWriter, decode_doc, encode_doc, fold_into
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
        await ROWS.upsert(conn, [_row(d) for d in docs.values() if d is not None])

    async def rebuilding(self, conn: asyncpg.Connection) -> SurveyResponsesRebuilding:
        return SurveyResponsesRebuilding()


class SurveyResponsesFolder:
    """Whole responses into their rows (`projections.runner.Folder`)."""

    def fold(self, events: Sequence[LoggedEvent]) -> bytes:
        docs = fold_into({}, [e.data for e in events], evolve)
        return ROWS.encode([_row(d) for d in docs.values() if d is not None])


class SurveyResponsesRebuilding:
    """Survey responses folded anew (`projections.runner.Rebuilding`)."""

    def __init__(self) -> None:
        self.folder = SurveyResponsesFolder()

    async def write(self, conn: asyncpg.Connection, folded: bytes) -> None:
        await ROWS.copy(conn, folded)

    async def finish(self, conn: asyncpg.Connection) -> None:
        """Nothing is left to write at the end: unlike the case views and the timers,
        this read model keeps no count tables, so every row went in with its batch."""


ROWS = RowWriter("survey_responses", "id", (
    "id", "service_code", "channel", "responded_at", "quarter", "month", "report_month",
    "linked_case_id", "scores", "doc"))


def _row(d: Doc) -> tuple[Any, ...]:
    """A response's row, in the columns of `ROWS`."""
    return (d["id"], d["service_code"], d["channel"], datetime.fromisoformat(d["responded_at"]),
            d["quarter"], d["month"], d["report_month"], d["linked_case_id"] or None,
            encode_doc(d["scores"]), encode_doc(d))


async def responses_between(conn: asyncpg.Connection, start: datetime,
                            end: datetime) -> list[Doc]:
    """The responses given in [start, end), as {service_code, channel, scores, ...}."""
    rows = await conn.fetch(
        "SELECT doc FROM survey_responses WHERE responded_at >= $1 AND responded_at < $2 "
        "ORDER BY id", start, end)
    return [decode_doc(r["doc"]) for r in rows]


async def responses_of_month(conn: asyncpg.Connection, month: str) -> list[Doc]:
    """The responses the monthly report of `month` counts (`report_month`)."""
    rows = await conn.fetch(
        "SELECT doc FROM survey_responses WHERE report_month = $1 ORDER BY id", month)
    return [decode_doc(r["doc"]) for r in rows]
