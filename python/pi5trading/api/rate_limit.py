"""Request rate limits per client address: a fixed window per client (the first request
opens it, it lasts ``window_s``), counted in this process or, with Redis, in one counter
every API process shares.

Litestar's own limiter keeps every request's time in a JSON list that it decodes and
encodes again on each request (with Redis: a GET and a SET, two round trips), so its cost
grew with the limit: a third of an order request's time at a high limit. Here a request
costs one dict update, or one Redis script call (INCR, PEXPIRE on the first, PTTL).

Over the limit: 429 with ``Retry-After``. Every answer carries ``RateLimit-Policy``,
``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` (seconds), the IETF
draft's headers, as Litestar's did. Redis unreachable: this process counts alone (a
warning, once) rather than refuse every request.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any

from litestar.exceptions import TooManyRequestsException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("pi5trading.api")

# One round trip: the count and the window's remaining time.
_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}
"""

# After a Redis failure, requests are counted here this long before Redis is tried again
# (each try could wait for its timeout).
_REDIS_RETRY_S = 30

# Windows that ended are dropped when the table reaches this many clients.
_PRUNE_AT = 10_000


class RateLimit:
    """``limit`` requests per ``window_s`` per client address; ``name`` tells limits apart
    (in Redis keys and the log); paths matching ``exclude`` (regular expressions) are
    never counted."""

    def __init__(
        self,
        name: str,
        limit: int,
        *,
        window_s: int = 60,
        exclude: tuple[str, ...] = (),
        redis: Redis | None = None,
        redis_prefix: str = "",
    ) -> None:
        if limit < 1 or window_s < 1:
            raise ValueError("a rate limit needs limit >= 1 and window_s >= 1")
        self.name = name
        self.limit = limit
        self.window_s = window_s
        self._exclude = re.compile("|".join(f"(?:{p})" for p in exclude)) if exclude else None
        self._redis = redis
        self._prefix = f"{redis_prefix}:{name}:" if redis_prefix else f"{name}:"
        self._script: Any = redis.register_script(_COUNT) if redis is not None else None
        self._windows: dict[str, list[float]] = {}  # client -> [reset (monotonic), count]
        self._redis_down_until = 0.0
        self._policy = f"{limit}; w={window_s}".encode()

    def __deepcopy__(self, memo: dict[int, Any]) -> RateLimit:
        # Litestar deep-copies a Router's middleware when it registers it: the copy must
        # be this limiter (its counters and Redis client), not a second one.
        return self

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """The ASGI middleware (a Litestar middleware factory)."""

        async def limited(scope: Scope, receive: Receive, send: Send) -> None:
            if str(scope["type"]) != "http" or (
                self._exclude is not None and self._exclude.search(scope["path"])
            ):
                await app(scope, receive, send)
                return
            client = scope.get("client")
            count, reset_s = await self.count(client[0] if client else "127.0.0.1")
            headers = self._headers(count, reset_s)
            if count > self.limit:
                raise TooManyRequestsException(
                    detail=f"more than {self.limit} requests in {self.window_s} s from this "
                    f"address; try again in {reset_s} s",
                    headers={"Retry-After": str(reset_s)}
                    | {k.decode(): v.decode() for k, v in headers},
                )

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), *headers]
                await send(message)

            await app(scope, receive, send_with_headers)

        return limited

    async def count(self, client: str) -> tuple[int, int]:
        """Count a request from ``client``: (requests in its window, this one included;
        whole seconds until the window ends)."""
        if self._script is not None and time.monotonic() >= self._redis_down_until:
            try:
                n, ttl_ms = await self._script(
                    keys=[self._prefix + client], args=[self.window_s * 1000]
                )
                if self._redis_down_until:
                    self._redis_down_until = 0.0
                    log.info("rate limit %s: counting in Redis again", self.name)
                return int(n), max(1, -(-int(ttl_ms) // 1000))
            except Exception as exc:  # any Redis failure: count here for a while, say so
                if not self._redis_down_until:
                    log.warning(
                        "rate limit %s: Redis unreachable (%s); counting in this process "
                        "only, trying Redis again every %d s",
                        self.name,
                        exc,
                        _REDIS_RETRY_S,
                    )
                self._redis_down_until = time.monotonic() + _REDIS_RETRY_S
        return self._count_here(client)

    def _count_here(self, client: str) -> tuple[int, int]:
        now = time.monotonic()
        window = self._windows.get(client)
        if window is None or window[0] <= now:
            if len(self._windows) >= _PRUNE_AT:
                self._windows = {k: w for k, w in self._windows.items() if w[0] > now}
            window = self._windows[client] = [now + self.window_s, 0]
        window[1] += 1
        return int(window[1]), max(1, int(window[0] - now + 0.999))

    def _headers(self, count: int, reset_s: int) -> list[tuple[bytes, bytes]]:
        return [
            (b"ratelimit-policy", self._policy),
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(max(0, self.limit - count)).encode()),
            (b"ratelimit-reset", str(reset_s).encode()),
        ]


__all__ = ["RateLimit"]
