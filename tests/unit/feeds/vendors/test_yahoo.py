"""Yahoo Finance client against the chart endpoint stand-in."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from pi5trading.config import YahooSettings
from pi5trading.events import FeedStatus
from pi5trading.feeds.vendor import (
    RateLimitedError,
    VendorDataError,
    VendorUnavailableError,
)
from pi5trading.feeds.yahoo import YahooClient, YahooPoller
from pi5trading.model import Bar, Instrument
from tests.standins.server import serve
from tests.standins.tape import bars_between, cents, utc
from tests.standins.yahoo import YahooStandin, is_null_row

NS = 10**9
pytestmark = pytest.mark.anyio


class Sleeps:
    """Records the waits instead of waiting (time is not what these tests are about)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client(base: str, sleeps: Sleeps | None = None, retries: int = 3) -> YahooClient:
    return YahooClient(
        YahooSettings(base_url=base, max_retries=retries, timeout_s=5),
        sleep=sleeps or Sleeps(),
    )


def expected(symbol: str, start: int, end: int, seconds: int = 60) -> list[tuple[object, ...]]:
    return [
        (b.ts + seconds, cents(b.open), cents(b.high), cents(b.low), cents(b.close), b.volume)
        for b in bars_between(symbol, start, end, seconds)
        if not is_null_row(b.ts)
    ]


def seen(bars: list[Bar]) -> list[tuple[object, ...]]:
    return [
        (
            b.ts_event // NS,
            b.open.as_decimal(),
            b.high.as_decimal(),
            b.low.as_decimal(),
            b.close.as_decimal(),
            int(b.volume.as_decimal()),
        )
        for b in bars
    ]


async def test_minute_history_is_exact_cents_across_chunks() -> None:
    stand = YahooStandin()
    start, end = utc("2024-01-02T00:00"), utc("2024-01-20T00:00")
    with serve(stand.app) as base:
        async with client(base) as yahoo:
            bars = await yahoo.history("AAPL", start * NS, end * NS, "1m")
            skipped = yahoo.skipped_rows
    assert seen(bars) == expected("AAPL", start, end)
    assert all(b.open.precision == 2 and b.bar_type.interval == "1m" for b in bars)
    assert skipped > 0  # the stand-in's null rows were dropped, not turned into zeros
    # Yahoo's 8-day cap on 1m requests: the range went in 7-day chunks.
    assert len(stand.requests) == 3
    assert all(int(r["period2"]) - int(r["period1"]) <= 7 * 86_400 for r in stand.requests)


async def test_prices_round_half_even_to_a_coarser_tick() -> None:
    stand = YahooStandin()
    nickel = Instrument("SPY", "ARCX", "ETF", "USD", tick_size="0.05", lot_size="1")
    start, end = utc("2024-01-03T14:30"), utc("2024-01-03T16:00")
    with serve(stand.app) as base:
        async with client(base) as yahoo:
            bars = await yahoo.history(nickel, start * NS, end * NS, "1m")
    raw = [b for b in bars_between("SPY", start, end) if not is_null_row(b.ts)]
    assert [b.close.as_decimal() for b in bars] == [
        (cents(r.close) / Decimal("0.05")).quantize(Decimal(1), "ROUND_HALF_EVEN") * Decimal("0.05")
        for r in raw
    ]


async def test_daily_bars_are_stamped_at_their_session_date() -> None:
    stand = YahooStandin()
    with serve(stand.app) as base:
        async with client(base) as yahoo:
            bars = await yahoo.history(
                "MSFT", utc("2024-01-02T00:00") * NS, utc("2024-01-06T00:00") * NS, "1d"
            )
    days = [dt.datetime.fromtimestamp(b.ts_event // NS - 86_400, dt.UTC) for b in bars]
    assert [d.date().isoformat() for d in days] == [
        "2024-01-02",
        "2024-01-03",
        "2024-01-04",
        "2024-01-05",
    ]
    assert all(d.hour == 0 and d.minute == 0 for d in days)
    minutes = bars_between("MSFT", utc("2024-01-02T00:00"), utc("2024-01-03T00:00"))
    assert bars[0].high.as_decimal() == cents(max(b.high for b in minutes))
    assert int(bars[0].volume.as_decimal()) == sum(b.volume for b in minutes)


async def test_unknown_symbol_and_interval_are_clear_errors() -> None:
    with serve(YahooStandin().app) as base:
        async with client(base) as yahoo:
            with pytest.raises(
                VendorDataError,
                match=r"GET /v8/finance/chart/NOPE: HTTP 404 "
                r"Not Found: No data found, symbol may be delisted",
            ):
                await yahoo.history("NOPE", 0, 86_400 * NS, "1d")
            with pytest.raises(VendorDataError, match="interval '7m' is not offered"):
                await yahoo.history("AAPL", 0, 86_400 * NS, "7m")


@pytest.mark.parametrize("fault", ["429", "503", "cut"])
async def test_throttle_outage_and_cut_answers_are_retried(fault: str) -> None:
    stand = YahooStandin()
    stand.faults.extend([fault, fault])
    sleeps = Sleeps()
    start, end = utc("2024-01-02T14:30"), utc("2024-01-02T15:30")
    with serve(stand.app) as base:
        async with client(base, sleeps) as yahoo:
            bars = await yahoo.history("AAPL", start * NS, end * NS, "1m")
    assert seen(bars) == expected("AAPL", start, end)
    assert len(stand.requests) == 3
    assert len(sleeps.waits) == 2
    if fault == "429":
        assert sleeps.waits == [1.0, 1.0]  # Retry-After honoured


async def test_persistent_failures_end_in_a_typed_error() -> None:
    stand = YahooStandin()
    stand.faults.extend(["503"] * 5)
    with serve(stand.app) as base:
        async with client(base, retries=2) as yahoo:
            with pytest.raises(VendorUnavailableError, match=r"HTTP 503.*after 3 attempt"):
                await yahoo.history("AAPL", 0, 86_400 * NS, "1d")
    assert len(stand.requests) == 3
    stand.faults.clear()
    stand.faults.extend(["429"] * 5)
    with serve(stand.app) as base:
        async with client(base, retries=1) as yahoo:
            with pytest.raises(RateLimitedError, match="HTTP 429"):
                await yahoo.history("AAPL", 0, 86_400 * NS, "1d")


@pytest.mark.parametrize("fault", ["malformed", "truncated"])
async def test_unreadable_answers_are_data_errors(fault: str) -> None:
    stand = YahooStandin()
    stand.faults.append(fault)
    with serve(stand.app) as base:
        async with client(base) as yahoo:
            with pytest.raises(VendorDataError, match=r"unreadable answer \(HTTP 200"):
                await yahoo.history(
                    "AAPL", utc("2024-01-02T14:30") * NS, utc("2024-01-02T15:30") * NS, "1m"
                )


async def test_poller_yields_each_completed_bar_once() -> None:
    now = utc("2024-01-02T15:00") + 30  # mid-minute: the 15:00 bar is in progress
    stand = YahooStandin(now=now)
    clock = [float(now)]
    sleeps = Sleeps()
    with serve(stand.app) as base:
        async with client(base) as yahoo:
            poller = YahooPoller(
                yahoo, ["AAPL"], "1m", lookback_bars=3, clock=lambda: clock[0], sleep=sleeps
            )
            await poller.connect()
            first = await poller.poll()
            # Nothing new within the same minute.
            assert await poller.poll() == []
            stand.now = now + 125
            clock[0] = float(now + 125)
            later = await poller.poll()
            await poller.close()
            assert len(later) == 2
    opens = [b.ts_event // NS - 60 for b in first + later]
    assert opens == sorted(set(opens))
    assert opens[-1] == utc("2024-01-02T15:01")
    assert utc("2024-01-02T15:00") in opens
    assert seen(first + later) == [
        e for e in expected("AAPL", opens[0], opens[-1] + 60) if e[0] - 60 in opens
    ]


async def test_poller_survives_a_throttled_poll() -> None:
    now = utc("2024-01-02T15:00")
    stand = YahooStandin(now=now)
    stand.faults.extend(["429"] * 3)
    statuses: list[FeedStatus] = []
    with serve(stand.app) as base:
        async with client(base, retries=0) as yahoo:
            poller = YahooPoller(
                yahoo,
                ["AAPL"],
                "1m",
                clock=lambda: float(now),
                sleep=Sleeps(),
                on_status=statuses.append,
            )
            await poller.connect()
            assert await poller.poll() == []
            assert poller.failed_polls == 1
            stand.faults.clear()
            bar = await poller.__anext__()
            await poller.close()
    assert bar.ts_event // NS == now
    assert [x.status for x in statuses] == ["live", "reconnecting", "live", "closed"]
    assert "HTTP 429" in statuses[1].message


async def test_latest_delayed_price_on_the_tick() -> None:
    now = utc("2024-01-02T16:00") + 10
    stand = YahooStandin(now=now)
    with serve(stand.app) as base:
        yahoo = YahooClient(YahooSettings(base_url=base), clock=lambda: float(now))
        latest = await yahoo.latest("AAPL")
        await yahoo.close()
    in_progress = bars_between("AAPL", now - 10, now + 1)[0]
    assert latest.symbol == "AAPL"
    assert latest.price.as_decimal() == cents(in_progress.close)
    assert latest.ts == now * NS


async def test_poller_subscribe_and_unsubscribe() -> None:
    now = utc("2024-01-02T15:00")
    stand = YahooStandin(now=now)
    clock = [float(now)]
    with serve(stand.app) as base:
        async with client(base) as yahoo:
            poller = YahooPoller(yahoo, ["AAPL"], "1m", clock=lambda: clock[0], sleep=Sleeps())
            await poller.connect()
            assert {b.symbol for b in await poller.poll()} == {"AAPL"}
            await poller.subscribe(["MSFT", "AAPL"])
            await poller.unsubscribe(["AAPL"])
            stand.now = now + 60
            clock[0] = float(now + 60)
            bars = await poller.poll()
    assert [b.symbol for b in bars] == ["MSFT"]
    assert [r["symbol"] for r in stand.requests] == ["AAPL", "MSFT"]


async def test_a_retry_after_beyond_two_minutes_is_raised_at_once() -> None:
    stand = YahooStandin()
    stand.retry_after = "3600"
    stand.faults.append("429")
    sleeps = Sleeps()
    with serve(stand.app) as base:
        async with client(base, sleeps) as yahoo:
            with pytest.raises(RateLimitedError, match="HTTP 429") as err:
                await yahoo.history("AAPL", 0, 86_400 * NS, "1d")
    assert err.value.retry_after_s == 3600
    assert sleeps.waits == []
    assert len(stand.requests) == 1


async def test_poller_raises_a_wrong_symbol_and_says_failed() -> None:
    now = utc("2024-01-02T15:00")
    stand = YahooStandin(now=now)
    statuses: list[FeedStatus] = []
    with serve(stand.app) as base:
        async with client(base) as yahoo:
            poller = YahooPoller(
                yahoo, ["NOPE"], "1m", clock=lambda: float(now), on_status=statuses.append
            )
            await poller.connect()
            with pytest.raises(VendorDataError, match="HTTP 404 Not Found"):
                await poller.poll()
    assert [x.status for x in statuses] == ["live", "failed"]
