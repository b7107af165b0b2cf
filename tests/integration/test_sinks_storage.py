"""The storage writer sink against the real databases: a 100k-event burst on SQLite and
PostgreSQL (events/s printed), and a PostgreSQL outage mid-stream (journal, replay, nothing
lost or doubled)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio.to_thread
import pytest

from pi5trading.bus import Bus
from pi5trading.events import STRATEGY_STATUS, StrategyStatus
from pi5trading.orders import OrderEvent
from pi5trading.sinks.storage import StorageSink, restore_converter
from pi5trading.storage import EventWriter, Journal, SqlRepository
from pi5trading.storage.driver import Driver
from pi5trading.storage.postgres import PostgresDriver
from pi5trading.storage.repository import create_breaker
from pi5trading.storage.sqlite import SqliteDriver
from tests.contract.databases import create_pg_database, drop_pg_database, migrate_sync
from tests.services import PostgresServer
from tests.unit.sinks.engine_events import record_run
from tests.unit.sinks.market_data import market_data

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

TABLES = ("bars", "quote_ticks", "trade_ticks", "orders", "order_events", "fills",
          "position_snapshots", "equity_snapshots")  # fmt: skip


@pytest.fixture
def pg_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    name, dsn = create_pg_database(postgres_server, "sinks")
    try:
        migrate_sync("postgres", dsn)
        yield dsn
    finally:
        if not postgres_server.is_running():
            postgres_server.start()
        drop_pg_database(postgres_server, name)


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        path = str(tmp_path / "burst.db")
        migrate_sync("sqlite", path)
        return "sqlite", path
    return "postgres", request.getfixturevalue("pg_dsn")


@pytest.fixture
async def repo(target: tuple[str, str]) -> AsyncIterator[SqlRepository]:
    kind, where = target
    if kind == "sqlite":
        driver: Driver = await SqliteDriver.open(Path(where))
    else:
        driver = await PostgresDriver.open(where, min_size=1, max_size=2)
    repository = SqlRepository(driver, create_breaker())
    try:
        yield repository
    finally:
        await repository.close()


async def counts(repo: SqlRepository) -> dict[str, int]:
    out = {}
    async with repo.driver.connection() as conn:
        for t in TABLES:
            out[t] = int((await conn.fetch(f"SELECT count(*) FROM {t}"))[0][0])
    return out


def expected(messages: list[tuple[str, object]]) -> dict[str, int]:
    by_prefix = {
        "data.bars": "bars",
        "data.quotes": "quote_ticks",
        "data.trades": "trade_ticks",
        "positions": "position_snapshots",
        "account.equity": "equity_snapshots",
    }
    out = dict.fromkeys(TABLES, 0)
    for topic, payload in messages:
        for prefix, table in by_prefix.items():
            if topic.startswith(prefix):
                out[table] += 1
        if isinstance(payload, OrderEvent):
            out["order_events"] += 1
            out["fills"] += payload.fill is not None
    return out


async def test_a_burst_of_100k_events_is_written_in_batches(
    repo: SqlRepository, tmp_path: Path
) -> None:
    run = record_run(300)
    messages = list(market_data(100_000 - len(run.messages))) + run.messages
    assert len(messages) == 100_000
    writer = EventWriter(repo, Journal(tmp_path / "events.journal"), batch_size=5000,
                         flush_interval=0.05, max_buffer=100_000)  # fmt: skip
    sink = StorageSink(writer, repo)
    bus = Bus()
    sink.subscribe(bus)
    await sink.start()
    t0 = time.perf_counter()
    for i, (topic, payload) in enumerate(messages):
        bus.publish(topic, payload)
        if i % 1000 == 999:
            await asyncio.sleep(0)  # the node yields to the loop between steps
    published = time.perf_counter() - t0
    await sink.close()
    total = time.perf_counter() - t0
    stats = writer.stats()
    print(
        f"\n{repo.dialect}: 100,000 events published in {published:.2f} s "
        f"({100_000 / published:,.0f}/s on the node's side), all stored in {total:.2f} s "
        f"({100_000 / total:,.0f} events/s end to end), {stats.flushes} flushes"
    )
    assert stats.journaled == 0
    assert stats.rejected == 0
    want = expected(messages)
    want["orders"] = len(run.orders)
    assert await counts(repo) == want


async def test_postgres_outage_mid_stream_journal_then_replay(
    postgres_server: PostgresServer, pg_dsn: str, tmp_path: Path
) -> None:
    run = record_run(300)
    messages = list(market_data(6000)) + run.messages
    driver = await PostgresDriver.open(pg_dsn, min_size=1, max_size=2, connect_timeout=2)
    breaker = create_breaker(failure_threshold=3, reset_timeout=0.3)
    repo = SqlRepository(driver, breaker)
    journal = Journal(tmp_path / "events.journal")
    writer = EventWriter(repo, journal, batch_size=200, flush_interval=0.02, max_buffer=20_000)
    sink = StorageSink(writer, repo)
    bus = Bus()
    sink.subscribe(bus)
    third = len(messages) // 3
    try:
        await sink.start()
        for topic, payload in messages[:third]:
            bus.publish(topic, payload)
        await sink.flush()
        await anyio.to_thread.run_sync(postgres_server.stop)
        most_journaled = 0
        # A strategy fails while the database is down: its status waits and is retried.
        bus.publish(STRATEGY_STATUS, StrategyStatus(10**18, "trader", "failed", "boom"))
        for i, (topic, payload) in enumerate(messages[third : 2 * third]):
            bus.publish(topic, payload)
            if i % 200 == 0:
                await asyncio.sleep(0.005)
                most_journaled = max(most_journaled, journal.pending_events)
        for _ in range(500):
            await sink.flush()
            most_journaled = max(most_journaled, journal.pending_events)
            if breaker.snapshot().times_opened and not writer.stats().buffered:
                break
            await asyncio.sleep(0.02)
        assert breaker.snapshot().times_opened >= 1
        assert most_journaled > 0
        await anyio.to_thread.run_sync(postgres_server.start)
        for topic, payload in messages[2 * third :]:
            bus.publish(topic, payload)
        await sink.flush()
        assert await writer.drain(max_wait_s=120), writer.stats()
        stats = writer.stats()
    finally:
        await sink.close()
        journal.close()
        if not postgres_server.is_running():
            postgres_server.start()
    # The node restarts, restores the sink's state from storage and replays the tail it
    # cannot prove was stored: still stored once.
    journal2 = Journal(tmp_path / "events2.journal")
    sink2 = StorageSink(EventWriter(repo, journal2, batch_size=200), repo)
    restored = await restore_converter(repo, sink2.converter)
    assert restored.equity is not None
    bus2 = Bus()
    sink2.subscribe(bus2)
    await sink2.start()
    for topic, payload in messages[2 * third :]:
        bus2.publish(topic, payload)
    await sink2.close()
    journal2.close()
    assert stats.journaled > 0
    assert stats.replayed == stats.journaled
    assert stats.rejected == 0
    want = expected(messages)
    want["orders"] = len(run.orders)
    got = await counts(repo)
    strategy = await repo.get_strategy("trader")
    assert strategy is not None
    assert (strategy.status, strategy.updated_ns) == ("error", 10**18)
    fills = await repo.list_fills(strategy_id="trader", limit=10_000)
    await repo.close()
    assert got == want
    assert len(fills) == len({f.fill_id for f in fills}) == len(run.fills)
