"""Alpaca market data v2: bar history over REST and live bars, quotes and trades over its
WebSocket stream. (Orders go through ``pi5trading.brokers``; this module only reads data.)

    async with AlpacaDataClient(settings.alpaca) as alpaca:
        bars = await alpaca.history("AAPL", start_ns, end_ns, "1m")

    stream = AlpacaStream(settings.alpaca, bars=["AAPL"], quotes=["AAPL"], trades=["AAPL"])
    await stream.connect()
    async for item in stream:       # Bar | QuoteTick | TradeTick
        ...
    await stream.close()

Keys go in the ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY`` headers (REST) and the auth
message (stream), from ``PI5_ALPACA__KEY_ID`` / ``PI5_ALPACA__SECRET_KEY``; they never
appear in an error, a log line or a repr.

Prices are JSON numbers, read exactly from their text and rounded once, half-even, to the
instrument's tick; sizes exactly. Bars are stamped by Alpaca at their open (``t``); the
model's ``ts_event`` is the close (``t`` + interval). Daily bars (``t`` = 00:00 New York)
are stamped at 00:00 UTC of their date, like the other providers'. Stream times keep their
nanoseconds.

History pages through ``next_page_token`` (10 000 bars a page). The stream reconnects after
a drop (backoff with jitter, at most ``max_retries`` attempts in a row), authenticates and
subscribes again; a message it cannot read is counted in ``stats.malformed``, logged and
skipped; one the model refuses (a crossed quote) in ``stats.invalid``. Auth errors (401,
402, 404 timeout, 406 connection limit, 409 plan) raise ``AuthError``: retrying would not
help.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Self, TypeAlias
from zoneinfo import ZoneInfo

import httpx
import msgspec
import websockets
from websockets.asyncio.client import ClientConnection

from pi5trading.config import AlpacaSettings, Settings
from pi5trading.events import FeedState, FeedStatus
from pi5trading.feeds.feed import StreamFeed, Subscription
from pi5trading.feeds.ratelimit import RateLimiter, Window
from pi5trading.feeds.vendor import (
    AuthError,
    HistoryClient,
    VendorDataError,
    VendorError,
    VendorHttp,
    VendorUnavailableError,
    bad_json,
    exact_quantity,
    ns_to_rfc3339,
    on_tick,
    rfc3339_ns,
    scrub,
)
from pi5trading.model import Bar, Instrument, QuoteTick, TradeTick

VENDOR = "Alpaca market data"
NS = 1_000_000_000
DAY_NS = 86_400 * NS
log = logging.getLogger("pi5trading.feeds.alpaca")
_NY = ZoneInfo("America/New_York")


class _NoOutgoingFrames(logging.Filter):
    """websockets logs every frame at DEBUG; ours (the auth message holds the keys, and
    its truncation of long frames can leave part of a key) are dropped, theirs kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(">"))


_wire = logging.getLogger("pi5trading.feeds.alpaca.wire")
_wire.addFilter(_NoOutgoingFrames())

TIMEFRAMES: dict[str, tuple[str, int]] = {
    "1m": ("1Min", 60),
    "5m": ("5Min", 300),
    "15m": ("15Min", 900),
    "30m": ("30Min", 1800),
    "1h": ("1Hour", 3600),
    "1d": ("1Day", 86_400),
}
"""Our interval label → Alpaca's timeframe, and its length in seconds."""

PAGE_LIMIT = 10_000
REQUESTS_PER_MINUTE = 200

Market: TypeAlias = Bar | QuoteTick | TradeTick


def _missing_keys(settings: AlpacaSettings) -> AuthError | None:
    if settings.key_id and settings.secret_key:
        return None
    missing = [
        name
        for name, value in (
            ("PI5_ALPACA__KEY_ID", settings.key_id),
            ("PI5_ALPACA__SECRET_KEY", settings.secret_key),
        )
        if not value
    ]
    return AuthError(
        VENDOR,
        "keys",
        f"no API key: set {' and '.join(missing)} "
        "(free keys: https://app.alpaca.markets → API keys), or store them with "
        "PUT /api/v1/credentials/alpaca",
    )


def _instrument(symbol: str | Instrument) -> Instrument:
    if isinstance(symbol, Instrument):
        return symbol
    return Instrument(symbol, "XNAS", "EQUITY", "USD", tick_size="0.01", lot_size="1")


# --- REST history ---------------------------------------------------------------------


class _RestBar(msgspec.Struct):
    t: str
    o: Decimal
    h: Decimal
    l: Decimal  # noqa: E741  (Alpaca's field name)
    c: Decimal
    v: Decimal


class _Page(msgspec.Struct):
    bars: list[_RestBar] | None = None
    next_page_token: str | None = None


class _ManyPage(msgspec.Struct):
    bars: dict[str, list[_RestBar]] | None = None
    next_page_token: str | None = None


class _Message(msgspec.Struct):
    message: str = ""


_page = msgspec.json.Decoder(_Page)
_many = msgspec.json.Decoder(_ManyPage)
_message = msgspec.json.Decoder(_Message)


def _timeframe(interval: str) -> tuple[str, int]:
    try:
        return TIMEFRAMES[interval]
    except KeyError:
        raise VendorDataError(
            VENDOR,
            "GET /v2/stocks/bars",
            f"interval {interval!r} is not offered (use one of {', '.join(TIMEFRAMES)})",
        ) from None


class AlpacaDataClient(HistoryClient):
    """Bar history from Alpaca's market data REST API."""

    vendor = VENDOR

    def __init__(
        self,
        settings: AlpacaSettings,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        backoff_s: float = 0.5,
        page_limit: int = PAGE_LIMIT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        missing = _missing_keys(settings)
        if missing is not None:
            raise missing
        self.settings = settings
        self.page_limit = page_limit
        # Alpaca's free plan allows 200 requests a minute (per account): stay under it
        # rather than collect 429s.
        self.limiter = RateLimiter(
            [Window(REQUESTS_PER_MINUTE, 60.0)], vendor=VENDOR, clock=clock, sleep=sleep
        )
        self.http = VendorHttp(
            VENDOR,
            settings.data_url,
            headers={
                "APCA-API-KEY-ID": settings.key_id,
                "APCA-API-SECRET-KEY": settings.secret_key,
                "Accept": "application/json",
            },
            secrets=[settings.key_id, settings.secret_key],
            timeout_s=settings.timeout_s,
            max_retries=settings.max_retries,
            backoff_s=backoff_s,
            sleep=sleep,
            transport=transport,
            before_request=self.limiter.acquire,
        )
        self.pages = 0

    def __repr__(self) -> str:
        return f"AlpacaDataClient({self.settings.data_url!r}, feed={self.settings.feed!r})"

    async def history_chunks(
        self, symbol: str | Instrument, start_ns: int, end_ns: int, interval: str
    ) -> AsyncIterator[list[Bar]]:
        """``history`` one page at a time."""
        instrument = _instrument(symbol)
        timeframe, seconds = _timeframe(interval)
        if start_ns >= end_ns:
            return
        path = f"/v2/stocks/{instrument.symbol}/bars"
        where = f"GET {path}"
        token: str | None = None
        while True:
            params = self._params(timeframe, start_ns, end_ns, token)
            page = await self.http.get(path, params, _parse_page, endpoint=where)
            self.pages += 1
            bars = _bars(instrument, page.bars or [], interval, seconds, where)
            yield [b for b in bars if start_ns <= b.ts_event - seconds * NS < end_ns]
            token = page.next_page_token
            if not token:
                return

    async def history_many(
        self, symbols: Sequence[str | Instrument], start_ns: int, end_ns: int, interval: str
    ) -> dict[str, list[Bar]]:
        """Several symbols' bars in one paged request (``/v2/stocks/bars``), by symbol."""
        instruments = {i.symbol: i for i in map(_instrument, symbols)}
        timeframe, seconds = _timeframe(interval)
        where = "GET /v2/stocks/bars"
        out: dict[str, list[Bar]] = {s: [] for s in instruments}
        if start_ns >= end_ns or not instruments:
            return out
        token: str | None = None
        while True:
            params = self._params(timeframe, start_ns, end_ns, token)
            params["symbols"] = ",".join(instruments)
            page = await self.http.get("/v2/stocks/bars", params, _parse_many, endpoint=where)
            self.pages += 1
            for s, rows in (page.bars or {}).items():
                if s not in instruments:
                    raise VendorDataError(VENDOR, where, f"bars for {s!r}, not asked for")
                bars = _bars(instruments[s], rows, interval, seconds, where)
                out[s].extend(b for b in bars if start_ns <= b.ts_event - seconds * NS < end_ns)
            token = page.next_page_token
            if not token:
                return out

    def _params(
        self, timeframe: str, start_ns: int, end_ns: int, token: str | None
    ) -> dict[str, str | int]:
        params: dict[str, str | int] = {
            "timeframe": timeframe,
            "start": ns_to_rfc3339(start_ns),
            # Alpaca's end is inclusive; ours is not.
            "end": ns_to_rfc3339(end_ns - 1),
            "limit": self.page_limit,
            "adjustment": "raw",
            "feed": self.settings.feed,
            "sort": "asc",
        }
        if token:
            params["page_token"] = token
        return params


def _error(response: httpx.Response, where: str) -> VendorDataError:
    try:
        text = _message.decode(response.content).message
    except msgspec.DecodeError:
        text = response.text[:200]
    return VendorDataError(VENDOR, where, f"HTTP {response.status_code}: {text}")


def _parse_page(response: httpx.Response, where: str) -> _Page:
    if response.status_code >= 400:
        raise _error(response, where)
    try:
        return _page.decode(response.content)
    except msgspec.DecodeError as exc:
        raise bad_json(VENDOR, where, response, exc) from None


def _parse_many(response: httpx.Response, where: str) -> _ManyPage:
    if response.status_code >= 400:
        raise _error(response, where)
    try:
        return _many.decode(response.content)
    except msgspec.DecodeError as exc:
        raise bad_json(VENDOR, where, response, exc) from None


def _open_ns(t: str, daily: bool) -> int:
    ns = rfc3339_ns(t)
    if daily:  # 00:00 New York of the session → 00:00 UTC of that date
        day = dt.datetime.fromtimestamp(ns // NS, _NY).date()
        return (day - dt.date(1970, 1, 1)).days * DAY_NS
    return ns


def _bars(
    instrument: Instrument, rows: Iterable[_RestBar], interval: str, seconds: int, where: str
) -> list[Bar]:
    bar_type = f"{instrument.symbol}-{interval}"
    daily = seconds >= 86_400
    out = []
    for r in rows:
        try:
            out.append(
                Bar(
                    bar_type,
                    on_tick(instrument, r.o),
                    on_tick(instrument, r.h),
                    on_tick(instrument, r.l),
                    on_tick(instrument, r.c),
                    exact_quantity(r.v),
                    _open_ns(r.t, daily) + seconds * NS,
                )
            )
        except ValueError as exc:
            raise VendorDataError(VENDOR, where, f"bar at {r.t}: {exc}") from None
    return out


# --- the WebSocket stream -------------------------------------------------------------


class _StreamBar(msgspec.Struct, tag_field="T", tag="b"):
    S: str
    o: Decimal
    h: Decimal
    l: Decimal  # noqa: E741  (Alpaca's field name)
    c: Decimal
    v: int | Decimal
    t: str


class _StreamQuote(msgspec.Struct, tag_field="T", tag="q", rename={"as_": "as"}):
    S: str
    bp: Decimal
    bs: int | Decimal
    ap: Decimal
    as_: int | Decimal
    t: str


class _StreamTrade(msgspec.Struct, tag_field="T", tag="t"):
    S: str
    p: Decimal
    s: int | Decimal
    t: str
    i: int | str = ""
    tks: str | None = None  # taker side (crypto only): B / S


class _Control(msgspec.Struct, tag_field="T", tag="success"):
    msg: str = ""


class _StreamError(msgspec.Struct, tag_field="T", tag="error"):
    code: int = 0
    msg: str = ""


class _Subscription(msgspec.Struct, tag_field="T", tag="subscription"):
    trades: list[str] = []
    quotes: list[str] = []
    bars: list[str] = []


class _Peek(msgspec.Struct):
    T: str = ""


_Item: TypeAlias = (
    _StreamBar | _StreamQuote | _StreamTrade | _Control | _StreamError | _Subscription
)
_frame = msgspec.json.Decoder(list[msgspec.Raw])
_frame_items = msgspec.json.Decoder(list[_Item])
_item = msgspec.json.Decoder(_Item)
_peek = msgspec.json.Decoder(_Peek)
_KNOWN_TAGS = {"b", "q", "t", "success", "error", "subscription"}
_AUTH_CODES = {401, 402, 404, 406, 409}
_CONNECTION_LIMIT = 406


class StreamAuthError(AuthError):
    """The stream refused the handshake; ``code`` is Alpaca's error code."""

    def __init__(self, endpoint: str, code: int, problem: str) -> None:
        super().__init__(VENDOR, endpoint, problem)
        self.code = code


def _describe(exc: Exception) -> str:
    return str(exc) if isinstance(exc, VendorError) else type(exc).__name__


class StreamStats(msgspec.Struct):
    """What the stream has seen: data items, items skipped, reconnects."""

    messages: int = 0
    malformed: int = 0
    """Frames or items that could not be read (skipped, logged)."""
    invalid: int = 0
    """Readable items the model refuses (a crossed quote, a negative size; skipped)."""
    ignored: int = 0
    """Message types not subscribed here (statuses, corrections ...)."""
    reconnects: int = 0


class AlpacaStream:
    """Live bars, quotes and trades: an async iterator of ``Bar | QuoteTick | TradeTick``."""

    vendor = VENDOR

    def __init__(
        self,
        settings: AlpacaSettings,
        *,
        bars: Iterable[str] = (),
        quotes: Iterable[str] = (),
        trades: Iterable[str] = (),
        instruments: Mapping[str, Instrument] | None = None,
        backoff_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        open_timeout_s: float | None = None,
        on_status: Callable[[FeedStatus], None] | None = None,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        missing = _missing_keys(settings)
        if missing is not None:
            raise missing
        self.settings = settings
        self.name = f"alpaca:{settings.feed}"
        """The feed's name in its ``FeedStatus`` events."""
        self._on_status = on_status
        self._now_ns = now_ns
        self.url = f"{settings.stream_url.rstrip('/')}/v2/{settings.feed}"
        self._subs: dict[str, set[str]] = {
            "bars": set(bars),
            "quotes": set(quotes),
            "trades": set(trades),
        }
        self._instruments = dict(instruments or {})
        self._backoff_s = backoff_s
        self._backoff_cap_s = backoff_cap_s
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._timeout = open_timeout_s or settings.timeout_s
        self._ws: ClientConnection | None = None
        self._ready: deque[Market] = deque()
        self._closing = False
        self.stats = StreamStats()
        self.confirmed: dict[str, list[str]] = {"bars": [], "quotes": [], "trades": []}
        """What Alpaca last confirmed being subscribed to (its ``subscription`` message)."""

    def __repr__(self) -> str:
        return f"AlpacaStream({self.url!r})"

    def __aiter__(self) -> Self:
        return self

    def instrument(self, symbol: str) -> Instrument:
        inst = self._instruments.get(symbol)
        if inst is None:
            inst = self._instruments[symbol] = _instrument(symbol)
        return inst

    def _status(self, state: FeedState, message: str = "") -> None:
        if self._on_status is not None:
            self._on_status(FeedStatus(self._now_ns(), self.name, state, message))

    async def connect(self) -> None:
        """Connect, authenticate and subscribe (``AuthError`` if the keys are refused).

        ``on_status`` hears ``connecting``, then ``live`` (or ``failed``); later
        ``reconnecting`` / ``live`` around a drop, ``failed`` when reconnecting gives up,
        ``closed`` after ``close()``."""
        self._closing = False
        if self._ws is not None:  # connecting again: one connection is all Alpaca allows
            await self._ws.close()
        self._status("connecting")
        try:
            self._ws = await self._open()
        except VendorError as exc:
            self._status("failed", str(exc))
            raise
        self._status("live")

    async def close(self) -> None:
        self._closing = True
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
        self._status("closed")

    async def subscribe(
        self, *, bars: Iterable[str] = (), quotes: Iterable[str] = (), trades: Iterable[str] = ()
    ) -> None:
        await self._change("subscribe", bars, quotes, trades)

    async def unsubscribe(
        self, *, bars: Iterable[str] = (), quotes: Iterable[str] = (), trades: Iterable[str] = ()
    ) -> None:
        await self._change("unsubscribe", bars, quotes, trades)

    async def _change(
        self, action: str, bars: Iterable[str], quotes: Iterable[str], trades: Iterable[str]
    ) -> None:
        change = {"bars": list(bars), "quotes": list(quotes), "trades": list(trades)}
        for kind, symbols in change.items():
            if action == "subscribe":
                self._subs[kind].update(symbols)
            else:
                self._subs[kind].difference_update(symbols)
        if self._ws is not None:  # the answer arrives as a subscription message
            await self._ws.send(msgspec.json.encode({"action": action, **change}).decode())

    async def __anext__(self) -> Market:
        while not self._ready:
            if self._closing:
                raise StopAsyncIteration
            if self._ws is None:
                raise VendorUnavailableError(VENDOR, self.url_path, "not connected: connect()")
            try:
                frame = await self._ws.recv()
            except websockets.ConnectionClosed as exc:
                if self._closing:
                    raise StopAsyncIteration from None
                why = str(exc.rcvd or "no close frame")
                log.warning("%s stream dropped (%s); reconnecting", VENDOR, why)
                self._status("reconnecting", f"dropped: {why}")
                try:
                    self._ws = await self._reconnect()
                except VendorError as failure:
                    self._ws = None
                    self._status("failed", str(failure))
                    raise
                self._status("live", "reconnected")
                continue
            self._read(frame)
        return self._ready.popleft()

    @property
    def url_path(self) -> str:
        return f"WebSocket /v2/{self.settings.feed}"

    async def _reconnect(self) -> ClientConnection:
        attempt = 0
        while True:
            wait = self._rng.uniform(0, min(self._backoff_cap_s, self._backoff_s * 2**attempt))
            await self._sleep(wait)
            try:
                ws = await self._open()
            except StreamAuthError as exc:
                # The dropped connection may still count against the limit of one for a
                # moment: 406 is worth another try here (not on the first connect).
                if exc.code != _CONNECTION_LIMIT:
                    raise
                failure: Exception = exc
            except AuthError:
                raise
            except (OSError, TimeoutError, websockets.WebSocketException, VendorError) as exc:
                failure = exc
            else:
                self.stats.reconnects += 1
                return ws
            attempt += 1
            if attempt > self.settings.max_retries:
                raise VendorUnavailableError(
                    VENDOR,
                    self.url_path,
                    f"reconnecting failed {attempt} times in a row: {_describe(failure)}",
                ) from None
            log.warning("%s reconnect %d failed: %s", VENDOR, attempt, _describe(failure))

    async def _open(self) -> ClientConnection:
        where = self.url_path
        ws = await websockets.connect(
            self.url,
            open_timeout=self._timeout,
            max_queue=1024,
            ping_interval=20,
            logger=_wire,
        )
        try:
            await self._expect(ws, "connected", where)
            auth = {
                "action": "auth",
                "key": self.settings.key_id,
                "secret": self.settings.secret_key,
            }
            await ws.send(msgspec.json.encode(auth).decode())
            await self._expect(ws, "authenticated", where)
            subs = {k: sorted(v) for k, v in self._subs.items()}
            if any(subs.values()):
                await ws.send(msgspec.json.encode({"action": "subscribe", **subs}).decode())
            return ws
        except BaseException:
            await ws.close()
            raise

    async def _expect(self, ws: ClientConnection, what: str, where: str) -> None:
        """Read control frames until ``{"T":"success","msg":what}``; an error is raised."""
        try:
            frame = await asyncio.wait_for(ws.recv(), self._timeout)
        except websockets.ConnectionClosed as exc:
            raise VendorUnavailableError(
                VENDOR, where, f"closed before {what!r} ({exc.rcvd or 'no close frame'})"
            ) from None
        try:
            items = [_item.decode(raw) for raw in _frame.decode(frame)]
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise VendorDataError(
                VENDOR, where, f"unreadable answer waiting for {what!r}: {exc}"
            ) from None
        for it in items:
            if isinstance(it, _StreamError):
                text = scrub(it.msg, (self.settings.key_id, self.settings.secret_key))
                error = f"error {it.code}: {text}"
                if it.code in _AUTH_CODES:
                    raise StreamAuthError(where, it.code, error)
                raise VendorDataError(VENDOR, where, error)
            if isinstance(it, _Control) and it.msg == what:
                return
        raise VendorDataError(VENDOR, where, f"expected {what!r}, got {frame[:120]!r}")

    def _read(self, frame: str | bytes) -> None:
        """Queue the data items of one frame; count and skip what cannot be read."""
        try:  # the usual frame: every item readable, decoded in one pass
            items = _frame_items.decode(frame)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self._read_each(frame)
            return
        for item in items:
            self._take(item)

    def _read_each(self, frame: str | bytes) -> None:
        """A frame with something unreadable in it: item by item."""
        try:
            raws = _frame.decode(frame)
        except msgspec.DecodeError:
            self._malformed(frame, "not a JSON array")
            return
        for raw in raws:
            try:
                item = _item.decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                try:
                    tag = _peek.decode(raw).T
                except (msgspec.DecodeError, msgspec.ValidationError):
                    tag = "?"
                if tag and tag not in _KNOWN_TAGS:
                    self.stats.ignored += 1
                else:
                    self._malformed(bytes(raw), str(exc))
                continue
            self._take(item)

    def _take(self, item: _Item) -> None:
        try:
            market = self._market(item)
        except ValueError as exc:
            self.stats.invalid += 1
            log.warning("%s: skipped %s: %s", VENDOR, type(item).__name__[1:], exc)
            return
        if market is not None:
            self.stats.messages += 1
            self._ready.append(market)

    def _malformed(self, frame: str | bytes | Any, why: str) -> None:
        self.stats.malformed += 1
        text = frame if isinstance(frame, str) else bytes(frame).decode("utf-8", "replace")
        log.warning("%s: skipped a malformed message (%s): %.120r", VENDOR, why, text)

    def _market(self, item: _Item) -> Market | None:
        if isinstance(item, _StreamBar):
            inst = self.instrument(item.S)
            return Bar(
                f"{item.S}-1m",
                on_tick(inst, item.o),
                on_tick(inst, item.h),
                on_tick(inst, item.l),
                on_tick(inst, item.c),
                exact_quantity(item.v),
                rfc3339_ns(item.t) + 60 * NS,
            )
        if isinstance(item, _StreamQuote):
            inst = self.instrument(item.S)
            return QuoteTick(
                item.S,
                on_tick(inst, item.bp),
                on_tick(inst, item.ap),
                exact_quantity(item.bs, "bid size"),
                exact_quantity(item.as_, "ask size"),
                rfc3339_ns(item.t),
            )
        if isinstance(item, _StreamTrade):
            inst = self.instrument(item.S)
            side = {"B": "BUYER", "S": "SELLER"}.get(item.tks or "", "NO_AGGRESSOR")
            return TradeTick(
                item.S,
                on_tick(inst, item.p),
                exact_quantity(item.s, "size"),
                side,  # type: ignore[arg-type]
                str(item.i),
                rfc3339_ns(item.t),
            )
        if isinstance(item, _Subscription):
            self.confirmed = {"bars": item.bars, "quotes": item.quotes, "trades": item.trades}
            return None
        if isinstance(item, _StreamError):
            # After the handshake: e.g. 405 symbol limit, 407 slow client.
            log.warning("%s stream error %d: %s", VENDOR, item.code, item.msg)
        return None


def configured_feed(settings: Settings) -> StreamFeed:
    """The node's feed for ``PI5_FEED__KIND=alpaca``: Alpaca's stream (``PI5_ALPACA__*``)
    as a ``StreamFeed`` (``PI5_FEED__*``: staleness, reconnects, calendar) that backfills
    gaps from the REST history and builds bars above one minute from the stream's minutes.

    The stream reconnects on its own after a drop; the feed reports that (``reconnecting``,
    then ``live``) and counts it, and opens a new stream if the stream gives up. Messages
    the stream could not read or the model refused are counted in ``stats.malformed``."""
    from pi5trading.feeds.configured import stream_options

    missing = _missing_keys(settings.alpaca)
    if missing is not None:
        raise missing
    history = AlpacaDataClient(settings.alpaca)
    done = 0  # malformed and invalid items of the streams already closed

    def connect(subs: Sequence[Subscription]) -> AsyncIterator[Market]:
        return _items(subs)

    async def _items(subs: Sequence[Subscription]) -> AsyncIterator[Market]:
        nonlocal done
        stream = AlpacaStream(
            settings.alpaca,
            bars=[s.symbol for s in subs if s.bars],
            quotes=[s.symbol for s in subs if s.quotes],
            trades=[s.symbol for s in subs if s.trades],
            backoff_s=settings.feed.reconnect_initial_s,
            backoff_cap_s=settings.feed.reconnect_max_s,
            on_status=lambda st: feed.vendor_status(st.status, st.message),
        )
        stats = stream.stats
        try:
            await stream.connect()
            async for item in stream:
                feed.stats.malformed = done + stats.malformed + stats.invalid
                yield item
        finally:
            done += stats.malformed + stats.invalid
            feed.stats.malformed = done
            await stream.close()

    feed = StreamFeed(
        f"alpaca:{settings.alpaca.feed}",
        connect,
        history=history,
        native_bars=("1m",),
        **stream_options(settings.feed),
    )
    return feed


__all__ = [
    "TIMEFRAMES",
    "AlpacaDataClient",
    "AlpacaStream",
    "StreamAuthError",
    "StreamStats",
    "configured_feed",
]
