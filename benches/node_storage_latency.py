"""Trading node latency with persistence on: a feed thread sends one bar every millisecond;
a strategy sends a market order on every bar (buy and sell in turn), which fills at the
next bar's open. Every event is recorded (SQLite or PostgreSQL), cached, counted by the
metrics and fanned out to channels, as ``pi5trading serve`` wires them. Measured from just
before the feed's ``queue.send``:

- feed → ``on_bar``: the bar reaches the strategy;
- feed → order on the bus: the order sent in that ``on_bar`` reaches a subscriber of
  ``orders.submitted`` (published after the step);
- feed → fill on the bus: the bar that filled an order, to ``orders.filled`` reaching a
  subscriber;
- feed → fill committed: the same bar to the commit of the transaction that wrote the fill
  row (timed in the repository's ``write``, after the commit returned).

p50 / p99 / p99.9 in microseconds. The writer flushes a batch when it holds
``PI5_DATABASE__BATCH_SIZE`` records or every ``PI5_DATABASE__BATCH_INTERVAL_S``; at one bar
per millisecond the interval decides, so each case runs at each ``--interval``. See
docs/PERFORMANCE.md "Trading node, persistence on".

    PYTHONPATH=python .venv/bin/python benches/node_storage_latency.py \
        [--db sqlite,postgres] [--interval 0.5,0.01] [--bars 3000] [--runs 3] \
        [--switch-interval 0.0005] [--redis]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from node_databases import load_average, now_utc, postgres_or_none, run_settings
from pi5trading.bus import IngestQueue
from pi5trading.model import Bar
from pi5trading.node import TradingNode
from pi5trading.sinks.wiring import open_sinks
from pi5trading.storage.connect import open_repository, open_writer
from pi5trading.storage.records import FillRow, Record
from pi5trading.storage.repository import SqlRepository
from pi5trading.strategies.base import Strategy

T0 = 1_704_205_800_000_000_000
MINUTE = 60_000_000_000


class CommitClock(SqlRepository):
    """The configured repository, noting when each fill row's transaction committed."""

    def __init__(self, repository: SqlRepository) -> None:
        super().__init__(repository.driver, repository.breaker)
        # order id -> (commit time (perf_counter_ns), the fill's own time)
        self.committed: dict[str, tuple[int, int]] = {}

    async def write(self, records: Sequence[Record]) -> int:
        n = await super().write(records)
        now = time.perf_counter_ns()
        for r in records:
            if type(r) is FillRow:
                self.committed[r.order_id] = (now, r.ts_ns)
        return n


class Flipper(Strategy):
    """A market order on every bar, buy and sell in turn: one fill per bar."""

    warmup = True

    def on_start(self) -> None:
        self.sent_at: dict[int, int] = {}  # filled below by the bench: bar ts -> send time
        self.seen: list[int] = []
        self.bar_of: dict[str, int] = {}  # client order id -> ts of the bar it was sent on
        self.long = False

    def on_bar(self, bar: Bar) -> None:
        self.seen.append(time.perf_counter_ns() - self.sent_at[bar.ts_event])
        oid = self.sell(1) if self.long else self.buy(1)
        self.long = not self.long
        self.bar_of[oid] = bar.ts_event


class Paced:
    name = "paced"

    def __init__(self, n: int, sent_at: dict[int, int]) -> None:
        self.n = n
        self.sent_at = sent_at
        self.thread: threading.Thread | None = None

    async def start(self, queue: IngestQueue) -> None:
        def send() -> None:
            for i in range(self.n):
                ts = T0 + (i + 1) * MINUTE
                bar = Bar("AAA-1m", 100, 101, 99, 100, 1000, ts)
                self.sent_at[ts] = time.perf_counter_ns()
                queue.send("data.bars.AAA.1m", ts, bar)
                time.sleep(0.001)

        self.thread = threading.Thread(target=send, name="bench-feed", daemon=True)
        self.thread.start()

    async def stop(self) -> None:
        pass


def pct(ns: list[int]) -> tuple[float, float, float]:
    p50, p99, p999 = np.percentile(np.array(ns) / 1000, [50, 99, 99.9])
    return float(p50), float(p99), float(p999)


def fmt(name: str, ns: list[int]) -> str:
    p50, p99, p999 = pct(ns)
    return f"    {name:<26} p50 {p50:>9,.0f} µs  p99 {p99:>9,.0f} µs  p99.9 {p999:>9,.0f} µs"


async def one_run(
    kind: str, cluster: Any, overrides: dict[str, str], n: int
) -> dict[str, list[int]]:
    async with run_settings(kind, cluster, overrides) as settings:
        node = TradingNode(settings=settings.node, clock="replay", risk="unlimited")
        node.add_instrument("AAA")
        repo = await open_repository(settings)
        clock = CommitClock(repo)
        # Our own writer over the timed repository (the metrics' TimedRepository would
        # write through the driver and skip CommitClock.write); otherwise as serve wires it.
        writer = open_writer(settings, clock)
        sinks = await open_sinks(settings, node.bus, writer=writer, order_lookup=node.engine.order)
        node.on_shutdown(sinks.close, "sinks")
        flipper = Flipper(strategy_id="flipper")
        await node.add_strategy(flipper)
        sent_at: dict[int, int] = {}
        flipper.sent_at = sent_at
        orders: list[int] = []
        filled_bus: dict[str, int] = {}

        def on_submitted(event: Any) -> None:
            orders.append(time.perf_counter_ns() - sent_at[flipper.bar_of[event.client_order_id]])

        def on_filled(event: Any) -> None:
            filled_bus[event.client_order_id] = time.perf_counter_ns()

        node.bus.subscribe("orders.submitted", on_submitted)
        node.bus.subscribe("orders.filled", on_filled)
        feed = Paced(n, sent_at)
        await node.start(start_ts=0)
        flipper.sent_at = sent_at  # on_start reset it
        await feed.start(node.queue)
        assert feed.thread is not None
        await asyncio.to_thread(feed.thread.join)
        await node.drain()
        await sinks.flush()
        fills = node.engine.fills()
        await node.stop()
        writer.journal.close()
        await repo.close()
    # The bar that filled an order is the one after the bar it was sent on (market orders
    # fill at the next open); checked against the fill's own time.
    fill_bus: list[int] = []
    fill_db: list[int] = []
    for oid, (t_db, ts_fill) in clock.committed.items():
        filling_bar = flipper.bar_of[oid] + MINUTE
        if not (filling_bar - MINUTE <= ts_fill <= filling_bar):
            raise SystemExit(f"fill {oid} at {ts_fill}, expected the bar of {filling_bar}")
        fill_db.append(t_db - sent_at[filling_bar])
        fill_bus.append(filled_bus[oid] - sent_at[filling_bar])
    if len(fill_db) != len(fills) or len(fills) < n - 2:
        raise SystemExit(f"{len(fill_db)} fills committed of {len(fills)} made on {n} bars")
    return {
        "feed -> on_bar": flipper.seen,
        "feed -> order on the bus": orders,
        "feed -> fill on the bus": fill_bus,
        "feed -> fill committed": fill_db,
    }


async def main(args: argparse.Namespace) -> None:
    kinds = args.db.split(",")
    intervals = args.interval.split(",")
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    print(
        f"{now_utc()}, {load_average()}: {args.bars:,} bars at 1 per ms, {args.runs} runs, "
        f"GIL switch interval {sys.getswitchinterval() * 1000:g} ms"
    )
    with contextlib.ExitStack() as stack:
        overrides: dict[str, str] = {}
        if args.redis:
            from tests.services import RedisServer

            redis_server = RedisServer()
            stack.callback(redis_server.close)
            redis_server.start()
            overrides["PI5_REDIS__URL"] = redis_server.url
        cluster = stack.enter_context(postgres_or_none("postgres" in kinds))
        if cluster is not None:
            print(f"PostgreSQL: {cluster.what}")
        for kind in kinds:
            for interval in intervals:
                case = {**overrides, "PI5_DATABASE__BATCH_INTERVAL_S": interval}
                print(
                    f"{kind}, PI5_DATABASE__BATCH_INTERVAL_S={interval}"
                    f"{', Redis' if args.redis else ''}:"
                )
                for k in range(args.runs):
                    r = await one_run(kind, cluster, case, args.bars)
                    print(f"  run {k + 1} ({load_average()}):")
                    for name, ns in r.items():
                        print(fmt(name, ns), f"(n={len(ns)})")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", default="sqlite,postgres")
    p.add_argument("--interval", default="0.5,0.01", help="PI5_DATABASE__BATCH_INTERVAL_S")
    p.add_argument("--bars", type=int, default=3000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--redis", action="store_true", help="cache and channels in a private Redis")
    p.add_argument(
        "--switch-interval",
        type=float,
        default=0.0,
        help="sys.setswitchinterval (s) for the run; default: Python's (5 ms)",
    )
    return p.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
