"""A token bucket: at most ``per_minute`` broker calls a minute, bursts up to the same.

Alpaca allows 200 REST calls a minute per account; staying under it means a 429 is the
exception (another program on the same keys), not the rule.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio


class TokenBucket:
    """``await bucket.acquire()`` before each call; it waits when the bucket is empty."""

    __slots__ = ("_capacity", "_clock", "_lock", "_rate", "_stamp", "_tokens")

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError(f"per_minute must be >= 1, got {per_minute}")
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0  # tokens a second
        self._tokens = self._capacity
        self._clock = clock
        self._stamp = clock()
        self._lock = anyio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def try_acquire(self) -> float:
        """Take a token and return 0, or return the seconds until one is free."""
        self._refill()
        if self._tokens >= 1.0 - 1e-9:  # float refill: 0.3 s x 10/3 a second is 0.999...
            self._tokens = max(0.0, self._tokens - 1.0)
            return 0.0
        return (1.0 - self._tokens) / self._rate

    async def acquire(self) -> None:
        # One waiter at a time keeps the order fair and the arithmetic simple.
        async with self._lock:
            while (wait := self.try_acquire()) > 0:  # noqa: ASYNC110 (time, not an event)
                await anyio.sleep(wait)

    def drain(self, seconds: float) -> None:
        """The broker said we are over its limit: take every token, free again in ``seconds``."""
        self._refill()
        self._tokens = min(self._tokens, 1.0 - seconds * self._rate)

    @property
    def available(self) -> float:
        self._refill()
        return self._tokens
