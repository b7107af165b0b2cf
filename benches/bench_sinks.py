"""The node's sinks: what recording, caching and publishing cost per event.

Workload: 100,000 real core payloads (quotes of 50 symbols, a trade every 7th step, a 1m bar
every 10th; tests/unit/sinks/market_data.py), built before timing.

- ``node side``: ``Bus.publish`` of each payload with the storage sink, the memory cache,
  channels (one client subscribed to everything) and metrics subscribed: the work the
  node's step pays per event (the storage sink only queues there).
- ``conversion``: ``RecordConverter`` alone, payloads to storage records.
- ``storage end to end``: publish, convert, batch and write every record (``EventWriter``,
  batches of 5,000) into SQLite or the private PostgreSQL cluster (tests/services.py,
  fsync off like the test fixtures), until the last row is committed; published from the
  event loop's thread, or from another thread as the node's engine thread does.

Run: ``.venv/bin/pytest benches/bench_sinks.py --benchmark-only -s``. Nothing here
asserts on time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.contract.databases import create_pg_database, migrate_sync, open_driver
from tests.services import PostgresServer
from tests.unit.sinks.market_data import market_data

from pi5trading.bus import Bus
from pi5trading.sinks.cache import MemoryLatestState
from pi5trading.sinks.channels import Channels
from pi5trading.sinks.metrics import NodeMetrics
from pi5trading.sinks.records import RecordConverter
from pi5trading.sinks.storage import StorageSink
from pi5trading.storage import EventWriter, Journal, SqlRepository

pytestmark = pytest.mark.benchmark

N = 100_000


@pytest.fixture(scope="module")
def messages() -> list[tuple[str, object]]:
    return list(market_data(N))


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    yield lp
    lp.close()


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    server = PostgresServer()
    try:
        server.start()
        _name, dsn = create_pg_database(server, "bench")
        migrate_sync("postgres", dsn)
        sqlite = str(tmp_path_factory.mktemp("bench") / "bench.db")
        migrate_sync("sqlite", sqlite)
        yield {"postgres": dsn, "sqlite": sqlite}
    finally:
        server.close()


def _report(benchmark: Any, label: str) -> None:
    mean, best = benchmark.stats.stats.mean, benchmark.stats.stats.min
    benchmark.extra_info["events_per_s_mean"] = round(N / mean)
    print(f"\n{label}: {N / mean:,.0f} events/s mean, {N / best:,.0f} best ({N:,} events)")


def test_conversion(benchmark: Any, messages: list[tuple[str, object]]) -> None:
    payloads = [m for _, m in messages]
    benchmark.pedantic(lambda: RecordConverter().convert_many(payloads), rounds=3)
    _report(benchmark, "RecordConverter")


def test_node_side(
    benchmark: Any, messages: list[tuple[str, object]], loop: asyncio.AbstractEventLoop
) -> None:
    async def run() -> None:
        bus = Bus()
        sink = StorageSink(EventWriter.__new__(EventWriter), None)  # type: ignore[arg-type]
        sink.subscribe(bus)  # queued only: never started, nothing written
        MemoryLatestState().subscribe(bus)
        channels = Channels(max_queue=N + 1)
        channels.subscribe_bus(bus)
        channels.subscribe(["data.>"])
        NodeMetrics().subscribe(bus)
        publish = bus.publish
        for topic, payload in messages:
            publish(topic, payload)

    benchmark.pedantic(lambda: loop.run_until_complete(run()), rounds=3)
    _report(benchmark, "node side: bus + storage queue + memory cache + 1 channel client + metrics")


@pytest.mark.parametrize("publisher", ["loop", "thread"])
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_storage_end_to_end(
    benchmark: Any,
    kind: str,
    publisher: str,
    messages: list[tuple[str, object]],
    targets: dict[str, str],
    loop: asyncio.AbstractEventLoop,
    tmp_path: Path,
) -> None:
    async def run() -> None:
        driver = await open_driver(kind, targets[kind])
        repo = SqlRepository(driver)
        async with driver.transaction() as conn:
            for t in ("quote_ticks", "trade_ticks", "bars"):
                await conn.execute(f"DELETE FROM {t}")
        writer = EventWriter(repo, Journal(tmp_path / f"j{time.time_ns()}"), batch_size=5000,
                             flush_interval=0.05)  # fmt: skip
        sink = StorageSink(writer, repo)
        bus = Bus()
        sink.subscribe(bus)
        await sink.start()
        if publisher == "thread":
            # As in the node: the bus is driven from the engine thread.
            def engine() -> None:
                for topic, payload in messages:
                    bus.publish(topic, payload)

            await asyncio.to_thread(engine)
        else:
            for i, (topic, payload) in enumerate(messages):
                bus.publish(topic, payload)
                if i % 1000 == 999:
                    await asyncio.sleep(0)
        await sink.close()
        assert writer.stats().written == N
        await repo.close()

    benchmark.pedantic(lambda: loop.run_until_complete(run()), rounds=2)
    _report(benchmark, f"storage sink end to end, {kind}, published from the {publisher}")
