"""Event bus throughput from Python: events/s into Python handlers and Rust-only.

Workload: 200,000 pre-built ``Bar`` objects (AAPL 1-minute, random-walk prices),
published on ``data.bars.AAPL.1m`` to a subscription on ``data.bars.*.1m``. Each benchmark
records ``events_per_s`` in ``extra_info`` (events / mean time of one pass).

* ``publish_many`` + a trivial handler (``def on_bar(bar): pass``): the fast path, one
  Python call per event, no per-event allocation by the bus;
* the same handler reading ``bar.close`` (what a strategy pays to look at the data);
* a Python ``for`` loop calling ``bus.publish`` per event;
* a ``batch=True`` handler (one call per ``publish_many``, receiving the list);
* a Rust-side counter handler (``subscribe_counter``): the bus without Python handlers;
* ``IngestQueue.send_many`` + ``Bus.drain`` into the trivial handler (one thread);
* baseline: the same trivial handler called from a plain Python loop, no bus.

Run: ``.venv/bin/pytest benches/bench_core_bus.py --benchmark-only -p no:cacheprovider``
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pi5trading.bus import Bus, IngestQueue
from pi5trading.model import Bar, BarType, Price

pytestmark = pytest.mark.benchmark

N = 200_000
TOPIC = "data.bars.AAPL.1m"


def _bars(n: int) -> list[Bar]:
    bar_type = BarType("AAPL", "1m")
    out = []
    state = 0x2545F4914F6CDD1D
    close = 100_000  # in 0.001 units
    for i in range(n):
        state ^= (state << 13) & 0xFFFFFFFFFFFFFFFF
        state ^= state >> 7
        state ^= (state << 17) & 0xFFFFFFFFFFFFFFFF
        o, close = close, max(close + state % 101 - 50, 1_000)
        hi, lo = max(o, close) + 10, min(o, close) - 10
        out.append(
            Bar(
                bar_type,
                Price.from_raw(o * 10**6, 3),
                Price.from_raw(hi * 10**6, 3),
                Price.from_raw(lo * 10**6, 3),
                Price.from_raw(close * 10**6, 3),
                100,
                (i + 1) * 60 * 10**9,
            )
        )
    return out


BARS = _bars(N)


def _run(benchmark: Any, fn: Callable[[], object], n: int = N, rounds: int = 5) -> None:
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["events_per_s"] = round(n / stats.stats.mean)


def on_bar(bar: Bar) -> None:
    pass


def test_python_handler_publish_many(benchmark: Any) -> None:
    bus = Bus()
    bus.subscribe("data.bars.*.1m", on_bar)
    _run(benchmark, lambda: bus.publish_many(TOPIC, BARS))


def test_python_handler_reading_close(benchmark: Any) -> None:
    bus = Bus()
    seen: list[Price] = []

    def reads(bar: Bar) -> None:
        if bar.close < bar.open:
            seen.append(bar.close)

    bus.subscribe("data.bars.*.1m", reads)

    def run() -> None:
        seen.clear()
        bus.publish_many(TOPIC, BARS)

    _run(benchmark, run)


def test_python_handler_publish_loop(benchmark: Any) -> None:
    bus = Bus()
    bus.subscribe("data.bars.*.1m", on_bar)
    publish = bus.publish

    def run() -> None:
        for bar in BARS:
            publish(TOPIC, bar)

    _run(benchmark, run)


def test_python_batch_handler(benchmark: Any) -> None:
    bus = Bus()
    bus.subscribe("data.bars.*.1m", on_bar, batch=True)
    _run(benchmark, lambda: bus.publish_many(TOPIC, BARS))


def test_rust_counter_publish_many(benchmark: Any) -> None:
    bus = Bus()
    cid = bus.subscribe_counter("data.bars.*.1m")
    _run(benchmark, lambda: bus.publish_many(TOPIC, BARS))
    assert bus.counter(cid) > 0


def test_ingest_send_many_then_drain(benchmark: Any) -> None:
    bus = Bus()
    bus.subscribe("data.bars.*.1m", on_bar)
    events = [(b.ts_event, b) for b in BARS]

    def run() -> int:
        q = IngestQueue(capacity=N, policy="block")
        q.send_many(TOPIC, events)
        return bus.drain(q)

    _run(benchmark, run)


def test_baseline_plain_python_loop(benchmark: Any) -> None:
    def run() -> None:
        for bar in BARS:
            on_bar(bar)

    _run(benchmark, run)
