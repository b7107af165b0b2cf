"""The batched writer against a real SQLite database (PostgreSQL: tests/integration)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from pi5trading.storage import EventWriter, Journal, SqlRepository, create_breaker
from pi5trading.storage.migrate import migrate
from pi5trading.storage.records import BarRow, EngineEvent, FillRow
from pi5trading.storage.sqlite import SqliteDriver

pytestmark = pytest.mark.anyio


def bars(start: int, n: int) -> list[EngineEvent]:
    return [
        BarRow("AAPL.XNAS", "1m", i, Decimal(i), Decimal(i + 1), Decimal(i), Decimal(i), Decimal(1))
        for i in range(start, start + n)
    ]


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[SqlRepository]:
    driver = await SqliteDriver.open(tmp_path / "w.db")
    await migrate(driver)
    r = SqlRepository(driver, create_breaker())
    try:
        yield r
    finally:
        await r.close()


async def test_flushes_by_size_and_by_interval(repo: SqlRepository, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j")
    async with EventWriter(repo, journal, batch_size=100, flush_interval=0.05) as w:
        await w.submit_many(bars(0, 250))
        # 200 go out because the buffer reached batch_size; the last 50 on the interval tick.
        for _ in range(200):
            if await repo.count_bars("AAPL.XNAS", "1m") == 250:
                break
            await asyncio.sleep(0.02)
        assert await repo.count_bars("AAPL.XNAS", "1m") == 250
        stats = w.stats()
        assert (stats.written, stats.journaled, stats.buffered) == (250, 0, 0)


async def test_close_flushes_everything(repo: SqlRepository, tmp_path: Path) -> None:
    w = EventWriter(repo, Journal(tmp_path / "j"), batch_size=1000, flush_interval=60)
    await w.start()
    await w.submit_many(bars(0, 10))
    await w.close()
    assert await repo.count_bars("AAPL.XNAS", "1m") == 10
    with pytest.raises(RuntimeError, match="closed"):
        await w.submit(bars(10, 1)[0])


async def test_a_journal_left_by_an_earlier_run_is_replayed_once(
    repo: SqlRepository, tmp_path: Path
) -> None:
    path = tmp_path / "events.journal"
    left = Journal(path)
    left.append(bars(0, 30))
    left.append(bars(20, 30))  # overlaps: a batch that was both committed and journaled
    left.close()
    async with EventWriter(repo, Journal(path), batch_size=10, flush_interval=0.01) as w:
        await w.submit_many(bars(100, 5))
        assert await w.drain(max_wait_s=30)
        assert w.stats().replayed == 60
    got = await repo.get_bars("AAPL.XNAS", "1m")
    assert [b.ts_ns for b in got] == [*range(50), *range(100, 105)]
    assert path.stat().st_size == 0


async def test_full_buffer_makes_submitters_wait_instead_of_dropping(
    repo: SqlRepository, tmp_path: Path
) -> None:
    w = EventWriter(repo, Journal(tmp_path / "j"), batch_size=10, flush_interval=60, max_buffer=20)
    await w.start()
    await w.submit_many(bars(0, 500))  # would never return if the full buffer were not flushed
    await w.close()
    assert await repo.count_bars("AAPL.XNAS", "1m") == 500


async def test_refused_events_are_set_aside_and_the_rest_is_written(
    repo: SqlRepository, tmp_path: Path
) -> None:
    bad = FillRow("f1", "o1", "s1", "AAPL.XNAS", "hold", Decimal(1), Decimal(1), Decimal(0), 1)
    journal = Journal(tmp_path / "events.journal")
    async with EventWriter(repo, journal, batch_size=100, flush_interval=60) as w:
        await w.submit_many([*bars(0, 5), bad, *bars(5, 5)])
        await w.flush()
        assert w.stats().rejected == 1
    assert await repo.count_bars("AAPL.XNAS", "1m") == 10
    lines = (tmp_path / "events.journal.rejected").read_bytes().splitlines()
    assert len(lines) == 1
    assert msgspec.json.decode(lines[0])["event"]["fill_id"] == "f1"


async def test_events_stay_buffered_when_the_journal_cannot_be_written(
    repo: SqlRepository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert repo.breaker is not None
    for _ in range(5):  # the database is "down": batches must go to the journal
        repo.breaker.record_failure(ConnectionError("down"))
    journal = Journal(tmp_path / "events.journal")
    w = EventWriter(repo, journal, batch_size=10, flush_interval=60)
    await w.submit_many(bars(0, 25))
    with monkeypatch.context() as m:

        def disk_full(events: object) -> None:
            raise OSError(28, "No space left on device")

        m.setattr(journal, "append", disk_full)
        with pytest.raises(OSError, match="No space left"):
            await w.flush()
        assert w.stats().buffered == 25
    await w.flush()
    assert (w.stats().buffered, journal.pending_events) == (0, 25)
    repo.breaker.record_success()  # the database is back
    assert await w.drain(max_wait_s=30)
    assert await repo.count_bars("AAPL.XNAS", "1m") == 25
