"""Time is an input: services read `now` from a Clock and pass it to aggregates.

`SimulatedClock` starts at a given instant and runs on at real speed; `jump_to` moves it
forward (never back: deadlines already recorded must not un-happen)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

JAKARTA = ZoneInfo("Asia/Jakarta")


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
        self._anchor_monotonic = time.monotonic()

    def now(self) -> datetime:
        with self._lock:
            return self._anchor + timedelta(seconds=time.monotonic() - self._anchor_monotonic)

    def jump_to(self, instant: datetime) -> datetime:
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=JAKARTA)
        with self._lock:
            current = self._anchor + timedelta(seconds=time.monotonic() - self._anchor_monotonic)
            if instant < current:
                raise ValueError(f"the simulated clock only moves forward (now {current.isoformat()})")
            self._anchor = instant
            self._anchor_monotonic = time.monotonic()
            return instant


class FixedClock(Clock):
    """For tests: stands still until moved."""

    def __init__(self, instant: datetime) -> None:
        self.instant = instant

    def now(self) -> datetime:
        return self.instant

