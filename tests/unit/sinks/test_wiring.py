"""open_sinks on the embedded defaults (SQLite, cache and channels in process)."""

from __future__ import annotations

import asyncio
import os

import pytest

from pi5trading.bus import Bus
from pi5trading.config import load_settings
from pi5trading.orders import Order, OrderEvent
from pi5trading.sinks.cache import MemoryLatestState
from pi5trading.sinks.channels import Channels
from pi5trading.sinks.messages import DECODER
from pi5trading.sinks.wiring import open_sinks
from pi5trading.storage.connect import open_repository
from tests.unit.sinks.engine_events import record_run
from tests.unit.sinks.market_data import market_data

pytestmark = pytest.mark.anyio


async def test_the_embedded_sinks_record_cache_publish_and_count() -> None:
    settings = load_settings(dotenv_path=None)
    bus = Bus()
    sinks = await open_sinks(settings, bus)
    assert isinstance(sinks.cache, MemoryLatestState)
    assert isinstance(sinks.channels, Channels)
    assert sinks.metrics is not None
    client = sinks.channels.subscribe(["orders.filled"])
    run = record_run(200)
    data = list(market_data(500))
    for topic, payload in data + run.messages:
        bus.publish(topic, payload)
    await asyncio.sleep(0)
    snap = await sinks.cache.portfolio()
    assert snap is not None
    assert snap.equity == run.final_equity
    first = DECODER.decode(await client.get())
    assert first.topic == "orders.filled"
    assert b'pi5_events_total{topic="quotes"}' in sinks.metrics.render()
    await sinks.close()
    await sinks.close()  # twice is harmless
    assert bus.subscriptions() == []

    repo = await open_repository(settings)
    try:
        fills = await repo.list_fills(strategy_id="trader", limit=10_000)
        assert len(fills) == len(run.fills)
        assert await repo.count_bars("AAA", "1m") == 200
        ticks = await repo.get_quote_ticks("S00", 0, 2**62)
        assert len(ticks) == sum(1 for t, _ in data if t == "data.quotes.S00") > 0
    finally:
        await repo.close()


async def test_switched_off_parts_are_not_built_or_recorded() -> None:
    settings = load_settings(
        {
            **os.environ,  # the test's private PI5_DATA_DIR
            "PI5_SINKS__CACHE": "false",
            "PI5_SINKS__CHANNELS": "false",
            "PI5_SINKS__METRICS": "false",
            "PI5_SINKS__RECORD_QUOTES": "false",
        },
        dotenv_path=None,
    )
    bus = Bus()
    sinks = await open_sinks(settings, bus)
    assert (sinks.cache, sinks.channels, sinks.metrics) == (None, None, None)
    for topic, payload in market_data(500):
        bus.publish(topic, payload)
    await sinks.close()
    repo = await open_repository(settings)
    try:
        assert await repo.get_quote_ticks("S00", 0, 2**62) == []
        assert len(await repo.get_trade_ticks("S00", 0, 2**62)) > 0
    finally:
        await repo.close()


async def test_events_published_from_another_thread_are_all_recorded() -> None:
    """As in the node: bus handlers run on the engine thread while the sinks' tasks run on
    the event loop; nothing may be lost or reordered between them."""
    settings = load_settings(dotenv_path=None)
    bus = Bus()
    run = record_run(300)
    data = list(market_data(30_000))
    messages = data + run.messages
    lookups: list[str] = []

    def lookup(oid: str) -> object:
        lookups.append(oid)
        return run.orders.get(oid)

    sinks = await open_sinks(settings, bus, order_lookup=lookup)  # type: ignore[arg-type]
    assert sinks.channels is not None
    assert sinks.cache is not None
    client = sinks.channels.subscribe(["data.quotes.S07", "orders.>"], max_queue=100_000)
    received: list[str] = []

    async def consume() -> None:
        async for data_ in client:
            received.append(DECODER.decode(data_).topic)

    reader = asyncio.create_task(consume())

    def engine_thread() -> None:
        for topic, payload in messages:
            if not isinstance(payload, Order):  # the lookup supplies the terms
                bus.publish(topic, payload)

    await asyncio.to_thread(engine_thread)
    snap = await sinks.cache.portfolio()
    await sinks.close()
    await reader
    assert snap is not None
    assert snap.equity == run.final_equity
    want = [t for t, p in messages if t == "data.quotes.S07" or isinstance(p, OrderEvent)]
    assert received == want
    repo = await open_repository(settings)
    try:
        assert await repo.count_bars("AAA", "1m") == 300
        fills = await repo.list_fills(strategy_id="trader", limit=10_000)
        assert len(fills) == len(run.fills)
        assert len(await repo.list_orders(limit=10_000)) == len(run.orders)
        quotes = await repo.get_quote_ticks("S07", 0, 2**62)
        assert len(quotes) == sum(1 for t, _ in data if t == "data.quotes.S07")
    finally:
        await repo.close()
    assert sorted(lookups) == sorted(run.orders)
