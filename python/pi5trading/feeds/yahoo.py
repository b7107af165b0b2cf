"""Yahoo Finance: bar history and delayed live bars from the chart endpoint, no key.

    async with YahooClient(settings.yahoo) as yahoo:
        bars = await yahoo.history("AAPL", start_ns, end_ns, "1m")

``GET /v8/finance/chart/{symbol}?period1=&period2=&interval=`` answers columns of floats
(``185.63999938964844``: Yahoo stores float32). Each price is read exactly from its JSON
text and rounded once, half-even, to the instrument's tick (``vendor.on_tick``); volumes
are whole numbers, kept exactly. Rows of nulls (a minute without trades) are skipped; the
bar still in progress (its close after the answer's ``regularMarketTime``) is not
returned. Daily bars are stamped at 00:00 UTC of their session date, like Alpaca's and
Alpha Vantage's, so the providers' daily bars line up.

Yahoo allows at most 8 days of 1m bars per request (and 1m data only for the last 30
days), 60 days of 2m-30m bars: longer ranges are fetched in chunks (``history_chunks``).
Live: ``YahooPoller`` polls the latest bars (Yahoo's prices are delayed, typically
15 min for US equities on free access) and yields each completed bar once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Self
from zoneinfo import ZoneInfo

import httpx
import msgspec

from pi5trading.config import FeedSettings, Settings, YahooSettings
from pi5trading.events import FeedState, FeedStatus
from pi5trading.feeds.feed import StreamFeed, Subscription
from pi5trading.feeds.vendor import (
    HistoryClient,
    RateLimitedError,
    VendorDataError,
    VendorError,
    VendorHttp,
    VendorUnavailableError,
    bad_json,
    exact_quantity,
    on_tick,
)
from pi5trading.model import Bar, Instrument, Price

VENDOR = "Yahoo Finance"
log = logging.getLogger("pi5trading.feeds.yahoo")

NS = 1_000_000_000
DAY_NS = 86_400 * NS

INTERVALS: dict[str, tuple[str, int]] = {
    "1m": ("1m", 60),
    "2m": ("2m", 120),
    "5m": ("5m", 300),
    "15m": ("15m", 900),
    "30m": ("30m", 1800),
    "1h": ("60m", 3600),
    "1d": ("1d", 86_400),
}
"""Our interval label → Yahoo's, and its length in seconds."""

_CHUNK_S = {"1m": 7 * 86_400, "1d": 3650 * 86_400}
_CHUNK_INTRADAY_S = 59 * 86_400
_FIRST_S = 86_400
"""How far back the poller's first poll of a symbol looks for its last completed bars."""


class _Quote(msgspec.Struct):
    open: list[Decimal | None] = []
    high: list[Decimal | None] = []
    low: list[Decimal | None] = []
    close: list[Decimal | None] = []
    volume: list[Decimal | None] = []


class _Indicators(msgspec.Struct):
    quote: list[_Quote] = []


class ChartMeta(msgspec.Struct, rename="camel"):
    """What a chart answer says about the symbol (the fields read here)."""

    symbol: str = ""
    currency: str | None = None
    regular_market_price: Decimal | None = None
    regular_market_time: int | None = None
    exchange_timezone_name: str = "America/New_York"


class _Result(msgspec.Struct):
    meta: ChartMeta
    indicators: _Indicators = msgspec.field(default_factory=_Indicators)
    timestamp: list[int] = []


class _Error(msgspec.Struct):
    code: str = ""
    description: str = ""


class _Chart(msgspec.Struct):
    result: list[_Result] | None = None
    error: _Error | None = None


class _Body(msgspec.Struct):
    chart: _Chart


_decoder = msgspec.json.Decoder(_Body)


class LatestPrice(msgspec.Struct, frozen=True):
    """The last (delayed) price Yahoo reports and its time (UTC ns)."""

    symbol: str
    price: Price
    ts: int


def us_equity(symbol: str) -> Instrument:
    """The instrument used when only a symbol is given: a US equity, cent tick, lot 1."""
    return Instrument(symbol, "XNAS", "EQUITY", "USD", tick_size="0.01", lot_size="1")


def interval_seconds(interval: str) -> int:
    try:
        return INTERVALS[interval][1]
    except KeyError:
        raise VendorDataError(
            VENDOR,
            "chart",
            f"interval {interval!r} is not offered (use one of {', '.join(INTERVALS)})",
        ) from None


class YahooClient(HistoryClient):
    """Bar history and the latest delayed price from Yahoo's chart endpoint."""

    vendor = VENDOR

    def __init__(
        self,
        settings: YahooSettings | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        backoff_s: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings or YahooSettings()
        self._clock = clock
        self.http = VendorHttp(
            VENDOR,
            self.settings.base_url,
            # Yahoo refuses requests without a browser-like agent.
            headers={"User-Agent": "Mozilla/5.0 (pi5trading)", "Accept": "application/json"},
            timeout_s=self.settings.timeout_s,
            max_retries=self.settings.max_retries,
            backoff_s=backoff_s,
            sleep=sleep,
            transport=transport,
        )
        self.skipped_rows = 0
        """Rows of nulls (minutes without trades) skipped so far."""

    def __repr__(self) -> str:
        return f"YahooClient({self.settings.base_url!r})"

    async def history_chunks(
        self, symbol: str | Instrument, start_ns: int, end_ns: int, interval: str
    ) -> AsyncIterator[list[Bar]]:
        """``history`` one request at a time (Yahoo's range per request is limited)."""
        instrument = us_equity(symbol) if isinstance(symbol, str) else symbol
        seconds = interval_seconds(interval)
        span = _CHUNK_S.get(interval, _CHUNK_INTRADAY_S)
        lo = start_ns // NS
        end_s = -(-end_ns // NS)
        while lo < end_s:
            hi = min(end_s, lo + span)
            _, bars = await self.chart(instrument, lo, hi, interval, seconds)
            yield [b for b in bars if start_ns <= b.ts_event - seconds * NS < end_ns]
            lo = hi

    async def latest(self, symbol: str | Instrument) -> LatestPrice:
        """The latest delayed price (``regularMarketPrice``) on the instrument's tick."""
        instrument = us_equity(symbol) if isinstance(symbol, str) else symbol
        now = int(self._clock())
        meta, _ = await self.chart(instrument, now - 86_400, now + 60, "1m", 60)
        if meta.regular_market_price is None or meta.regular_market_time is None:
            raise VendorDataError(VENDOR, _endpoint(instrument.symbol), "no latest price")
        return LatestPrice(
            instrument.symbol,
            on_tick(instrument, meta.regular_market_price),
            meta.regular_market_time * NS,
        )

    async def chart(
        self, instrument: Instrument, lo: int, hi: int, interval: str, seconds: int
    ) -> tuple[ChartMeta, list[Bar]]:
        """One request: the answer's meta and its completed bars opening in ``[lo, hi)``
        seconds (the poller's building block)."""
        symbol = instrument.symbol
        params: dict[str, str | int] = {
            "period1": lo,
            "period2": hi,
            "interval": INTERVALS[interval][0],
            "includePrePost": "false",
            "events": "",
        }
        result = await self.http.get(
            f"/v8/finance/chart/{symbol}", params, _parse, endpoint=_endpoint(symbol)
        )
        return result.meta, self._bars(instrument, result, interval, seconds)

    def _bars(self, instrument: Instrument, r: _Result, interval: str, seconds: int) -> list[Bar]:
        where = _endpoint(instrument.symbol)
        if not r.timestamp:
            return []
        q = r.indicators.quote[0] if r.indicators.quote else _Quote()
        n = len(r.timestamp)
        columns = {"open": q.open, "high": q.high, "low": q.low, "close": q.close}
        for name, col in (*columns.items(), ("volume", q.volume)):
            if len(col) != n:
                raise VendorDataError(
                    VENDOR, where, f"{name} has {len(col)} values for {n} timestamps"
                )
        completed_by = r.meta.regular_market_time
        daily = seconds >= 86_400
        zone = ZoneInfo(r.meta.exchange_timezone_name) if daily else None
        bar_type = f"{instrument.symbol}-{interval}"
        out: list[Bar] = []
        for k, ts in enumerate(r.timestamp):
            o, h, low, c = q.open[k], q.high[k], q.low[k], q.close[k]
            if o is None or h is None or low is None or c is None:
                self.skipped_rows += 1
                continue
            if daily:
                day = dt.datetime.fromtimestamp(ts, zone).date()
                open_ns = (day - dt.date(1970, 1, 1)).days * DAY_NS
            elif ts % seconds:
                continue  # the live price at the last trade, not a bar
            else:
                open_ns = ts * NS
            if not daily and completed_by is not None and ts + seconds > completed_by:
                continue  # still in progress
            v = q.volume[k]
            try:
                out.append(
                    Bar(
                        bar_type,
                        on_tick(instrument, o),
                        on_tick(instrument, h),
                        on_tick(instrument, low),
                        on_tick(instrument, c),
                        exact_quantity(v if v is not None else Decimal(0)),
                        open_ns + seconds * NS,
                    )
                )
            except ValueError as exc:
                raise VendorDataError(VENDOR, where, f"bar at {_iso(open_ns)}: {exc}") from None
        return out


def _endpoint(symbol: str) -> str:
    return f"GET /v8/finance/chart/{symbol}"


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / NS, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(response: httpx.Response, where: str) -> _Result:
    try:
        body = _decoder.decode(response.content)
    except msgspec.DecodeError as exc:
        if response.status_code >= 400:
            raise VendorDataError(
                VENDOR, where, f"HTTP {response.status_code}: {response.text[:200]!r}"
            ) from None
        raise bad_json(VENDOR, where, response, exc) from None
    chart = body.chart
    if chart.error is not None:
        raise VendorDataError(
            VENDOR,
            where,
            f"HTTP {response.status_code} {chart.error.code}: {chart.error.description}",
        )
    if response.status_code >= 400 or not chart.result:
        raise VendorDataError(VENDOR, where, f"HTTP {response.status_code} without a result")
    return chart.result[0]


class YahooPoller:
    """Delayed live bars by polling: an async iterator of ``Bar``, each completed bar once.

    ``connect()`` starts, ``close()`` ends (and closes the client if it owns it). A failed
    poll (throttled, unreachable) is logged and counted in ``failed_polls`` and the next poll
    tries again; a wrong symbol or an unreadable answer is raised.
    """

    def __init__(
        self,
        client: YahooClient,
        symbols: Sequence[str | Instrument],
        interval: str = "1m",
        *,
        poll_interval_s: float | None = None,
        lookback_bars: int = 1,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        owns_client: bool = False,
        on_status: Callable[[FeedStatus], None] | None = None,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.client = client
        self.name = "yahoo"
        """The feed's name in its ``FeedStatus`` events."""
        self._on_status = on_status
        self._now_ns = now_ns
        self._state: FeedState | None = None
        self.instruments = [us_equity(s) if isinstance(s, str) else s for s in symbols]
        self.interval = interval
        self.seconds = interval_seconds(interval)
        self.poll_interval_s = poll_interval_s or client.settings.poll_interval_s
        self.lookback_bars = lookback_bars
        self._clock = clock
        self._sleep = sleep
        self._owns = owns_client
        self._last: dict[str, int] = {}
        self._ready: deque[Bar] = deque()
        self._open = False
        self._polled = False
        self.polls = 0
        self.failed_polls = 0

    def __repr__(self) -> str:
        names = ",".join(i.symbol for i in self.instruments)
        return f"YahooPoller({names}, {self.interval})"

    def _status(self, state: FeedState, message: str = "") -> None:
        if state != self._state and self._on_status is not None:
            self._on_status(FeedStatus(self._now_ns(), self.name, state, message))
        self._state = state

    async def connect(self) -> None:
        """Start polling. ``on_status`` hears ``live``; ``reconnecting`` after a failed
        poll and ``live`` after the next good one; ``failed`` when an error is raised;
        ``closed`` after ``close()``."""
        self._open = True
        self._status("live")

    async def subscribe(self, symbols: Sequence[str | Instrument]) -> None:
        """Poll these too from the next round (their last completed bars first)."""
        known = {i.symbol for i in self.instruments}
        for s in symbols:
            inst = us_equity(s) if isinstance(s, str) else s
            if inst.symbol not in known:
                self.instruments.append(inst)
                known.add(inst.symbol)

    async def unsubscribe(self, symbols: Sequence[str]) -> None:
        """Stop polling these (bars already queued are still yielded)."""
        drop = set(symbols)
        self.instruments = [i for i in self.instruments if i.symbol not in drop]
        for s in drop:
            self._last.pop(s, None)

    async def close(self) -> None:
        self._open = False
        if self._owns:
            await self.client.close()
        self._status("closed")

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Bar:
        while not self._ready:
            if not self._open:
                raise StopAsyncIteration
            if self._polled:
                await self._sleep(self.poll_interval_s)
            self._ready.extend(await self.poll())
        return self._ready.popleft()

    async def poll(self) -> list[Bar]:
        """One round over the symbols: the completed bars not returned before, oldest first
        (iterating the poller calls this; call it directly instead, not both)."""
        self._polled = True
        self.polls += 1
        now = int(self._clock())
        new: list[Bar] = []
        failed = False
        for inst in self.instruments:
            last = self._last.get(inst.symbol)
            if last is not None:
                lo = last + self.seconds
            else:  # start with the last ``lookback_bars`` completed bars
                # Looked for over a day back, not from the wall clock: a delayed vendor's
                # newest bar is minutes old (Yahoo: 15 min for some exchanges), and asking
                # only for the last minutes of the wall clock found nothing, ever.
                lo = (now // self.seconds - self.lookback_bars) * self.seconds - _FIRST_S
            try:
                _, bars = await self.client.chart(
                    inst, lo, now + self.seconds, self.interval, self.seconds
                )
            except (RateLimitedError, VendorUnavailableError) as exc:
                self.failed_polls += 1
                failed = True
                log.warning("yahoo poll of %s failed, trying again later: %s", inst.symbol, exc)
                self._status("reconnecting", str(exc))
                continue
            except VendorError as exc:
                # The feed reopens the poller after its backoff: say why here, once.
                log.warning("yahoo poll of %s failed, the poller ends: %s", inst.symbol, exc)
                self._status("failed", str(exc))
                raise
            # Anything else (a wrong symbol, an unreadable answer) is raised: polling again
            # would not mend it.
            # In time order first: a row older than one before it in the same answer would
            # be skipped as already seen, and lost.
            bars = sorted(bars, key=lambda b: b.ts_event)
            if last is None:
                bars = bars[max(0, len(bars) - self.lookback_bars) :]
            for bar in bars:
                open_s = bar.ts_event // NS - self.seconds
                if last is None or open_s > last:
                    new.append(bar)
                    last = open_s
            if last is not None:
                self._last[inst.symbol] = last
        if not failed and self._open:
            self._status("live")
        new.sort(key=lambda b: b.ts_event)
        return new


def configured_feed(settings: Settings) -> StreamFeed:
    """The node's feed for ``PI5_FEED__KIND=yahoo``: delayed one-minute bars polled every
    ``PI5_YAHOO__POLL_INTERVAL_S`` as a ``StreamFeed`` (``PI5_FEED__*``) that backfills
    gaps from the chart history, holds back the bar still in progress and builds larger
    bars from the minutes. Yahoo has no quotes or trades.

    A failed poll is reported (``reconnecting``, counted) and the next poll tries again
    (``live``); an error polling cannot mend ends the poller and the feed opens a new one
    after its backoff."""
    from pi5trading.feeds.configured import stream_options

    history = YahooClient(settings.yahoo)

    def connect(subs: Sequence[Subscription]) -> AsyncIterator[Bar]:
        return _bars(subs)

    async def _bars(subs: Sequence[Subscription]) -> AsyncIterator[Bar]:
        poller = YahooPoller(
            history,
            [s.symbol for s in subs if s.bars],
            "1m",
            on_status=lambda st: feed.vendor_status(st.status, st.message),
        )
        try:
            await poller.connect()
            async for bar in poller:
                yield bar
        finally:
            await poller.close()

    options = stream_options(settings.feed)
    if settings.feed.stale_after_s == FeedSettings().stale_after_s:
        # The default suits a stream. Bars are all Yahoo sends: one a minute, seen up to
        # a poll later; shorter silence is its pace, not a stale feed (it would flip every
        # minute). A value set on purpose is kept.
        pace = 60.0 + 2 * settings.yahoo.poll_interval_s
        options["stale_after_s"] = max(options["stale_after_s"], pace)
    feed = StreamFeed(
        "yahoo",
        connect,
        history=history,
        native_bars=("1m",),
        skip_unfinished_bars=True,
        **options,
    )
    return feed


__all__ = [
    "INTERVALS",
    "ChartMeta",
    "LatestPrice",
    "YahooClient",
    "YahooPoller",
    "configured_feed",
    "us_equity",
]
