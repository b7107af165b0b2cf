"""The latest-state cache in the real Redis: the same checks as in memory, read back by a
second client (as the API process would), one pipeline per copy, and a Redis restart."""

from __future__ import annotations

import os

import anyio.to_thread
import pytest
import redis.asyncio as aioredis

from pi5trading.bus import Bus
from pi5trading.events import EQUITY, EquitySample
from pi5trading.sinks.cache import RedisLatestState
from tests.services import RedisServer
from tests.unit.sinks.test_cache import check_state, expected_prices, feed, scenario

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_redis_cache_is_read_back_by_another_client(redis_server: RedisServer) -> None:
    run, messages = scenario()
    writer_client = aioredis.from_url(redis_server.url)
    reader_client = aioredis.from_url(redis_server.url)
    await writer_client.flushdb()
    state = RedisLatestState(writer_client, prefix="t1", interval_s=0.01)
    bus = Bus()
    state.subscribe(bus)
    await state.start()
    try:
        feed(bus, messages)
        await state.close()
        reader = RedisLatestState.reader(reader_client, prefix="t1")
        await check_state(reader, run, messages)
        # Coalesced: far fewer pipelines than events, one entry per symbol.
        assert 1 <= state.copies < 10
        assert await reader_client.hlen("t1:prices") == len(await reader.prices())
        assert await reader_client.hexists("t1:strategies", "gone") == 0
    finally:
        await writer_client.aclose()
        await reader_client.aclose()


async def test_redis_restart_is_recopied_in_full(redis_server: RedisServer) -> None:
    client = aioredis.from_url(redis_server.url)
    state = RedisLatestState(client, prefix="t2", interval_s=0.01)
    run, messages = scenario()
    bus = Bus()
    state.subscribe(bus)
    try:
        feed(bus, messages)
        await state.flush()
        await anyio.to_thread.run_sync(redis_server.stop)
        bus.publish(EQUITY, EquitySample(10**19, run.final_cash, run.final_equity + 1))
        with pytest.raises(Exception):  # noqa: B017, PT011 - whichever connection error
            await state.flush()
        await anyio.to_thread.run_sync(redis_server.start)  # back, and empty
        await state.flush()  # the same client reconnects
        reader = RedisLatestState.reader(client, prefix="t2")
        snap = await reader.portfolio()
        assert snap is not None
        assert snap.equity == run.final_equity + 1
        assert len(await reader.prices()) == len(expected_prices(messages))
        assert len(await reader.positions()) == 1
    finally:
        if redis_server._proc is None:
            redis_server.start()
        await client.aclose()


async def test_open_sinks_with_redis_configured(redis_server: RedisServer) -> None:
    from pi5trading.config import load_settings
    from pi5trading.sinks.channels import RedisChannels
    from pi5trading.sinks.wiring import open_sinks

    settings = load_settings(
        {
            **os.environ,  # the test's private PI5_DATA_DIR
            "PI5_REDIS__URL": redis_server.url,
            "PI5_REDIS__KEY_PREFIX": "wired",
        },
        dotenv_path=None,
    )
    bus = Bus()
    sinks = await open_sinks(settings, bus)
    assert isinstance(sinks.cache, RedisLatestState)
    assert isinstance(sinks.channels, RedisChannels)
    client = sinks.channels.subscribe(["account.equity"])
    await client.ready.wait()
    run, messages = scenario()
    feed(bus, messages)
    await sinks.flush()
    first = await client.get()
    assert b'"type":"equity"' in first
    await sinks.close()
    reader_client = aioredis.from_url(redis_server.url)
    try:
        reader = RedisLatestState.reader(reader_client, prefix="wired")
        await check_state(reader, run, messages)
    finally:
        await reader_client.aclose()
