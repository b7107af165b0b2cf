"""The replay feed: frames, files and stored data in time order across symbols, paced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from pi5trading.bus import IngestQueue
from pi5trading.data.bars import BarFrame
from pi5trading.data.synthetic import random_walk_bars
from pi5trading.exceptions import InvalidInputError
from pi5trading.feeds.replay import (
    ReplayFeed,
    ReplaySource,
    file_source,
    frame_source,
    message_source,
    storage_bars,
    storage_quotes,
    storage_trades,
)
from pi5trading.model import Bar, QuoteTick
from pi5trading.storage import BarRow, QuoteTickRow, SqlRepository, TradeTickRow, create_breaker
from pi5trading.storage.migrate import migrate
from pi5trading.storage.sqlite import SqliteDriver
from tests.unit.feeds.collect import Collected, drain

MIN = 60 * 10**9
T0 = 1_767_364_200 * 10**9  # 2026-01-02 14:30 UTC


async def play(feed: ReplayFeed) -> Collected:
    queue = IngestQueue(capacity=1024)
    out = Collected()
    await feed.start(queue)
    async with asyncio.timeout(60):
        while feed.running:
            drain(queue, out)
            await asyncio.sleep(0)
    drain(queue, out)
    assert queue.stats()["dropped_late"] == 0
    return out


def frame(n: int, seed: int, start_ns: int) -> BarFrame:
    return BarFrame.from_columns(random_walk_bars(n, seed=seed, start_ns=start_ns), f"seed{seed}")


@pytest.mark.anyio
async def test_frames_merge_in_time_order_with_exact_values() -> None:
    a = frame(5000, 1, T0)  # one bar a minute from T0 + 1m
    b = frame(300, 2, T0 + 30 * 10**9)  # half a minute later
    feed = ReplayFeed([frame_source("AAPL", "1m", a), frame_source("MSFT", "1m", b)])
    got = await play(feed)
    ts = [m.ts_event for m in got.bars]
    assert ts == sorted(ts)
    assert len(got.bars) == 5300
    aapl = [m for m in got.bars if m.symbol == "AAPL"]
    assert [m.ts_event for m in aapl] == a.ts.tolist()
    assert [m.close.raw for m in aapl] == a.close_raw.tolist()
    assert [m.volume.raw for m in aapl] == a.volume_raw.tolist()
    assert all(m.bar_type.topic == "data.bars.AAPL.1m" for m in aapl)
    assert [s.status for s in got.statuses] == ["live", "closed"]
    assert got.statuses[-1].message == "replay finished: 5300 events"
    assert feed.stats.bars == 5300


@pytest.mark.anyio
async def test_a_file_is_read_exactly_and_stamped_at_the_close(tmp_path: Path) -> None:
    path = tmp_path / "aapl.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2026-01-02T14:30:00Z,187.125,187.30,186.90,187.10,1200.5\n"
        "2026-01-02T14:31:00Z,187.10,187.20,187.00,187.15,800\n"
    )
    got = await play(ReplayFeed([file_source("AAPL", "1m", path)]))
    assert [(b.ts_event, str(b.open), str(b.volume)) for b in got.bars] == [
        (T0 + MIN, "187.125", "1200.5"),
        (T0 + 2 * MIN, "187.100", "800.0"),
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close\n2026-01-02T14:30:00Z,1,0.5,0.9,1\n")
    with pytest.raises(InvalidInputError, match=r"bad\.csv: line 2"):
        file_source("AAPL", "1m", bad)


@pytest.mark.anyio
async def test_stored_bars_quotes_and_trades_page_by_page(tmp_path: Path) -> None:
    driver = await SqliteDriver.open(tmp_path / "replay.db")
    try:
        await migrate(driver)
        repo = SqlRepository(driver, create_breaker(5, 30.0))
        bars = [
            BarRow(
                "SPY.ARCX",
                "1m",
                T0 + i * MIN,
                Decimal("590.01") + i,
                Decimal(600) + i,
                Decimal("580.5") + i,
                Decimal(590) + i,
                Decimal(1000 + i),
            )
            for i in range(25)
        ]
        # Five quotes share each timestamp: pages must not split or repeat them.
        quotes = [
            QuoteTickRow(
                "SPY",
                T0 + (i // 5) * 10**9,
                i,
                Decimal("590.00"),
                Decimal("590.01") + i,
                Decimal(100),
                Decimal(i + 1),
            )
            for i in range(23)
        ]
        trades = [
            TradeTickRow(
                "SPY",
                T0 + i * 10**9 + 1,
                f"t{i}",
                Decimal("590.02"),
                Decimal(i + 1),
                "buy" if i % 2 else "sell",
            )
            for i in range(7)
        ]
        await repo.write([*bars, *quotes, *trades])
        end = T0 + 3600 * 10**9
        feed = ReplayFeed(
            [
                storage_bars(repo, "SPY", "1m", page=4, instrument_id="SPY.ARCX"),
                storage_quotes(repo, "SPY", T0, end, page=3),
                storage_trades(repo, "SPY", T0, end, page=2),
            ]
        )
        got = await play(feed)
    finally:
        await driver.close()
    assert [b.ts_event for b in got.bars] == [r.ts_ns + MIN for r in bars]
    assert {b.symbol for b in got.bars} == {"SPY"}  # stored as SPY.ARCX, traded as SPY
    assert [b.open.as_decimal() for b in got.bars] == [r.open for r in bars]
    assert [q.ask_size.as_decimal() for q in got.quotes] == [r.ask_size for r in quotes]
    assert [(t.trade_id, t.aggressor_side) for t in got.trades][:2] == [
        ("t0", "SELLER"),
        ("t1", "BUYER"),
    ]
    assert len(got.trades) == 7
    ts = [m.ts_event for m in got.all if not hasattr(m, "feed")]
    assert ts == sorted(ts)


@pytest.mark.anyio
async def test_subscriptions_pick_sources_and_ties_keep_source_order() -> None:
    def quotes(symbol: str) -> list[QuoteTick]:
        return [QuoteTick(symbol, "1.00", "1.01", 1, 1, T0 + i) for i in range(3)]

    feed = ReplayFeed(
        [
            message_source("B", quotes("B")),
            message_source("A", quotes("A")),
            message_source("C", quotes("C")),
        ]
    )
    feed.subscribe(["A", "B"], bars=(), quotes=True)
    got = await play(feed)
    assert [q.symbol for q in got.quotes] == ["B", "A"] * 3


@pytest.mark.anyio
async def test_a_source_out_of_time_order_is_skipped_and_counted() -> None:
    bars = [Bar("X-1m", "1", "1", "1", "1", 1, T0 + k * MIN) for k in (1, 2, 1, 3)]
    feed = ReplayFeed([message_source("X", bars)])
    got = await play(feed)
    assert [b.ts_event for b in got.bars] == [T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]
    assert feed.out_of_order == 1


@pytest.mark.anyio
async def test_speed_paces_replay_and_long_pauses_are_cut() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    ts = [T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN, T0 + 18 * 3600 * 10**9]  # then a night
    bars = [Bar("X-1m", "1", "1", "1", "1", 1, t) for t in ts]
    feed = ReplayFeed(
        [message_source("X", bars)],
        speed=30.0,
        max_wait_s=5.0,
        monotonic=lambda: now[0],
        sleep=sleep,
    )
    got = await play(feed)
    assert len(got.bars) == 4
    assert waits == pytest.approx([2.0, 2.0, 5.0])


@pytest.mark.anyio
async def test_a_failing_source_fails_the_feed_with_the_reason() -> None:
    async def broken() -> AsyncIterator[Bar]:
        yield Bar("X-1m", "1", "1", "1", "1", 1, T0 + MIN)
        raise OSError("disk gone")

    feed = ReplayFeed([ReplaySource("X", broken)])
    got = await play(feed)
    assert [s.status for s in got.statuses] == ["live", "failed"]
    assert got.statuses[-1].message == "OSError: disk gone"
    assert len(got.bars) == 1


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="invalid speed"):
        ReplayFeed([], speed=-1.0)
    with pytest.raises(InvalidInputError, match="invalid max_wait_s"):
        ReplayFeed([], max_wait_s=0)
