"""The Redis client every part shares (``connect_redis``): a burst of more concurrent
commands than its pool has connections waits for one instead of failing (issue 17: 100
WebSocket clients signing in at once through Redis got "Too many connections", 4500)."""

from __future__ import annotations

import asyncio

import pytest

from pi5trading.sinks.wiring import REDIS_POOL_SIZE, connect_redis
from tests.services import RedisServer

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_a_burst_beyond_the_pool_waits_for_a_connection(redis_server: RedisServer) -> None:
    client = connect_redis(redis_server.url)
    try:
        await client.set("burst", "1")
        # Each holds its connection for a while (a blocking read that times out), so
        # more than the pool's size are in flight at once.
        n = REDIS_POOL_SIZE + 50
        got = await asyncio.gather(*(client.blpop(["burst:none"], timeout=0.2) for _ in range(n)))
        assert got == [None] * n
        assert await client.get("burst") == b"1"
    finally:
        await client.aclose()
