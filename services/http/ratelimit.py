"""Token buckets: how often each intake channel may submit (OWASP API4, unrestricted
resource consumption). In memory, per process: a replica has its own budget."""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimited(Exception):
    """Over the budget (HTTP 429); `retry_after` seconds until the next request fits."""

    def __init__(self, key: str, retry_after: float, rate: float, burst: int) -> None:
        super().__init__(f"too many intake requests from channel {key}: at most {rate:g} per "
                         f"second on average, {burst} at once; retry after {retry_after:.2f} s")
        self.key = key
        self.retry_after = retry_after


class TokenBuckets:
    """One bucket per key, holding up to `burst` tokens and refilled at `rate` a second;
    a request takes one. The event loop is single-threaded, so no lock.

    `max_keys` bounds the memory where the keys come from outside (client addresses,
    tracking numbers): at the bound, the buckets that have filled up again are dropped
    (a full bucket is what a new key gets anyway), then the oldest while still near it."""

    def __init__(self, rate: float, burst: int,
                 clock: Callable[[], float] = time.monotonic,
                 max_keys: int | None = None) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limit needs rate > 0 and burst >= 1")
        self.rate, self.burst, self._clock = rate, burst, clock
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str) -> None:
        now = self._clock()
        if (self.max_keys is not None and key not in self._buckets
                and len(self._buckets) >= self.max_keys):
            self._make_room(now)
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            raise RateLimited(key, (1.0 - tokens) / self.rate, self.rate, self.burst)
        self._buckets[key] = (tokens - 1.0, now)

    def _make_room(self, now: float) -> None:
        """Down to 7/8 of the bound, so the scan runs once per `max_keys / 8` new keys."""
        assert self.max_keys is not None
        refilled = [key for key, (tokens, at) in self._buckets.items()
                    if tokens + (now - at) * self.rate >= self.burst]
        for key in refilled:
            del self._buckets[key]
        keep = self.max_keys - max(1, self.max_keys // 8)
        while len(self._buckets) > keep:
            del self._buckets[next(iter(self._buckets))]

    def __len__(self) -> int:
        return len(self._buckets)
