"""A real PostgreSQL outage in the middle of a stream of engine events.

The server of the session fixture is stopped while the writer is busy: the breaker must
open, events must go to the journal, and after the restart every event must be in the
database exactly once. The server is always left running for the tests after this one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio.to_thread
import asyncpg
import pytest

from pi5trading.resilience import BreakerState
from pi5trading.storage import (
    BarRow,
    DatabaseUnavailableError,
    EngineEvent,
    EventWriter,
    FillRow,
    Journal,
    OrderEventRow,
    SqlRepository,
)
from pi5trading.storage.postgres import PostgresDriver
from pi5trading.storage.repository import create_breaker
from tests.contract.databases import create_pg_database, drop_pg_database, migrate_sync
from tests.services import PostgresServer

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

T0 = 1_767_225_600_000_000_000


@pytest.fixture
def pg_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    name, dsn = create_pg_database(postgres_server, "outage")
    try:
        migrate_sync("postgres", dsn)
        yield dsn
    finally:
        if not postgres_server.is_running():
            postgres_server.start()
        drop_pg_database(postgres_server, name)


def event(i: int) -> EngineEvent:
    # A mix of event tables, so the replay crosses several of them in one transaction.
    if i % 10 == 0:
        return OrderEventRow(f"o{i}", 1, T0 + i, "created", detail={"i": i})
    if i % 10 == 1:
        return FillRow(f"f{i}", f"o{i - 1}", "s1", "AAPL.XNAS", "buy", Decimal("1.5"),
                    Decimal("100.01"), Decimal("0.01"), T0 + i)  # fmt: skip
    p = Decimal("100.000000001") + i
    return BarRow("AAPL.XNAS", "1m", T0 + i, p, p + 1, p - 1, p, Decimal(i))


async def _count(repo: SqlRepository) -> tuple[int, int, int, int]:
    async with repo.driver.connection() as conn:
        rows = await conn.fetch(
            "SELECT (SELECT count(*) FROM bars), (SELECT count(DISTINCT ts_ns) FROM bars),"
            " (SELECT count(*) FROM fills), (SELECT count(*) FROM order_events)"
        )
    return tuple(int(v) for v in rows[0])  # type: ignore[return-value]


async def test_outage_mid_stream_loses_nothing_and_duplicates_nothing(
    postgres_server: PostgresServer, pg_dsn: str, tmp_path: Path
) -> None:
    n = 3000
    driver = await PostgresDriver.open(pg_dsn, min_size=1, max_size=2, connect_timeout=2)
    breaker = create_breaker(failure_threshold=5, reset_timeout=0.3)
    transitions: list[tuple[BreakerState, BreakerState]] = []
    breaker.add_listener(lambda old, new: transitions.append((old, new)))
    repo = SqlRepository(driver, breaker)
    journal = Journal(tmp_path / "events.journal")
    writer = EventWriter(repo, journal, batch_size=50, flush_interval=0.02, max_buffer=500)
    most_journaled = 0
    read_error = ""
    try:
        await writer.start()
        for i in range(1000):
            await writer.submit(event(i))
            if i % 100 == 0:
                await asyncio.sleep(0.01)
        await writer.flush()

        await anyio.to_thread.run_sync(postgres_server.stop)
        for i in range(1000, 2000):
            await writer.submit(event(i))
            if i % 50 == 0:
                await asyncio.sleep(0.01)
                most_journaled = max(most_journaled, journal.pending_events)
        for _ in range(500):  # until the breaker has opened and the journal holds the rest
            await writer.flush()
            most_journaled = max(most_journaled, journal.pending_events)
            if breaker.snapshot().times_opened and not writer.stats().buffered:
                break
            await asyncio.sleep(0.02)
        assert breaker.snapshot().times_opened >= 1
        assert most_journaled > 0
        with pytest.raises(DatabaseUnavailableError) as err:
            await repo.count_bars("AAPL.XNAS", "1m")  # reads fail fast while it is down
        read_error = str(err.value)

        await anyio.to_thread.run_sync(postgres_server.start)
        for i in range(2000, n):
            await writer.submit(event(i))
        assert await writer.drain(max_wait_s=120), writer.stats()
        stats = writer.stats()
    finally:
        await writer.close()
        if not postgres_server.is_running():
            postgres_server.start()

    assert (BreakerState.CLOSED, BreakerState.OPEN) in transitions
    assert transitions[-1][1] is BreakerState.CLOSED
    assert "unavailable" in read_error
    assert stats.journaled > 0
    assert stats.replayed == stats.journaled
    assert stats.journal_pending == 0
    assert stats.rejected == 0
    assert journal.path.stat().st_size == 0

    bars, distinct_bars, fills, order_events = await _count(repo)
    await repo.close()
    assert bars == distinct_bars == 2400
    assert fills == 300
    assert order_events == 300


async def test_a_connection_lost_inside_a_transaction_is_an_outage(pg_dsn: str) -> None:
    # Found by the node's outage test (test_node_outages.py): the server gone in the middle
    # of a write surfaced as asyncpg's InterfaceError from the transaction's exit ("the
    # underlying connection is closed"), which the writer took for a refused batch.
    driver = await PostgresDriver.open(pg_dsn, min_size=1, max_size=2, connect_timeout=2)

    async def write_while_the_server_drops_us() -> None:
        async with driver.transaction() as conn:
            (pid,) = (await conn.fetch("SELECT pg_backend_pid()"))[0]
            other = await asyncpg.connect(pg_dsn)
            try:
                await other.execute("SELECT pg_terminate_backend($1)", pid)
            finally:
                await other.close()
            await conn.fetch("SELECT 1")

    # asyncpg reports the dropped socket a second time through the event loop's exception
    # handler ("unexpected connection_lost() call"), now and then, after the error we test
    # was raised: its own bookkeeping, not ours. Everything else still reaches the runner.
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def handler(lp: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, ConnectionError) and "connection_lost" in str(exc):
            return
        if previous is not None:
            previous(lp, context)
        else:
            lp.default_exception_handler(context)

    loop.set_exception_handler(handler)
    try:
        with pytest.raises(DatabaseUnavailableError):
            await write_while_the_server_drops_us()
    finally:
        await driver.close()
        loop.set_exception_handler(previous)
