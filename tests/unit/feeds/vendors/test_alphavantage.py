"""Alpha Vantage client against its stand-in: exact bars, throttle bodies, the allowance."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from pi5trading.config import AlphaVantageSettings
from pi5trading.feeds.alphavantage import AlphaVantageClient
from pi5trading.feeds.vendor import AuthError, RateLimitedError, VendorDataError
from pi5trading.model import Bar
from tests.standins.alphavantage import KEY, AlphaVantageStandin
from tests.standins.server import serve
from tests.standins.tape import bars_between, cents, utc

NS = 10**9
pytestmark = pytest.mark.anyio


class FakeTime:
    """A clock that the client's waits move forward (no real waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def client(base: str, t: FakeTime, key: str = KEY, **kw: int) -> AlphaVantageClient:
    settings = AlphaVantageSettings(api_key=key, base_url=base, timeout_s=5, **kw)
    return AlphaVantageClient(settings, clock=t, sleep=t.sleep)


def rows(bars: list[Bar], seconds: int) -> list[tuple[object, ...]]:
    return [
        (
            b.ts_event // NS - seconds,
            b.open.as_decimal(),
            b.high.as_decimal(),
            b.low.as_decimal(),
            b.close.as_decimal(),
            int(b.volume.as_decimal()),
        )
        for b in bars
    ]


def tape_rows(symbol: str, start: int, end: int, seconds: int) -> list[tuple[object, ...]]:
    return [
        (b.ts, cents(b.open), cents(b.high), cents(b.low), cents(b.close), b.volume)
        for b in bars_between(symbol, start, end, seconds)
    ]


async def test_intraday_history_month_by_month_in_utc() -> None:
    stand = AlphaVantageStandin()
    t = FakeTime()
    start, end = utc("2024-01-30T00:00"), utc("2024-02-02T00:00")
    with serve(stand.app) as base:
        async with client(base, t) as av:
            bars = await av.history("IBM", start * NS, end * NS, "5m")
    assert rows(bars, 300) == tape_rows("IBM", start, end, 300)
    # 09:30 New York is 14:30 UTC in winter.
    assert dt.datetime.fromtimestamp(bars[0].ts_event // NS - 300, dt.UTC).hour == 14
    assert [(r["month"], r["outputsize"], r["interval"]) for r in stand.requests] == [
        ("2024-01", "full", "5min"),
        ("2024-02", "full", "5min"),
    ]


async def test_daily_history() -> None:
    stand = AlphaVantageStandin()
    t = FakeTime()
    with serve(stand.app) as base:
        async with client(base, t) as av:
            bars = await av.history(
                "AAPL", utc("2024-03-25T00:00") * NS, utc("2024-03-29T00:00") * NS, "1d"
            )
    days = [dt.datetime.fromtimestamp(b.ts_event // NS - 86_400, dt.UTC) for b in bars]
    assert [d.strftime("%Y-%m-%d %H:%M") for d in days] == [
        "2024-03-25 00:00",
        "2024-03-26 00:00",
        "2024-03-27 00:00",
        "2024-03-28 00:00",
    ]
    minutes = bars_between("AAPL", utc("2024-03-28T00:00"), utc("2024-03-29T00:00"))
    assert bars[-1].close.as_decimal() == cents(minutes[-1].close)
    assert stand.requests[0]["function"] == "TIME_SERIES_DAILY"


async def test_the_allowance_spaces_requests_and_stops_at_the_daily_limit() -> None:
    stand = AlphaVantageStandin()
    t = FakeTime()
    start, end = utc("2024-01-02T00:00"), utc("2024-04-30T00:00")  # four months: 4 requests
    with serve(stand.app) as base:
        async with client(base, t, requests_per_minute=2, requests_per_day=5) as av:
            await av.history("IBM", start * NS, end * NS, "1h")
            assert len(stand.requests) == 4
            # 2 a minute: the 3rd request waited for the 1st to leave the minute window.
            assert t.waits == [60.0]
            await av.history("IBM", start * NS, utc("2024-01-05T00:00") * NS, "1h")
            with pytest.raises(RateLimitedError, match="5 requests per day is used up"):
                await av.history("IBM", start * NS, utc("2024-01-05T00:00") * NS, "1h")
    assert len(stand.requests) == 5


async def test_note_is_a_throttle_retried_after_a_minute() -> None:
    stand = AlphaVantageStandin()
    stand.faults.append("note")
    t = FakeTime()
    with serve(stand.app) as base:
        async with client(base, t) as av:
            bars = await av.history(
                "IBM", utc("2024-01-02T00:00") * NS, utc("2024-01-03T00:00") * NS, "15m"
            )
    assert len(bars) == 26
    assert 60.0 in t.waits
    assert len(stand.requests) == 2


async def test_daily_information_is_a_rate_limit_error_not_retried() -> None:
    stand = AlphaVantageStandin()
    stand.faults.append("information")
    with serve(stand.app) as base:
        async with client(base, FakeTime()) as av:
            with pytest.raises(RateLimitedError, match="daily allowance used up") as err:
                await av.history("IBM", 0, 86_400 * NS, "1d")
    assert err.value.retry_after_s == 86_400
    assert len(stand.requests) == 1


async def test_premium_information_and_a_wrong_key_are_auth_errors() -> None:
    stand = AlphaVantageStandin()
    stand.faults.append("premium")
    with serve(stand.app) as base:
        async with client(base, FakeTime()) as av:
            with pytest.raises(AuthError, match="needs a premium plan"):
                await av.history("IBM", 0, 86_400 * NS, "1d")
        async with client(base, FakeTime(), key="WRONG-KEY-42") as av:
            with pytest.raises(AuthError, match="the key was refused") as err:
                await av.history("IBM", 0, 86_400 * NS, "1d")
    assert "WRONG-KEY-42" not in str(err.value)


async def test_bad_symbol_malformed_and_truncated_answers() -> None:
    stand = AlphaVantageStandin()
    t = FakeTime()
    jan = (utc("2024-01-02T00:00") * NS, utc("2024-01-03T00:00") * NS)
    with serve(stand.app) as base:
        async with client(base, t) as av:
            with pytest.raises(
                VendorDataError,
                match=r"Alpha Vantage GET /query TIME_SERIES_INTRADAY: Invalid API call.*"
                r"\(a wrong symbol or parameter\)",
            ):
                await av.history("NOPE", *jan, "5m")
            for fault in ("malformed", "truncated"):
                stand.faults.append(fault)
                with pytest.raises(VendorDataError, match="unreadable answer"):
                    await av.history("IBM", *jan, "5m")
            stand.faults.append("503")
            assert len(await av.history("IBM", *jan, "5m")) == 78  # retried after a 503


async def test_a_missing_key_names_the_setting() -> None:
    with pytest.raises(AuthError, match="set PI5_ALPHAVANTAGE__API_KEY"):
        AlphaVantageClient(AlphaVantageSettings())


async def test_the_key_never_shows_in_logs_reprs_or_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "SECRET-AV-KEY-7f3a9c"
    stand = AlphaVantageStandin(key=secret)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # quiet above DEBUG once a server ran
    stand.faults.extend(["note", "503", "echo"])
    with serve(stand.app) as base:
        settings = AlphaVantageSettings(api_key=secret, base_url=base, max_retries=3)
        av = AlphaVantageClient(settings, sleep=FakeTime().sleep)
        with pytest.raises(VendorDataError) as err:
            await av.history("IBM", 0, 86_400 * NS, "5m")
        bars = await av.history(
            "IBM", utc("2024-01-02T00:00") * NS, utc("2024-01-03T00:00") * NS, "5m"
        )
        await av.close()
    assert len(bars) == 78
    assert "Invalid API call (key ***)" in str(err.value)  # quoted back, scrubbed
    assert any("HTTP Request" in r.getMessage() for r in caplog.records), {
        r.name for r in caplog.records
    }
    for text in (
        caplog.text,
        *(r.getMessage() for r in caplog.records),
        str(err.value),
        repr(err.value),
        repr(av),
        repr(settings),
        repr(av.http),
    ):
        assert secret not in text
    assert stand.requests[-1]["apikey"] == secret  # it was sent, only never shown


async def test_recent_daily_history_asks_only_for_the_compact_series() -> None:
    stand = AlphaVantageStandin()
    t = FakeTime()
    with serve(stand.app) as base:
        settings = AlphaVantageSettings(api_key=KEY, base_url=base, timeout_s=5)
        av = AlphaVantageClient(
            settings, clock=t, sleep=t.sleep, wall_clock=lambda: float(utc("2024-04-30T22:00"))
        )
        recent = await av.history(
            "MSFT", utc("2024-04-01T00:00") * NS, utc("2024-04-30T00:00") * NS, "1d"
        )
        old = await av.history(
            "MSFT", utc("2023-12-01T00:00") * NS, utc("2023-12-08T00:00") * NS, "1d"
        )
        await av.close()
    assert [r["outputsize"] for r in stand.requests] == ["compact", "full"]
    assert len(recent) == 21  # the weekdays of April 1-29
    assert len(old) == 5
