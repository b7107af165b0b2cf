"""The feed base: reconnect with backoff and jitter, gaps and backfill, staleness, stats.

A test-only fake vendor plays scripted connections (messages, then a disconnect) through
``StreamFeed``, the way the Alpaca and Yahoo clients plug in.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pi5trading.bus import IngestQueue
from pi5trading.exceptions import InvalidInputError
from pi5trading.feeds.calendars import get_calendar
from pi5trading.feeds.feed import Backoff, FeedMessage, StreamFeed, Subscription
from pi5trading.model import Bar, QuoteTick
from tests.unit.feeds.collect import drain

MIN = 60 * 10**9
T0 = 1_767_364_200 * 10**9  # 2026-01-02 14:30 UTC = 09:30 New York, a Friday session


def bar(symbol: str, ts: int, close: str = "10.00", interval: str = "1m") -> Bar:
    return Bar(f"{symbol}-{interval}", close, close, close, close, 100, ts)


class FakeVendor:
    """Scripted connections: each a list of messages and exceptions; past the script the
    stream stays open and silent (a quiet market)."""

    def __init__(self, *script: list[Any]) -> None:
        self.script = list(script)
        self.opened: list[tuple[str, ...]] = []
        self.release = asyncio.Event()

    def connect(self, subs: Sequence[Subscription]) -> AsyncIterator[FeedMessage]:
        self.opened.append(tuple(sorted(s.symbol for s in subs)))
        return self._stream(self.script.pop(0) if self.script else None)

    async def _stream(self, step: list[Any] | None) -> AsyncIterator[FeedMessage]:
        if step is None:
            await self.release.wait()
            return
        for item in step:
            await asyncio.sleep(0)
            if isinstance(item, BaseException):
                raise item
            yield item


class History:
    def __init__(self, bars: list[Bar], fail: bool = False) -> None:
        self.bars = bars
        self.fail = fail
        self.asked: list[tuple[str, int, int, str]] = []

    async def history(self, symbol: str, start_ns: int, end_ns: int, interval: str) -> list[Bar]:
        self.asked.append((symbol, start_ns, end_ns, interval))
        if self.fail:
            raise TimeoutError("vendor history timed out")
        return self.bars


async def until(cond: Any) -> None:
    """Polls ``cond`` (the feed runs as a task on this loop) for up to five seconds."""
    async with asyncio.timeout(5.0):
        while not cond():  # noqa: ASYNC110
            await asyncio.sleep(0.001)


@pytest.mark.anyio
async def test_reconnects_with_jittered_backoff_and_backfills_a_gap() -> None:
    ts = [T0 + i * MIN for i in range(1, 8)]
    vendor = FakeVendor(
        [bar("AAPL", ts[0]), bar("AAPL", ts[1]), bar("AAPL", ts[2]), ConnectionResetError("peer")],
        [OSError("connect refused")],
        [bar("AAPL", ts[3]), bar("AAPL", ts[6])],  # 4 and 5 missing; then the stream ends
    )
    # The provider returns more than asked: only the two missing bars may go through.
    history = History([bar("AAPL", t, "11.00") for t in (ts[3], ts[4], ts[5], ts[6])])
    sleeps: list[float] = []
    feed = StreamFeed(
        "fake",
        vendor.connect,
        history=history,
        backoff=Backoff(initial_s=1.0, max_s=8.0),
        rng=random.Random(7),
        sleep=sleeps.append,
    )
    feed.subscribe(["AAPL"])
    queue = IngestQueue()
    await feed.start(queue)
    await until(lambda: feed.stats.reconnects == 3 and len(vendor.opened) == 4)
    await feed.stop()

    got = drain(queue)
    assert [b.ts_event for b in got.bars] == ts
    assert [str(b.close) for b in got.bars][4:6] == ["11.00", "11.00"]
    # Asked from the last bar's close: the first missing bar opens there.
    assert history.asked == [("AAPL", ts[3], ts[6], "1m")]
    assert [s.status for s in got.statuses] == [
        "connecting",
        "live",
        "reconnecting",
        "reconnecting",
        "live",
        "reconnecting",
        "closed",
    ]
    assert "ConnectionResetError: peer" in got.statuses[2].message
    assert "OSError: connect refused" in got.statuses[3].message
    # Attempt counts: 0 after a connection that delivered, 1 after one that did not.
    rng = random.Random(7)
    assert sleeps == [rng.uniform(0, 1.0), rng.uniform(0, 2.0), rng.uniform(0, 1.0)]
    s = feed.stats
    assert (s.messages, s.bars, s.gaps, s.missing_bars, s.backfilled_bars) == (7, 7, 1, 2, 2)
    assert (s.reconnects, s.errors, s.last_ts_event) == (3, 2, ts[6])
    # Status events never overtake data: each carries the feed's last data time.
    assert [st.ts for st in got.statuses][:3] == [0, 0, ts[2]]


class OpenTimeHistory:
    """A provider as the vendor clients are: bars whose *open* is in ``[start, end)``."""

    def __init__(self, bars: list[Bar]) -> None:
        self.bars = bars
        self.asked: list[tuple[str, int, int]] = []

    async def history(self, symbol: str, start_ns: int, end_ns: int, interval: str) -> list[Bar]:
        self.asked.append((symbol, start_ns, end_ns))
        return [
            b for b in self.bars if b.symbol == symbol and start_ns <= b.ts_event - MIN < end_ns
        ]


@pytest.mark.anyio
async def test_after_a_reconnect_every_symbol_is_caught_up_in_time_order_first() -> None:
    # Two symbols; the connection drops after minute 2 and comes back at minute 6 with a
    # quote first (as Alpaca sends a minute: quotes, then the bars at its close). The bars
    # of minutes 3-5 of both symbols come from the history before that quote, merged in
    # time order: backfilled one symbol at a time as each one's next bar came, the other's
    # would be older than what the queue had released, and lost as late.
    ts = [T0 + i * MIN for i in range(8)]
    away = [bar(s, t, "11.00") for t in ts[3:6] for s in ("AAPL", "MSFT")]
    vendor = FakeVendor(
        [bar("AAPL", ts[1]), bar("MSFT", ts[1]), bar("AAPL", ts[2]), bar("MSFT", ts[2]),
         ConnectionResetError("peer")],
        [QuoteTick("MSFT", "10.00", "10.02", 1, 1, ts[5] + 30 * 10**9),
         bar("AAPL", ts[6]), bar("MSFT", ts[6])],
    )  # fmt: skip
    history = OpenTimeHistory(away)
    feed = StreamFeed("fake", vendor.connect, history=history, sleep=lambda s: None)
    feed.subscribe(["AAPL", "MSFT"], quotes=True)
    queue = IngestQueue()
    await feed.start(queue)
    await until(lambda: feed.stats.bars == 12)
    await feed.stop()

    got = drain(queue)
    assert queue.stats()["dropped_late"] == 0
    for s in ("AAPL", "MSFT"):
        assert [b.ts_event for b in got.bars if b.symbol == s] == ts[1:7]
    stamps = [m.ts_event for m in got.all if isinstance(m, (Bar, QuoteTick))]
    assert stamps == sorted(stamps)
    # The first missing bar opens where the last one closed: asked from there.
    assert sorted(history.asked) == [
        ("AAPL", ts[2], ts[5] + 30 * 10**9),
        ("MSFT", ts[2], ts[5] + 30 * 10**9),
    ]
    s = feed.stats
    assert (s.gaps, s.missing_bars, s.backfilled_bars) == (2, 6, 6)


@pytest.mark.anyio
async def test_a_gap_is_backfilled_from_its_first_missing_bar() -> None:
    # A provider that goes by open time (the vendor clients): the bar opening where the
    # last one closed is the first missing one, and must be asked for.
    ts = [T0 + i * MIN for i in range(6)]
    vendor = FakeVendor([bar("AAPL", ts[1]), bar("AAPL", ts[4])])
    history = OpenTimeHistory([bar("AAPL", t, "11.00") for t in ts[1:6]])
    feed = StreamFeed("fake", vendor.connect, history=history, sleep=lambda s: None)
    feed.subscribe(["AAPL"])
    queue = IngestQueue()
    await feed.start(queue)
    await until(lambda: feed.stats.bars == 4)
    await feed.stop()
    assert [b.ts_event for b in drain(queue).bars] == ts[1:5]
    assert (feed.stats.missing_bars, feed.stats.backfilled_bars) == (2, 2)


@pytest.mark.anyio
async def test_a_failing_backfill_leaves_the_gap_counted_and_the_stream_running() -> None:
    vendor = FakeVendor([bar("AAPL", T0 + MIN), bar("AAPL", T0 + MIN), bar("AAPL", T0 + 5 * MIN)])
    feed = StreamFeed("fake", vendor.connect, history=History([], fail=True), sleep=lambda s: None)
    feed.subscribe(["AAPL"])
    queue = IngestQueue()
    await feed.start(queue)
    await until(lambda: feed.stats.reconnects == 1)
    await feed.stop()
    assert [b.ts_event for b in drain(queue).bars] == [T0 + MIN, T0 + 5 * MIN]
    assert (feed.stats.gaps, feed.stats.missing_bars, feed.stats.backfill_errors) == (1, 3, 1)
    assert (feed.stats.duplicates, feed.stats.dropped) == (1, 0)  # the repeat, not sent


@pytest.mark.anyio
async def test_gives_up_after_max_attempts_and_says_why() -> None:
    vendor = FakeVendor(*[[PermissionError("auth failed")] for _ in range(5)])
    feed = StreamFeed("fake", vendor.connect, backoff=Backoff(max_attempts=2), sleep=lambda s: None)
    feed.subscribe(["AAPL"])
    queue = IngestQueue()
    await feed.start(queue)
    await asyncio.wait_for(feed.wait(), 5)
    got = drain(queue)
    assert [s.status for s in got.statuses] == [
        "connecting",
        "reconnecting",
        "reconnecting",
        "failed",
    ]
    assert got.statuses[-1].message == "gave up after 2 attempts: PermissionError: auth failed"
    assert len(vendor.opened) == 3
    assert feed.status == "failed"


@pytest.mark.anyio
async def test_goes_stale_without_messages_and_live_on_the_next() -> None:
    now = [100.0]
    vendor = FakeVendor()
    quotes = asyncio.Queue[QuoteTick]()

    async def stream(subs: Sequence[Subscription]) -> AsyncIterator[FeedMessage]:
        while True:
            yield await quotes.get()

    feed = StreamFeed("fake", stream, stale_after_s=5.0, monotonic=lambda: now[0])
    feed.subscribe(["EURUSD"], bars=(), quotes=True)
    queue = IngestQueue()
    await feed.start(queue)
    await quotes.put(QuoteTick("EURUSD", "1.1000", "1.1002", 1, 1, T0))
    await until(lambda: feed.stats.quotes == 1)
    assert feed.stats.last_message_age() is not None
    assert feed.stats.last_message_age(now_mono=103.0) == 3.0
    now[0] = 104.9
    feed.check_staleness()
    assert feed.status == "live"
    now[0] = 105.0
    feed.check_staleness()
    feed.check_staleness()  # one stale period, however often it is checked
    assert feed.status == "stale"
    await quotes.put(QuoteTick("EURUSD", "1.1001", "1.1003", 1, 1, T0 + 1))
    await until(lambda: feed.stats.quotes == 2)
    assert feed.status == "live"
    await feed.stop()
    got = drain(queue)
    assert [s.status for s in got.statuses] == ["connecting", "live", "stale", "live", "closed"]
    assert got.statuses[2].message == "no message for 5s"
    assert feed.stats.stale_periods == 1
    assert vendor.opened == []


@pytest.mark.anyio
async def test_a_closed_market_is_not_stale_and_silence_counts_from_the_open() -> None:
    # NYSE: Friday 2024-01-05 closes 21:00 UTC; Monday 2024-01-08 opens 14:30 UTC.
    friday_close = int(dt.datetime(2024, 1, 5, 21, tzinfo=dt.UTC).timestamp()) * 10**9
    monday_open = int(dt.datetime(2024, 1, 8, 14, 30, tzinfo=dt.UTC).timestamp()) * 10**9
    mono, wall = [100.0], [friday_close - 10**9]
    quotes = asyncio.Queue[QuoteTick]()

    async def stream(subs: Sequence[Subscription]) -> AsyncIterator[FeedMessage]:
        while True:
            yield await quotes.get()

    def at(wall_ns: int) -> None:  # both clocks move on together
        mono[0] += (wall_ns - wall[0]) / 1e9
        wall[0] = wall_ns

    feed = StreamFeed(
        "fake", stream, stale_after_s=30.0, calendar=get_calendar("XNYS"),
        monotonic=lambda: mono[0], wall_ns=lambda: wall[0],
    )  # fmt: skip
    feed.subscribe(["AAPL"], bars=(), quotes=True)
    queue = IngestQueue()
    await feed.start(queue)
    await quotes.put(QuoteTick("AAPL", "100", "100.1", 1, 1, T0))  # the last before the close
    await until(lambda: feed.stats.quotes == 1)
    # The weekend: nothing comes, and that is not news.
    for later_s in (60, 3_600, 2 * 86_400):
        at(friday_close + later_s * 10**9)
        feed.check_staleness()
        assert feed.status == "live", later_s
    # Monday's open: silence counts from 14:30, not from Friday's last quote.
    at(monday_open + 29 * 10**9)
    feed.check_staleness()
    assert feed.status == "live"
    at(monday_open + 30 * 10**9)
    feed.check_staleness()
    assert feed.status == "stale"
    assert feed.stats.stale_periods == 1
    await feed.stop()


@pytest.mark.anyio
async def test_subscribing_reopens_the_stream_and_unsubscribed_data_is_dropped() -> None:
    vendor = FakeVendor(
        [bar("AAPL", T0 + MIN), bar("MSFT", T0 + MIN), QuoteTick("AAPL", "1", "2", 1, 1, T0)]
    )
    feed = StreamFeed("fake", vendor.connect, sleep=lambda s: None)
    feed.subscribe(["AAPL"])
    queue = IngestQueue()
    await feed.start(queue)
    await until(lambda: len(vendor.opened) == 2)  # script done, now silent
    feed.subscribe(["MSFT"], bars=("1m", "5m"))
    await until(lambda: len(vendor.opened) == 3)
    feed.unsubscribe(["AAPL"])
    await until(lambda: len(vendor.opened) == 4)
    await feed.stop()
    assert vendor.opened == [("AAPL",), ("AAPL",), ("AAPL", "MSFT"), ("MSFT",)]
    assert [b.symbol for b in drain(queue).bars] == ["AAPL"]
    assert feed.stats.dropped == 2  # MSFT bar and AAPL quote: not asked for
    assert feed.stats.reconnects == 1  # the end of the script; re-subscribing is not one


@pytest.mark.anyio
async def test_nights_weekends_and_holidays_are_not_gaps_with_a_calendar() -> None:
    nyse = get_calendar("XNYS")
    wed = nyse.session_on(dt.date(2026, 11, 25))
    fri = nyse.session_on(dt.date(2026, 11, 27))  # half day after Thanksgiving
    mon = nyse.session_on(dt.date(2026, 11, 30))
    assert wed
    assert fri
    assert mon
    assert fri.early_close
    seq = [
        wed.close_ns - MIN,
        wed.close_ns,
        fri.open_ns + MIN,  # Thursday is a holiday: no gap
        fri.close_ns,  # a gap: the rest of the half day
        mon.open_ns + 3 * MIN,  # a gap of two bars after the weekend
    ]
    vendor = FakeVendor([bar("AAPL", t) for t in seq])
    feed = StreamFeed("fake", vendor.connect, calendar=nyse, sleep=lambda s: None)
    feed.subscribe(["AAPL"])
    queue = IngestQueue()
    await feed.start(queue)
    await until(lambda: feed.stats.reconnects == 1)
    await feed.stop()
    half_day_minutes = (fri.close_ns - fri.open_ns) // MIN
    assert feed.stats.gaps == 2
    assert feed.stats.missing_bars == (half_day_minutes - 2) + 2


def test_backoff_grows_exponentially_to_its_cap() -> None:
    b = Backoff(initial_s=0.5, max_s=10.0, multiplier=2.0)
    assert [b.cap(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert b.cap(10_000) == 10.0


@given(
    attempt=st.integers(0, 10_000),
    seed=st.integers(0, 2**32),
    initial=st.floats(0.001, 5.0),
    extra=st.floats(0.0, 100.0),
)
def test_backoff_delay_is_full_jitter_within_the_cap(
    attempt: int, seed: int, initial: float, extra: float
) -> None:
    b = Backoff(initial_s=initial, max_s=initial + extra)
    d = b.delay(attempt, random.Random(seed))
    assert 0.0 <= d <= b.cap(attempt) <= b.max_s
    assert d == b.delay(attempt, random.Random(seed))  # seeded: reproducible


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_s": 0.0},
        {"initial_s": 5.0, "max_s": 1.0},
        {"multiplier": 0.5},
        {"max_attempts": 0},
    ],
)
def test_backoff_refuses_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError, match="invalid backoff"):
        Backoff(**kwargs)


def test_subscribe_refuses_bad_symbols_and_intervals() -> None:
    feed = StreamFeed("fake", FakeVendor().connect)
    with pytest.raises(InvalidInputError, match="invalid interval"):
        feed.subscribe(["AAPL"], bars=("1x",))
    with pytest.raises(InvalidInputError, match="invalid symbol: ' AAPL'"):
        feed.subscribe([" AAPL"])
    assert feed.subscriptions == {}


@pytest.mark.anyio
async def test_a_full_block_queue_slows_the_feed_without_blocking_the_loop() -> None:
    bars = [bar("AAPL", T0 + i * MIN) for i in range(1, 41)]
    vendor = FakeVendor(bars)
    feed = StreamFeed("fake", vendor.connect, sleep=lambda s: None)
    feed.subscribe(["AAPL"])
    queue = IngestQueue(capacity=4, policy="block")
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    beat = asyncio.create_task(heartbeat())
    await feed.start(queue)
    await until(lambda: len(queue) == 4)
    assert feed.stats.bars < 40  # waiting for room, not dropping
    before = ticks
    await asyncio.sleep(0.05)
    assert ticks > before  # the loop runs meanwhile
    got = drain(queue)
    while feed.stats.bars < 40:
        await asyncio.sleep(0.002)
        drain(queue, got)
    await feed.stop()
    beat.cancel()
    drain(queue, got)
    assert [b.ts_event for b in got.bars] == [b.ts_event for b in bars]
    assert queue.stats()["dropped_newest"] == 0


@pytest.mark.anyio
async def test_drop_newest_is_counted_and_a_closed_queue_ends_the_feed() -> None:
    vendor = FakeVendor([bar("AAPL", T0 + i * MIN) for i in range(1, 11)])
    feed = StreamFeed("fake", vendor.connect, sleep=lambda s: None)
    feed.subscribe(["AAPL"])
    queue = IngestQueue(capacity=3, policy="drop_newest")
    await feed.start(queue)
    await until(lambda: feed.stats.reconnects == 1)
    assert feed.stats.bars + feed.stats.dropped == 10
    assert feed.stats.dropped >= 7  # the two status events took room too
    await feed.stop()

    vendor = FakeVendor([bar("AAPL", T0 + i * MIN) for i in range(1, 11)])
    feed = StreamFeed("fake", vendor.connect, sleep=lambda s: None)
    feed.subscribe(["AAPL"])
    queue = IngestQueue()
    queue.close()
    await feed.start(queue)
    await asyncio.wait_for(feed.wait(), 5)
    assert not feed.running
    assert feed.stats.bars == 0
    assert len(vendor.opened) == 1  # ended, not reconnecting into a closed queue


@pytest.mark.anyio
async def test_intervals_the_vendor_does_not_stream_are_built_from_its_minutes() -> None:
    nyse = get_calendar("XNYS")
    day = nyse.session_on(dt.date(2026, 11, 25))
    assert day is not None
    minutes = [bar("AAPL", day.open_ns + i * MIN, str(10 + i)) for i in range(1, 11)]
    del minutes[6]  # 09:37 is missing: backfilled from history
    history = History([bar("AAPL", day.open_ns + 7 * MIN, "17")])
    vendor = FakeVendor(minutes)
    feed = StreamFeed(
        "fake",
        vendor.connect,
        history=history,
        calendar=nyse,
        native_bars=("1m",),
        sleep=lambda s: None,
    )
    feed.subscribe(["AAPL"], bars=("5m",))
    queue = IngestQueue()
    await feed.start(queue)
    await until(lambda: feed.stats.reconnects == 1)
    await feed.stop()
    # Only minutes are asked of the vendor; only five-minute bars reach the node.
    assert vendor.opened == [("AAPL",), ("AAPL",)]
    got = drain(queue).bars
    assert [(b.bar_type.interval, b.ts_event) for b in got] == [
        ("5m", day.open_ns + 5 * MIN),
        ("5m", day.open_ns + 10 * MIN),
    ]
    assert [(str(b.open), str(b.close), str(b.high)) for b in got] == [
        ("11", "15", "15"),
        ("16", "20", "20"),  # 17 from history
    ]
    assert feed.stats.backfilled_bars == 1


def test_an_interval_that_cannot_be_built_is_refused_before_anything_changes() -> None:
    feed = StreamFeed("fake", FakeVendor().connect, native_bars=("1m", "1h"))
    feed.subscribe(["AAPL"], bars=("1m", "15m"))
    with pytest.raises(InvalidInputError, match="fake streams 1m, 1h bars; '90s' cannot be"):
        feed.subscribe(["AAPL", "MSFT"], bars=("90s",))
    assert list(feed.subscriptions) == ["AAPL"]
    assert feed.subscriptions["AAPL"].bars == ("1m", "15m")


@pytest.mark.anyio
async def test_stop_never_hangs_on_a_full_queue_nobody_drains() -> None:
    vendor = FakeVendor([bar("AAPL", T0 + i * MIN) for i in range(1, 20)])
    feed = StreamFeed("fake", vendor.connect, sleep=lambda s: None)
    feed.subscribe(["AAPL"])
    queue = IngestQueue(capacity=2, policy="block")
    await feed.start(queue)
    await until(lambda: len(queue) == 2)
    await asyncio.wait_for(feed.stop(), 5)  # the engine has stopped draining
    assert feed.status == "closed"
    assert not feed.running


def _session_minutes() -> list[int]:
    nyse = get_calendar("XNYS")
    out = []
    for s in nyse.sessions(dt.date(2026, 11, 25), dt.date(2026, 11, 30)):  # a half day inside
        out.extend(range(s.open_ns + MIN, s.close_ns + 1, MIN))
    return out


SESSION_MINUTES = _session_minutes()


@settings(max_examples=40, deadline=None)
@given(st.sets(st.integers(0, len(SESSION_MINUTES) - 1), min_size=1, max_size=200))
def test_gaps_and_missing_bars_follow_the_session_minutes(present: set[int]) -> None:
    """Oracle: the sessions' minutes in order; what is absent between the first and last
    bar received is missing, each run of absent minutes one gap (a run may span a night)."""
    idx = sorted(present)
    span = range(idx[0], idx[-1] + 1)
    absent = [i for i in span if i not in present]
    runs = sum(1 for i in absent if i - 1 not in absent)

    async def main() -> StreamFeed:
        vendor = FakeVendor([bar("AAPL", SESSION_MINUTES[i]) for i in idx])
        feed = StreamFeed(
            "fake", vendor.connect, calendar=get_calendar("XNYS"), sleep=lambda s: None
        )
        feed.subscribe(["AAPL"])
        await feed.start(IngestQueue(capacity=1024))
        await until(lambda: feed.stats.reconnects == 1)
        await feed.stop()
        return feed

    feed = asyncio.run(main())
    assert feed.stats.missing_bars == len(absent)
    assert feed.stats.gaps == runs
    assert feed.stats.bars == len(idx)


@pytest.mark.anyio
@pytest.mark.parametrize("stamp", ["close", "midnight"])
async def test_daily_bars_miss_sessions_not_days(stamp: str) -> None:
    nyse = get_calendar("XNYS")
    days = [dt.date(2026, 11, d) for d in (24, 25, 27)] + [dt.date(2026, 12, 2)]
    stamps = []
    for d in days:
        s = nyse.session_on(d)
        assert s is not None
        midnight = int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp()) * 10**9
        stamps.append(s.close_ns if stamp == "close" else midnight + 86_400 * 10**9)
    vendor = FakeVendor([bar("SPY", t, interval="1d") for t in stamps])
    feed = StreamFeed("fake", vendor.connect, calendar=nyse, sleep=lambda s: None)
    feed.subscribe(["SPY"], bars=("1d",))
    await feed.start(IngestQueue())
    await until(lambda: feed.stats.reconnects == 1)
    await feed.stop()
    # Thanksgiving and the weekend are no gap; Monday 30th and Tuesday 1st are missing.
    assert (feed.stats.gaps, feed.stats.missing_bars, feed.stats.bars) == (1, 2, 4)


@pytest.mark.anyio
async def test_a_polled_bar_still_in_progress_waits_for_the_next_poll() -> None:
    now = [T0 + 2 * MIN + 30 * 10**9]  # 09:32:30
    first_poll = [bar("AAPL", T0 + MIN), bar("AAPL", T0 + 2 * MIN), bar("AAPL", T0 + 3 * MIN)]
    second_poll = [bar("AAPL", T0 + 2 * MIN), bar("AAPL", T0 + 3 * MIN, "10.50")]
    vendor = FakeVendor(first_poll, second_poll)
    feed = StreamFeed(
        "poll",
        vendor.connect,
        skip_unfinished_bars=True,
        wall_ns=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, T0 + 3 * MIN + 10**9),  # the next poll: 09:33:01
    )
    feed.subscribe(["AAPL"])
    queue = IngestQueue()
    await feed.start(queue)
    await until(lambda: feed.stats.reconnects == 2)
    await feed.stop()
    got = drain(queue).bars
    assert [(b.ts_event, str(b.close)) for b in got] == [
        (T0 + MIN, "10.00"),
        (T0 + 2 * MIN, "10.00"),
        (T0 + 3 * MIN, "10.50"),  # the finished bar, not the one seen in progress
    ]
    assert (feed.stats.unfinished, feed.stats.duplicates) == (1, 1)
