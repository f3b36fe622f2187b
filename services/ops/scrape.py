"""The `/metrics` exposition: the counted metrics (`services.ops.metrics`) of every
process, and the values read from Postgres at scrape time (lags, SLA counts, the
notifier's backlog, the audit chain alarm). See `services.ops.metrics` for what each name
means."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from projections.sla_timers import STATE_SQL
from services.infra.eventlog import Stream
from services.infra.pg import Conn
from services.notifications import outbox
from services.ops.metrics import REGISTRY

log = logging.getLogger("ptsp.ops")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LAG_CAP = 1_000_000
SCRAPE_SECONDS = 5.0
"""How long a scrape waits for the database before it answers without the lags."""
SLA_STATES = ("at_risk", "breached")
"""Always reported (0 when none); other states of open cases appear when they occur."""
NOTIFIER = outbox.NAME
"""The notifier's step consumer, under its name in `projection_positions`: its lag is
reported with the read models' (`ptsp_projection_lag_events{read_model="notifications"}`)
whenever it has a position, though it is not one of the composition root's read models
(it starts at the store's head: without a position it has nothing to catch up on)."""


@dataclass(frozen=True)
class ReadModel:
    """A read model as the lag sees it: its name and the streams it consumes."""

    name: str
    streams: tuple[str, ...]


@dataclass
class Lags:
    relay: dict[str, int] = field(default_factory=dict)
    """Stored events not yet published, by stream."""
    projections: dict[str, int] = field(default_factory=dict)
    """Stored events not yet applied, by read model (all its streams together)."""
    sla: dict[str, int] = field(default_factory=dict)
    """Open cases by SLA state."""
    notifications: Backlog | None = None
    """The notifier's outbox; None when there is none (no notifier ever ran)."""


@dataclass
class Backlog:
    """The notifier's outbox, for the operator: what is not yet sent, and for how long."""

    pending: dict[str, int] = field(default_factory=dict)
    """Messages not yet sent nor given up (pending or being sent), by way: `email` or
    the channel (`unknown` for a row that does not know its channel yet)."""
    oldest_seconds: float = 0.0
    """The age of the oldest of them (since the step consumer wrote it)."""
    due_seconds: float = 0.0
    """How long the longest-waiting due message has waited for a sender to take it; a
    message waiting for its way (`outbox.WAITING`: no SMTP host, no adapter) or backing
    off after a failure is not due for a sender, and not counted."""


PENDING_CAP = 10_000
"""Each way's not-yet-sent messages are counted up to this many (the figure then reads
it: at least that many). An office without an SMTP host keeps every e-mail waiting for
ever, and counting them all made every scrape and readiness probe grow with the backlog
(232 ms at a million rows); `ptsp notifications list` shows them all."""

BACKLOG_SQL = f"""
WITH due AS (
    SELECT extract(epoch FROM now() - min(next_attempt_at))::float8 AS seconds
    FROM notification_outbox WHERE {outbox.DUE_SQL} AND next_attempt_at <= now())
SELECT w.way,
    (SELECT count(*) FROM (SELECT 1 FROM notification_outbox o
        WHERE o.status IN ({outbox.OPEN_SQL}) AND ({outbox.WAY_SQL}) = w.way LIMIT $2) n
    ) AS n,
    (SELECT extract(epoch FROM now() - min(o.created_at))::float8 FROM notification_outbox o
        WHERE o.status IN ({outbox.OPEN_SQL}) AND ({outbox.WAY_SQL}) = w.way) AS oldest,
    due.seconds AS due
FROM unnest($1::text[]) AS w(way), due"""
"""Per way, a capped count and its oldest message; and how long the longest-due message
has waited: index probes (`outbox.SCHEMA`: `notification_outbox_open_by_way`,
`notification_outbox_due_not_waiting`), whatever waits."""


async def read_backlog(conn: Conn, cap: int = PENDING_CAP) -> Backlog | None:
    """The outbox's backlog, in one statement of bounded cost (ages by the database's
    clock, which wrote the rows' times: the office clock may be simulated)."""
    if not await _table_exists(conn, "notification_outbox"):
        return None
    backlog = Backlog(pending={outbox.EMAIL: 0})  # always a sample, for alert rules
    for r in await conn.fetch(BACKLOG_SQL, list(outbox.WAYS), cap):
        if r["n"]:
            backlog.pending[r["way"]] = int(r["n"])
            backlog.oldest_seconds = max(backlog.oldest_seconds, float(r["oldest"]))
        backlog.due_seconds = float(r["due"] or 0.0)
    return backlog


async def _table_exists(conn: Conn, name: str) -> bool:
    return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name))


async def _behind(conn: Conn, stream: Stream, after: int) -> int:
    return int(await conn.fetchval(
        f"SELECT count(*) FROM (SELECT 1 FROM {stream.table} WHERE notification_id > $1 "
        f"LIMIT {LAG_CAP}) behind", after))


async def read_lags(conn: Conn, streams: Sequence[Stream],
                    read_models: Sequence[ReadModel], now: datetime) -> Lags:
    """Every lag and the SLA counts, from the tables the relay, the projection runner and
    the `sla_timers` read model keep (one connection, a few indexed counts)."""
    lags = Lags()
    relay: dict[str, int] = {}
    if await _table_exists(conn, "relay_positions"):
        relay = {r["stream"]: int(r["position"])
                 for r in await conn.fetch("SELECT stream, position FROM relay_positions")}
    applied: dict[tuple[str, str], int] = {}
    if await _table_exists(conn, "projection_positions"):
        applied = {(r["projection"], r["stream"]): int(r["position"]) for r in await conn.fetch(
            "SELECT projection, stream, position FROM projection_positions")}
    by_name = {s.name: s for s in streams}
    for s in streams:
        lags.relay[s.name] = await _behind(conn, s, relay.get(s.name, 0))
    for model in read_models:
        lags.projections[model.name] = sum(
            [await _behind(conn, by_name[name], applied.get((model.name, name), 0))
             for name in model.streams if name in by_name])
    if NOTIFIER not in lags.projections and any(p == NOTIFIER for p, _ in applied):
        lags.projections[NOTIFIER] = sum(
            [await _behind(conn, by_name[name], applied[(NOTIFIER, name)])
             for name in outbox.STREAMS if name in by_name and (NOTIFIER, name) in applied])
    lags.notifications = await read_backlog(conn)
    lags.sla = dict.fromkeys(SLA_STATES, 0)
    if await _table_exists(conn, "sla_timers"):
        rows = await conn.fetch(
            f"SELECT coalesce({STATE_SQL}, 'not_started') AS state, count(*) AS n "
            "FROM sla_timers t WHERE t.finished_at IS NULL GROUP BY 1", now)
        lags.sla.update({r["state"]: int(r["n"]) for r in rows})
    return lags


class _Snapshot(Collector):
    """The values read at scrape time, as gauges."""

    def __init__(self, lags: Lags | None, alarm: bool) -> None:
        self.lags = lags
        self.alarm = alarm

    def collect(self) -> Iterable[Metric]:
        alarm = GaugeMetricFamily("ptsp_audit_chain_alarm",
                                  "1 when the audit chain keeper raised its alarm (the chain "
                                  "was found shortened or rewritten).")
        alarm.add_metric([], 1.0 if self.alarm else 0.0)
        yield alarm
        if self.lags is None:
            return
        yield from _gauges("ptsp_relay_lag_events",
                           "Stored events not yet published on JetStream.",
                           "stream", self.lags.relay)
        yield from _gauges("ptsp_projection_lag_events",
                           "Stored events a read model has not applied yet.",
                           "read_model", self.lags.projections)
        yield from _gauges("ptsp_cases_sla", "Open cases by SLA state.", "state",
                           self.lags.sla)
        backlog = self.lags.notifications
        if backlog is None:
            return
        yield from _gauges("ptsp_notifications_pending",
                           "Notification messages not yet sent nor given up, by way.",
                           "channel", backlog.pending)
        oldest = GaugeMetricFamily("ptsp_notifications_oldest_pending_seconds",
                                   "Age of the oldest notification message not yet sent.")
        oldest.add_metric([], backlog.oldest_seconds)
        yield oldest
        due = GaugeMetricFamily("ptsp_notifications_due_seconds",
                                "How long a due notification message has waited for a "
                                "sender (not counting messages whose way is closed).")
        due.add_metric([], backlog.due_seconds)
        yield due


def _gauges(name: str, help_text: str, label: str, values: dict[str, int]) -> Iterator[Metric]:
    family = GaugeMetricFamily(name, help_text, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], float(value))
    yield family


def render(lags: Lags | None, alarm: bool, multiprocess_dir: Path | None) -> bytes:
    """The Prometheus text exposition: the counted metrics (every process's, from the
    multiprocess directory when there is one) and the values read at scrape time."""
    if multiprocess_dir is not None and multiprocess_dir.is_dir():
        counted = CollectorRegistry()
        # prometheus-client leaves this constructor unannotated.
        MultiProcessCollector(counted, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]
    else:
        counted = REGISTRY
    read = CollectorRegistry()
    read.register(_Snapshot(lags, alarm))
    return generate_latest(counted) + generate_latest(read)


@dataclass(frozen=True)
class Sources:
    """What a scrape (and a readiness check) reads: handed over by the composition root."""

    streams: Sequence[Stream]
    read_models: Sequence[ReadModel]
    multiprocess_dir: Path | None = None


async def exposition(pool: asyncpg.Pool | None, sources: Sources, now: datetime,
                     alarm: bool) -> bytes:
    """`GET /metrics`: the values read now (left out when the database does not answer:
    the counted metrics still say what the processes did) and every process's counts."""
    lags: Lags | None = None
    if pool is not None:
        try:
            async with pool.acquire(timeout=SCRAPE_SECONDS) as conn:
                lags = await asyncio.wait_for(
                    read_lags(conn, sources.streams, sources.read_models, now), SCRAPE_SECONDS)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.warning("metrics: the database did not answer; lags left out", exc_info=True)
    return render(lags, alarm, sources.multiprocess_dir)
