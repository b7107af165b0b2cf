"""Alpaca market data: REST history with pagination and the WebSocket stream."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest

from pi5trading.config import AlpacaSettings
from pi5trading.events import FeedStatus
from pi5trading.feeds.alpaca import AlpacaDataClient, AlpacaStream
from pi5trading.feeds.vendor import (
    AuthError,
    RateLimitedError,
    VendorDataError,
    VendorUnavailableError,
)
from pi5trading.model import Bar, QuoteTick, TradeTick
from tests.standins.alpaca_data import KEY_ID, SECRET, AlpacaDataStandin, data_frames
from tests.standins.server import serve
from tests.standins.tape import bars_between, cents, utc

NS = 10**9
pytestmark = pytest.mark.anyio


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def settings(base: str, key: str = KEY_ID, secret: str = SECRET, **kw: object) -> AlpacaSettings:
    return AlpacaSettings(
        key_id=key,
        secret_key=secret,
        data_url=base,
        stream_url=base.replace("http://", "ws://"),
        timeout_s=5,
        **kw,  # type: ignore[arg-type]
    )


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


def tape_rows(symbol: str, start: int, end: int, seconds: int = 60) -> list[tuple[object, ...]]:
    return [
        (b.ts, cents(b.open), cents(b.high), cents(b.low), cents(b.close), b.volume)
        for b in bars_between(symbol, start, end, seconds)
    ]


async def test_history_follows_next_page_token() -> None:
    stand = AlpacaDataStandin()
    start, end = utc("2024-01-02T00:00"), utc("2024-01-05T00:00")
    with serve(stand.app) as base:
        async with AlpacaDataClient(settings(base), page_limit=500) as alpaca:
            bars = await alpaca.history("AAPL", start * NS, end * NS, "1m")
    assert rows(bars, 60) == tape_rows("AAPL", start, end)
    assert len(bars) == 3 * 390
    assert len(stand.requests) == 3  # 1170 bars in pages of 500
    assert [bool(r.get("page_token")) for r in stand.requests] == [False, True, True]
    first = stand.requests[0]
    assert (first["timeframe"], first["feed"], first["start"]) == (
        "1Min",
        "iex",
        "2024-01-02T00:00:00Z",
    )


async def test_many_symbols_and_daily_bars_at_their_date() -> None:
    stand = AlpacaDataStandin()
    start, end = utc("2024-01-02T00:00"), utc("2024-01-06T00:00")
    with serve(stand.app) as base:
        async with AlpacaDataClient(settings(base), page_limit=3) as alpaca:
            by_symbol = await alpaca.history_many(["AAPL", "MSFT"], start * NS, end * NS, "1d")
    assert sorted(by_symbol) == ["AAPL", "MSFT"]
    for symbol, bars in by_symbol.items():
        assert [b.ts_event // NS - 86_400 for b in bars] == [
            utc(f"2024-01-0{d}T00:00") for d in (2, 3, 4, 5)
        ]
        minutes = bars_between(symbol, utc("2024-01-05T00:00"), end)
        assert bars[-1].close.as_decimal() == cents(minutes[-1].close)
    assert len(stand.requests) == 3  # 8 bars in pages of 3


async def test_rate_limit_and_server_errors_are_retried() -> None:
    stand = AlpacaDataStandin()
    stand.faults.extend(["429", "500"])
    sleeps = Sleeps()
    start = utc("2024-01-02T14:30")
    with serve(stand.app) as base:
        async with AlpacaDataClient(settings(base), sleep=sleeps) as alpaca:
            bars = await alpaca.history("SPY", start * NS, (start + 600) * NS, "1m")
        assert len(bars) == 10
        assert sleeps.waits[0] == 2.0  # Retry-After
        stand.faults.extend(["429"] * 3)
        s = settings(base, max_retries=2)
        async with AlpacaDataClient(s, sleep=Sleeps()) as alpaca:
            with pytest.raises(RateLimitedError, match="HTTP 429 too many requests"):
                await alpaca.history("SPY", start * NS, (start + 600) * NS, "1m")


async def test_auth_plan_and_parameter_errors() -> None:
    stand = AlpacaDataStandin()
    start = utc("2024-01-02T14:30") * NS
    with serve(stand.app) as base:
        async with AlpacaDataClient(settings(base, secret="wrong-secret-xyz")) as alpaca:
            with pytest.raises(AuthError, match=r"HTTP 403: .*forbidden") as err:
                await alpaca.history("AAPL", start, start + 60 * NS, "1m")
        assert "wrong-secret-xyz" not in str(err.value)
        async with AlpacaDataClient(settings(base, feed="sip")) as alpaca:
            with pytest.raises(AuthError, match="does not permit querying recent SIP data"):
                await alpaca.history("AAPL", start, start + 60 * NS, "1m")
        async with AlpacaDataClient(settings(base)) as alpaca:
            with pytest.raises(VendorDataError, match="HTTP 400: invalid symbol: NOPE"):
                await alpaca.history("NOPE", start, start + 60 * NS, "1m")
            with pytest.raises(VendorDataError, match="interval '2m' is not offered"):
                await alpaca.history("AAPL", start, start + 60 * NS, "2m")
            for fault in ("malformed", "truncated"):
                stand.faults.append(fault)
                with pytest.raises(VendorDataError, match="unreadable answer"):
                    await alpaca.history("AAPL", start, start + 60 * NS, "1m")
    with pytest.raises(AuthError, match="set PI5_ALPACA__SECRET_KEY"):
        AlpacaDataClient(AlpacaSettings(key_id="x"))


def expected_stream(symbol: str, start: int, frames: int) -> list[object]:
    out: list[object] = []
    for text in data_frames(symbol, start, frames):
        for m in json.loads(text):
            out.append((m["T"], m.get("t")))
    return out


def kind(item: object) -> str:
    return {Bar: "b", QuoteTick: "q", TradeTick: "t"}[type(item)]  # type: ignore[index]


async def test_stream_auth_subscribe_and_exact_items() -> None:
    stand = AlpacaDataStandin()
    start = utc("2024-01-02T14:30")
    stand.stream_frames = data_frames("AAPL", start, 6)
    with serve(stand.app) as base:
        stream = AlpacaStream(settings(base), bars=["AAPL"], quotes=["AAPL"], trades=["AAPL"])
        await stream.connect()
        items = [await stream.__anext__() for _ in range(9)]
        await stream.close()
    assert stand.received[0] == {"action": "auth", "key": KEY_ID, "secret": SECRET}
    assert stand.received[1] == {
        "action": "subscribe",
        "bars": ["AAPL"],
        "quotes": ["AAPL"],
        "trades": ["AAPL"],
    }
    assert [kind(i) for i in items] == ["t", "q", "b"] * 3
    first_bar = bars_between("AAPL", start, start + 60)[0]
    trade, quote, bar = items[:3]
    assert isinstance(trade, TradeTick)
    assert isinstance(quote, QuoteTick)
    assert isinstance(bar, Bar)
    assert trade.price.as_decimal() == cents(first_bar.close)
    assert trade.ts_event == (start + 59) * NS + 123456789  # nanoseconds kept
    assert trade.aggressor_side == "NO_AGGRESSOR"
    assert trade.trade_id == "52983525029461"
    assert (quote.bid.as_decimal(), quote.ask.as_decimal()) == (
        cents(first_bar.close - 1),
        cents(first_bar.close + 1),
    )
    assert quote.bid_size.as_decimal() == Decimal(2)
    assert bar.ts_event == (start + 60) * NS
    assert bar.high.as_decimal() == cents(first_bar.high)
    assert stream.stats.messages == 9
    assert stream.confirmed == {"bars": ["AAPL"], "quotes": ["AAPL"], "trades": ["AAPL"]}


async def test_stream_reconnects_after_a_drop_and_keeps_going() -> None:
    stand = AlpacaDataStandin()
    start = utc("2024-01-02T15:00")
    stand.stream_frames = data_frames("MSFT", start, 10)
    stand.drop_after = 4
    sleeps = Sleeps()
    statuses: list[FeedStatus] = []
    with serve(stand.app) as base:
        stream = AlpacaStream(
            settings(base),
            bars=["MSFT"],
            quotes=["MSFT"],
            sleep=sleeps,
            on_status=statuses.append,
            now_ns=lambda: 7,
        )
        await stream.connect()
        items = [await stream.__anext__() for _ in range(15)]
        await stream.close()
    assert [(s.feed, s.status, s.ts) for s in statuses] == [
        ("alpaca:iex", "connecting", 7),
        ("alpaca:iex", "live", 7),
        ("alpaca:iex", "reconnecting", 7),
        ("alpaca:iex", "live", 7),
        ("alpaca:iex", "closed", 7),
    ]
    assert statuses[2].message.startswith("dropped: 1011")
    assert stand.connections == 2
    assert stream.stats.reconnects == 1
    assert len(sleeps.waits) == 1
    # The second connection authenticated and subscribed again.
    assert [m["action"] for m in stand.received[:4]] == [
        "auth",
        "subscribe",
        "auth",
        "subscribe",
    ]
    assert [(kind(i), i.ts_event) for i in items] == [
        (k, _ns(t, k)) for k, t in expected_stream("MSFT", start, 10)
    ]


def _ns(t: object, k: object) -> int:
    from pi5trading.feeds.vendor import rfc3339_ns

    ns = rfc3339_ns(str(t))
    return ns + 60 * NS if k == "b" else ns


async def test_malformed_messages_are_counted_skipped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stand = AlpacaDataStandin()
    start = utc("2024-01-02T15:00")
    stand.stream_frames = data_frames("AAPL", start, 4)
    crossed = {
        "T": "q",
        "S": "AAPL",
        "bp": 10.5,
        "bs": 1,
        "ap": 10.0,
        "as": 1,
        "t": "2024-01-02T15:00:01Z",
    }
    stand.junk = [
        (1, "{not json"),
        (2, json.dumps([{"T": "q", "S": "AAPL", "bp": "x"}])),
        (3, json.dumps([crossed, {"T": "s", "S": "AAPL", "sc": "H"}])),
    ]
    caplog.set_level(logging.WARNING)
    with serve(stand.app) as base:
        stream = AlpacaStream(settings(base), bars=["AAPL"], quotes=["AAPL"], trades=["AAPL"])
        await stream.connect()
        items = [await stream.__anext__() for _ in range(6)]
        await stream.close()
    assert [kind(i) for i in items] == ["t", "q", "b", "t", "q", "b"]
    assert stream.stats.malformed == 2
    assert stream.stats.invalid == 1  # the crossed quote
    assert stream.stats.ignored == 1  # a trading status: not subscribed here
    assert sum("malformed message" in r.getMessage() for r in caplog.records) == 2


@pytest.mark.parametrize(
    ("code", "text"),
    [(402, "auth failed"), (406, "connection limit"), (409, "insufficient subscription")],
)
async def test_stream_auth_errors_are_not_retried(code: int, text: str) -> None:
    stand = AlpacaDataStandin()
    stand.auth_error = code
    statuses: list[FeedStatus] = []
    with serve(stand.app) as base:
        stream = AlpacaStream(settings(base), bars=["AAPL"], on_status=statuses.append)
        with pytest.raises(AuthError, match=f"error {code}: {text}"):
            await stream.connect()
    assert stand.connections == 1
    assert [s.status for s in statuses] == ["connecting", "failed"]
    assert f"error {code}" in statuses[-1].message


async def test_wrong_stream_keys_and_an_unreachable_stream() -> None:
    stand = AlpacaDataStandin()
    with serve(stand.app) as base:
        stream = AlpacaStream(settings(base, key="PKWRONG00000"), bars=["AAPL"])
        with pytest.raises(AuthError, match="error 402: auth failed") as err:
            await stream.connect()
    assert "PKWRONG00000" not in str(err.value)
    stand.stream_frames = data_frames("AAPL", utc("2024-01-02T15:00"), 2)
    stand.drop_after = 1
    with serve(stand.app) as base:
        stream = AlpacaStream(settings(base, max_retries=2), bars=["AAPL"], sleep=Sleeps())
        await stream.connect()
        await stream.__anext__()
    # The server is gone: reconnecting gives up after max_retries attempts.
    with pytest.raises(VendorUnavailableError, match="reconnecting failed 3 times"):
        await take(stream, 10)


async def take(stream: AlpacaStream, n: int) -> list[object]:
    return [await stream.__anext__() for _ in range(n)]


async def test_keys_never_show_in_logs_reprs_or_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stand = AlpacaDataStandin()
    stand.faults.extend(["500", "429"])
    caplog.set_level(logging.DEBUG)
    start = utc("2024-01-02T14:30")
    with serve(stand.app) as base:
        s = settings(base)
        async with AlpacaDataClient(s, sleep=Sleeps()) as alpaca:
            await alpaca.history("AAPL", start * NS, (start + 120) * NS, "1m")
            stand.faults.append("truncated")
            with pytest.raises(VendorDataError) as err:
                await alpaca.history("AAPL", start * NS, (start + 120) * NS, "1m")
        stand.stream_frames = data_frames("AAPL", start, 3)
        stand.drop_after = 1
        stream = AlpacaStream(s, bars=["AAPL"], sleep=Sleeps())
        await stream.connect()
        for _ in range(2):
            await stream.__anext__()
        await stream.close()
    assert caplog.records
    texts = [caplog.text, str(err.value), repr(s), repr(alpaca), repr(stream), repr(alpaca.http)]
    assert any(r.name == "pi5trading.feeds.alpaca.wire" for r in caplog.records)
    for secret in (KEY_ID, SECRET):
        for text in texts:
            # Not even a part of it (websockets shortens long frames in its log).
            for k in range(len(secret) - 7):
                assert secret[k : k + 8] not in text


async def test_subscription_changes_while_connected() -> None:
    import anyio

    stand = AlpacaDataStandin()
    with serve(stand.app) as base:
        stream = AlpacaStream(settings(base), bars=["AAPL"])
        await stream.connect()
        await stream.subscribe(quotes=["MSFT", "AAPL"])
        await stream.unsubscribe(bars=["AAPL"])
        for _ in range(500):  # the stand-in runs in its own thread: poll what it got
            if len(stand.received) >= 4:
                break
            await anyio.sleep(0.01)
        await stream.close()
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
    assert stand.received[1:] == [
        {"action": "subscribe", "bars": ["AAPL"], "quotes": [], "trades": []},
        {"action": "subscribe", "bars": [], "quotes": ["MSFT", "AAPL"], "trades": []},
        {"action": "unsubscribe", "bars": ["AAPL"], "quotes": [], "trades": []},
    ]


async def test_a_connection_limit_right_after_a_drop_is_retried() -> None:
    stand = AlpacaDataStandin()
    start = utc("2024-01-02T15:00")
    stand.stream_frames = data_frames("AAPL", start, 4)
    stand.drop_after = 2
    stand.auth_error_on = {2: 406}  # the old connection still counts for a moment
    with serve(stand.app) as base:
        stream = AlpacaStream(
            settings(base), bars=["AAPL"], trades=["AAPL"], quotes=["AAPL"], sleep=Sleeps()
        )
        await stream.connect()
        items = await take(stream, 6)
        await stream.close()
    assert stand.connections == 3
    assert stream.stats.reconnects == 1
    assert [kind(i) for i in items] == ["t", "q", "b", "t", "q", "b"]


async def test_history_stays_under_200_requests_a_minute() -> None:
    class Clock:
        now = 0.0
        waits: list[float] = []  # noqa: RUF012  (one test's instance)

        def __call__(self) -> float:
            return self.now

        async def sleep(self, seconds: float) -> None:
            self.waits.append(seconds)
            self.now += seconds

    clock = Clock()
    stand = AlpacaDataStandin()
    start = utc("2024-01-02T14:30")
    with serve(stand.app) as base:
        async with AlpacaDataClient(
            settings(base), page_limit=1, clock=clock, sleep=clock.sleep
        ) as alpaca:
            bars = await alpaca.history("AAPL", start * NS, (start + 201 * 60) * NS, "1m")
    assert len(bars) == 201
    assert len(stand.requests) == 201
    assert clock.waits == [60.0]  # the 201st page waited for the 1st to leave the minute


async def test_an_empty_range_asks_nothing() -> None:
    stand = AlpacaDataStandin()
    with serve(stand.app) as base:
        async with AlpacaDataClient(settings(base)) as alpaca:
            assert await alpaca.history("AAPL", 10 * NS, 10 * NS, "1m") == []
            assert await alpaca.history_many(["AAPL"], 10 * NS, 5 * NS, "1m") == {"AAPL": []}
    assert stand.requests == []
