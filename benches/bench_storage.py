"""Storage ingest throughput: bars/s into PostgreSQL (binary COPY) and SQLite.

Workload: 200,000 one-minute bars of one instrument (5 Decimal prices/volume each, built
before timing), written with ``SqlRepository.insert_bars`` — validation, encoding, staging
and ``INSERT … ON CONFLICT DO NOTHING`` included — into an empty, migrated table, in one
transaction. A re-ingest case measures the idempotent path (every bar already stored, as in
a journal replay). Another case feeds the same bars through ``EventWriter`` (batches of 5,000, one
transaction each), as the engine does. PostgreSQL is the private cluster from
tests/services.py (Debian binaries, fsync off like the test fixtures).

Run: ``make bench`` or ``.venv/bin/pytest benches/bench_storage.py --benchmark-only``.
Figures go to docs/PERFORMANCE.md ("Storage"). Nothing here asserts on time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.contract.databases import create_pg_database, migrate_sync, open_driver
from tests.services import PostgresServer

from pi5trading.storage import BarRow, EventWriter, Journal, SqlRepository
from pi5trading.storage.driver import Driver

pytestmark = pytest.mark.benchmark

N = 200_000
T0 = 1_767_225_600_000_000_000
MIN = 60_000_000_000


def make_bars(n: int) -> list[BarRow]:
    out = []
    for i in range(n):
        p = Decimal(10_000 + i % 5_000) / 100
        out.append(
            BarRow("AAPL.XNAS", "1m", T0 + i * MIN, p, p + 1, p - 1, p, Decimal(100 + i % 97))
        )
    return out


@pytest.fixture(scope="module")
def bars() -> list[BarRow]:
    return make_bars(N)


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


async def _truncate(driver: Driver) -> None:
    async with driver.transaction() as conn:
        await conn.execute("DELETE FROM bars")


def _report(benchmark: Any, label: str) -> None:
    mean = benchmark.stats.stats.mean
    best = benchmark.stats.stats.min
    benchmark.extra_info["rows"] = N
    benchmark.extra_info["rows_per_s_mean"] = round(N / mean)
    benchmark.extra_info["rows_per_s_best"] = round(N / best)
    print(f"\n{label}: {N / mean:,.0f} rows/s mean, {N / best:,.0f} rows/s best ({N} bars)")


@pytest.mark.parametrize("kind", ["postgres", "sqlite"])
def test_bar_ingest(
    benchmark: Any,
    kind: str,
    bars: list[BarRow],
    targets: dict[str, str],
    loop: asyncio.AbstractEventLoop,
) -> None:
    driver = loop.run_until_complete(open_driver(kind, targets[kind]))
    repo = SqlRepository(driver)
    inserted: list[int] = []

    def setup() -> None:
        loop.run_until_complete(_truncate(driver))

    def run() -> None:
        inserted.append(loop.run_until_complete(repo.insert_bars(bars)))

    try:
        benchmark.pedantic(run, setup=setup, rounds=3, iterations=1, warmup_rounds=0)
    finally:
        loop.run_until_complete(repo.close())
    assert inserted == [N] * len(inserted)
    _report(benchmark, f"bar ingest {kind} ({'COPY' if kind == 'postgres' else 'executemany'})")


def test_bar_reingest_postgres(
    benchmark: Any,
    bars: list[BarRow],
    targets: dict[str, str],
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Worst case of the idempotent path: every bar is already stored (a full replay), so
    the direct COPY fails and the staged INSERT … ON CONFLICT DO NOTHING runs instead."""
    driver = loop.run_until_complete(open_driver("postgres", targets["postgres"]))
    repo = SqlRepository(driver)
    loop.run_until_complete(_truncate(driver))
    loop.run_until_complete(repo.insert_bars(bars))
    inserted: list[int] = []

    def run() -> None:
        inserted.append(loop.run_until_complete(repo.insert_bars(bars)))

    try:
        benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=0)
    finally:
        loop.run_until_complete(repo.close())
    assert inserted == [0] * len(inserted)
    _report(benchmark, "bar re-ingest postgres, all duplicates (staged ON CONFLICT path)")


def test_event_writer_postgres(
    benchmark: Any,
    bars: list[BarRow],
    targets: dict[str, str],
    loop: asyncio.AbstractEventLoop,
    tmp_path: Path,
) -> None:
    driver = loop.run_until_complete(open_driver("postgres", targets["postgres"]))
    repo = SqlRepository(driver)

    async def feed() -> None:
        writer = EventWriter(
            repo, Journal(tmp_path / "j"), batch_size=5_000, flush_interval=0.05, max_buffer=50_000
        )
        async with writer:
            await writer.submit_many(bars)
        assert writer.stats().written == N

    run: Callable[[], None] = lambda: loop.run_until_complete(feed())  # noqa: E731
    try:
        benchmark.pedantic(
            run, setup=lambda: loop.run_until_complete(_truncate(driver)), rounds=3, iterations=1
        )
    finally:
        loop.run_until_complete(repo.close())
    _report(benchmark, "EventWriter -> postgres (batches of 5,000)")
