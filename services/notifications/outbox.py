"""The notification outbox: one row per (case, step, destination), in Postgres.

Written by the step consumer (`OutboxWriter`, fed by the projection runner: its rows and
its position in one transaction, so a redelivery or a restart adds nothing twice: the
unique key drops a repeat), read and updated by the sender (services/notifications/
sender.py), listed and resent by an operator (`ptsp notifications list|resend`).

A row holds no personal data: not the address, not the name. It names the case and the
version of the step's event; the sender reads the case as of that version and opens the
person's sealed contact only when it sends (services/infra/personal_data.py).

Statuses:
- `pending`: to be sent at `next_attempt_at` (a failed attempt waits there, doubling);
  e-mail also waits here while no SMTP host is set, and a channel's messages while no
  adapter answers on its subject (`last_error` says which);
- `sending`: claimed by one sender (`claimed_by`), which is sending it now;
- `sent`: the SMTP server accepted it, or the channel's adapter acknowledged it
  (`recorded_at`: the delivery is recorded in the case);
- `dead`: refused for good (an SMTP 5xx) or failed `PTSP_NOTIFY_MAX_ATTEMPTS` times: a
  dead letter, until `ptsp notifications resend ID`;
- `erased`: the person's data was erased (UU 27/2022): never sent;
- `no_address`: nothing to send it to: an e-mail for a person who gave no e-mail
  address, or a channel message for a case whose channel no electronic message can reach
  (`NOT_ELECTRONIC`: the step consumer writes no such row; one written before is settled
  by the sender, `last_error` saying why).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from contracts.vocabulary import CHANNELS
from services.infra.eventlog import LoggedEvent
from services.infra.pg import Conn
from services.notifications.steps import Step, step_of

NAME = "notifications"
"""The consumer's name (its position in `projection_positions`, its durable consumers)."""
STREAMS = ("applications", "complaints")
EMAIL, CHANNEL = "email", "channel"
DESTINATIONS = (EMAIL, CHANNEL)
PENDING, SENDING, SENT, DEAD, ERASED, NO_ADDRESS = (
    "pending", "sending", "sent", "dead", "erased", "no_address")
STATUSES = (PENDING, SENDING, SENT, DEAD, ERASED, NO_ADDRESS)
OPEN = (PENDING, SENDING, DEAD)
"""What an operator looks at by default: not yet sent, and given up on."""
WAITING = "waiting: "
"""How `last_error` of a pending row begins while its way is closed for every message
(no SMTP host, the SMTP server unreachable, no adapter answering): it waits for its way,
not for a sender (the backlog's `due` age leaves it out: services/ops/scrape.py)."""
NO_SMTP_HOST = f"{WAITING}no SMTP host is set (PTSP_SMTP_HOST)"
"""Why e-mail waits when the system has no SMTP host: written with each e-mail row."""

NOT_ELECTRONIC: tuple[str, ...] = ("officer", "mpp_counter", "phone", "letter", "form",
                                   "complaint_box")
"""The intake channels no electronic message can reach: the person came in person (to
the complaints officer, to the MPP counter), called (the office's line is a voice line),
or wrote on paper (a letter, the complaint form, the complaint box). No adapter will ever
answer `ptsp.outbound.<channel>` for them, so a message there would wait for ever and
hide the messages that really wait. They get no channel message: the person hears by
e-mail when they gave an address, and sees every step with their tracking number and PIN
(`GET /track`); the office answers a letter by letter, and staff record that they told
the complainant (`POST /complaints/{id}/complainant-notification`). The list names what
cannot be reached, not what can: a channel added to the vocabulary later gets its
messages, and if nothing answers for it they wait in sight (`ptsp notifications list`,
`ptsp_notifications_pending`) instead of being dropped unseen."""
ELECTRONIC_CHANNELS: tuple[str, ...] = tuple(c for c in CHANNELS if c not in NOT_ELECTRONIC)
"""The channels a message goes to, as a request to their adapter."""


def reachable(channel: str | None) -> bool:
    """Whether the case's channel gets a message (None: not known yet, the sender reads
    the case and asks again)."""
    return channel not in NOT_ELECTRONIC

UNKNOWN_WAY = "unknown"
"""The way of a channel message whose case's channel the sender has not learnt yet."""
CHANNEL_WAY_SQL = f"coalesce(channel, '{UNKNOWN_WAY}')"
"""A channel message's way: its case's channel (`UNKNOWN_WAY` until the sender learns it).
Written so in `notification_outbox_due_by_channel` and in the sender's claim."""
CHANNEL_WAYS: tuple[str, ...] = (*CHANNELS, UNKNOWN_WAY)
"""Every way a channel message is claimed by: a sender claims each open one's own."""
WAY_SQL = f"CASE WHEN destination = '{EMAIL}' THEN '{EMAIL}' ELSE {CHANNEL_WAY_SQL} END"
"""A row's way, as the backlog counts it: e-mail, or the case's channel (`UNKNOWN_WAY`
while the sender has not learnt it). Written so in the index and in the queries that use
it."""
WAYS: tuple[str, ...] = tuple(dict.fromkeys([EMAIL, *CHANNELS, UNKNOWN_WAY]))
"""Every way `WAY_SQL` gives: e-mail, each intake channel, `UNKNOWN_WAY` (a channel
message to a case that came by e-mail is counted with the e-mails, as it always was)."""
OPEN_SQL = f"'{PENDING}', '{SENDING}'"
"""The statuses of a message not yet sent nor given up."""
assert "%" not in WAITING and "_" not in WAITING  # a LIKE prefix as it is
DUE_SQL = (f"status = '{PENDING}' AND (last_error IS NULL "
           f"OR last_error NOT LIKE '{WAITING}%')")
"""A message a sender may take when its time comes: not one waiting for its way."""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS notification_outbox (
    id bigserial PRIMARY KEY,
    case_type text NOT NULL,            -- application, complaint
    case_id uuid NOT NULL,
    step text NOT NULL,                 -- received, complete, answered, ...
    about_version integer NOT NULL,     -- the version of the event that made the step
    destination text NOT NULL CHECK (destination IN ('{EMAIL}', '{CHANNEL}')),
    channel text,                       -- the case's channel (null: found when sending)
    step_at timestamptz NOT NULL,       -- when the step happened (office clock)
    facts jsonb NOT NULL,               -- what the event tells (no personal data)
    created_at timestamptz NOT NULL DEFAULT now(),
    status text NOT NULL DEFAULT '{PENDING}'
        CHECK (status IN ({", ".join(f"'{s}'" for s in STATUSES)})),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_by bigint,                  -- the sender that holds it (its advisory lock)
    claimed_at timestamptz,
    last_error text,                    -- never an address: the sender redacts it
    sent_at timestamptz,
    recorded_at timestamptz,            -- the delivery recorded as an event in the case
    UNIQUE (case_id, step, about_version, destination)
);
-- Due rows by way: a sender claims each open way's own, in order, without reading past
-- the rows of a closed one (e-mail without an SMTP host, or a channel whose adapter does
-- not answer, can wait by the thousand): e-mail in one index, each channel's rows
-- together in the other (`CLAIM_CHANNELS`: one ordered scan per open channel).
DROP INDEX IF EXISTS notification_outbox_due;
DROP INDEX IF EXISTS notification_outbox_due_by_way;
CREATE INDEX IF NOT EXISTS notification_outbox_due_email
    ON notification_outbox (next_attempt_at, id)
    WHERE status = '{PENDING}' AND destination = '{EMAIL}';
CREATE INDEX IF NOT EXISTS notification_outbox_due_by_channel
    ON notification_outbox (({CHANNEL_WAY_SQL}), next_attempt_at, id)
    WHERE status = '{PENDING}' AND destination = '{CHANNEL}';
CREATE INDEX IF NOT EXISTS notification_outbox_claimed
    ON notification_outbox (claimed_by) WHERE status = '{SENDING}';
-- The backlog as /metrics and /ready read it (services/ops/scrape.py): each way's rows
-- and their oldest, and the longest-due message, without reading what waits.
CREATE INDEX IF NOT EXISTS notification_outbox_open_by_way
    ON notification_outbox (({WAY_SQL}), created_at) WHERE status IN ({OPEN_SQL});
CREATE INDEX IF NOT EXISTS notification_outbox_due_not_waiting
    ON notification_outbox (next_attempt_at) WHERE {DUE_SQL};
CREATE INDEX IF NOT EXISTS notification_outbox_unrecorded
    ON notification_outbox (id) WHERE status = '{SENT}' AND recorded_at IS NULL;
-- What the step consumer learnt from a case's first event, for its later steps (their
-- events name neither the channel nor whether there is a person to write to).
CREATE TABLE IF NOT EXISTS notification_cases (
    case_id uuid PRIMARY KEY,
    case_type text NOT NULL,
    channel text NOT NULL,
    tracking_number text,
    has_person boolean NOT NULL         -- false: an anonymous submission, no e-mail
);
"""


async def install(conn: Conn) -> None:
    await conn.execute(SCHEMA)


class OutboxWriter:
    """The step consumer, as a read model of the projection runner (projections/runner.py):
    each batch's outbox rows and the consumer's position in one transaction.

    Not one of the system's read models: `ptsp projections rebuild` never drops it (the
    outbox is the record of what was sent; a rebuild would send everything again). Its
    first start on an existing event store begins at the store's head: a new notifier
    tells people of steps from then on, not of every step in the record."""

    name = NAME
    streams = STREAMS

    def __init__(self, tables: dict[str, str], wake: Callable[[], None] = lambda: None,
                 email_waits: str | None = None) -> None:
        self.tables = tables
        """Each stream's events table, for the store's head at the first start."""
        self.email_waits = email_waits
        """Why an e-mail cannot go now (`NO_SMTP_HOST`), written with each e-mail row;
        None: it can."""
        self.wake = wake
        """Called when a batch added rows (the sender need not wait for its next poll)."""

    async def create(self, conn: asyncpg.Connection) -> None:
        await install(conn)
        for stream in self.streams:
            await conn.execute(
                "INSERT INTO projection_positions (projection, stream, position) "
                f"SELECT $1, $2, coalesce(max(notification_id), 0) FROM {self.tables[stream]} "
                "ON CONFLICT (projection, stream) DO NOTHING", self.name, stream)

    async def drop(self, conn: asyncpg.Connection) -> None:
        """Nothing: the outbox outlives any rebuild (see the class)."""

    async def apply(self, conn: asyncpg.Connection, events: Sequence[LoggedEvent], *,
                    fresh: bool = False) -> None:
        """The batch's steps into the outbox (`fresh` changes nothing: a repeat adds
        nothing anyway)."""
        found = [(step, e.event.at) for e in events if (step := step_of(e.event)) is not None]
        if not found:
            return
        cases = await _cases(conn, [step for step, _ in found], events)
        rows = [
            (step.case_type, UUID(step.case_id), step.step, step.about_version, destination,
             cases[step.case_id][0] if step.case_id in cases else None, at,
             json.dumps(step.facts))
            for step, at in found for destination in DESTINATIONS
            if _addressed(destination, cases.get(step.case_id))]
        if not rows:
            return
        await conn.execute(
            "INSERT INTO notification_outbox (case_type, case_id, step, about_version, "
            "destination, channel, step_at, facts, last_error) "
            "SELECT *, CASE WHEN destination = $9::text THEN $10::text END FROM unnest($1::text[], "
            "$2::uuid[], $3::text[], $4::int[], $5::text[], $6::text[], "
            "$7::timestamptz[], $8::text[]::jsonb[]) "
            "AS r(case_type, case_id, step, about_version, destination, channel, step_at, "
            "facts) ON CONFLICT (case_id, step, about_version, destination) DO NOTHING",
            *(list(column) for column in zip(*rows, strict=True)), EMAIL, self.email_waits)
        self.wake()


def _addressed(destination: str, case: tuple[str, bool] | None) -> bool:
    """Whether a step's message goes this way, by what is known of its case (channel,
    has a person to write to); unknown: written, the sender decides."""
    if case is None:
        return True
    channel, has_person = case
    return reachable(channel) if destination == CHANNEL else has_person


async def _cases(conn: asyncpg.Connection, steps: list[Step],
                 events: Sequence[LoggedEvent]) -> dict[str, tuple[str, bool]]:
    """(channel, has a person to write to) of each step's case: from its first event when
    it is in the batch (recorded for its later steps), else from what was recorded."""
    first = [s for s in steps if s.channel is not None]
    if first:
        tracking = {e.event.case_id: getattr(e.event, "tracking_number", None) for e in events}
        await conn.execute(
            "INSERT INTO notification_cases (case_id, case_type, channel, tracking_number, "
            "has_person) SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], "
            "$5::bool[]) ON CONFLICT (case_id) DO NOTHING",
            [UUID(s.case_id) for s in first], [s.case_type for s in first],
            [s.channel for s in first], [tracking.get(s.case_id) for s in first],
            [s.has_person for s in first])
    known = {s.case_id: (str(s.channel), bool(s.has_person)) for s in first}
    later = list({s.case_id for s in steps} - set(known))
    if later:
        for row in await conn.fetch(
                "SELECT case_id, channel, has_person FROM notification_cases "
                "WHERE case_id = ANY($1::uuid[])", [UUID(c) for c in later]):
            known[str(row["case_id"])] = (row["channel"], row["has_person"])
    return known


# -- the operator's view (`ptsp notifications list|resend`) -----------------------------
LISTED = ("id", "status", "case_type", "tracking_number", "step", "destination", "channel",
          "attempts", "next_attempt_at", "sent_at", "last_error")


async def listing(conn: Conn, statuses: Sequence[str] = OPEN,
                  limit: int = 100) -> list[dict[str, Any]]:
    """The oldest first (what waits longest leads), as JSON-ready rows."""
    rows = await conn.fetch(
        "SELECT o.id, o.status, o.case_type, o.case_id, c.tracking_number, o.step, "
        "o.about_version, o.destination, coalesce(o.channel, c.channel) AS channel, "
        "o.attempts, o.next_attempt_at, o.created_at, o.sent_at, o.recorded_at, o.last_error "
        "FROM notification_outbox o LEFT JOIN notification_cases c USING (case_id) "
        "WHERE o.status = ANY($1::text[]) ORDER BY o.id LIMIT $2", list(statuses), limit)
    return [{key: value.isoformat() if isinstance(value, datetime)
             else str(value) if isinstance(value, UUID) else value
             for key, value in dict(row).items()} for row in rows]


class CannotResend(Exception):
    """`ptsp notifications resend` refused, saying why."""


async def resend(conn: Conn, notification: int) -> None:
    """A dead letter (or a pending message, at once) goes out again, its attempts counted
    afresh. A sent message is never sent twice; an erased person is never written to."""
    row = await conn.fetchrow(
        f"UPDATE notification_outbox SET status = '{PENDING}', attempts = 0, "
        "next_attempt_at = now(), last_error = NULL, claimed_by = NULL, claimed_at = NULL "
        f"WHERE id = $1 AND status IN ('{DEAD}', '{PENDING}') RETURNING id", notification)
    if row is not None:
        return
    status = await conn.fetchval("SELECT status FROM notification_outbox WHERE id = $1",
                                 notification)
    reasons = {
        None: "there is no such notification (`ptsp notifications list --status all`)",
        SENDING: "it is being sent right now",
        SENT: "it was delivered already: a message is sent once",
        ERASED: "the person's data was erased: they are not written to",
        NO_ADDRESS: "the person gave no e-mail address",
    }
    raise CannotResend(f"notification {notification}: {reasons.get(status, status)}")
