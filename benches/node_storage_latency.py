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
``PI5_DATABASE__BATCH_SIZE`` records or every ``PI5_DATABASE__BATCH_INTERVAL_S``, so each
case runs at each ``--interval``. With ``--symbols 50 --strategies 20 --every-ms 10`` the
feed sends the bars of 50 symbols at once every 10 ms (a bar close), 20 ``sma_crossover``
strategies trade them, and the measured strategy sees every bar and trades the first symbol.
See docs/PERFORMANCE.md "Trading node, persistence on".

    PYTHONPATH=python .venv/bin/python benches/node_storage_latency.py \
        [--db sqlite,postgres] [--interval 0.5,0.01] [--bars 3000] [--runs 3] \
        [--switch-interval 0.0005] [--redis] [--symbols 1] [--strategies 0] [--every-ms 1]
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
from node_throughput import events, strategies
from pi5trading.bus import IngestQueue
from pi5trading.model import Bar
from pi5trading.node import TradingNode
from pi5trading.sinks.wiring import open_sinks
from pi5trading.storage.connect import open_repository, open_writer
from pi5trading.storage.records import EncodedBar, EncodedRow, FillRow, Record
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

    async def write(self, records: Sequence[Record | EncodedBar | EncodedRow]) -> int:
        n = await super().write(records)
        now = time.perf_counter_ns()
        for r in records:
            if type(r) is FillRow:
                self.committed[r.order_id] = (now, r.ts_ns)
            elif isinstance(r, EncodedRow) and r.kind == "fill":
                # fills row: fill id, order id, …, time last
                self.committed[r.row[1]] = (now, r.row[-1])
        return n


class Flipper(Strategy):
    """On every bar of ``traded``: a market order, buy and sell in turn (one fill per bar).
    Notes when each bar it receives (of any symbol) reached ``on_bar``."""

    warmup = True
    traded = "AAA"

    def on_start(self) -> None:
        # (symbol, bar ts) -> send time; the bench hands in the feed's dict after start.
        self.sent_at: dict[tuple[str, int], int] = {}
        self.seen: list[int] = []
        self.bar_of: dict[str, int] = {}  # client order id -> ts of the bar it was sent on
        self.long = False

    def on_bar(self, bar: Bar) -> None:
        sym = bar.symbol
        self.seen.append(time.perf_counter_ns() - self.sent_at[sym, bar.ts_event])
        if sym == self.traded:
            # Sell only what has filled: a sell racing its own buy is refused in a cash
            # account whenever another strategy's exit in the symbol is already on its way
            # (sells in flight count against the position), and then nothing fills.
            sell = self.long and self.position_qty(sym) >= 1
            oid = self.sell(1, symbol=sym) if sell else self.buy(1, symbol=sym)
            self.long = not sell
            self.bar_of[oid] = bar.ts_event


class Paced:
    """Sends each timestamp's bars (one per symbol) back to back, then sleeps ``every_s``."""

    name = "paced"

    def __init__(
        self,
        ticks: list[list[tuple[str, int, Bar]]],
        every_s: float,
        sent_at: dict[tuple[str, int], int],
    ) -> None:
        self.ticks = ticks
        self.every_s = every_s
        self.sent_at = sent_at
        self.thread: threading.Thread | None = None

    async def start(self, queue: IngestQueue) -> None:
        def send() -> None:
            sent_at, clock = self.sent_at, time.perf_counter_ns
            for tick in self.ticks:
                for topic, ts, bar in tick:
                    sent_at[bar.symbol, ts] = clock()
                    queue.send(topic, ts, bar)
                time.sleep(self.every_s)

        self.thread = threading.Thread(target=send, name="bench-feed", daemon=True)
        self.thread.start()

    async def stop(self) -> None:
        pass


def ticks_of(n: int, symbols: int) -> tuple[list[str], list[list[tuple[str, int, Bar]]]]:
    """One symbol: the same flat bar ``n`` times (AAA). More: random-walk bars of
    ``S00``, ``S01``, ... as ``node_throughput.py`` makes them, grouped by timestamp."""
    if symbols == 1:
        flat = []
        for i in range(n):
            ts = T0 + (i + 1) * MINUTE
            flat.append([("data.bars.AAA.1m", ts, Bar("AAA-1m", 100, 101, 99, 100, 1000, ts))])
        return ["AAA"], flat
    names = [f"S{k:02d}" for k in range(symbols)]
    grouped: dict[int, list[tuple[str, int, Bar]]] = {}
    for topic, ts, bar in events(symbols, n):
        grouped.setdefault(ts, []).append((topic, ts, bar))
    return names, list(grouped.values())


def pct(ns: list[int]) -> tuple[float, float, float]:
    p50, p99, p999 = np.percentile(np.array(ns) / 1000, [50, 99, 99.9])
    return float(p50), float(p99), float(p999)


def fmt(name: str, ns: list[int]) -> str:
    p50, p99, p999 = pct(ns)
    return f"    {name:<26} p50 {p50:>9,.0f} µs  p99 {p99:>9,.0f} µs  p99.9 {p999:>9,.0f} µs"


async def one_run(
    kind: str, cluster: Any, overrides: dict[str, str], args: argparse.Namespace
) -> dict[str, list[int]]:
    names, ticks = ticks_of(args.bars, args.symbols)
    async with run_settings(kind, cluster, overrides) as settings:
        node = TradingNode(
            settings=settings.node, clock="replay", risk="unlimited", starting_cash=10**9
        )
        for name in names:
            node.add_instrument(name)
        repo = await open_repository(settings)
        clock = CommitClock(repo)
        # Our own writer over the timed repository (the metrics' TimedRepository would
        # write through the driver and skip CommitClock.write); otherwise as serve wires it.
        writer = open_writer(settings, clock)
        sinks = await open_sinks(settings, node.bus, writer=writer, order_lookup=node.engine.order)
        node.on_shutdown(sinks.close, "sinks")
        flipper = Flipper(strategy_id="flipper")
        flipper.traded = names[0]
        await node.add_strategy(flipper, symbols=names)
        for st, syms in strategies(names, args.strategies) if args.strategies else []:
            await node.add_strategy(st, symbols=syms)
        sent_at: dict[tuple[str, int], int] = {}
        orders: list[int] = []
        filled_bus: dict[str, int] = {}
        traded = names[0]

        def on_submitted(event: Any) -> None:
            ts = flipper.bar_of.get(event.client_order_id)
            if ts is not None:
                orders.append(time.perf_counter_ns() - sent_at[traded, ts])

        def on_filled(event: Any) -> None:
            filled_bus[event.client_order_id] = time.perf_counter_ns()

        node.bus.subscribe("orders.submitted", on_submitted)
        node.bus.subscribe("orders.filled", on_filled)
        feed = Paced(ticks, args.every_ms / 1000, sent_at)
        await node.start(start_ts=0)
        flipper.sent_at = sent_at  # on_start made its own
        await feed.start(node.queue)
        assert feed.thread is not None
        await asyncio.to_thread(feed.thread.join)
        await node.drain()
        await sinks.flush()
        await node.stop()
        writer.journal.close()
        await repo.close()
    # The bar that filled an order is the next bar of its symbol (market orders fill at the
    # next open); checked against the fill's own time.
    fill_bus: list[int] = []
    fill_db: list[int] = []
    for oid, sent_on in flipper.bar_of.items():
        if oid not in clock.committed:
            continue  # the last order: no bar after it
        t_db, ts_fill = clock.committed[oid]
        filling_bar = sent_on + MINUTE
        if not (sent_on <= ts_fill <= filling_bar):
            raise SystemExit(f"fill {oid} at {ts_fill}, expected the bar of {filling_bar}")
        fill_db.append(t_db - sent_at[traded, filling_bar])
        fill_bus.append(filled_bus[oid] - sent_at[traded, filling_bar])
    if len(fill_db) < len(flipper.bar_of) - 1:
        raise SystemExit(f"{len(fill_db)} fills committed of {len(flipper.bar_of)} orders")
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
        f"{now_utc()}, {load_average()}: {args.bars:,} timestamps of {args.symbols} symbol(s), "
        f"one every {args.every_ms:g} ms, {args.strategies} sma_crossover strategies besides, "
        f"{args.runs} runs, "
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
                    r = await one_run(kind, cluster, case, args)
                    print(f"  run {k + 1} ({load_average()}):")
                    for name, ns in r.items():
                        print(fmt(name, ns), f"(n={len(ns)})")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", default="sqlite,postgres")
    p.add_argument("--interval", default="0.5,0.01", help="PI5_DATABASE__BATCH_INTERVAL_S")
    p.add_argument("--bars", type=int, default=3000, help="bars per symbol")
    p.add_argument("--symbols", type=int, default=1)
    p.add_argument("--strategies", type=int, default=0, help="sma_crossover strategies besides")
    p.add_argument("--every-ms", type=float, default=1.0, help="pause between timestamps")
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
