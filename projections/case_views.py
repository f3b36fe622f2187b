"""Read model: the officers' case views — every application and complaint with its
status, tier, assignee, channel and milestones. A pure fold plus its SQL.

Beside each case's row the fold keeps two tables of counts, written in the same
transaction as the rows:

- `case_counts`: how many cases stand at each (type, status, tier, unit, assignee), so a
  list's total needs no scan;
- `report_counts`: the month's facts for the reports, one count per (month, case type,
  fact, key), added as the events arrive (`facts`). A month's figures are read from its
  own rows, so the monthly report costs what that month's activity costs, and a closed
  month's rows never change: every fact counts in the month its event was recorded.

The SLA state shown in lists comes from the `sla_timers` read model (joined at query)."""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from contracts.vocabulary import CLOSED_STATUSES, FIRST_TIER, SlaState
from projections.counts import add_counts
from projections.doc_table import Doc, DocTable, RowWriter, encode_doc
from projections.months import month_of, month_start, next_month
from projections.schema import drop_if_outdated
from projections.sla_timers import TIMED, phases_of, state_branches, state_condition
from services.domain.errors import InvalidInput
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
        # `tier_since`: when the office recorded the case (a complaint's receipt by its
        # channel may be earlier): its time at the first tier counts from then.
        doc = {"id": e["case_id"], "type": case_type, "tier": FIRST_TIER, "assignee": None,
               "created_at": e["at"], "milestones": {}, "tier_periods": [],
               "escalations": [], "first_declared_complete": None, "tier_since": e["at"],
               "closed_at": None}
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
                       kbli=e["business"].get("kbli"),
                       procedure_classification=e.get("procedure_classification"))
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
    elif tag == "complaint.findings_recorded":
        doc["findings_outcome"] = e["outcome"]
    elif tag == "complaint.apip_involvement_approved":
        doc["apip_approved"] = True
    elif tag == "complaint.track_chosen":
        doc.update(track=e["track"], agencies=e.get("agencies", []))
    elif what == "assigned":
        doc["assignee"] = e["officer"]
    elif what == "escalated":
        since = doc.get("tier_since") or doc["created_at"]
        if not doc.get("closed_at"):
            doc["tier_periods"] = [*doc["tier_periods"],
                                   {"tier": e["from_tier"], "from": since, "to": e["at"]}]
        doc["escalations"] = [*doc["escalations"],
                              {"at": e["at"], "from_tier": e["from_tier"], "to_tier": e["to_tier"],
                               "automatic": e.get("automatic", False),
                               "clock_span": e.get("clock_span")}]
        doc.update(tier=e["to_tier"], tier_since=e["at"], assignee=None)
    if doc.get("status") in CLOSED_STATUSES and not doc.get("closed_at"):
        # The work is over: the time at the last tier ends here.
        since = doc.get("tier_since") or doc["created_at"]
        doc["tier_periods"] = [*doc["tier_periods"],
                               {"tier": doc["tier"], "from": since, "to": e["at"]}]
        doc["closed_at"] = e["at"]
    return doc


# -- the month's facts -------------------------------------------------------------------
Fact = tuple[str, str, str, str, int]
"""(month YYYY-MM, case type, fact, key, count): one line of `report_counts`."""


def facts(before: Doc | None, after: Doc, e: Doc) -> list[Fact]:
    """Pure: what one event adds to the months' counts, each in the month the event was
    recorded (`at`), except the time spent at a tier, spread over the months it spans,
    and a complaint's standing by the month its channel received it (`by_receipt`, for
    the survey reports, which pair the complaints received in a quarter with the answers
    of that quarter)."""
    tag: str = e["type"]
    case_type = after["type"]
    counted: list[tuple[str, str, int]] = []  # (fact, key, count) in the event's month

    def count(fact: str, key: str = "", n: int = 1) -> None:
        counted.append((fact, key, n))

    if tag == "application.submitted":
        count("received", after.get("service_code") or "")
    elif tag == "application.file_declared_complete" and not (before or {}).get(
            "first_declared_complete"):
        count("declared_complete")
    elif tag == "application.certificate_issued":
        count("issued")
    elif tag == "application.decided" and e["outcome"] == "reject":
        count("rejected")
    elif tag == "application.withdrawn":
        count("withdrawn")
    elif tag == "complaint.received":
        count(f"received_{after['kind']}", after["channel"])
        if after["kind"] == "complaint":
            count("opened")
    elif tag == "complaint.reclassified":
        count("reclassified")
        count("opened")
    elif tag == "complaint.classified":
        count("classified", e["problem_type"])
    elif tag == "complaint.findings_recorded":
        count("findings", e["outcome"])
    elif tag == "complaint.track_chosen":
        count("track", e["track"])
    elif tag == "complaint.responded":
        count("answered" if after.get("kind") == "complaint" else "suggestion_answered")
    elif tag.endswith(".escalated"):
        count("escalated", f"{e['to_tier']}:{'automatic' if e.get('automatic') else 'manual'}")
    newly_closed = after.get("closed_at") and not (before or {}).get("closed_at")
    if newly_closed and (case_type == "application" or after.get("kind") == "complaint"):
        count("closed")
    # The month is worked out only for an event that counts (many do not).
    out: list[Fact] = []
    if counted:
        month = month_of(e["at"])
        out = [(month, case_type, fact, key, n) for fact, key, n in counted]
    # Time at a tier: each period that ended with this event, by the months it spans.
    for period in after["tier_periods"][len((before or {}).get("tier_periods", [])):]:
        out += _tier_time(case_type, period)
    # A complaint's standing under the month its channel received it (what it rests on
    # compared first: it seldom changes).
    if _receipt_basis(before) != _receipt_basis(after):
        old, new = _receipt_key(before), _receipt_key(after)
        if old != new:
            out += [(m, case_type, "by_receipt", key, n)
                    for (m, key), n in ((old, -1), (new, 1)) if m]
    return out


def _receipt_basis(doc: Doc | None) -> tuple[Any, Any, Any]:
    """What `_receipt_key` is made of."""
    return (None, None, None) if doc is None else (
        doc.get("kind"), doc.get("received_at"), doc.get("problem_type"))


def _receipt_key(doc: Doc | None) -> tuple[str, str]:
    """A complaint's month of receipt and its problem type (or `unclassified`); blank
    for anything that is not a complaint."""
    if doc is None or doc.get("kind") != "complaint" or not doc.get("received_at"):
        return ("", "")
    return (month_of(doc["received_at"]), doc.get("problem_type") or "unclassified")


def _tier_time(case_type: str, period: Doc) -> list[Fact]:
    """A closed period at a tier, in microseconds (exact integers, so the sums do not
    depend on the order events arrive in), split at each month's start."""
    start, end = datetime.fromisoformat(period["from"]), datetime.fromisoformat(period["to"])
    out: list[Fact] = []
    month = month_of(start)
    while start < end:
        boundary = month_start(next_month(month))
        upto = min(end, boundary)
        micros = (upto - start) // _MICROSECOND
        if micros:
            out.append((month, case_type, "tier_us", period["tier"], micros))
        start, month = upto, next_month(month)
    return out


_MICROSECOND = datetime.resolution


def _counted(doc: Doc) -> tuple[str, str, str, str, str]:
    """A case's line in `case_counts`."""
    return (doc["type"], doc.get("status") or "", doc["tier"], doc.get("unit") or "",
            doc.get("assignee") or "")


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
    service_code text,
    problem_type text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    tier_since timestamptz NOT NULL,
    closed_at timestamptz,
    doc jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS case_views_newest ON case_views (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS case_views_type ON case_views (type, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS case_views_status ON case_views (status, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS case_views_tier ON case_views (tier, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS case_views_unit ON case_views (unit, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS case_views_assignee ON case_views (assignee, created_at DESC, id DESC)
    WHERE assignee IS NOT NULL;
CREATE INDEX IF NOT EXISTS case_views_open ON case_views (tier, tier_since)
    WHERE closed_at IS NULL;
CREATE TABLE IF NOT EXISTS case_counts (
    type text NOT NULL,
    status text NOT NULL,
    tier text NOT NULL,
    unit text NOT NULL,
    assignee text NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (type, status, tier, unit, assignee)
);
CREATE TABLE IF NOT EXISTS report_counts (
    month text NOT NULL,
    case_type text NOT NULL,
    fact text NOT NULL,
    key text NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (month, case_type, fact, key)
);
"""


DROP = "DROP TABLE IF EXISTS case_views, case_counts, report_counts"


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


class CaseViews(DocTable):
    name = "case_views"
    streams = ("applications", "complaints")
    ddl = TABLE

    async def create(self, conn: asyncpg.Connection) -> None:
        # Tables an earlier version left without the month's facts are folded again.
        await drop_if_outdated(conn, self.name, "case_views", [
            ("case_views", "closed_at"), ("case_counts", "n"), ("report_counts", "n")], DROP)
        await conn.execute(self.ddl)

    async def drop(self, conn: asyncpg.Connection) -> None:
        await conn.execute(DROP)

    async def apply(self, conn: asyncpg.Connection, events: Sequence[LoggedEvent]) -> None:
        plain = [e.data for e in events]  # decoded once for every read model
        docs = await self.stored(conn, plain)
        tally = Tally()
        tally.fold(docs, plain)
        await ROWS.upsert(conn, [_row(d) for d in docs.values() if d is not None])
        await tally.write(conn)

    async def rebuilding(self, conn: asyncpg.Connection) -> CaseViewsRebuilding:
        return CaseViewsRebuilding()


class Tally:
    """What case views add to `case_counts` and `report_counts` as they are folded."""

    def __init__(self) -> None:
        self.month_facts: Counter[tuple[str, str, str, str]] = Counter()
        self.cases: Counter[tuple[str, str, str, str, str]] = Counter()

    def fold(self, docs: dict[str, Doc | None], plain: Sequence[Doc]) -> None:
        """Fold the events (plain data) into `docs` (the stored views they touch, by id,
        updated in place) and count what they move."""
        first = dict(docs)
        for d in plain:
            before = docs.get(d["case_id"])
            after = evolve(before, d)
            for month, case_type, fact, key, n in facts(before, after, d):
                self.month_facts[(month, case_type, fact, key)] += n
            docs[d["case_id"]] = after
        for case_id, doc in docs.items():
            if doc is None:
                continue
            was = first.get(case_id)
            if was is not None:
                self.cases[_counted(was)] -= 1
            self.cases[_counted(doc)] += 1

    def add(self, other: Tally) -> None:
        self.month_facts.update(other.month_facts)
        self.cases.update(other.cases)

    async def write(self, conn: asyncpg.Connection) -> None:
        await add_counts(conn, "case_counts", "type, status, tier, unit, assignee", self.cases)
        await add_counts(conn, "report_counts", "month, case_type, fact, key", self.month_facts)


CaseRows = tuple[bytes, Tally]
"""Whole cases folded: their rows (`RowWriter.encode`), and what they count for."""


class CaseViewsFolder:
    """Whole cases into their views (`projections.runner.Folder`)."""

    def fold(self, events: Sequence[LoggedEvent]) -> CaseRows:
        docs: dict[str, Doc | None] = {}
        tally = Tally()
        tally.fold(docs, [e.data for e in events])
        return ROWS.encode([_row(d) for d in docs.values() if d is not None]), tally


class CaseViewsRebuilding:
    """Case views folded anew (`projections.runner.Rebuilding`)."""

    def __init__(self) -> None:
        self.folder = CaseViewsFolder()
        self.tally = Tally()

    async def write(self, conn: asyncpg.Connection, folded: CaseRows) -> None:
        rows, tally = folded
        await ROWS.copy(conn, rows)
        self.tally.add(tally)

    async def finish(self, conn: asyncpg.Connection) -> None:
        await self.tally.write(conn)


ROWS = RowWriter("case_views", "id", (
    "id", "type", "tracking_number", "status", "kind", "channel", "unit", "tier", "assignee",
    "service_code", "problem_type", "created_at", "updated_at", "tier_since", "closed_at",
    "doc"))


def _row(d: Doc) -> tuple[Any, ...]:
    """A case view's row, in the columns of `ROWS`."""
    return (d["id"], d["type"], d.get("tracking_number"), d.get("status"), d.get("kind"),
            d.get("channel"), d.get("unit"), d["tier"], d["assignee"], d.get("service_code"),
            d.get("problem_type"), _ts(d["created_at"]), _ts(d["updated_at"]),
            _ts(d.get("tier_since") or d["created_at"]),
            _ts(d["closed_at"]) if d.get("closed_at") else None, encode_doc(d))


# -- the officers' list ----------------------------------------------------------------
PAGE_COLUMNS = """c.id, c.type, c.tracking_number, c.status, c.kind, c.channel, c.unit,
    c.tier, c.assignee, c.service_code, c.created_at, c.updated_at,
    t.working_days_limit, t.phase, t.started_at, t.due_at, t.at_risk_at, t.running_since,
    t.finished_at, t.working_days_used"""
"""What a list shows of a case and of its clock (`sla_timers.sla_now` reads the latter)."""

COUNT_CAP = 1_000
"""A total the counts tables cannot give (an SLA state beside a status) is counted in SQL
up to this many."""

FILTERS = ("type", "status", "tier", "assignee", "unit")
"""The case list's filters, each a column of `case_views` (and `case_counts`)."""


class Params:
    """The positional parameters of one SQL statement, named as they are added."""

    def __init__(self) -> None:
        self.values: list[object] = []

    def __call__(self, value: object) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


class Cursor:
    """Where a page ended, opaque to the client: the sort key of its last row."""

    @staticmethod
    def encode(*key: object) -> str:
        parts = [k.isoformat() if isinstance(k, datetime) else k if k is None
                 or isinstance(k, (int, str)) else str(k) for k in key]
        return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")

    @staticmethod
    def decode(cursor: str, *kinds: type) -> tuple[Any, ...]:
        """The key, each part converted to its kind (datetime, UUID, int); a cursor not
        made here is a 400 naming `cursor`."""
        try:
            parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            if not isinstance(parts, list) or len(parts) != len(kinds):
                raise ValueError("wrong shape")
            return tuple(None if p is None else datetime.fromisoformat(p) if k is datetime
                         else UUID(p) if k is UUID else k(p)
                         for p, k in zip(parts, kinds, strict=True))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise InvalidInput("cursor", "not a cursor this list gave (pass next_cursor as "
                                         "it came)") from None


async def page_of(conn: asyncpg.Connection, p: Params, branches: list[str], order: str,
                  take: str, offset: str | None = None,
                  extra: str = "") -> list[asyncpg.Record]:
    """One page: the keys each branch yields in `order` (columns of the branches' own
    select, `case_id` among them), merged and cut to `take` (after `offset`), then the
    page's cases and clocks read for those keys alone (`PAGE_COLUMNS`, and `extra`)."""
    outer = ", ".join(f"q.{c.strip()}" for c in order.split(","))
    return list(await conn.fetch(
        f"SELECT {PAGE_COLUMNS}{extra} FROM (SELECT * FROM ({' UNION ALL '.join(branches)}) u "
        f"ORDER BY {order} LIMIT {take}{f' OFFSET {offset}' if offset else ''}) q "
        f"JOIN sla_timers t ON t.case_id = q.case_id JOIN case_views c ON c.id = q.case_id "
        f"ORDER BY {outer}", *p.values))


def _state(params: Params, state: SlaState, now: datetime) -> str:
    """`state_condition` with `now` as a parameter where the state depends on it."""
    return state_condition(state, params(now) if state in TIMED else "NULL")


def _branches(params: Params, state: SlaState, now: datetime) -> list[str]:
    """`state_branches` as conditions on `t`, each naming its phase as a literal (so that
    a partial index of the phase answers it), `now` a parameter where needed."""
    instant = params(now) if state in TIMED else "NULL"
    return [f"t.phase = '{phase}'" + (f" AND {extra}" if extra else "")
            for phase, extra in state_branches(state, instant)]


def _equal(params: Params, alias: str, filters: Mapping[str, str | None]) -> list[str]:
    return [f"{alias}{column} = {params(value)}" for column, value in filters.items()
            if value is not None]


async def list_cases(conn: asyncpg.Connection, now: datetime, *, type: str | None = None,
                     status: str | None = None, tier: str | None = None,
                     sla_state: SlaState | None = None, assignee: str | None = None,
                     unit: str | None = None, page: int = 1, page_size: int = 50,
                     cursor: str | None = None,
                     ) -> tuple[list[asyncpg.Record], int, bool, str | None]:
    """The officers' list, newest first, with each case's clock: (rows, total, whether
    the total is exact, the cursor of the next page or None on the last). Paged in SQL
    on an index, by `page` (an offset) or by `cursor` (where the last page ended: as
    fast on the thousandth page as on the first)."""
    filters = {"type": type, "status": status, "tier": tier, "assignee": assignee,
               "unit": unit}
    after = Cursor.decode(cursor, datetime, UUID) if cursor else None
    offset = 0 if cursor else (page - 1) * page_size
    p = Params()
    if sla_state is None:
        on_case = _equal(p, "c.", filters)
        keyset = [f"(c.created_at, c.id) < ({p(after[0])}, {p(after[1])})"] if after else []
        # The page's keys first (an offset skips index entries only), then its cases and
        # their clocks.
        rows = await conn.fetch(
            f"SELECT {PAGE_COLUMNS} FROM (SELECT c.id, c.created_at FROM case_views c "
            f"WHERE {' AND '.join(['true', *on_case, *keyset])} "
            f"ORDER BY c.created_at DESC, c.id DESC LIMIT {p(page_size + 1)} "
            f"OFFSET {p(offset)}) q JOIN case_views c ON c.id = q.id "
            f"LEFT JOIN sla_timers t ON t.case_id = q.id "
            f"ORDER BY q.created_at DESC, q.id DESC", *p.values)
    else:
        # One branch per phase the state may be in, each an ordered index scan of the
        # timers (which keep their case's type, unit, tier, assignee and `created_at`;
        # only a status filter reads the case views); the page's cases are read after.
        on_timer = _equal(p, "t.", {k: v for k, v in filters.items() if k != "status"})
        on_status = [f"c.status = {p(status)}"] if status is not None else []
        join = "JOIN case_views c ON c.id = t.case_id " if status is not None else ""
        keyset = [f"(t.created_at, t.case_id) < ({p(after[0])}, {p(after[1])})"] \
            if after else []
        take = p(page_size + 1 + offset)
        branches = []
        for condition in _branches(p, sla_state, now):
            where = [condition, *on_timer, *on_status, *keyset]
            branches.append(
                f"(SELECT t.case_id, t.created_at FROM sla_timers t {join}"
                f"WHERE {' AND '.join(where)} "
                f"ORDER BY t.created_at DESC, t.case_id DESC LIMIT {take})")
        rows = await page_of(conn, p, branches, "created_at DESC, case_id DESC",
                             p(page_size + 1), p(offset))
    rows = list(rows)
    more = len(rows) > page_size
    rows = rows[:page_size]
    next_cursor = Cursor.encode(rows[-1]["created_at"], rows[-1]["id"]) if more else None
    total, exact = await count_cases(conn, now, sla_state=sla_state, **filters)
    return rows, total, exact, next_cursor


async def count_cases(conn: asyncpg.Connection, now: datetime, *,
                      sla_state: SlaState | None = None, **filters: str | None,
                      ) -> tuple[int, bool]:
    """How many cases the filters select, and whether that is exact: from the counts
    tables (no scan) where they can tell; otherwise counted in SQL up to `COUNT_CAP`."""
    p = Params()
    if sla_state is None:
        where = _equal(p, "", {k: v or "" for k, v in filters.items() if v is not None})
        total = await conn.fetchval(
            f"SELECT coalesce(sum(n), 0) FROM case_counts WHERE "
            f"{' AND '.join(['true', *where])}", *p.values)
        return int(total), True
    by_timer = {k: v for k, v in filters.items() if v is not None}
    if "status" not in by_timer:
        # Timers know their case's type, unit, tier and assignee: phases that stay put
        # are counted in `sla_counts`; running clocks (few: the office's open work) by
        # their instants.
        total = 0
        static = [phase for phase in phases_of(sla_state) if phase != "open"]
        if static:
            where = _equal(p, "", {k: v or "" for k, v in by_timer.items()})
            total += int(await conn.fetchval(
                f"SELECT coalesce(sum(n), 0) FROM sla_counts WHERE phase = ANY("
                f"{p(static)}::text[]){''.join(' AND ' + w for w in where)}", *p.values))
        if "open" in phases_of(sla_state):
            p = Params()
            where = _equal(p, "t.", by_timer)
            total += int(await conn.fetchval(
                f"SELECT count(*) FROM sla_timers t WHERE t.phase = 'open' AND "
                f"{_state(p, sla_state, now)}{''.join(' AND ' + w for w in where)}",
                *p.values))
        return total, True
    on_case = _equal(p, "c.", filters)
    total = int(await conn.fetchval(
        f"SELECT count(*) FROM (SELECT 1 FROM sla_timers t JOIN case_views c ON "
        f"c.id = t.case_id WHERE {' AND '.join([_state(p, sla_state, now), *on_case])} "
        f"LIMIT {p(COUNT_CAP + 1)}) capped", *p.values))
    return min(total, COUNT_CAP), total <= COUNT_CAP


async def list_timers(conn: asyncpg.Connection, now: datetime, *, state: SlaState | None = None,
                      type: str | None = None, limit: int = 50, cursor: str | None = None,
                      ) -> tuple[list[asyncpg.Record], int, str | None]:
    """Cases by their clock's deadline, nearest first (a paused clock by the deadline it
    had; cases without a deadline last): (one page, the total, the next page's cursor).
    Each branch an ordered index scan of the timers (by phase when `state` is given);
    the page's cases are read after it."""
    after = Cursor.decode(cursor, datetime, UUID) if cursor else None
    p = Params()
    take = p(limit + 1)
    common = _equal(p, "t.", {"type": type})
    conditions = _branches(p, state, now) if state is not None else ["true"]
    branches = []
    for condition in conditions:
        where = [*common, condition]
        # Deadlines first, in order; then the cases without one, by id.
        dated = ([f"(t.due_at, t.case_id) > ({p(after[0])}, {p(after[1])})"]
                 if after and after[0] is not None else [])
        if not (after and after[0] is None):
            branches.append(
                f"(SELECT t.case_id, t.due_at FROM sla_timers t "
                f"WHERE {' AND '.join(['t.due_at IS NOT NULL', *where, *dated])} "
                f"ORDER BY t.due_at, t.case_id LIMIT {take})")
        undated = [f"t.case_id > {p(after[1])}"] if after and after[0] is None else []
        branches.append(
            f"(SELECT t.case_id, t.due_at FROM sla_timers t "
            f"WHERE {' AND '.join(['t.due_at IS NULL', *where, *undated])} "
            f"ORDER BY t.case_id LIMIT {take})")
    rows = await page_of(conn, p, branches, "due_at NULLS LAST, case_id", take)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = Cursor.encode(rows[-1]["due_at"], rows[-1]["id"]) if more else None
    total, _ = await count_cases(conn, now, sla_state=state, type=type)
    return rows, total, next_cursor
