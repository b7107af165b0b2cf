"""Trading node latency without storage: a feed thread sends one bar every millisecond;
measured from just before ``queue.send`` to (a) the strategy's ``on_bar`` and (b) the
order it sent there reaching a bus subscriber (``orders.submitted``, published after the
batch). p50 / p99 / p99.9 in microseconds; see docs/PERFORMANCE.md.

    PYTHONPATH=python .venv/bin/python benches/node_latency.py [bars]
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from decimal import Decimal
from typing import Any

import numpy as np

from pi5trading.bus import IngestQueue
from pi5trading.config import NodeSettings
from pi5trading.model import Bar
from pi5trading.node import TradingNode
from pi5trading.strategies.base import Strategy

SENT: dict[int, int] = {}


class Echo(Strategy):
    """Buys one share on every bar (the order rests far below the market; the one before
    is cancelled)."""

    warmup = True

    def on_start(self) -> None:
        self.seen: list[int] = []

    def on_bar(self, bar: Bar) -> None:
        self.seen.append(time.perf_counter_ns() - SENT[bar.ts_event])
        for oid in self.open_orders():  # one working order at a time
            self.cancel(oid)
        self.buy(1, limit=Decimal(1), tags=[str(bar.ts_event)])


class Paced:
    name = "paced"

    def __init__(self, n: int) -> None:
        self.n = n
        self.thread: threading.Thread | None = None

    async def start(self, queue: IngestQueue) -> None:
        def send() -> None:
            t0 = 1_704_205_800_000_000_000
            for i in range(self.n):
                ts = t0 + (i + 1) * 60_000_000_000
                bar = Bar("AAA-1m", 100, 101, 99, 100, 1000, ts)
                SENT[ts] = time.perf_counter_ns()
                queue.send("data.bars.AAA.1m", ts, bar)
                time.sleep(0.001)

        self.thread = threading.Thread(target=send, daemon=True)
        self.thread.start()

    async def stop(self) -> None:
        pass


def pct(xs: list[int]) -> str:
    a = np.array(xs) / 1000
    p50, p99, p999 = np.percentile(a, [50, 99, 99.9])
    return f"p50 {p50:,.0f} µs, p99 {p99:,.0f} µs, p99.9 {p999:,.0f} µs (n={len(a)})"


async def main(n: int) -> None:
    node = TradingNode(settings=NodeSettings(idle_ms=5), clock="replay", risk="unlimited")
    node.add_instrument("AAA")
    orders: list[int] = []

    def on_submitted(event: Any) -> None:
        orders.append(time.perf_counter_ns() - SENT[ts_of[event.client_order_id]])

    ts_of: dict[str, int] = {}  # client order id -> the bar it was sent on
    echo = Echo(strategy_id="echo")
    original = echo.buy

    def buy(*a: Any, **k: Any) -> str:
        oid = original(*a, **k)
        ts_of[oid] = int(k["tags"][0])
        return oid

    echo.buy = buy  # type: ignore[method-assign]
    node.bus.subscribe("orders.submitted", on_submitted)
    await node.add_strategy(echo)
    feed = Paced(n)
    await node.start(start_ts=0)
    await feed.start(node.queue)
    assert feed.thread is not None
    await asyncio.to_thread(feed.thread.join)
    await node.drain()
    await node.stop()
    print("feed -> on_bar:           ", pct(echo.seen))
    print("feed -> order on the bus: ", pct(orders))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000))
