"""Read model: the officers' case views — every application and complaint with its
status, tier, assignee, channel and milestones. A pure fold plus its SQL.

The SLA state shown in lists comes from the `sla_timers` read model (joined at query)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from contracts.vocabulary import FIRST_TIER
from projections.doc_table import Doc, DocTable
from projections.sla_timers import STATE_SQL
from services.infra.eventlog import LoggedEvent

APPLICATION_STATUS = {
    "application.submitted": "awaiting_verification",
    "application.file_declared_complete": "complete",
    "application.file_returned_for_correction": "returned_for_correction",
    "application.resubmitted": "awaiting_verification",
    "application.technically_reviewed": "reviewed",
    "application.certificate_issued": "issued",
    "application.withdrawn": "withdrawn",
}
COMPLAINT_STATUS = {
    "complaint.received": "received",
    "complaint.classified": "classified",
    "complaint.analysed": "analysed",
    "complaint.track_chosen": "in_resolution",
    "complaint.responded": "answered",
    "complaint.closed": "closed",
}
MILESTONES = {
    "application.submitted": "submitted",
    "application.file_declared_complete": "declared_complete",
    "application.certificate_issued": "issued",
    "application.withdrawn": "withdrawn",
    "complaint.received": "received",
    "complaint.responded": "answered",
    "complaint.closed": "closed",
}


def evolve(doc: Doc | None, e: Doc) -> Doc:
    """Pure: the case view after one event (the event as plain JSON data)."""
    tag: str = e["type"]
    case_type, _, what = tag.partition(".")
    if doc is None:
        doc = {"id": e["case_id"], "type": case_type, "tier": FIRST_TIER, "assignee": None,
               "created_at": e["at"], "milestones": {}, "tier_periods": [],
               "escalations": [], "first_declared_complete": None}
    doc = {**doc, "updated_at": e["at"], "version": e["version"]}
    status = APPLICATION_STATUS.get(tag) or COMPLAINT_STATUS.get(tag)
    if status:
        doc["status"] = status
    if tag in MILESTONES:
        doc["milestones"] = {**doc["milestones"], MILESTONES[tag]: e["at"]}

    if what in ("submitted", "received"):
        doc.update(tracking_number=e["tracking_number"], channel=e["channel"],
                   external_id=e["external_id"], unit=e["unit"])
        if case_type == "application":
            doc.update(service_code=e["service_code"], business_name=e["business"].get("name"),
                       kbli=e["business"].get("kbli"))
        else:
            doc.update(kind=e["kind"], reasons=e["reasons"], received_at=e["received_at"],
                       related_application_id=e.get("related_application_id"),
                       service_code=None, problem_type=None, track=None, agencies=[],
                       apip_approved=False, created_at=e["received_at"])
    elif what == "personal_data_erased":
        # A flag only: the read model holds no personal data (business name, not people).
        doc["personal_data_erased"] = True
    elif what in ("audit_hold_placed", "audit_hold_released"):
        doc["audit_hold"] = what == "audit_hold_placed"
    elif tag == "application.file_declared_complete" and not doc["first_declared_complete"]:
        doc["first_declared_complete"] = e["at"]
    elif tag == "application.decided":
        doc["decision"] = e["outcome"]
        doc["status"] = "approved" if e["outcome"] == "approve" else "rejected"
        if e["outcome"] == "reject":
            doc["milestones"] = {**doc["milestones"], "rejected": e["at"]}
    elif tag == "application.certificate_revoked":
        doc["certificate_revoked"] = True
    elif tag == "complaint.reclassified":
        doc.update(kind="complaint", reasons=[])
    elif tag == "complaint.classified":
        doc.update(service_code=e["service_code"], problem_type=e["problem_type"])
    elif tag == "complaint.apip_involvement_approved":
        doc["apip_approved"] = True
    elif tag == "complaint.track_chosen":
        doc.update(track=e["track"], agencies=e.get("agencies", []))
    elif what == "assigned":
        doc["assignee"] = e["officer"]
    elif what == "escalated":
        since = doc.get("tier_since", doc["created_at"])
        doc["tier_periods"] = [*doc["tier_periods"],
                               {"tier": e["from_tier"], "from": since, "to": e["at"]}]
        doc["escalations"] = [*doc["escalations"],
                              {"at": e["at"], "from_tier": e["from_tier"], "to_tier": e["to_tier"],
                               "automatic": e.get("automatic", False),
                               "clock_span": e.get("clock_span")}]
        doc.update(tier=e["to_tier"], tier_since=e["at"], assignee=None)
    return doc


TABLE = """
CREATE TABLE IF NOT EXISTS case_views (
    id uuid PRIMARY KEY,
    type text NOT NULL,
    tracking_number text,
    status text,
    kind text,
    channel text,
    unit text,
    tier text,
    assignee text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    doc jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS case_views_newest ON case_views (created_at DESC, id);
CREATE INDEX IF NOT EXISTS case_views_tier ON case_views (tier, status);
"""


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


class CaseViews(DocTable):
    name = "case_views"
    streams = ("applications", "complaints")
    ddl = TABLE

    async def apply(self, conn: asyncpg.Connection, events: Sequence[LoggedEvent]) -> None:
        docs = await self.folded(conn, events, evolve)
        await conn.executemany(
            """INSERT INTO case_views (id, type, tracking_number, status, kind, channel, unit,
                   tier, assignee, created_at, updated_at, doc)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb)
               ON CONFLICT (id) DO UPDATE SET type = excluded.type,
                   tracking_number = excluded.tracking_number, status = excluded.status,
                   kind = excluded.kind, channel = excluded.channel, unit = excluded.unit,
                   tier = excluded.tier, assignee = excluded.assignee,
                   created_at = excluded.created_at, updated_at = excluded.updated_at,
                   doc = excluded.doc""",
            [(UUID(d["id"]), d["type"], d.get("tracking_number"), d.get("status"), d.get("kind"),
              d.get("channel"), d.get("unit"), d["tier"], d["assignee"], _ts(d["created_at"]),
              _ts(d["updated_at"]), json.dumps(d, sort_keys=True))
             for d in docs.values() if d is not None],
        )




async def list_cases(conn: asyncpg.Connection, now: datetime, *, type: str | None = None,
                     status: str | None = None, tier: str | None = None,
                     sla_state: str | None = None, assignee: str | None = None,
                     unit: str | None = None, page: int = 1, page_size: int = 50,
                     ) -> tuple[list[asyncpg.Record], int]:
    """The officers' list, newest first, with each case's timer row."""
    where: list[str] = ["$1::timestamptz IS NOT NULL"]
    args: list[object] = [now]
    for column, value in (("c.type", type), ("c.status", status), ("c.tier", tier),
                          ("c.assignee", assignee), ("c.unit", unit)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    if sla_state is not None:
        args.append(sla_state)
        where.append(f"coalesce({STATE_SQL}, 'not_started') = ${len(args)}")
    condition = " AND ".join(where)
    total = await conn.fetchval(
        f"SELECT count(*) FROM case_views c LEFT JOIN sla_timers t ON t.case_id = c.id "
        f"WHERE {condition}", *args)
    args += [page_size, (page - 1) * page_size]
    rows = await conn.fetch(
        f"SELECT c.*, t.doc AS timer, coalesce({STATE_SQL}, 'not_started') AS sla_state "
        f"FROM case_views c LEFT JOIN sla_timers t ON t.case_id = c.id WHERE {condition} "
        f"ORDER BY c.created_at DESC, c.id LIMIT ${len(args) - 1} OFFSET ${len(args)}", *args)
    return list(rows), int(total)
