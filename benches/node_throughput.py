"""Trading node throughput without storage: bars replayed through the whole node (a feed
thread, the ingest queue, the engine thread, the outbox published on the bus) and through
the engine alone, with and without the outbox. One line per case; see docs/PERFORMANCE.md.

    PYTHONPATH=python .venv/bin/python benches/node_throughput.py [symbols] [strategies] [bars]
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from decimal import Decimal
from typing import Any

from pi5trading import _core
from pi5trading.bus import Bus, IngestQueue
from pi5trading.config import NodeSettings
from pi5trading.data import BarFrame
from pi5trading.data.synthetic import random_walk_bars
from pi5trading.engine import us_equity
from pi5trading.model import Bar
from pi5trading.node import TradingNode
from pi5trading.strategies.sma_crossover import MovingAverageCrossover

SCALE = Decimal(10) ** 9


def events(symbols: int, n: int) -> list[tuple[str, int, Any]]:
    rows = []
    for k in range(symbols):
        f = BarFrame(**random_walk_bars(n, seed=k))
        ts, o, h, lo, c, v = f.raw_columns()
        sym = f"S{k:02d}"
        for i in range(n):
            d = [Decimal(int(x[i])) / SCALE for x in (o, h, lo, c, v)]
            rows.append((int(ts[i]), k, f"data.bars.{sym}.1m", Bar(f"{sym}-1m", *d, int(ts[i]))))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [(topic, ts, bar) for ts, _, topic, bar in rows]


def strategies(symbols: list[str], count: int) -> list[tuple[MovingAverageCrossover, list[str]]]:
    return [
        (
            MovingAverageCrossover({"fast": 5 + i % 5, "slow": 20 + i % 7}, strategy_id=f"s{i}"),
            symbols[i % len(symbols) :: count] or symbols[:1],
        )
        for i in range(count)
    ]


def engine_alone(items: list[tuple[str, int, Any]], symbols: list[str], count: int) -> None:
    for outbox in (False, True):
        e = _core.Engine(_core.SimulatedVenue(starting_cash=Decimal(10**9)), None)
        for s in symbols:
            e.add_instrument(us_equity(s))
        for st, syms in strategies(symbols, count):
            st._attach(e, tuple(syms))
        bus = Bus()
        counted = bus.subscribe_counter(">")
        e.start(items[0][1], outbox=outbox)
        t0 = time.perf_counter()
        for k in range(0, len(items), 4096):
            e.step_many(items[k : k + 4096])
            if outbox:
                e.publish(bus)
        dt = time.perf_counter() - t0
        print(
            f"engine alone, outbox={outbox}: {len(items) / dt:,.0f} bars/s, "
            f"{bus.counter(counted) / dt:,.0f} events published/s"
        )


class Replay:
    name = "replay"

    def __init__(self, items: list[tuple[str, int, Any]]) -> None:
        self.items = items
        self.thread: threading.Thread | None = None

    async def start(self, queue: IngestQueue) -> None:
        def send() -> None:
            for topic, ts, bar in self.items:
                queue.send(topic, ts, bar)

        self.thread = threading.Thread(target=send, daemon=True)
        self.thread.start()

    async def stop(self) -> None:
        pass


async def whole_node(items: list[tuple[str, int, Any]], symbols: list[str], count: int) -> None:
    node = TradingNode(
        settings=NodeSettings(shutdown_orders="keep"),
        clock="replay",
        risk="unlimited",
        starting_cash=Decimal(10**9),
    )
    for s in symbols:
        node.add_instrument(s)
    counted = node.bus.subscribe_counter(">")
    node.bus.subscribe(">", lambda batch: None, batch=True)
    for st, syms in strategies(symbols, count):
        await node.add_strategy(st, symbols=syms)
    feed = Replay(items)
    await node.start(start_ts=items[0][1])
    t0 = time.perf_counter()
    await feed.start(node.queue)
    assert feed.thread is not None
    await asyncio.to_thread(feed.thread.join)
    await node.drain()
    dt = time.perf_counter() - t0
    await node.stop()
    print(
        f"whole node: {len(items) / dt:,.0f} bars/s, "
        f"{node.bus.counter(counted) / dt:,.0f} events published/s, "
        f"{len(node.engine.fills())} fills"
    )


def main() -> None:
    args = [int(a) for a in sys.argv[1:]]
    n_symbols, count, bars = (args + [50, 20, 4000][len(args) :])[:3]
    symbols = [f"S{k:02d}" for k in range(n_symbols)]
    items = events(n_symbols, bars)
    print(f"{len(items):,} bars, {n_symbols} symbols, {count} strategies")
    engine_alone(items, symbols, count)
    asyncio.run(whole_node(items, symbols, count))


if __name__ == "__main__":
    main()
