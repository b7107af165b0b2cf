"""Stand-in for Alpaca market data v2: REST bars and the real-time WebSocket stream.

REST (https://docs.alpaca.markets/reference/stockbars): ``GET /v2/stocks/{symbol}/bars``
and ``GET /v2/stocks/bars?symbols=A,B`` with ``timeframe`` (``1Min``, ``5Min``, ``15Min``,
``30Min``, ``1Hour``, ``1Day``), ``start``/``end`` (RFC 3339), ``limit`` (1-10000,
default 1000), ``page_token``, ``feed``, ``adjustment``; answers ``{"bars": [{"t":
"2024-01-02T14:30:00Z", "o": 187.15, "h": ..., "l": ..., "c": ..., "v": 1234, "n": 56,
"vw": 187.2012}], "symbol": "AAPL", "next_page_token": "..." | null}`` (the multi-symbol
form: ``"bars": {"AAPL": [...], ...}``). Keys in ``APCA-API-KEY-ID`` /
``APCA-API-SECRET-KEY``: missing → 401, wrong → 403, ``feed=sip`` without the plan → 403;
429 with ``X-RateLimit-*`` headers; 422 for a bad parameter; error bodies ``{"message":
"..."}``. Daily bars are stamped at 00:00 New York (``05:00Z`` in winter).

Stream (https://docs.alpaca.markets/docs/real-time-stock-pricing-data): ``/v2/{iex|sip}``;
the server sends ``[{"T":"success","msg":"connected"}]``, expects ``{"action":"auth",
"key":..., "secret":...}`` → ``[{"T":"success","msg":"authenticated"}]`` or ``[{"T":
"error","code":402,"msg":"auth failed"}]`` and closes; ``{"action":"subscribe","bars":
[...],"quotes":[...],"trades":[...]}`` → ``[{"T":"subscription",...}]``; then data as arrays
of ``{"T":"b"|"q"|"t", "S": symbol, ...}``.

Failure modes: REST ``faults`` (one per request): ``"429"``, ``"500"``, ``"malformed"``,
``"truncated"``. Stream: ``auth_error`` (an error code answered to auth: 402, 406 connection
limit, 409 insufficient subscription ...), ``drop_after`` (close the first connection
abruptly after that many data frames), ``junk`` (frames sent among the data that are not
valid messages), ``lost_on_drop`` (frames of the tape that pass while the client is away
after that drop: never sent, as Alpaca does not replay them), ``silent`` (send nothing
while true, connection kept). ``stream_frames`` is the data to send (built by
``data_frames``), shared across connections so a reconnected client continues where the
tape is; frames appended later are sent as they come, ``pace_s`` apart. ``shift_s`` moves
the tape in time (REST answers and ``data_frames(..., shift_s=)``), so a node on the wall
clock can be fed it as live data.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from collections import deque
from typing import Any

from litestar import Litestar, Request, Response, WebSocket, get, websocket

from tests.standins.tape import NY, TapeBar, bars_between, cents

KEY_ID = "PKTEST0123456789ABCD"
SECRET = "sEcReT/0123456789abcdefghijklmnopqrstuvw"
KNOWN = {"AAPL", "MSFT", "SPY"}
TIMEFRAMES = {"1Min": 60, "5Min": 300, "15Min": 900, "30Min": 1800, "1Hour": 3600, "1Day": 86_400}
AUTH_ERRORS = {
    401: "not authenticated",
    402: "auth failed",
    404: "auth timeout",
    406: "connection limit exceeded",
    409: "insufficient subscription",
}


def rfc3339(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def bar_json(b: TapeBar, daily: bool = False, shift_s: int = 0) -> dict[str, Any]:
    ts = b.ts + shift_s
    if daily:  # stamped at midnight New York of the session date
        day = dt.datetime.fromtimestamp(b.ts, NY).date()
        ts = int(dt.datetime(day.year, day.month, day.day, tzinfo=NY).timestamp()) + shift_s
    return {
        "t": rfc3339(ts),
        "o": float(cents(b.open)),
        "h": float(cents(b.high)),
        "l": float(cents(b.low)),
        "c": float(cents(b.close)),
        "v": b.volume,
        "n": b.volume // 100 + 1,
        "vw": round(float(cents(b.open + b.close)) / 2, 4),
    }


def data_frames(symbol: str, start: int, count: int, shift_s: int = 0) -> list[str]:
    """``count`` frames of tape data from ``start`` (UTC s): each minute a trade, a quote and
    the minute's bar (stamped at its open, sent when it closes), as Alpaca sends them; every
    time ``shift_s`` later than the tape's."""
    frames: list[str] = []
    for k, b in enumerate(bars_between(symbol, start, start + 60 * count)):
        close_ts = b.ts + 59 + shift_s
        trade = {
            "T": "t",
            "S": symbol,
            "i": 52983525029461 + k,
            "x": "V",
            "p": float(cents(b.close)),
            "s": 100 + k,
            "c": ["@"],
            "t": rfc3339(close_ts)[:-1] + f".{123456789 + k:09d}Z",
            "z": "C",
        }
        quote = {
            "T": "q",
            "S": symbol,
            "bx": "V",
            "bp": float(cents(b.close - 1)),
            "bs": 2 + k % 5,
            "ax": "V",
            "ap": float(cents(b.close + 1)),
            "as": 3 + k % 4,
            "c": ["R"],
            "z": "C",
            "t": rfc3339(close_ts)[:-1] + ".5Z",
        }
        bar = {"T": "b", "S": symbol, **bar_json(b, shift_s=shift_s)}
        frames.append(json.dumps([trade, quote]))
        frames.append(json.dumps([bar]))
    return frames[:count]


class AlpacaDataStandin:
    def __init__(self) -> None:
        self.faults: deque[str] = deque()
        self.requests: list[dict[str, str]] = []
        self.sip_allowed = False
        self.page_limit_cap = 10_000
        # stream
        self.auth_error: int | None = None
        self.auth_error_on: dict[int, int] = {}
        """Connection number (1 = the first) → the error code its auth gets."""
        self.drop_after: int | None = None
        self.junk: list[tuple[int, str]] = []
        """(before data frame k, raw text) pairs sent on the first connection."""
        self.stream_frames: list[str] = []
        self.lost_on_drop = 0
        self.pace_s = 0.0
        self.silent = False
        self.shift_s = 0
        self.sent = 0
        self.connections = 0
        self.received: list[dict[str, Any]] = []
        self.app = Litestar(route_handlers=self._handlers(), debug=False, logging_config=None)

    # --- REST --------------------------------------------------------------------------

    def _handlers(self) -> list[Any]:
        standin = self

        @get("/v2/stocks/{symbol:str}/bars", sync_to_thread=False)
        def one(request: Request[Any, Any, Any]) -> Response[Any]:
            symbol = request.path_params["symbol"]
            return standin.bars(request, [symbol], single=True)

        @get("/v2/stocks/bars", sync_to_thread=False)
        def many(request: Request[Any, Any, Any]) -> Response[Any]:
            symbols = [s for s in request.query_params.get("symbols", "").split(",") if s]
            return standin.bars(request, symbols, single=False)

        @websocket("/v2/{feed:str}")
        async def stream(socket: WebSocket[Any, Any, Any]) -> None:
            await standin.stream(socket)

        return [one, many, stream]

    def bars(
        self, request: Request[Any, Any, Any], symbols: list[str], *, single: bool
    ) -> Response[Any]:
        q = dict(request.query_params)
        self.requests.append({"symbols": ",".join(symbols), **q})
        fault = self.faults.popleft() if self.faults else None
        if fault == "429":
            return _message(
                429,
                "too many requests.",
                {"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "0", "Retry-After": "2"},
            )
        if fault == "500":
            return _message(500, "internal server error")
        key, secret = (
            request.headers.get("apca-api-key-id"),
            request.headers.get("apca-api-secret-key"),
        )
        if not key or not secret:
            return _message(401, "unauthorized.")
        if (key, secret) != (KEY_ID, SECRET):
            return _message(403, "forbidden")
        if q.get("feed", "sip") == "sip" and not self.sip_allowed:
            return _message(403, "subscription does not permit querying recent SIP data")
        seconds = TIMEFRAMES.get(q.get("timeframe", ""))
        if seconds is None:
            return _message(422, f"invalid timeframe: {q.get('timeframe')!r}")
        bad = [s for s in symbols if s not in KNOWN]
        if bad or not symbols:
            return _message(400, f"invalid symbol: {','.join(bad) or '(none)'}")
        try:
            start, end = parse_time(q["start"]), parse_time(q.get("end", "2100-01-01T00:00:00Z"))
            start, end = start - self.shift_s, end - self.shift_s
            limit = int(q.get("limit", "1000"))
        except (KeyError, ValueError):
            return _message(422, "invalid start, end or limit")
        if not 1 <= limit <= self.page_limit_cap:
            return _message(422, "invalid limit: must be between 1 and 10000")
        # All bars of the request in (symbol, time) order; the page token is where to go on.
        items: list[tuple[str, dict[str, Any], int]] = []
        for s in sorted(symbols):
            for b in bars_between(s, start, end + 1, seconds):
                items.append((s, bar_json(b, seconds >= 86_400, self.shift_s), b.ts))
        begin = 0
        if q.get("page_token"):
            try:
                s0, _, t0 = base64.b64decode(q["page_token"]).decode().partition("|")
                begin = next(k for k, (s, _, t) in enumerate(items) if (s, t) >= (s0, int(t0)))
            except Exception:
                return _message(422, "invalid page token")
        page = items[begin : begin + limit]
        token = None
        if begin + limit < len(items):
            s1, _, t1 = items[begin + limit]
            token = base64.b64encode(f"{s1}|{t1}".encode()).decode()
        if single:
            body: dict[str, Any] = {
                "bars": [b for _, b, _ in page],
                "symbol": symbols[0],
                "next_page_token": token,
            }
        else:
            grouped: dict[str, list[dict[str, Any]]] = {}
            for s, b, _ in page:
                grouped.setdefault(s, []).append(b)
            body = {"bars": grouped, "next_page_token": token}
        text = json.dumps(body)
        if fault == "malformed":
            text = text.replace('"bars"', "bars", 1)
        if fault == "truncated":
            text = text[: len(text) // 2]
        return Response(text, media_type="application/json")

    # --- stream ------------------------------------------------------------------------

    async def stream(self, socket: WebSocket[Any, Any, Any]) -> None:
        self.connections += 1
        first = self.connections == 1
        await socket.accept()
        await socket.send_text(json.dumps([{"T": "success", "msg": "connected"}]))
        try:
            auth = json.loads(await asyncio.wait_for(socket.receive_text(), 5))
        except TimeoutError:
            await _error_and_close(socket, 404)
            return
        self.received.append(auth)
        code = self.auth_error_on.get(self.connections, self.auth_error)
        if code is not None:
            await _error_and_close(socket, code)
            return
        if auth.get("action") != "auth" or (auth.get("key"), auth.get("secret")) != (
            KEY_ID,
            SECRET,
        ):
            await _error_and_close(socket, 402)
            return
        await socket.send_text(json.dumps([{"T": "success", "msg": "authenticated"}]))
        subscribed: dict[str, list[str]] = {"trades": [], "quotes": [], "bars": []}
        msg = json.loads(await socket.receive_text())
        self.received.append(msg)
        if msg.get("action") == "subscribe":
            for kind in subscribed:
                subscribed[kind] = sorted(set(subscribed[kind]) | set(msg.get(kind, [])))
        await socket.send_text(
            json.dumps(
                [
                    {
                        "T": "subscription",
                        **subscribed,
                        "updatedBars": [],
                        "dailyBars": [],
                        "statuses": [],
                        "lulds": [],
                        "corrections": [],
                        "cancelErrors": [],
                    }
                ]
            )
        )
        junk = dict(self.junk) if first else {}
        sent_here = 0
        # A live stream: data as it comes (frames appended later too), the client's
        # messages read meanwhile, until the client leaves.
        reader = asyncio.create_task(self._read_client(socket))
        try:
            while not reader.done():
                if self.silent or self.sent >= len(self.stream_frames):
                    if junk and self.sent >= len(self.stream_frames):
                        for text in junk.values():
                            await socket.send_text(text)
                        junk = {}
                    await asyncio.wait({reader}, timeout=0.02)
                    continue
                if sent_here in junk:
                    await socket.send_text(junk.pop(sent_here))
                if first and self.drop_after is not None and sent_here >= self.drop_after:
                    self.sent = min(len(self.stream_frames), self.sent + self.lost_on_drop)
                    await socket.close(code=1011, reason="internal error")
                    return
                await socket.send_text(self.stream_frames[self.sent])
                self.sent += 1
                sent_here += 1
                if self.pace_s:
                    await asyncio.sleep(self.pace_s)
        except Exception:  # the client left mid-send
            return
        finally:
            reader.cancel()

    async def _read_client(self, socket: WebSocket[Any, Any, Any]) -> None:
        try:
            while True:
                self.received.append(json.loads(await socket.receive_text()))
        except Exception:
            return


async def _error_and_close(socket: WebSocket[Any, Any, Any], code: int) -> None:
    await socket.send_text(json.dumps([{"T": "error", "code": code, "msg": AUTH_ERRORS[code]}]))
    await socket.close(code=1008)


def _message(status: int, text: str, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        json.dumps({"message": text}),
        status_code=status,
        media_type="application/json",
        headers=headers or {},
    )
