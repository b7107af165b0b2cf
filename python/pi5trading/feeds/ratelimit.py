"""A vendor's request allowance: at most N requests in any window of W seconds.

Free tiers count requests in windows (Alpha Vantage: 5 a minute, 25 a day). A token
bucket with a burst lets N + 1 through in some window and earns a throttle answer; this
limit is exact instead: it remembers the last N send times of each window and waits until
the oldest leaves the window. Several windows apply together (minute and day). A wait
longer than ``max_wait_s`` (the daily allowance used up) is raised as ``RateLimitedError``
at once, with when it frees up.

The day window is counted by this process only: requests made elsewhere with the same key
are unknown to it (the vendor's throttle answer then still stops the run cleanly).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from pi5trading.feeds.vendor import RateLimitedError

log = logging.getLogger("pi5trading.feeds.ratelimit")
_SAY_AFTER_S = 5.0  # longer waits are told, so a slow download does not look stuck


class Window:
    """At most ``limit`` requests in any ``seconds``."""

    __slots__ = ("limit", "seconds", "sent")

    def __init__(self, limit: int, seconds: float) -> None:
        if limit < 1 or seconds <= 0:
            raise ValueError(f"rate limit {limit} per {seconds} s: need >= 1 per > 0 s")
        self.limit = limit
        self.seconds = seconds
        self.sent: deque[float] = deque(maxlen=limit)

    def wait_s(self, now: float) -> float:
        """Seconds from ``now`` until one more request fits."""
        if len(self.sent) < self.limit:
            return 0.0
        return max(0.0, self.sent[0] + self.seconds - now)


class RateLimiter:
    """Several ``Window``\\ s; ``acquire()`` waits for a slot in all of them, then takes it."""

    def __init__(
        self,
        windows: Sequence[Window],
        *,
        vendor: str = "vendor",
        max_wait_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.windows = list(windows)
        self.vendor = vendor
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self.waited_s = 0.0
        """Total time spent waiting for a slot."""

    async def acquire(self, endpoint: str = "request") -> None:
        async with self._lock:  # requests leave in the order they asked
            while True:
                now = self._clock()
                wait = max((w.wait_s(now) for w in self.windows), default=0.0)
                if wait <= 0:
                    for w in self.windows:
                        w.sent.append(now)
                    return
                if wait > self.max_wait_s:
                    full = max(self.windows, key=lambda w: w.wait_s(now))
                    raise RateLimitedError(
                        self.vendor,
                        endpoint,
                        f"the allowance of {full.limit} requests per {_span(full.seconds)} "
                        f"is used up; the next request fits in {wait:.0f} s",
                        wait,
                    )
                self.waited_s += wait
                if wait >= _SAY_AFTER_S:
                    full = max(self.windows, key=lambda w: w.wait_s(now))
                    log.warning(
                        "%s: waiting %.0f s for the allowance (%d requests per %s)",
                        self.vendor,
                        wait,
                        full.limit,
                        _span(full.seconds),
                    )
                await self._sleep(wait)


def _span(seconds: float) -> str:
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds == size:
            return unit
    return f"{seconds:g} s"


__all__ = ["RateLimiter", "Window"]
