"""The API's request rate limit (``pi5trading.api.rate_limit``): counted per client, its
headers on every answer, a clear 429, excluded paths never counted, windows that end, and
a Redis that is away costing the limit's sharing but not the API."""

from __future__ import annotations

import asyncio
import logging

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from pi5trading.api.errors import HANDLERS
from pi5trading.api.rate_limit import RateLimit
from tests.services import RedisServer

pytestmark = pytest.mark.anyio


@get("/ping", sync_to_thread=False)
def ping() -> str:
    return "pong"


@get("/health", sync_to_thread=False)
def health() -> str:
    return "ok"


def app_with(limit: RateLimit) -> Litestar:
    return Litestar(
        route_handlers=[ping, health],
        middleware=[limit.middleware],
        exception_handlers=HANDLERS,
        logging_config=None,
    )


async def test_headers_count_down_then_429_with_a_reason() -> None:
    async with AsyncTestClient(app=app_with(RateLimit("t", 3, exclude=("^/health",)))) as c:
        remaining = []
        for _ in range(3):
            r = await c.get("/ping")
            assert r.status_code == 200
            assert r.headers["ratelimit-limit"] == "3"
            assert r.headers["ratelimit-policy"] == "3; w=60"
            assert 1 <= int(r.headers["ratelimit-reset"]) <= 60
            remaining.append(r.headers["ratelimit-remaining"])
        assert remaining == ["2", "1", "0"]
        refused = await c.get("/ping")
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "more than 3 requests in 60 s" in refused.json()["detail"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["ratelimit-remaining"] == "0"
        # Excluded paths are never counted nor refused.
        for _ in range(5):
            assert (await c.get("/health")).status_code == 200


async def test_the_window_ends() -> None:
    async with AsyncTestClient(app=app_with(RateLimit("t", 1, window_s=1))) as c:
        assert (await c.get("/ping")).status_code == 200
        assert (await c.get("/ping")).status_code == 429
        await asyncio.sleep(1.05)
        assert (await c.get("/ping")).status_code == 200


async def test_redis_shares_the_count_and_its_absence_is_survived(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = Redis.from_url(redis_server.url)
    try:
        # Two processes' limiters on one Redis share one count.
        a = RateLimit("t", 4, redis=client, redis_prefix=f"rl{id(client)}")
        b = RateLimit("t", 4, redis=client, redis_prefix=f"rl{id(client)}")
        counts = [(await lim.count("1.2.3.4"))[0] for lim in (a, b, a, b, a)]
        assert counts == [1, 2, 3, 4, 5]
        assert 59 <= (await a.count("1.2.3.4"))[1] <= 60
    finally:
        await client.aclose()
    # A Redis nobody answers on: counted in this process, one warning, no error.
    gone = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        lim = RateLimit("t", 2, redis=gone, redis_prefix="x")
        caplog.set_level(logging.WARNING, "pi5trading.api")
        async with AsyncTestClient(app=app_with(lim)) as c:
            codes = [(await c.get("/ping")).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        warnings = [r.getMessage() for r in caplog.records if "Redis unreachable" in r.getMessage()]
        assert len(warnings) == 1, warnings
    finally:
        await gone.aclose()


def test_bad_limits_are_refused() -> None:
    for limit, window in ((0, 60), (5, 0)):
        with pytest.raises(ValueError, match="rate limit"):
            RateLimit("t", limit, window_s=window)
