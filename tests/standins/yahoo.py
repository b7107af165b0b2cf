"""Stand-in for Yahoo Finance's chart endpoint (``/v8/finance/chart/{symbol}``).

Payloads follow what the endpoint answers (``?period1=&period2=&interval=``, UNIX seconds):
``{"chart": {"result": [{"meta": {...}, "timestamp": [...], "indicators": {"quote": [{
"open": [...], "high": [...], "low": [...], "close": [...], "volume": [...]}]}}],
"error": null}}``, prices as JSON floats with float32 noise, ``null`` in every column for
a minute without trades, the bar stamped at its open; errors as ``{"chart": {"result":
null, "error": {"code": "Not Found", "description": "..."}}}`` (404 for an unknown
symbol, 422 for an unsupported interval or a 1m range over 8 days), 429 as a plain-text
``Too Many Requests``.

Failure modes: push onto ``faults`` (consumed one per request): ``"429"`` (with
``Retry-After: 1``), ``"503"``, ``"malformed"``, ``"truncated"`` (a body cut mid-JSON,
complete as far as HTTP is concerned), ``"cut"`` (the connection closed mid-body),
``"empty"`` (a result without timestamps), ``"500"`` (an HTML 500 page), ``"hang"``
(no answer for ``hang_s``, then a normal one: the client's timeout fires first),
``"nulls"`` (the answer's newest ``null_rows`` rows sent as nulls, as Yahoo sends a minute
it has not filled in yet), ``"repeat"`` (the answer starts ``repeat_bars`` bars before
``period1``: bars already served, again), ``"shuffle"`` (the rows in reverse time order),
``"hole"`` (the second newest row left out: it appears in later answers, a backfill);
anything else (``"ok"``) answers normally. ``outage`` applies one fault to every request
while it is set (an outage, not one bad answer).

Clock: ``now`` (UTC seconds) is the stand-in's clock: bars opening after it are not
served, the one in progress is (as Yahoo does). With ``wall=True`` the clock is the wall
clock less ``delay_s`` (the vendor's delay: bars reach it late), held at ``frozen_at``
while that is set (a vendor that goes silent: no new bars, answers still come), and
``shift_s`` moves the tape in time, so the 2024 tape is served as today's bars.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from typing import Any

from litestar import Litestar, Request, Response, get

from tests.standins.tape import (
    TAPE_LAST,
    TapeBar,
    bars_between,
    float32_noise,
    session_start,
)

INTERVALS = {"1m": 60, "2m": 120, "5m": 300, "15m": 900, "30m": 1800, "60m": 3600, "1h": 3600}
INTERVALS_DAY = {"1d": 86_400}
KNOWN = {"AAPL", "MSFT", "SPY"}


class YahooStandin:
    def __init__(self, now: int | None = None, *, wall: bool = False, shift_s: int = 0) -> None:
        self.faults: deque[str] = deque()
        self.outage: str | None = None
        self.requests: list[dict[str, str]] = []
        self._now = now
        self.wall = wall
        self.shift_s = shift_s
        self.delay_s = 0
        self.frozen_at: int | None = None
        self.retry_after = "1"
        """``Retry-After`` of the ``"429"`` fault."""
        self.hang_s = 5.0
        self.null_rows = 2
        self.repeat_bars = 5
        self.served: dict[str, set[int]] = {}
        """Per symbol, the open times (UTC seconds, moved) of the completed bars served
        with prices in answers without a fault."""
        self.app = Litestar(route_handlers=[self._handler()], debug=False, logging_config=None)

    def _handler(self) -> Any:
        standin = self

        @get("/v8/finance/chart/{symbol:str}")
        async def chart(request: Request[Any, Any, Any]) -> Response[Any]:
            symbol, q = request.path_params["symbol"], dict(request.query_params)
            fault = standin.outage or (standin.faults.popleft() if standin.faults else None)
            if fault == "hang":
                await asyncio.sleep(standin.hang_s)
            return standin.answer(symbol, q, fault)

        return chart

    @property
    def now(self) -> int | None:
        if not self.wall:
            return self._now
        if self.frozen_at is not None:
            return self.frozen_at
        return int(time.time()) - self.delay_s

    @now.setter
    def now(self, value: int | None) -> None:
        self._now = value

    def answer(self, symbol: str, q: dict[str, str], fault: str | None = None) -> Response[Any]:
        self.requests.append({"symbol": symbol, **q})
        if fault == "429":
            return Response(
                "Too Many Requests\r\n",
                status_code=429,
                media_type="text/plain",
                headers={"Retry-After": self.retry_after},
            )
        if fault in ("500", "503"):
            title = "500 Internal Server Error" if fault == "500" else "503 Service Unavailable"
            return Response(
                f"<html><body>{title}</body></html>",
                status_code=int(fault),
                media_type="text/html",
            )
        if symbol not in KNOWN:
            return _error(404, "Not Found", "No data found, symbol may be delisted")
        interval = q.get("interval", "1d")
        seconds = INTERVALS.get(interval) or INTERVALS_DAY.get(interval)
        if seconds is None:
            return _error(
                422,
                "Unprocessable Entity",
                f"Invalid input - interval={interval} is not supported. Valid intervals: "
                "[1m, 2m, 5m, 15m, 30m, 60m, 90m, 1h, 4h, 1d, 5d, 1wk, 1mo, 3mo]",
            )
        try:
            p1, p2 = int(q["period1"]), int(q["period2"])
        except (KeyError, ValueError):
            return _error(
                400, "Bad Request", "Invalid input - period1 and period2 must be integers"
            )
        if interval == "1m" and p2 - p1 > 8 * 86_400:
            return _error(
                422,
                "Unprocessable Entity",
                f"1m data not available for startTime={p1} and endTime={p2}. Only 8 days "
                "worth of 1m granularity data are allowed to be fetched per request.",
            )
        now = self.now
        end = p2 if now is None else min(p2, now + 1)
        if fault == "repeat":
            p1 -= self.repeat_bars * seconds
        shift = self.shift_s
        bars = [_moved(b, shift) for b in bars_between(symbol, p1 - shift, end - shift, seconds)]
        nulls = 0
        if fault == "empty":
            bars = []
        elif fault == "hole" and len(bars) >= 2:
            del bars[-2]
        elif fault == "nulls":
            nulls = self.null_rows
        elif fault is None or fault == "ok":
            self.served.setdefault(symbol, set()).update(
                b.ts
                for b in bars
                if not is_null_row(b.ts - shift) and (now is None or b.ts + seconds <= now)
            )
        body = _chart(symbol, interval, bars, now, shift, nulls)
        if fault == "shuffle":
            result = body["chart"]["result"][0]
            if "timestamp" in result:
                result["timestamp"].reverse()
                for col in result["indicators"]["quote"][0].values():
                    col.reverse()
        text = json.dumps(body)
        if fault == "malformed":
            text = text.replace('"timestamp"', "timestamp", 1)
        if fault == "truncated":
            text = text[: len(text) // 2]
        if fault == "cut":
            return _CutResponse(text)
        return Response(text, media_type="application/json")


def _error(status: int, code: str, description: str) -> Response[Any]:
    body = {"chart": {"result": None, "error": {"code": code, "description": description}}}
    return Response(json.dumps(body), status_code=status, media_type="application/json")


def _moved(b: TapeBar, shift: int) -> TapeBar:
    return TapeBar(b.ts + shift, b.open, b.high, b.low, b.close, b.volume)


def _chart(
    symbol: str,
    interval: str,
    bars: list[Any],
    now: int | None,
    shift: int = 0,
    nulls: int = 0,
) -> dict[str, Any]:
    last = bars[-1] if bars else None
    meta = {
        "currency": "USD",
        "symbol": symbol,
        "exchangeName": "NMS",
        "fullExchangeName": "NasdaqGS",
        "instrumentType": "EQUITY",
        "firstTradeDate": 345479400,
        # Without a clock of its own the stand-in lives after its tape's last close.
        "regularMarketTime": now if now is not None else session_start(TAPE_LAST) + 390 * 60,
        "hasPrePostMarketData": True,
        "gmtoffset": -18000,
        "timezone": "EST",
        "exchangeTimezoneName": "America/New_York",
        "regularMarketPrice": float32_noise(last.close) if last else None,
        "priceHint": 2,
        "dataGranularity": interval,
        "range": "",
        "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
    }
    if not bars:
        return {"chart": {"result": [{"meta": meta, "indicators": {"quote": [{}]}}], "error": None}}
    quote: dict[str, list[Any]] = {"open": [], "high": [], "low": [], "close": [], "volume": []}
    stamps = []
    for k, b in enumerate(bars):
        stamps.append(b.ts)
        # A minute without trades, or not filled in yet: Yahoo sends nulls in every column.
        if is_null_row(b.ts - shift) or k >= len(bars) - nulls:
            for col in quote.values():
                col.append(None)
            continue
        quote["open"].append(float32_noise(b.open))
        quote["high"].append(float32_noise(b.high))
        quote["low"].append(float32_noise(b.low))
        quote["close"].append(float32_noise(b.close))
        quote["volume"].append(b.volume)
    result = {"meta": meta, "timestamp": stamps, "indicators": {"quote": [quote]}}
    return {"chart": {"result": [result], "error": None}}


def is_null_row(ts: int) -> bool:
    """Whether the stand-in sends the bar opening at ``ts`` as an all-null row."""
    return ts // 60 % 97 == 13


class _CutResponse(Response[Any]):
    """Promises the whole body, sends half, then closes the connection."""

    def __init__(self, text: str) -> None:
        super().__init__(text, media_type="application/json")
        self._text = text.encode()

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        body = self._text

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body[: len(body) // 2]})
            raise ConnectionError("stand-in cut the connection mid-body")

        return app
