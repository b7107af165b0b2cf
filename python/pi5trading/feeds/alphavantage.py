"""Alpha Vantage: daily and intraday bar history (``TIME_SERIES_DAILY``,
``TIME_SERIES_INTRADAY``), with its free tier's request allowance respected.

    async with AlphaVantageClient(settings.alphavantage) as av:
        bars = await av.history("IBM", start_ns, end_ns, "5m")

Prices come as decimal text (``"185.6400"``), read exactly and rounded once, half-even,
to the instrument's tick; volumes exactly. Intraday times are US/Eastern wall-clock times
of the bar's open (the answer's ``Time Zone``), converted to UTC; daily bars are stamped
at 00:00 UTC of their date. Intraday history goes one calendar month per request
(``month=YYYY-MM&outputsize=full``); daily history is one request (``compact``, the latest
100 days, when the range starts within them, else ``full``, which Alpha Vantage now keeps
for premium keys).

Alpha Vantage answers errors with HTTP 200: ``{"Note": ...}`` and ``{"Information": ...}``
are its throttle answers and become ``RateLimitedError`` (a per-minute note is retried
after a minute; the daily allowance is not retried); an ``Information`` about a premium
endpoint is an ``AuthError``; ``{"Error Message": ...}`` is a ``VendorDataError`` (a bad
symbol or parameter) or, for the key, an ``AuthError``. Before every request (retries
included) a ``RateLimiter`` waits for the allowance: ``requests_per_minute`` in any 60 s
and ``requests_per_day`` in any 24 h (5 and 25 on the free tier).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import msgspec

from pi5trading.config import AlphaVantageSettings
from pi5trading.feeds.ratelimit import RateLimiter, Window
from pi5trading.feeds.vendor import (
    AuthError,
    HistoryClient,
    RateLimitedError,
    VendorDataError,
    VendorHttp,
    bad_json,
    exact_quantity,
    on_tick,
)
from pi5trading.model import Bar, Instrument

VENDOR = "Alpha Vantage"
NS = 1_000_000_000
DAY_NS = 86_400 * NS

INTERVALS: dict[str, tuple[str, int]] = {
    "1m": ("1min", 60),
    "5m": ("5min", 300),
    "15m": ("15min", 900),
    "30m": ("30min", 1800),
    "1h": ("60min", 3600),
    "1d": ("daily", 86_400),
}
"""Our interval label → Alpha Vantage's, and its length in seconds."""

_COMPACT_DAYS = 100 * 7 // 5 - 10  # 100 trading days, in calendar days, with room


class _Point(msgspec.Struct):
    open: Decimal = msgspec.field(name="1. open")
    high: Decimal = msgspec.field(name="2. high")
    low: Decimal = msgspec.field(name="3. low")
    close: Decimal = msgspec.field(name="4. close")
    volume: Decimal = msgspec.field(name="5. volume")


_top = msgspec.json.Decoder(dict[str, msgspec.Raw])
_meta = msgspec.json.Decoder(dict[str, str])
_series = msgspec.json.Decoder(dict[str, _Point])


def _instrument(symbol: str | Instrument) -> Instrument:
    if isinstance(symbol, Instrument):
        return symbol
    return Instrument(symbol, "XNAS", "EQUITY", "USD", tick_size="0.01", lot_size="1")


class AlphaVantageClient(HistoryClient):
    """Bar history from Alpha Vantage (a key is required: ``PI5_ALPHAVANTAGE__API_KEY``)."""

    vendor = VENDOR

    def __init__(
        self,
        settings: AlphaVantageSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        backoff_s: float = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not settings.api_key:
            raise AuthError(
                VENDOR,
                "GET /query",
                "no API key: set PI5_ALPHAVANTAGE__API_KEY "
                "(a free key: https://www.alphavantage.co/support/#api-key), or store one "
                "with PUT /api/v1/credentials/alphavantage",
            )
        self.settings = settings
        self._key = settings.api_key
        self._wall = wall_clock
        self.limiter = RateLimiter(
            [
                Window(settings.requests_per_minute, 60.0),
                Window(settings.requests_per_day, 86_400.0),
            ],
            vendor=VENDOR,
            clock=clock,
            sleep=sleep,
        )
        self.http = VendorHttp(
            VENDOR,
            settings.base_url,
            secrets=[settings.api_key],
            timeout_s=settings.timeout_s,
            max_retries=settings.max_retries,
            backoff_s=backoff_s,
            sleep=sleep,
            transport=transport,
            before_request=self.limiter.acquire,
        )

    def __repr__(self) -> str:
        return f"AlphaVantageClient({self.settings.base_url!r})"

    async def history_chunks(
        self, symbol: str | Instrument, start_ns: int, end_ns: int, interval: str
    ) -> AsyncIterator[list[Bar]]:
        """``history`` one request at a time (intraday: one calendar month each)."""
        instrument = _instrument(symbol)
        if interval not in INTERVALS:
            raise VendorDataError(
                VENDOR,
                "GET /query",
                f"interval {interval!r} is not offered (use one of {', '.join(INTERVALS)})",
            )
        av_interval, seconds = INTERVALS[interval]
        if start_ns >= end_ns:
            return
        if seconds >= 86_400:
            recent = self._wall() - _COMPACT_DAYS * 86_400
            size = "compact" if start_ns // NS >= recent else "full"
            params = {"function": "TIME_SERIES_DAILY", "symbol": instrument.symbol}
            bars = await self._series(instrument, {**params, "outputsize": size}, interval)
            yield [b for b in bars if start_ns <= b.ts_event - DAY_NS < end_ns]
            return
        for month in _months(start_ns, end_ns):
            params = {
                "function": "TIME_SERIES_INTRADAY",
                "symbol": instrument.symbol,
                "interval": av_interval,
                "month": month,
                "outputsize": "full",
                "extended_hours": "false",
                "adjusted": "false",  # raw prices, as Yahoo's OHLC and Alpaca's adjustment=raw
            }
            bars = await self._series(instrument, params, interval)
            yield [b for b in bars if start_ns <= b.ts_event - seconds * NS < end_ns]

    async def _series(
        self, instrument: Instrument, params: dict[str, str], interval: str
    ) -> list[Bar]:
        function = params["function"]
        where = f"GET /query {function}"
        query: dict[str, str | int] = {**params, "datatype": "json", "apikey": self._key}
        meta, points, name = await self.http.get(
            "/query", query, lambda r, w: _parse(r, w, function), endpoint=where
        )
        return _bars(instrument, meta, points, name, interval, where)


def _months(start_ns: int, end_ns: int) -> list[str]:
    """The ``YYYY-MM`` (US/Eastern) calendar months that ``[start_ns, end_ns)`` touches."""
    ny = ZoneInfo("America/New_York")
    first = dt.datetime.fromtimestamp(start_ns / NS, ny).date().replace(day=1)
    last = dt.datetime.fromtimestamp((end_ns - 1) / NS, ny).date()
    out = []
    while first <= last:
        out.append(f"{first:%Y-%m}")
        first = (first + dt.timedelta(days=32)).replace(day=1)
    return out


def _parse(
    response: httpx.Response, where: str, function: str
) -> tuple[dict[str, str], dict[str, _Point], str]:
    if response.status_code >= 400:
        raise VendorDataError(VENDOR, where, f"HTTP {response.status_code}")
    try:
        top = _top.decode(response.content)
    except msgspec.DecodeError as exc:
        raise bad_json(VENDOR, where, response, exc) from None
    for key in ("Note", "Information", "Error Message"):
        if key in top:
            try:
                text = msgspec.json.decode(top[key], type=str)
            except msgspec.DecodeError:
                text = "?"
            raise _vendor_message(key, text, where)
    series_key = next((k for k in top if k.startswith("Time Series")), None)
    if "Meta Data" not in top or series_key is None:
        raise VendorDataError(
            VENDOR, where, f"no time series in the answer (keys: {', '.join(top) or 'none'})"
        )
    try:
        meta = _meta.decode(top["Meta Data"])
        points = _series.decode(top[series_key])
    except msgspec.DecodeError as exc:
        raise bad_json(VENDOR, where, response, exc) from None
    return meta, points, series_key


def _vendor_message(key: str, text: str, where: str) -> Exception:
    short = " ".join(text.split())[:240]
    lower = text.lower()
    if key == "Error Message":
        if "apikey" in lower:
            return AuthError(VENDOR, where, f"the key was refused: {short}")
        return VendorDataError(VENDOR, where, f"{short} (a wrong symbol or parameter)")
    if "premium" in lower and "endpoint" in lower:
        return AuthError(VENDOR, where, f"needs a premium plan: {short}")
    if key == "Information" and ("per day" in lower or "daily" in lower):
        return RateLimitedError(
            VENDOR, where, f"daily allowance used up: {short}", retry_after_s=86_400.0
        )
    # Per-minute frequency (or an unknown throttle text): try again after a minute.
    return RateLimitedError(VENDOR, where, f"throttled: {short}", retry_after_s=60.0)


def _bars(
    instrument: Instrument,
    meta: dict[str, str],
    points: dict[str, _Point],
    series_key: str,
    interval: str,
    where: str,
) -> list[Bar]:
    seconds = INTERVALS[interval][1]
    daily = seconds >= 86_400
    zone_name = next((v for k, v in meta.items() if k.endswith("Time Zone")), "US/Eastern")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise VendorDataError(VENDOR, where, f"unknown time zone {zone_name!r}") from None
    bar_type = f"{instrument.symbol}-{interval}"
    out: list[Bar] = []
    for stamp, p in points.items():
        try:
            if daily:
                day = dt.date.fromisoformat(stamp)
                open_ns = (day - dt.date(1970, 1, 1)).days * DAY_NS
            else:
                local = dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)
                open_ns = int(local.timestamp()) * NS
            out.append(
                Bar(
                    bar_type,
                    on_tick(instrument, p.open),
                    on_tick(instrument, p.high),
                    on_tick(instrument, p.low),
                    on_tick(instrument, p.close),
                    exact_quantity(p.volume),
                    open_ns + seconds * NS,
                )
            )
        except ValueError as exc:
            raise VendorDataError(VENDOR, where, f"{series_key} point {stamp!r}: {exc}") from None
    out.sort(key=lambda b: b.ts_event)
    return out


__all__ = ["INTERVALS", "AlphaVantageClient"]
