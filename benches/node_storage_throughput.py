"""Trading node throughput with persistence and publishing on: 20 strategies on 50 symbols,
recorded bars fed as fast as the node takes them, every event the node publishes recorded
in SQLite or PostgreSQL, cached, fanned out to one channel client and counted by the
metrics, until the last row is committed. See docs/PERFORMANCE.md "Trading node,
persistence on".

    PYTHONPATH=python .venv/bin/python benches/node_storage_throughput.py \
        [--db sqlite,postgres] [--batch-size 1000,5000] [--runs 3] \
        [--symbols 50] [--strategies 20] [--bars 2000] [--redis] [--client all|none] \
        [--switch-interval 0.0005] [--backpressure]

PostgreSQL: a private cluster from the Debian binaries (as the tests start it: fsync off),
or the server at ``PI5_BENCH_PG_URL`` (a database per run is created and dropped there).
``--redis`` starts a private redis-server and sets ``PI5_REDIS__URL`` (cache and channels
in Redis). Other ``PI5_*`` variables in the environment apply to every run.

What is counted, per run:

- ``published``: every event the node published on its bus (a Rust counter on ``>``):
  bars, order lifecycle events (fills ride on them), positions, equity samples, strategy
  statuses. The storage sink subscribes to all of these topics, so each is also recorded.
- ``rows``: the records the writer committed (``EventWriter.stats().written``: bars, orders,
  order events, fills, position and equity snapshots); checked against ``SELECT count(*)``
  of ``bars`` and ``fills`` after the run.
- ``wall``: from just before the feed's first ``queue.send`` to the return of
  ``sinks.flush()`` after the node drained (the last row committed); ``node`` is the part
  until the node had stepped and published the last bar.
- ``CPU``: the process's CPU time over the same span (every thread: feed, engine, event
  loop, SQLite's; not the PostgreSQL server's). On a shared, loaded machine events per
  CPU-second move less than events per wall second: it is what the work costs, not how
  long it waited for a core.
- peaks sampled every 10 ms: RSS (and its growth over the run), the storage sink's backlog
  (payloads not yet handed to the writer) and the writer's buffer (records not yet
  committed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from node_databases import (
    PostgresCluster,
    Sampler,
    count_rows,
    load_average,
    now_utc,
    postgres_or_none,
    run_settings,
    thread_cpu,
)
from node_throughput import events, strategies
from pi5trading.bus import IngestQueue
from pi5trading.node import TradingNode
from pi5trading.sinks.wiring import open_sinks

MB = 1024 * 1024
RESULT = "RESULT "


class Replay:
    """Recorded bars, one ``queue.send`` per message as the package's feeds send them.

    With ``backlog`` (a gauge: events received by the storage sink and not yet written)
    and ``limit``, it waits while the gauge is above the limit, checked every 1,000
    messages: the backpressure the node does not apply yet."""

    name = "replay"

    def __init__(
        self,
        items: list[tuple[str, int, Any]],
        backlog: Callable[[], int] | None = None,
        limit: int = 0,
    ) -> None:
        self.items = items
        self.backlog = backlog
        self.limit = limit
        self.thread: threading.Thread | None = None

    async def start(self, queue: IngestQueue) -> None:
        backlog, limit = self.backlog, self.limit

        def send() -> None:
            for i, (topic, ts, bar) in enumerate(self.items):
                if backlog is not None and i % 1000 == 0:
                    while backlog() > limit:
                        time.sleep(0.001)
                queue.send(topic, ts, bar)

        self.thread = threading.Thread(target=send, name="bench-feed", daemon=True)
        self.thread.start()

    async def stop(self) -> None:
        pass


async def drain_client(sub: Any, got: list[int]) -> None:
    """A WebSocket client's reader: takes every message it is sent."""
    try:
        async for _ in sub:
            got[0] += 1
    except Exception as exc:  # dropped as a slow client: say so in the results
        got[1] = 1
        print(f"    channel client ended: {exc}")


async def one_run(
    kind: str,
    cluster: Any,
    overrides: dict[str, str],
    items: list[tuple[str, int, Any]],
    symbols: list[str],
    count: int,
    client: bool,
    backpressure: bool = False,
) -> dict[str, float]:
    async with run_settings(kind, cluster, overrides) as settings:
        node = TradingNode(
            settings=settings.node,
            clock="replay",
            risk="unlimited",
            starting_cash=Decimal(10**9),
        )
        for s in symbols:
            node.add_instrument(s)
        counted = node.bus.subscribe_counter(">")
        # Every fill rides on one of these; the engine's own fill log keeps only the latest
        # (a live node's memory bound), so it undercounts a long run.
        fill_counters = [
            node.bus.subscribe_counter(f"orders.{k}") for k in ("partially_filled", "filled")
        ]
        sinks = await open_sinks(settings, node.bus, order_lookup=node.engine.order)
        node.on_shutdown(sinks.close, "sinks")
        assert sinks.storage is not None
        storage = sinks.storage
        writer = storage.writer
        # One dashboard-like client subscribed to everything, reading as fast as it can.
        got = [0, 0]
        reader = None
        if client and sinks.channels is not None:
            sub = sinks.channels.subscribe([">"], max_queue=100_000)
            reader = asyncio.create_task(drain_client(sub, got))
        for st, syms in strategies(symbols, count):
            await node.add_strategy(st, symbols=syms)
        feed = (
            Replay(items, lambda: storage.backlog + len(writer._buffer), settings.sinks.backlog_max)
            if backpressure
            else Replay(items)
        )
        gauges = {
            "backlog": lambda: storage.backlog,
            "buffered": lambda: len(writer._buffer),
            "queue": lambda: len(node.queue),
        }
        await node.start(start_ts=items[0][1])
        with Sampler(gauges) as sampler:
            t0 = time.perf_counter()
            cpu0 = time.process_time()
            threads0 = thread_cpu()
            await feed.start(node.queue)
            assert feed.thread is not None
            await asyncio.to_thread(feed.thread.join)
            await node.drain()
            t_node = time.perf_counter() - t0
            await sinks.flush()
            wall = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
            threads1 = thread_cpu()
        by_thread = {k: v - threads0.get(k, 0.0) for k, v in threads1.items()}
        published = node.bus.counter(counted)
        fills = sum(node.bus.counter(c) for c in fill_counters)
        orders = node.engine.orders_routed
        stats = writer.stats()
        await node.stop()
        if reader is not None:
            reader.cancel()
        rows = await count_rows(settings, ("bars", "fills", "orders"))
        # The run is only a figure if everything published was stored.
        bars = len(items) if settings.sinks.record_bars else 0
        if rows["bars"] != bars or rows["fills"] != fills or stats.journaled:
            raise SystemExit(f"stored {rows}, journaled {stats.journaled}: expected "
                             f"{bars} bars and {fills} fills in the database")  # fmt: skip
    return {
        "published": published,
        "rows": stats.written,
        "fills": fills,
        "wall": wall,
        "node": t_node,
        "cpu": cpu,
        "events_cpu_s": published / cpu,
        "events_s": published / wall,
        "rows_s": stats.written / wall,
        "node_events_s": published / t_node,
        "rss_peak": sampler.peak["rss"] / MB,
        "rss_growth": (sampler.peak["rss"] - sampler.start_rss) / MB,
        "backlog": sampler.peak["backlog"],
        "buffered": sampler.peak["buffered"],
        "queue": sampler.peak["queue"],
        "client": got[0],
        "client_dropped": got[1],
        # Orders whose terms the sink could not look up (see docs/PERFORMANCE.md).
        "orders_missing": orders - rows["orders"],
        "orders_without_terms": storage.converter.orders_without_terms,
        # The busiest threads' CPU seconds: which one is the bottleneck (the GIL is one).
        "threads": ", ".join(
            f"{k} {v:.2f}"
            for k, v in sorted(by_thread.items(), key=lambda kv: -kv[1])[:5]
            if v >= 0.01
        ),
    }


def line(r: dict[str, float]) -> str:
    return (
        f"{r['events_s']:>9,.0f} events/s {r['rows_s']:>9,.0f} rows/s | "
        f"{r['published']:,.0f} published, {r['rows']:,.0f} rows, {r['fills']:,.0f} fills | "
        f"wall {r['wall']:.2f} s (node done at {r['node']:.2f} s: "
        f"{r['node_events_s']:,.0f} events/s) | CPU {r['cpu']:.2f} s "
        f"({r['events_cpu_s']:,.0f} events per CPU-second) | RSS peak {r['rss_peak']:.0f} MiB "
        f"(+{r['rss_growth']:.0f}) | peaks: sink backlog {r['backlog']:,.0f}, writer buffer "
        f"{r['buffered']:,.0f}, ingest queue {r['queue']:,.0f} | client got "
        f"{r['client']:,.0f}{' (DROPPED)' if r['client_dropped'] else ''} | orders rows "
        f"missing {r['orders_missing']:,.0f} (converter: {r['orders_without_terms']:,.0f} "
        f"without terms) | CPU by thread (s): {r['threads']}"
    )


class Warnings(logging.Handler):
    """Counts what the node and its sinks warned about during a run (e.g. an order whose
    terms were unknown to the storage sink, so its ``orders`` row is missing)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.first = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        self.first = self.first or record.getMessage()


async def child(args: argparse.Namespace) -> None:
    """One run in this process; prints its figures as one JSON line."""
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    symbols = [f"S{k:02d}" for k in range(args.symbols)]
    items = events(args.symbols, args.bars)
    warned = Warnings()
    logging.getLogger().addHandler(warned)
    case = {"PI5_DATABASE__BATCH_SIZE": args.batch_size}
    with PostgresCluster() if args.db == "postgres" else contextlib.nullcontext() as cluster:
        r = await one_run(
            args.db,
            cluster,
            case,
            items,
            symbols,
            args.strategies,
            args.client == "all",
            args.backpressure,
        )
    r["warnings"] = warned.count
    print(RESULT + json.dumps({**r, "first_warning": warned.first}))


def main(args: argparse.Namespace) -> None:
    """Each run in a fresh process (its RSS is its own), against one database server."""
    kinds = args.db.split(",")
    sizes = args.batch_size.split(",")
    print(
        f"{now_utc()}, {load_average()}: {args.symbols * args.bars:,} bars, {args.symbols} "
        f"symbols, {args.strategies} strategies, {args.runs} runs per case, channel client: "
        f"{args.client}, GIL switch interval "
        f"{args.switch_interval * 1000 if args.switch_interval else 5:g} ms"
    )
    env = dict(os.environ)
    with contextlib.ExitStack() as stack:
        if args.redis:
            from tests.services import RedisServer

            redis_server = RedisServer()
            stack.callback(redis_server.close)
            redis_server.start()
            env["PI5_REDIS__URL"] = redis_server.url
        cluster = stack.enter_context(postgres_or_none("postgres" in kinds))
        if cluster is not None:
            print(f"PostgreSQL: {cluster.what}")
            env["PI5_BENCH_PG_URL"] = cluster.admin_url
        for kind in kinds:
            for size in sizes:
                print(f"{kind}, batch size {size}{', Redis' if args.redis else ''}:")
                results = []
                for _ in range(args.runs):
                    cmd = [sys.executable, __file__, "--one", "--db", kind, "--batch-size", size]
                    cmd += ["--symbols", str(args.symbols), "--strategies", str(args.strategies)]
                    cmd += ["--bars", str(args.bars), "--client", args.client]
                    cmd += ["--switch-interval", str(args.switch_interval)]
                    cmd += ["--backpressure"] if args.backpressure else []
                    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
                    found = [x for x in out.stdout.splitlines() if x.startswith(RESULT)]
                    if out.returncode != 0 or not found:
                        raise SystemExit(f"run failed ({out.returncode}):\n{out.stderr[-3000:]}")
                    r = json.loads(found[0][len(RESULT) :])
                    results.append(r)
                    print("   ", line(r), f"| {load_average()}")
                    if r["warnings"]:
                        print(f"      {r['warnings']} warning(s), first: {r['first_warning']}")
                ev = [r["events_s"] for r in results]
                print(
                    f"  => {min(ev):,.0f} - {max(ev):,.0f} events/s "
                    f"(median {statistics.median(ev):,.0f})"
                )


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", default="sqlite,postgres")
    p.add_argument("--batch-size", default="1000,5000")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--symbols", type=int, default=50)
    p.add_argument("--strategies", type=int, default=20)
    p.add_argument("--bars", type=int, default=2000, help="bars per symbol")
    p.add_argument("--redis", action="store_true")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    p.add_argument(
        "--backpressure",
        action="store_true",
        help="the feed waits while the events not yet written (sink backlog + writer "
        "buffer) are above PI5_SINKS__BACKLOG_MAX",
    )
    p.add_argument(
        "--client",
        choices=["all", "none"],
        default="all",
        help="one channel client subscribed to everything (all) or no client (none)",
    )
    p.add_argument(
        "--switch-interval",
        type=float,
        default=0.0,
        help="sys.setswitchinterval (s) for the run; default: Python's (5 ms)",
    )
    return p.parse_args()


if __name__ == "__main__":
    arguments = parse()
    if arguments.one:
        asyncio.run(child(arguments))
    else:
        main(arguments)
