"""Market data feeds: events/s a feed puts through an ``IngestQueue`` drained by a ``Bus``.

Workloads (each drained by a Rust-side counter, so the figure is the feed's own cost plus
the queue; ``events_per_s`` in ``extra_info`` is events / mean time of one pass):

* replay, as fast as possible, of 50 in-memory frames x 2,000 one-minute bars (100,000
  bars) merged in time order;
* the simulated feed, as fast as possible, one NYSE session of 50 symbols: bars only
  (19,500 bars), and bars with quotes (six a minute: 136,500 events);
* ``StreamFeed`` around an async generator of 100,000 bars (the per-message work of a live
  vendor feed: subscription filter, duplicate/gap check, stats, queue);
* ``BarAggregator`` 1m -> 5m over 100,000 bars (no queue).

Run: ``.venv/bin/pytest benches/bench_feeds.py --benchmark-only -p no:cacheprovider``
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest

from pi5trading.bus import Bus, IngestQueue
from pi5trading.data.bars import BarFrame
from pi5trading.data.synthetic import random_walk_bars
from pi5trading.feeds.aggregation import BarAggregator
from pi5trading.feeds.calendars import get_calendar
from pi5trading.feeds.feed import FeedBase, FeedMessage, StreamFeed, Subscription
from pi5trading.feeds.replay import ReplayFeed, frame_source
from pi5trading.feeds.simulated import SimulatedFeed
from pi5trading.model import Bar

pytestmark = pytest.mark.benchmark

SYMBOLS = [f"S{i:02d}" for i in range(50)]
NYSE = get_calendar("XNYS")
DAY = NYSE.session_on(dt.date(2026, 11, 25))
assert DAY is not None
FRAMES = [
    BarFrame.from_columns(random_walk_bars(2000, seed=i, market_hours=True), s)
    for i, s in enumerate(SYMBOLS)
]
ALWAYS = get_calendar("24/7")
MINUTES = [
    Bar("AAPL-1m", "10.00", "10.05", "9.95", "10.01", 100, DAY.open_ns + i * 60 * 10**9)
    for i in range(1, 100_001)
]
"""Consecutive minutes (on the 24/7 calendar: no session ends in the way)."""


def _run(benchmark: Any, fn: Callable[[], int], rounds: int = 3) -> None:
    counts: list[int] = []
    benchmark.pedantic(lambda: counts.append(fn()), rounds=rounds, iterations=1)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["events_per_s"] = round(counts[-1] / stats.stats.mean)


def _drive(feed: FeedBase) -> int:
    async def main() -> int:
        queue = IngestQueue(capacity=65_536)
        bus = Bus()
        counter = bus.subscribe_counter("data.>")
        await feed.start(queue)
        while feed.running:
            bus.drain(queue, timeout=0)
            await asyncio.sleep(0)
        bus.drain(queue, timeout=0)
        return bus.counter(counter)

    return asyncio.run(main())


def test_replay_50_frames(benchmark: Any) -> None:
    _run(
        benchmark,
        lambda: _drive(
            ReplayFeed([frame_source(s, "1m", f) for s, f in zip(SYMBOLS, FRAMES, strict=True)])
        ),
    )


def _simulated(quotes: bool) -> int:
    assert DAY is not None
    feed = SimulatedFeed(speed=None, start_ns=DAY.open_ns, end_ns=DAY.close_ns)
    feed.subscribe(SYMBOLS, quotes=quotes)
    return _drive(feed)


def test_simulated_50_symbols_bars(benchmark: Any) -> None:
    _run(benchmark, lambda: _simulated(quotes=False))


def test_simulated_50_symbols_bars_and_quotes(benchmark: Any) -> None:
    _run(benchmark, lambda: _simulated(quotes=True))


def test_stream_feed_per_message(benchmark: Any) -> None:
    def connect(subs: Sequence[Subscription]) -> AsyncIterator[FeedMessage]:
        async def gen() -> AsyncIterator[FeedMessage]:
            for bar in MINUTES:
                yield bar
            await asyncio.Event().wait()  # connected, silent: the feed is stopped below

        return gen()

    def once() -> int:
        async def main() -> int:
            feed = StreamFeed("bench", connect, calendar=ALWAYS, stale_after_s=None)
            feed.subscribe(["AAPL"])
            queue = IngestQueue(capacity=65_536)
            bus = Bus()
            counter = bus.subscribe_counter("data.>")
            await feed.start(queue)
            while feed.stats.bars < len(MINUTES):
                bus.drain(queue, timeout=0)
                await asyncio.sleep(0)
            await feed.stop()
            bus.drain(queue, timeout=0)
            return bus.counter(counter)

        return asyncio.run(main())

    _run(benchmark, once)


def test_aggregation_1m_to_5m(benchmark: Any) -> None:
    def once() -> int:
        agg = BarAggregator("AAPL", "1m", "5m", ALWAYS)
        for bar in MINUTES:
            agg.update(bar)
        return len(MINUTES)

    _run(benchmark, once)
