"""The shape the node runs feeds in: feeds on the event loop, the engine draining the queue
in its own thread (``Bus.drain`` waits without the GIL)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from pi5trading.bus import Bus, IngestQueue
from pi5trading.data.bars import BarFrame
from pi5trading.data.synthetic import random_walk_bars
from pi5trading.feeds.calendars import get_calendar
from pi5trading.feeds.feed import FeedBase
from pi5trading.feeds.replay import ReplayFeed, frame_source
from pi5trading.feeds.simulated import SimulatedFeed

DAY = get_calendar("XNYS").session_on(dt.date(2026, 11, 25))
assert DAY is not None


async def run_with_engine_thread(feeds: Sequence[FeedBase], queue: IngestQueue) -> list[Any]:
    bus = Bus()
    seen: list[Any] = []
    bus.subscribe("data.>", seen.append)
    stop = threading.Event()

    def engine() -> None:
        while not stop.is_set() or len(queue):
            bus.drain(queue, timeout=0.01)

    thread = threading.Thread(target=engine)
    thread.start()
    try:
        for feed in feeds:
            await feed.start(queue)
        async with asyncio.timeout(120):
            for feed in feeds:
                await feed.wait()
    finally:
        stop.set()
        await asyncio.to_thread(thread.join)
    return seen


def simulated() -> SimulatedFeed:
    assert DAY is not None
    sim = SimulatedFeed(speed=None, start_ns=DAY.open_ns, end_ns=DAY.close_ns)
    sim.subscribe(["AAPL", "MSFT"], quotes=True)
    return sim


@pytest.mark.anyio
async def test_a_feed_into_a_small_block_queue_loses_nothing() -> None:
    queue = IngestQueue(capacity=64, policy="block")
    sim = simulated()
    seen = await run_with_engine_thread([sim], queue)
    assert sim.stats.bars == 2 * 390
    assert sim.stats.quotes == 2 * 390 * 6
    assert len(seen) == sim.stats.messages
    stats = queue.stats()
    # live, closed (a status meeting a full queue is counted as dropped, never waited for)
    assert stats["delivered"] == stats["enqueued"] == sim.stats.messages + 2 - sim.stats.dropped
    assert stats["dropped_late"] == 0
    ts = [m.ts_event for m in seen]
    assert ts == sorted(ts)


@pytest.mark.anyio
async def test_two_feeds_as_fast_as_possible_keep_time_order_by_dropping_the_late() -> None:
    """Each as-fast feed runs on its own time; the queue keeps the engine's time monotonic
    by dropping (and counting) what arrives behind it. Merge recorded sources in one
    ReplayFeed instead, or run feeds at a finite speed."""
    assert DAY is not None
    queue = IngestQueue(capacity=64, policy="block")
    sim = simulated()
    frame = BarFrame.from_columns(random_walk_bars(390, seed=3, start_ns=DAY.open_ns), "SPY")
    replay = ReplayFeed([frame_source("SPY", "1m", frame)])
    seen = await run_with_engine_thread([sim, replay], queue)
    stats = queue.stats()
    # + live and closed of each feed, less a status that met a full queue (never waited for)
    total = (
        sim.stats.messages + replay.stats.messages + 4 - sim.stats.dropped - replay.stats.dropped
    )
    assert stats["enqueued"] == total
    assert stats["delivered"] + stats["dropped_late"] == total
    ts = [m.ts_event for m in seen]
    assert ts == sorted(ts)
