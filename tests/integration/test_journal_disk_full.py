"""The journal's disk full while PostgreSQL is away: the journal is on a 64 KiB tmpfs, so
it fills a few hundred events into the outage.

What must hold: the writer does not die or drop anything (what the journal cannot take
stays in memory, in order, and submitters wait once the buffer is full); it says so loudly
(one error line naming the journal, the state in ``stats()``); and once the database is
back everything, the journaled and the held, is stored exactly once and the journal is
empty again — even though the full disk cannot take the journal's offset file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio.to_thread
import pytest

from pi5trading.storage import EventWriter, Journal, SqlRepository
from pi5trading.storage.postgres import PostgresDriver
from pi5trading.storage.repository import create_breaker
from tests.integration.test_storage_outage import _count, event
from tests.services import PostgresServer

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (needs root, as CI runs; skipped with the reason otherwise)."""
    if os.geteuid() != 0:
        pytest.skip("SKIPPED, NOT TESTED: mounting a tmpfs needs root (CI runs as root)")
    where = tmp_path / "tiny"
    where.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        pytest.skip(f"SKIPPED, NOT TESTED: cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


async def test_a_full_journal_disk_holds_events_in_memory_and_loses_none(
    own_postgres: PostgresServer, tiny_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pi5trading.storage")
    n = 3000
    driver = await PostgresDriver.open(own_postgres.dsn, min_size=1, max_size=2, connect_timeout=2)
    breaker = create_breaker(failure_threshold=3, reset_timeout=0.3)
    repo = SqlRepository(driver, breaker)
    journal = Journal(tiny_disk / "events.journal")
    writer = EventWriter(repo, journal, batch_size=50, flush_interval=0.02, max_buffer=n)
    try:
        await writer.start()
        for i in range(500):
            await writer.submit(event(i))
        assert await writer.drain(max_wait_s=30)

        await anyio.to_thread.run_sync(own_postgres.stop)
        for i in range(500, n):
            await writer.submit(event(i))
        with contextlib.suppress(Exception):  # the flush fails while the disk is full
            for _ in range(200):
                await writer.flush()
        full = writer.stats()
        # Nothing dropped: what the journal holds plus what waits in memory is all of it.
        assert full.journal_pending > 0
        assert full.buffered > 0
        assert full.journal_pending + full.buffered == n - 500
        assert full.journal_error is not None
        assert "No space left on device" in full.journal_error
        shouted = [r for r in caplog.records if r.levelno >= logging.ERROR
                   and "cannot be written" in r.getMessage()]  # fmt: skip
        assert len(shouted) == 1, [r.getMessage() for r in caplog.records][-5:]
        assert str(journal.path) in shouted[0].getMessage()

        await anyio.to_thread.run_sync(own_postgres.start)
        assert await writer.drain(max_wait_s=60), writer.stats()
        stats = writer.stats()
    finally:
        await writer.close()
        journal.close()

    assert stats.journal_pending == 0
    assert stats.buffered == 0
    assert stats.rejected == 0
    assert stats.journal_error is None
    assert journal.path.stat().st_size == 0
    over = [r.getMessage() for r in caplog.records if "journal trouble over" in r.getMessage()]
    assert len(over) == 1, over
    bars, distinct_bars, fills, order_events = await _count(repo)
    await repo.close()
    assert bars == distinct_bars == n * 8 // 10
    assert fills == n // 10
    assert order_events == n // 10
