"""`GET /ready`: whether this replica should get traffic. `GET /health` stays liveness
(the process runs); readiness asks whether the parts it depends on answer and keep up:

- Postgres answers `SELECT 1`;
- JetStream answers an account-info request (on a connection of the probe's own, kept
  open and reconnecting, so a check costs one round trip), when the system uses NATS;
- no stream has more stored events not yet published than `ready_max_relay_lag`, and no
  read model more not yet applied than `ready_max_projection_lag` (the lags of
  `services.ops.scrape`);
- the notifier keeps up: its step consumer is no further behind than
  `ready_max_projection_lag` either, and no notification has been due for longer than
  `ready_max_notification_due_seconds` without a sender taking it. A message waiting for
  its way (no SMTP host, the SMTP server down, no adapter answering) does not count: the
  outside world's outage is shown by `ptsp_notifications_pending` and
  `ptsp_notifications_oldest_pending_seconds` (and `ptsp notifications list`), not held
  against this replica, which would only take intake down with it.

Every check has a deadline (`CHECK_SECONDS`): a hung dependency is an answer too. The
audit chain alarm is shown, not counted against readiness (the record is still served;
`GET /audit/verify` fails and `ptsp_audit_chain_alarm` is 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

import asyncpg
import nats
import nats.errors
from nats.aio.client import Client

from contracts.operations import Readiness
from services.infra.nats_auth import servers
from services.ops.scrape import NOTIFIER, Lags, Sources, read_lags
from services.settings import Settings

log = logging.getLogger("ptsp.ops")

CHECK_SECONDS = 2.0


class Probe:
    def __init__(self, sources: Sources, nats_url: str | None, nats_options: dict[str, Any],
                 max_relay_lag: int, max_projection_lag: int,
                 max_notification_due_seconds: float = (
                     Settings.ready_max_notification_due_seconds)) -> None:
        self.sources = sources
        self.nats_url = nats_url
        self.nats_options = nats_options
        self.max_relay_lag = max_relay_lag
        self.max_projection_lag = max_projection_lag
        self.max_notification_due_seconds = max_notification_due_seconds
        self._nc: Client | None = None
        self._connecting = asyncio.Lock()

    async def close(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.close(), CHECK_SECONDS)
            self._nc = None

    async def check(self, pool: asyncpg.Pool | None, now: datetime,
                    alarm: str | None) -> Readiness:
        problems: list[str] = []
        postgres, lags = await self._postgres(pool, now)
        if postgres != "ok":
            problems.append(f"postgres: {postgres}")
        nats_state = await self._nats()
        if nats_state not in ("ok", "not used"):
            problems.append(f"nats: {nats_state}")
        relay = lags.relay if lags else {}
        projections = lags.projections if lags else {}
        if self.nats_url is not None:
            # Without NATS nothing publishes or projects: no lag to hold against it.
            problems += [f"relay: {n} stored events of stream {s} not yet published "
                         f"(more than {self.max_relay_lag})"
                         for s, n in sorted(relay.items()) if n > self.max_relay_lag]
            problems += [f"read model {m}: {n} stored events not yet applied "
                         f"(more than {self.max_projection_lag})"
                         for m, n in sorted(projections.items())
                         if n > self.max_projection_lag and m != NOTIFIER]
            problems += self._notifier(lags)
        return Readiness(status="not_ready" if problems else "ready", problems=problems,
                         postgres=postgres, nats=nats_state, relay_lag=relay,
                         projection_lag=projections, audit_alarm=alarm)

    def _notifier(self, lags: Lags | None) -> list[str]:
        """What holds the notifier back, named as the notifier."""
        problems = []
        behind = lags.projections.get(NOTIFIER, 0) if lags else 0
        if behind > self.max_projection_lag:
            problems.append(f"notifier: {behind} stored events not yet turned into outbox "
                            f"messages (more than {self.max_projection_lag})")
        due = lags.notifications.due_seconds if lags and lags.notifications else 0.0
        if due > self.max_notification_due_seconds:
            problems.append(f"notifier: a message due for {due:.0f} s has not been taken by "
                            f"a sender (more than {self.max_notification_due_seconds:g} s)")
        return problems

    async def _postgres(self, pool: asyncpg.Pool | None, now: datetime
                        ) -> tuple[str, Lags | None]:
        if pool is None:
            return "not started", None
        try:
            async with pool.acquire(timeout=CHECK_SECONDS) as conn:
                await asyncio.wait_for(conn.fetchval("SELECT 1"), CHECK_SECONDS)
                lags = await asyncio.wait_for(
                    read_lags(conn, self.sources.streams, self.sources.read_models, now),
                    CHECK_SECONDS * 2)
        except TimeoutError:
            return f"no answer within {CHECK_SECONDS:g} s", None
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            return f"unreachable ({type(exc).__name__}: {exc})", None
        return "ok", lags

    async def _nats(self) -> str:
        if self.nats_url is None:
            return "not used"
        try:
            nc = await self._connection()
            if not nc.is_connected:
                return "not connected (reconnecting)"
            await asyncio.wait_for(nc.jetstream().account_info(), CHECK_SECONDS)
        except TimeoutError:
            return f"no answer within {CHECK_SECONDS:g} s"
        except (OSError, nats.errors.Error) as exc:
            return f"unreachable ({type(exc).__name__}: {exc})"
        return "ok"

    async def _connection(self) -> Client:
        async with self._connecting:
            if self._nc is None or self._nc.is_closed:
                assert self.nats_url is not None
                # Once connected it reconnects forever; the first connection is bounded
                # (nats-py would retry it forever too) and tried again at the next check.
                self._nc = await asyncio.wait_for(nats.connect(
                    servers(self.nats_url), name="ptsp-readiness", connect_timeout=CHECK_SECONDS,
                    allow_reconnect=True, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                    **self.nats_options), CHECK_SECONDS)
            return self._nc
