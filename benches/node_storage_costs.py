"""Where the node's time goes with persistence on: each stage the sinks run, timed alone on
the events the node really publishes (20 strategies on 50 symbols), one thread, no
contention. The node with its sinks runs all of them under one GIL (the engine thread's
handlers, then the event loop's conversion, fan-out and writes), so the sum of the
per-event costs bounds what ``node_storage_throughput.py`` can reach on any number of
cores. See docs/PERFORMANCE.md "Trading node, persistence on".

    PYTHONPATH=python .venv/bin/python benches/node_storage_costs.py \
        [--bars 2000] [--db sqlite,postgres] [--python]

``--python`` also times the Python reference paths the core replaced (the converter for
bars, order events, positions and equity; ``to_message`` for bars; COPY text built in
Python), in the same minutes.

Stages (per event the node published; 3 rounds each, the best and the mean):

- ``node``: the node stepping the recorded bars and publishing, with only the tape
  (collecting what the storage sink would get) subscribed;
- ``cache + metrics``: ``MemoryLatestState.on_messages`` and ``NodeMetrics.on_messages``
  (bus handlers: they run on the engine thread);
- ``conversion``: payloads → storage records as the storage sink makes them (bars, order
  events, orders, positions and equity samples encoded by the core,
  ``RecordConverter(core=True)``; the rest by the Python converter);
- ``channel message``: each payload's JSON as the channels' task makes it (bars, order
  and position events by the core, ``_core.bar_message`` and the like; the rest
  ``to_message`` + msgspec): what one client
  subscribed to everything costs, besides its queue;
- ``write``: ``SqlRepository.write`` of the records in batches of 5,000 (validation,
  encoding, COPY or ``executemany``, commit) into a fresh database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from node_databases import load_average, now_utc, postgres_or_none, run_settings
from node_storage_throughput import Replay
from node_throughput import events, strategies
from pi5trading import _core
from pi5trading.node import TradingNode
from pi5trading.sinks.cache import MemoryLatestState
from pi5trading.sinks.channels import _CORE_MESSAGES
from pi5trading.sinks.messages import ENCODER, to_message
from pi5trading.sinks.metrics import NodeMetrics
from pi5trading.sinks.records import RecordConverter
from pi5trading.storage.connect import open_repository
from pi5trading.storage.records import EncodedRow

ROUNDS = 3
BATCH = 5000


class Tape:
    """What the storage sink receives: every published payload, in order, with an order's
    terms (looked up on the engine thread, as the sink does) ahead of its first event."""

    def __init__(self, lookup: Callable[[str], _core.Order | None]) -> None:
        self.lookup = lookup
        self.known: set[str] = set()
        self.batches: list[list[object]] = []
        self.missing = 0

    def on_messages(self, messages: Sequence[object]) -> None:
        out: list[object] = []
        for m in messages:
            if isinstance(m, _core.OrderEvent) and m.client_order_id not in self.known:
                self.known.add(m.client_order_id)
                order = self.lookup(m.client_order_id)
                if order is None:
                    self.missing += 1
                else:
                    out.append(order)
            out.append(m)
        self.batches.append(out)


async def record(items: list[tuple[str, int, Any]], symbols: list[str], count: int) -> Tape:
    node = TradingNode(clock="replay", risk="unlimited", starting_cash=Decimal(10**9))
    for s in symbols:
        node.add_instrument(s)
    tape = Tape(node.engine.order)
    node.bus.subscribe(">", tape.on_messages, batch=True)
    for st, syms in strategies(symbols, count):
        await node.add_strategy(st, symbols=syms)
    await node.start(start_ts=items[0][1])
    feed = Replay(items)
    await feed.start(node.queue)
    assert feed.thread is not None
    await asyncio.to_thread(feed.thread.join)
    await node.drain()
    await node.stop()
    return tape


@contextlib.contextmanager
def python_copy_text() -> Iterator[None]:
    """COPY text built in Python, as before the core built it."""
    from pi5trading.storage import postgres

    core = postgres._InsertSql.copy_payload
    postgres._InsertSql.copy_payload = postgres._InsertSql.copy_payload_python  # type: ignore[method-assign]
    try:
        yield
    finally:
        postgres._InsertSql.copy_payload = core  # type: ignore[method-assign]


def timed(fn: Callable[[], object]) -> list[float]:
    out = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def show(name: str, seconds: list[float], n: int) -> float:
    best, mean = min(seconds), statistics.mean(seconds)
    print(
        f"  {name:<34} {best / n * 1e6:>6.2f} µs/event best, {mean / n * 1e6:>6.2f} mean "
        f"({n / best:>9,.0f} events/s best)"
    )
    return best / n


async def main(args: argparse.Namespace) -> None:
    symbols = [f"S{k:02d}" for k in range(args.symbols)]
    items = events(args.symbols, args.bars)
    print(f"{now_utc()}, {load_average()}: {len(items):,} bars, {args.symbols} symbols, "
          f"{args.strategies} strategies")  # fmt: skip
    node_s = []
    tape = None
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        tape = await record(items, symbols, args.strategies)
        node_s.append(time.perf_counter() - t0)
    assert tape is not None
    payloads = [m for b in tape.batches for m in b if not isinstance(m, _core.Order)]
    n = len(payloads)
    print(f"{n:,} events published ({tape.missing} orders whose terms were already purged)")
    costs = {"node (stepping + publishing, tape only)": show("node", node_s, n)}

    def handlers() -> None:
        cache, metrics = MemoryLatestState(), NodeMetrics()
        for b in tape.batches:
            cache.on_messages(b)
            metrics.on_messages(b)

    costs["cache + metrics"] = show("cache + metrics (engine thread)", timed(handlers), n)
    everything = [m for b in tape.batches for m in b]
    records: list[Any] = []
    python_records: list[Any] = []

    def convert_python() -> None:
        python_records[:] = RecordConverter().convert_many(everything)

    def convert() -> None:
        # As the storage sink does it: bars, order events, orders, positions and equity
        # encoded by the core, the rest converted in Python.
        out: list[Any] = []
        converter = RecordConverter(core=True)
        for k in range(0, len(everything), 2000):
            for m in converter.encode(everything[k : k + 2000]):
                if type(m) is tuple or type(m) is EncodedRow:
                    out.append(m)
                else:
                    converter.convert_into(m, out)
        records[:] = out

    def messages_python() -> None:
        for m in payloads:
            if msg := to_message(m):
                ENCODER.encode(msg)

    def messages() -> None:
        # As Channels._send does it: bars', order and position events' topic and JSON
        # from the core.
        bar = _core.Bar
        for m in payloads:
            if type(m) is bar:
                _core.bar_message(m)
            elif (make := _CORE_MESSAGES.get(type(m))) is not None:
                make(m)
            elif msg := to_message(m):
                ENCODER.encode(msg)

    if args.python:
        show("conversion, Python reference", timed(convert_python), n)
    costs["conversion"] = show("conversion to records", timed(convert), n)
    if args.python:
        show("channel message, Python reference", timed(messages_python), n)
    costs["channel message"] = show("channel message (JSON)", timed(messages), n)
    print(f"  ({len(records):,} records from {n:,} events)")
    kinds = args.db.split(",")
    with postgres_or_none("postgres" in kinds) as cluster:
        for kind in kinds:
            seconds = []
            on_loop: list[float] = []
            for _ in range(ROUNDS):
                async with run_settings(kind, cluster, {}) as settings:
                    repo = await open_repository(settings)
                    try:
                        t0 = time.perf_counter()
                        loop0 = time.thread_time()
                        for k in range(0, len(records), BATCH):
                            await repo.write(records[k : k + BATCH])
                        seconds.append(time.perf_counter() - t0)
                        on_loop.append(time.thread_time() - loop0)
                    finally:
                        await repo.close()
            costs[f"write, {kind}"] = show(f"write {kind} (batches of {BATCH:,})", seconds, n)
            # What of it holds the event loop's thread (and so the GIL): the rest is the
            # driver's own thread (SQLite's step) or the server's process.
            show("  of which on the event loop's thread", on_loop, n)
            if args.python:
                seconds = []
                for _ in range(ROUNDS):
                    async with run_settings(kind, cluster, {}) as settings:
                        repo = await open_repository(settings)
                        try:
                            with python_copy_text():
                                t0 = time.perf_counter()
                                for k in range(0, len(python_records), BATCH):
                                    await repo.write(python_records[k : k + BATCH])
                                seconds.append(time.perf_counter() - t0)
                        finally:
                            await repo.close()
                show(f"write {kind}, Python reference", seconds, n)
    for kind in kinds:
        total = sum(v for k, v in costs.items() if not k.startswith("write") or kind in k)
        total_nc = total - costs["channel message"]
        print(
            f"sum on {kind}: {total * 1e6:.1f} µs/event = {1 / total:,.0f} events/s with one "
            f"client on everything; {total_nc * 1e6:.1f} µs = {1 / total_nc:,.0f} events/s "
            "without"
        )


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", default="sqlite,postgres")
    p.add_argument("--symbols", type=int, default=50)
    p.add_argument("--strategies", type=int, default=20)
    p.add_argument("--bars", type=int, default=2000, help="bars per symbol")
    p.add_argument(
        "--python",
        action="store_true",
        help="also time the Python reference paths (converter, to_message, COPY text) "
        "the core replaced on the hot path",
    )
    return p.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
