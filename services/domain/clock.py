"""Time is an input: services read `now` from a Clock and pass it to aggregates.

`SimulatedClock` starts at a given instant and runs on at real speed; `jump_to` moves it
forward (never back: deadlines already recorded must not un-happen). Its state is an
anchor pair (simulated instant, wall-clock seconds), so processes that share the pair
(through Postgres: `services.infra.shared_clock`) read the same time."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.domain.errors import InvalidInput

JAKARTA = ZoneInfo("Asia/Jakarta")
CLOCK_SKEW = timedelta(minutes=1)
"""A channel stamps times with its own clock: up to a minute ahead of ours is skew."""


def stated_time(field: str, stated: datetime | None, now: datetime) -> datetime:
    """When a channel says a thing happened (a letter received, a form filled in): `now`
    when it says nothing; with its offset, and not in the future (`field` names it)."""
    instant = now if stated is None else stated
    if instant.tzinfo is None:
        raise InvalidInput(field, "must carry a time zone offset")
    if instant > now + CLOCK_SKEW:
        raise InvalidInput(field, "is in the future")
    return instant


class Clock:
    simulated = False

    def now(self) -> datetime:
        return datetime.now(tz=JAKARTA)


class SimulatedClock(Clock):
    simulated = True

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=JAKARTA)
        self._lock = threading.Lock()
        self._anchor = start
        self._anchor_wall = time.time()

    @property
    def anchor(self) -> tuple[datetime, float]:
        with self._lock:
            return self._anchor, self._anchor_wall

    def adopt(self, anchor: datetime, anchor_wall: float) -> None:
        """Take another process's anchor (after it jumped the clock)."""
        with self._lock:
            self._anchor, self._anchor_wall = anchor, anchor_wall

    def now(self) -> datetime:
        with self._lock:
            return self._anchor + timedelta(seconds=time.time() - self._anchor_wall)

    def jump_to(self, instant: datetime) -> datetime:
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=JAKARTA)
        with self._lock:
            current = self._anchor + timedelta(seconds=time.time() - self._anchor_wall)
            if instant < current:
                raise ValueError(
                    f"the simulated clock only moves forward (now {current.isoformat()})")
            self._anchor = instant
            self._anchor_wall = time.time()
            return instant

