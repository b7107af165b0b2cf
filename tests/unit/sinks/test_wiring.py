"""open_sinks on the embedded defaults (SQLite, cache and channels in process)."""

from __future__ import annotations

import asyncio
import os

import pytest

from pi5trading.bus import Bus
from pi5trading.config import load_settings
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
