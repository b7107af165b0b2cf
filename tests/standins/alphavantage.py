"""Stand-in for Alpha Vantage's ``/query`` (``TIME_SERIES_DAILY``, ``TIME_SERIES_INTRADAY``).

Payloads as documented at https://www.alphavantage.co/documentation/: ``{"Meta Data":
{"1. Information": ..., "2. Symbol": ..., "3. Last Refreshed": ..., ...}, "Time Series
(5min)": {"2024-01-02 09:30:00": {"1. open": "185.6400", "2. high": ..., "3. low": ...,
"4. close": ..., "5. volume": "1200"}, ...}}``, newest first, prices as 4-decimal text,
intraday times in US/Eastern (``"6. Time Zone": "US/Eastern"``), daily keys dates.
``outputsize=compact`` is the latest 100 points; ``full`` is everything (daily) or, for
intraday, the trailing 30 days or the whole ``month=YYYY-MM``.

Errors come with HTTP 200, as Alpha Vantage sends them: a wrong key or a bad symbol as
``{"Error Message": ...}``, throttling as ``{"Note": ...}`` (calls per minute) or
``{"Information": ...}`` (requests per day; premium-only endpoints). Failure modes: push
onto ``faults``: ``"note"``, ``"information"``, ``"premium"``, ``"503"``, ``"malformed"``,
``"truncated"``, ``"echo"`` (an error quoting the key back).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import deque
from typing import Any

from litestar import Litestar, Request, Response, get

from tests.standins.tape import NY, TAPE_LAST, TapeBar, bars_between, cents, session_start

KEY = "AV-TEST-KEY-0123456789"
KNOWN = {"AAPL", "MSFT", "IBM"}
INTRADAY = {"1min": 60, "5min": 300, "15min": 900, "30min": 1800, "60min": 3600}

NOTE = (
    "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per "
    "minute and 500 calls per day. Please visit https://www.alphavantage.co/premium/ if you "
    "would like to target a higher API call frequency."
)
DAILY_LIMIT = (
    "Thank you for using Alpha Vantage! Our standard API rate limit is 25 requests per day. "
    "Please subscribe to any of the premium plans at https://www.alphavantage.co/premium/ "
    "to instantly remove all daily rate limits."
)
PREMIUM = (
    "Thank you for using Alpha Vantage! This is a premium endpoint. You may subscribe to any "
    "of the premium plans at https://www.alphavantage.co/premium/ to instantly unlock all "
    "premium endpoints"
)
BAD_KEY = (
    "the parameter apikey is invalid or missing. Please claim your free API key on "
    "(https://www.alphavantage.co/support/#api-key). It should take less than 20 seconds."
)


class AlphaVantageStandin:
    def __init__(self, key: str = KEY) -> None:
        self.key = key
        self.faults: deque[str] = deque()
        self.requests: list[dict[str, str]] = []
        self.app = Litestar(route_handlers=[self._handler()], debug=False, logging_config=None)

    def _handler(self) -> Any:
        standin = self

        @get("/query", sync_to_thread=False)
        def query(request: Request[Any, Any, Any]) -> Response[Any]:
            return standin.answer(dict(request.query_params))

        return query

    def answer(self, q: dict[str, str]) -> Response[Any]:
        self.requests.append(q)
        fault = self.faults.popleft() if self.faults else None
        if fault == "503":
            return Response("upstream unavailable", status_code=503, media_type="text/plain")
        if fault in ("note", "information", "premium"):
            text = {"note": NOTE, "information": DAILY_LIMIT, "premium": PREMIUM}[fault]
            key = "Note" if fault == "note" else "Information"
            return _json({key: text})
        if fault == "echo":  # not seen from Alpha Vantage: proves a quoted key is scrubbed
            return _json({"Error Message": f"Invalid API call (key {q.get('apikey')})."})
        if q.get("apikey") != self.key:
            return _json({"Error Message": BAD_KEY})
        function = q.get("function", "")
        symbol = q.get("symbol", "")
        invalid = {
            "Error Message": "Invalid API call. Please retry or visit the documentation "
            f"(https://www.alphavantage.co/documentation/) for {function}."
        }
        if symbol not in KNOWN:
            return _json(invalid)
        compact = q.get("outputsize", "compact") != "full"
        if function == "TIME_SERIES_DAILY":
            body = _daily(symbol, compact)
        elif function == "TIME_SERIES_INTRADAY" and q.get("interval") in INTRADAY:
            body = _intraday(symbol, q["interval"], compact, q.get("month"))
            if body is None:
                return _json(invalid)
        else:
            return _json(invalid)
        text = json.dumps(body, indent=4)  # Alpha Vantage pretty-prints
        if fault == "malformed":
            text = text.replace('"1. open"', "1. open", 1)
        if fault == "truncated":
            text = text[: len(text) // 2]
        return Response(text, media_type="application/json")


def _json(body: dict[str, Any]) -> Response[Any]:
    return Response(json.dumps(body, indent=4), media_type="application/json")


def _point(b: TapeBar) -> dict[str, str]:
    return {
        "1. open": f"{cents(b.open):.4f}",
        "2. high": f"{cents(b.high):.4f}",
        "3. low": f"{cents(b.low):.4f}",
        "4. close": f"{cents(b.close):.4f}",
        "5. volume": str(b.volume),
    }


def _daily(symbol: str, compact: bool) -> dict[str, Any]:
    end = session_start(TAPE_LAST + dt.timedelta(days=1))
    days = bars_between(symbol, session_start(dt.date(2023, 12, 1)), end, 86_400)
    if compact:
        days = days[-100:]
    series = {
        dt.datetime.fromtimestamp(b.ts, NY).date().isoformat(): _point(b) for b in reversed(days)
    }
    meta = {
        "1. Information": "Daily Prices (open, high, low, close) and Volumes",
        "2. Symbol": symbol,
        "3. Last Refreshed": TAPE_LAST.isoformat(),
        "4. Output Size": "Compact" if compact else "Full size",
        "5. Time Zone": "US/Eastern",
    }
    return {"Meta Data": meta, "Time Series (Daily)": series}


def _intraday(
    symbol: str, interval: str, compact: bool, month: str | None
) -> dict[str, Any] | None:
    seconds = INTRADAY[interval]
    if month:
        try:
            first = dt.date.fromisoformat(month + "-01")
        except ValueError:
            return None
        after = (first + dt.timedelta(days=32)).replace(day=1)
    else:
        after = TAPE_LAST + dt.timedelta(days=1)
        first = after - dt.timedelta(days=30)
    start = int(dt.datetime(first.year, first.month, first.day, tzinfo=NY).timestamp())
    end = int(dt.datetime(after.year, after.month, after.day, tzinfo=NY).timestamp())
    bars = bars_between(symbol, start, end, seconds)
    if compact:
        bars = bars[-100:]
    series = {
        dt.datetime.fromtimestamp(b.ts, NY).strftime("%Y-%m-%d %H:%M:%S"): _point(b)
        for b in reversed(bars)
    }
    last = series and next(iter(series))
    meta = {
        "1. Information": f"Intraday ({interval}) open, high, low, close prices and volume",
        "2. Symbol": symbol,
        "3. Last Refreshed": last or "",
        "4. Interval": interval,
        "5. Output Size": "Compact" if compact else "Full size",
        "6. Time Zone": "US/Eastern",
    }
    return {"Meta Data": meta, f"Time Series ({interval})": series}
