"""The calendar service: keeps the office's corrections and hands every other service
the current working-day calendar.

A correction reaches every process at once (README: "open deadlines follow at once"):
- the process that records it uses it before it answers;
- every other process (HTTP workers, replicas) is told by Postgres: a trigger on the
  calendar's events table NOTIFYs `ptsp_calendar` when its transaction commits, and each
  process LISTENs (`follow`) and reloads;
- and before a deadline is shown, `current_calendar()` compares the calendar's version in
  the store with the one held, one indexed query, so a read that arrives before the
  notification is processed still sees every correction that committed before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import date
from typing import cast

import asyncpg
from eventsourcing.application import AggregateNotFoundError

from contracts import calendar as contracts
from contracts.calendar import CorrectionRecorded
from contracts.mapping import ContractRegistry
from contracts.vocabulary import DayKind
from services.calendar.domain import OFFICE_CALENDAR_ID, OfficeCalendar
from services.domain.actors import Actor
from services.domain.clock import Clock
from services.domain.workdays import WorkingCalendar
from services.infra.groupcommit import GroupCommitter
from services.infra.store import EventStoreApplication
from services.infra.unavailable import DATABASE, reaching

log = logging.getLogger("ptsp.calendar")

NOTIFY_CHANNEL = "ptsp_calendar"
RECONNECT_SECONDS = 1.0
_DDL_LOCK = 0x7074_7370_0003  # "ptsp" calendar trigger: one DDL writer at a time


class Calendars(EventStoreApplication):
    name = "calendar"


# Domain event → contract Struct (for the relay and the audit history).
CONTRACTS = ContractRegistry(contracts.EVENT_TYPES)


class CalendarService:
    """`current` is the calendar held in memory; `current_calendar()` makes sure it is
    the stored one first. Local changes replace it at once; other processes' arrive by
    NOTIFY (`follow`)."""

    def __init__(self, store: Calendars, committer: GroupCommitter, clock: Clock) -> None:
        self.store = store
        self.committer = committer
        self.clock = clock
        self.current = WorkingCalendar()
        self._version = 0
        self._pool: asyncpg.Pool | None = None
        self._reload = asyncio.Lock()

    # -- reading ---------------------------------------------------------------------
    async def _load(self) -> OfficeCalendar | None:
        if self._pool is None:  # a tool that started no committer: eventsourcing's reader
            def load() -> OfficeCalendar | None:
                try:
                    return cast(OfficeCalendar, self.store.repository.get(OFFICE_CALENDAR_ID))
                except AggregateNotFoundError:
                    return None
            return await asyncio.to_thread(load)
        with reaching(DATABASE):
            return cast(OfficeCalendar | None,
                        await self.committer.table.load(OFFICE_CALENDAR_ID))

    async def refresh(self) -> WorkingCalendar:
        """Reload the stored calendar (if it changed since the one held)."""
        async with self._reload:
            office = await self._load()
            if office is not None and office.version > self._version:
                self.current, self._version = office.working_calendar(), office.version
        return self.current

    async def current_calendar(self) -> WorkingCalendar:
        """The calendar with every correction committed so far: the stored version is
        checked (one indexed query) and the calendar reloaded if it moved on."""
        if self._pool is not None:
            with reaching(DATABASE):
                stored = await self._pool.fetchval(
                    f"SELECT max(originator_version) FROM {self.committer.table.table} "
                    "WHERE originator_id = $1", OFFICE_CALENDAR_ID)
            if (stored or 0) > self._version:
                await self.refresh()
        return self.current

    # -- every process hears of a correction ---------------------------------------------
    async def attach(self, pool: asyncpg.Pool) -> None:
        """Read the stored calendar over `pool` from now on, and make sure a correction
        committed anywhere NOTIFYs (the trigger; idempotent)."""
        self._pool = pool
        table = self.committer.table.table
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _DDL_LOCK)
            await conn.execute(f"""
CREATE OR REPLACE FUNCTION ptsp_notify_calendar() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('{NOTIFY_CHANNEL}', '');
    RETURN NULL;
END $$ LANGUAGE plpgsql;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'ptsp_calendar_corrected') THEN
        CREATE TRIGGER ptsp_calendar_corrected AFTER INSERT ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION ptsp_notify_calendar();
    END IF;
END $$;""")
        await self.refresh()

    async def follow(self, database_url: str) -> None:
        """LISTEN for corrections on a connection of its own (never one held from the
        shared pool) and reload on each; reconnects, and reloads after each (re)connect
        in case one was missed meanwhile. Runs until cancelled."""
        changed = asyncio.Event()

        def on_notify(*_: object) -> None:
            changed.set()

        while True:
            listener: asyncpg.Connection | None = None
            try:
                listener = await asyncpg.connect(database_url, timeout=10)
                await listener.add_listener(NOTIFY_CHANNEL, on_notify)
                changed.set()
                while True:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), RECONNECT_SECONDS * 5)
                    if listener.is_closed():
                        raise ConnectionError("the LISTEN connection closed")
                    if changed.is_set():
                        changed.clear()
                        await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("calendar LISTEN interrupted; reconnecting", exc_info=True)
                await asyncio.sleep(RECONNECT_SECONDS)
            finally:
                if listener is not None:
                    with contextlib.suppress(Exception):
                        await listener.close(timeout=2)

    # -- writing ---------------------------------------------------------------------
    async def declare_day(self, day: date, kind: DayKind, reason: str,
                          actor: Actor) -> CorrectionRecorded:
        at, record = self.clock.now(), actor.as_record()
        office = await self._load()
        if office is None:
            office = OfficeCalendar(actor=record, at=at)
        office.declare_day(day, kind, reason, record, at)
        await self.committer.save(office)
        async with self._reload:
            if office.version > self._version:
                self.current, self._version = office.working_calendar(), office.version
        return CorrectionRecorded(date=day, kind=kind, reason=reason,
                                  working_day=self.current.is_working_day(day))
