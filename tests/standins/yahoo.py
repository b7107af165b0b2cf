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
``"empty"`` (a result without timestamps); anything else (``"ok"``) answers
normally. ``now`` (UTC seconds) is the stand-in's clock: bars opening after it are not
served, the one in progress is (as Yahoo does).
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from litestar import Litestar, Request, Response, get

from tests.standins.tape import TAPE_LAST, bars_between, float32_noise, session_start

INTERVALS = {"1m": 60, "2m": 120, "5m": 300, "15m": 900, "30m": 1800, "60m": 3600, "1h": 3600}
INTERVALS_DAY = {"1d": 86_400}
KNOWN = {"AAPL", "MSFT", "SPY"}


class YahooStandin:
    def __init__(self, now: int | None = None) -> None:
        self.faults: deque[str] = deque()
        self.requests: list[dict[str, str]] = []
        self.now = now
        self.retry_after = "1"
        """``Retry-After`` of the ``"429"`` fault."""
        self.app = Litestar(route_handlers=[self._handler()], debug=False, logging_config=None)

    def _handler(self) -> Any:
        standin = self

        @get("/v8/finance/chart/{symbol:str}", sync_to_thread=False)
        def chart(request: Request[Any, Any, Any]) -> Response[Any]:
            return standin.answer(request.path_params["symbol"], dict(request.query_params))

        return chart

    def answer(self, symbol: str, q: dict[str, str]) -> Response[Any]:
        self.requests.append({"symbol": symbol, **q})
        fault = self.faults.popleft() if self.faults else None
        if fault == "429":
            return Response(
                "Too Many Requests\r\n",
                status_code=429,
                media_type="text/plain",
                headers={"Retry-After": self.retry_after},
            )
        if fault == "503":
            return Response(
                "<html><body>503 Service Unavailable</body></html>",
                status_code=503,
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
        end = p2 if self.now is None else min(p2, self.now + 1)
        bars = bars_between(symbol, p1, end, seconds)
        if fault == "empty":
            bars = []
        body = _chart(symbol, interval, bars, self.now)
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


def _chart(symbol: str, interval: str, bars: list[Any], now: int | None) -> dict[str, Any]:
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
    for b in bars:
        stamps.append(b.ts)
        if is_null_row(b.ts):  # a minute without trades: Yahoo sends nulls in every column
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
