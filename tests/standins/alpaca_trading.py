"""A stateful stand-in for Alpaca's paper trading API (REST v2 + ``trade_updates`` stream).

Written from Alpaca's public API reference (docs.alpaca.markets: Orders, Positions,
Account, Account Activities, WebSocket streaming): the same paths, JSON field names,
status words, error bodies (``{"code": 40010001, "message": ...}``) and rate-limit headers.

    broker = AlpacaPaperBroker()
    with serve(broker.app) as base:
        client = AlpacaClient(key_id=broker.key_id, secret_key=broker.secret_key, base_url=base)

Market orders fill at once at ``broker.prices[symbol]`` (``default_price`` otherwise);
other orders rest until the test calls ``broker.fill(...)`` / ``broker.expire(...)``.
Failures are queued per route with ``broker.fault(route, ...)``: a status with Alpaca's
body, 429 with its headers, a slow answer (after the order was made: the client times out
not knowing), a truncated JSON body; ``broker.outage(fault)`` makes every REST request
answer ``fault`` (after its ``delay_s``) without doing anything until ``broker.outage(None)``
(Alpaca down; the stream stays up); ``broker.drop_stream_after(n)`` closes the stream
after ``n`` more updates. The state is shared with the server's thread under a lock.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, WebSocket, delete, get, patch, post, websocket

_JSON = "application/json"
TIFS = {"day", "gtc", "opg", "cls", "ioc", "fok"}
TYPES = {"market", "limit", "stop", "stop_limit", "trailing_stop"}
OPEN = {"new", "accepted", "pending_new", "partially_filled", "held", "pending_cancel"}


def iso(ns: int) -> str:
    s, frac = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> Response[bytes]:
    body = msgspec.json.encode({"code": code, "message": message})
    return Response(body, status_code=status, media_type=_JSON, headers=headers)


def ok(body: Any, status: int = 200) -> Response[bytes]:
    return Response(msgspec.json.encode(body), status_code=status, media_type=_JSON)


@dataclass
class Fault:
    """One planned failure of the next request on ``route`` (``"POST /v2/orders"``)."""

    status: int = 500
    body: bytes = b'{"code":50010000,"message":"internal server error"}'
    after: bool = False
    """Do the work first, then fail (the client cannot know the order was made)."""
    delay_s: float = 0.0
    truncate: bool = False
    """Answer 200 with the real body cut in half (after doing the work)."""
    headers: dict[str, str] = field(default_factory=dict)


class AlpacaPaperBroker:
    def __init__(
        self,
        *,
        key_id: str = "PKTESTKEY0000000001",
        secret_key: str = "s3cr3t-paper-key-never-logged",
        default_price: Decimal = Decimal("100.00"),
        cash: Decimal = Decimal("100000"),
    ) -> None:
        self.key_id = key_id
        self.secret_key = secret_key
        self.default_price = default_price
        self.prices: dict[str, Decimal] = {}
        self.cash = cash
        self.orders: dict[str, dict[str, Any]] = {}
        self.activities: list[dict[str, Any]] = []
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}  # symbol -> (signed qty, avg)
        self.faults: dict[str, deque[Fault]] = {}
        self.down: Fault | None = None
        self.requests: list[str] = []
        self.posts = 0
        self.leg_parent: dict[str, str] = {}
        self.lock = threading.RLock()
        self._subscribers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[bytes | None]]] = []
        self._drop_after: int | None = None
        self.stream_connections = 0
        self.app = self._build_app()

    # --- test controls -------------------------------------------------------------------

    def fault(self, route: str, fault: Fault | None = None, **kwargs: Any) -> None:
        with self.lock:
            self.faults.setdefault(route, deque()).append(fault or Fault(**kwargs))

    def outage(self, fault: Fault | None) -> None:
        """Every REST request answers ``fault`` (its status and body, after its ``delay_s``:
        longer than the client's timeout is no answer at all) without doing its work, until
        ``outage(None)``. Queued faults wait for the end of the outage."""
        with self.lock:
            self.down = fault

    def rate_limit(self, route: str, reset_in_s: float = 0.2) -> None:
        reset = time.time() + reset_in_s
        self.fault(
            route,
            status=429,
            body=b'{"code":42910000,"message":"rate limit exceeded"}',
            headers={
                "X-RateLimit-Limit": "200",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{reset:.3f}",
            },
        )

    def drop_stream_after(self, n: int) -> None:
        with self.lock:
            self._drop_after = n

    @property
    def stream_drop_pending(self) -> bool:
        """A ``drop_stream_after`` not carried out yet."""
        with self.lock:
            return self._drop_after is not None

    def by_client_id(self, client_order_id: str) -> dict[str, Any]:
        with self.lock:
            return next(o for o in self.orders.values() if o["client_order_id"] == client_order_id)

    def fill(self, order_id: str, qty: Decimal, price: Decimal) -> None:
        """An execution of ``qty`` at ``price`` (partial unless it completes the order)."""
        with self.lock:
            order = self.orders[order_id]
            self._execute(order, Decimal(qty), Decimal(price))

    def expire(self, order_id: str) -> None:
        with self.lock:
            order = self.orders[order_id]
            self._finish(order, "expired")
            self._publish("expired", order)

    def cancel_by_broker(self, order_id: str) -> None:
        with self.lock:
            order = self.orders[order_id]
            self._finish(order, "canceled")
            self._publish("canceled", order)

    def add_foreign_order(self, symbol: str, qty: Decimal, limit_price: Decimal) -> dict[str, Any]:
        """An open order placed by someone else on the same account (the web dashboard)."""
        with self.lock:
            return self._new_order(
                {
                    "symbol": symbol,
                    "qty": str(qty),
                    "side": "buy",
                    "type": "limit",
                    "time_in_force": "gtc",
                    "limit_price": str(limit_price),
                    "client_order_id": str(uuid.uuid4()),
                },
                status="new",
            )

    def emit(self, event: str, order_id: str, status: str | None = None) -> None:
        """Any documented trade_updates event for an order (``rejected``, ``done_for_day``,
        ``order_cancel_rejected`` ...), setting its status first when given."""
        with self.lock:
            order = self.orders[order_id]
            if status is not None:
                order["status"] = status
                order["updated_at"] = iso(self._now())
            self._publish(event, order)

    def publish_raw(self, frame: bytes) -> None:
        """Send any frame to the stream's listeners (a malformed one, say)."""
        with self.lock:
            for loop, queue in self._subscribers:
                loop.call_soon_threadsafe(queue.put_nowait, frame)

    # --- the broker ------------------------------------------------------------------------

    def _now(self) -> int:
        return time.time_ns()

    def _new_order(
        self, body: dict[str, Any], *, status: str, replaces: str | None = None
    ) -> dict[str, Any]:
        now = iso(self._now())
        order: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "client_order_id": body.get("client_order_id") or str(uuid.uuid4()),
            "created_at": now,
            "updated_at": now,
            "submitted_at": now,
            "filled_at": None,
            "expired_at": None,
            "canceled_at": None,
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": replaces,
            "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",
            "symbol": body["symbol"],
            "asset_class": "us_equity",
            "notional": None,
            "qty": body["qty"],
            "filled_qty": "0",
            "filled_avg_price": None,
            "order_class": body.get("order_class", "simple")
            if body.get("order_class") != "simple"
            else "",
            "order_type": body["type"],
            "type": body["type"],
            "side": body["side"],
            "time_in_force": body["time_in_force"],
            "limit_price": body.get("limit_price"),
            "stop_price": body.get("stop_price"),
            "status": status,
            "extended_hours": bool(body.get("extended_hours", False)),
            "legs": None,
            "trail_percent": body.get("trail_percent"),
            "trail_price": body.get("trail_price"),
            "hwm": None,
        }
        self.orders[order["id"]] = order
        return order

    def _publish(self, event: str, order: dict[str, Any], **extra: Any) -> None:
        message = {
            "stream": "trade_updates",
            "data": {"event": event, "timestamp": iso(self._now()), "order": dict(order), **extra},
        }
        frame = msgspec.json.encode(message)
        for loop, queue in self._subscribers:
            loop.call_soon_threadsafe(queue.put_nowait, frame)

    def _finish(self, order: dict[str, Any], status: str) -> None:
        order["status"] = status
        order["updated_at"] = iso(self._now())
        order[{"canceled": "canceled_at", "expired": "expired_at"}.get(status, "failed_at")] = (
            order["updated_at"]
        )

    def _execute(self, order: dict[str, Any], qty: Decimal, price: Decimal) -> None:
        filled = Decimal(order["filled_qty"])
        total = Decimal(order["qty"])
        qty = min(qty, total - filled)
        avg = Decimal(order["filled_avg_price"] or 0)
        new_filled = filled + qty
        order["filled_avg_price"] = str((avg * filled + price * qty) / new_filled)
        order["filled_qty"] = str(new_filled)
        now = self._now()
        order["updated_at"] = iso(now)
        done = new_filled >= total
        order["status"] = "filled" if done else "partially_filled"
        if done:
            order["filled_at"] = iso(now)
        sign = Decimal(1) if order["side"] == "buy" else Decimal(-1)
        self.cash -= sign * qty * price
        held, held_avg = self.positions.get(order["symbol"], (Decimal(0), Decimal(0)))
        after = held + sign * qty
        if after == 0:
            self.positions.pop(order["symbol"], None)
        else:
            growing = held == 0 or (held > 0) == (sign > 0)
            new_avg = (held_avg * abs(held) + price * qty) / abs(after) if growing else held_avg
            if (held > 0) != (after > 0) and held != 0:
                new_avg = price  # flipped through zero
            self.positions[order["symbol"]] = (after, new_avg)
        stamp = iso(now)[:23].replace("-", "").replace(":", "").replace("T", "")
        self.activities.append(
            {
                # Alpaca's activity ids: a compact timestamp, "::" and a UUID.
                "id": f"{stamp}::{uuid.uuid4()}",
                "activity_type": "FILL",
                "transaction_time": iso(now),
                "type": "fill" if done else "partial_fill",
                "price": str(price),
                "qty": str(qty),
                "side": order["side"],
                "symbol": order["symbol"],
                "leaves_qty": str(total - new_filled),
                "order_id": order["id"],
                "cum_qty": str(new_filled),
                "order_status": order["status"],
            }
        )
        self._publish(
            "fill" if done else "partial_fill",
            order,
            price=str(price),
            qty=str(qty),
            position_qty=str(after),
            execution_id=str(uuid.uuid4()),
        )
        if done:
            for leg in order.get("legs") or []:
                leg["status"] = "new"
                self._publish("new", leg)
            parent = self.orders.get(self.leg_parent.get(order["id"], ""))
            for sibling in (parent or {}).get("legs") or []:
                if sibling["id"] != order["id"] and sibling["status"] in OPEN:
                    self._finish(sibling, "canceled")  # one exit filled: the other goes
                    self._publish("canceled", sibling)

    def _validate(self, body: dict[str, Any]) -> Response[bytes] | None:
        for name in ("symbol", "side", "type", "time_in_force"):
            if not body.get(name):
                return error(422, 40010001, f"{name} is required")
        try:
            qty = Decimal(str(body.get("qty")))
        except InvalidOperation:
            return error(422, 40010001, "invalid qty")
        if not qty.is_finite() or qty <= 0:
            return error(422, 40010001, "qty must be > 0")
        if body["time_in_force"] not in TIFS:
            return error(422, 40010001, "invalid time_in_force")
        if body["type"] not in TYPES:
            return error(422, 40010001, "invalid order type")
        if body["type"] in ("limit", "stop_limit") and body.get("limit_price") is None:
            return error(422, 40010001, "limit_price is required for limit orders")
        if body["type"] in ("stop", "stop_limit") and body.get("stop_price") is None:
            return error(422, 40010001, "stop_price is required for stop orders")
        if body["type"] == "trailing_stop" and not (
            body.get("trail_price") or body.get("trail_percent")
        ):
            return error(422, 40010001, "trail_price or trail_percent is required")
        if body["side"] == "buy":
            price = Decimal(
                str(body.get("limit_price") or self.prices.get(body["symbol"], self.default_price))
            )
            if qty * price > self.cash:
                return error(403, 40310000, "insufficient buying power")
        coid = body.get("client_order_id")
        if coid and any(o["client_order_id"] == coid for o in self.orders.values()):
            return error(422, 40010001, "client_order_id must be unique")
        return None

    def _take_fault(self, route: str) -> Fault | None:
        with self.lock:
            self.requests.append(route)
            queue = self.faults.get(route)
            return queue.popleft() if queue else None

    async def _answer(self, route: str, work: Any) -> Response[bytes]:
        with self.lock:
            down = self.down
            if down is not None:
                self.requests.append(route)
        if down is not None:
            if down.delay_s:
                await asyncio.sleep(down.delay_s)
            return Response(
                down.body, status_code=down.status, media_type=_JSON, headers=down.headers
            )
        fault = self._take_fault(route)
        if fault is not None and not fault.after and not fault.truncate:
            if fault.delay_s:
                await asyncio.sleep(fault.delay_s)
                return work()
            return Response(
                fault.body, status_code=fault.status, media_type=_JSON, headers=fault.headers
            )
        response: Response[bytes] = work()
        if fault is None:
            return response
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.truncate:
            content = bytes(response.content)  # type: ignore[arg-type]
            return Response(content[: len(content) // 2], status_code=200, media_type=_JSON)
        return Response(
            fault.body, status_code=fault.status, media_type=_JSON, headers=fault.headers
        )

    def _authorized(self, request: Request[Any, Any, Any]) -> bool:
        return (
            request.headers.get("APCA-API-KEY-ID") == self.key_id
            and request.headers.get("APCA-API-SECRET-KEY") == self.secret_key
        )

    def _build_app(self) -> Litestar:
        broker = self

        def unauthorized() -> Response[bytes]:
            return error(401, 40110000, "request is not authorized")

        @post("/v2/orders", status_code=200)
        async def create_order(request: Request[Any, Any, Any]) -> Response[bytes]:
            if not broker._authorized(request):
                return unauthorized()
            raw = await request.body()

            def work() -> Response[bytes]:
                with broker.lock:
                    broker.posts += 1
                    try:
                        body = msgspec.json.decode(raw)
                    except msgspec.DecodeError:
                        return error(400, 40010000, "request body format is invalid")
                    invalid = broker._validate(body)
                    if invalid is not None:
                        return invalid
                    order = broker._new_order(body, status="new")
                    if body.get("order_class") in ("bracket", "oto", "oco"):
                        legs = []
                        for name in ("take_profit", "stop_loss"):
                            leg_body = body.get(name)
                            if not leg_body:
                                continue
                            leg = broker._new_order(
                                {
                                    "symbol": body["symbol"],
                                    "qty": body["qty"],
                                    "side": "sell" if body["side"] == "buy" else "buy",
                                    "type": "limit"
                                    if name == "take_profit"
                                    else ("stop_limit" if leg_body.get("limit_price") else "stop"),
                                    "time_in_force": body["time_in_force"],
                                    "limit_price": leg_body.get("limit_price"),
                                    "stop_price": leg_body.get("stop_price"),
                                },
                                status="held",
                            )
                            leg["order_class"] = body["order_class"]
                            broker.leg_parent[leg["id"]] = order["id"]
                            legs.append(leg)
                        order["legs"] = legs
                    broker._publish("new", order)
                    if body["type"] == "market":
                        price = broker.prices.get(body["symbol"], broker.default_price)
                        broker._execute(order, Decimal(order["qty"]), price)
                    return ok(order)

            return await broker._answer("POST /v2/orders", work)

        @get("/v2/orders")
        async def list_orders(request: Request[Any, Any, Any]) -> Response[bytes]:
            if not broker._authorized(request):
                return unauthorized()
            params = request.query_params
            status = params.get("status", "open")
            limit = min(500, int(params.get("limit", "50")))
            after = params.get("after")

            def work() -> Response[bytes]:
                with broker.lock:
                    orders = [
                        o
                        for o in broker.orders.values()
                        if (status == "all" or (status == "open") == (o["status"] in OPEN))
                        and (after is None or o["submitted_at"] > after)
                    ]
                orders.sort(key=lambda o: str(o["submitted_at"]))
                return ok(orders[:limit])

            return await broker._answer("GET /v2/orders", work)

        @get("/v2/orders:by_client_order_id")
        async def by_client_order_id(request: Request[Any, Any, Any]) -> Response[bytes]:
            if not broker._authorized(request):
                return unauthorized()
            coid = request.query_params.get("client_order_id")

            def work() -> Response[bytes]:
                with broker.lock:
                    for o in broker.orders.values():
                        if o["client_order_id"] == coid:
                            return ok(o)
                    return error(404, 40410000, "order not found")

            return await broker._answer("GET /v2/orders:by_client_order_id", work)

        @get("/v2/orders/{order_id:str}")
        async def get_order(request: Request[Any, Any, Any]) -> Response[bytes]:
            if not broker._authorized(request):
                return unauthorized()
            order_id: str = request.path_params["order_id"]

            def work() -> Response[bytes]:
                with broker.lock:
                    order = broker.orders.get(order_id)
                    return ok(order) if order else error(404, 40410000, "order not found")

            return await broker._answer("GET /v2/orders/{id}", work)

        @delete("/v2/orders/{order_id:str}", status_code=200)
        async def cancel_order(request: Request[Any, Any, Any]) -> Response[bytes]:
            if not broker._authorized(request):
                return unauthorized()
            order_id: str = request.path_params["order_id"]

            def work() -> Response[bytes]:
                with broker.lock:
                    order = broker.orders.get(order_id)
                    if order is None:
                        return error(404, 40410000, "order not found")
                    if order["status"] not in OPEN:
                        return error(422, 42210000, "order is not cancelable")
                    broker._finish(order, "canceled")
                    broker._publish("canceled", order)
                    return Response(b"", status_code=204)

            return await broker._answer("DELETE /v2/orders/{id}", work)

        @delete("/v2/orders", status_code=200)
        async def cancel_all(request: Request[Any, Any, Any]) -> Response[bytes]:
            if not broker._authorized(request):
                return unauthorized()

            def work() -> Response[bytes]:
                with broker.lock:
                    outcomes = []
                    for order in list(broker.orders.values()):
                        if order["status"] in OPEN:
                            broker._finish(order, "canceled")
                            broker._publish("canceled", order)
                            outcomes.append({"id": order["id"], "status": 200, "body": order})
                    return ok(outcomes, status=207)

            return await broker._answer("DELETE /v2/orders", work)

        @patch("/v2/orders/{order_id:str}")
        async def replace_order(request: Request[Any, Any, Any]) -> Response[bytes]:
            if not broker._authorized(request):
                return unauthorized()
            order_id: str = request.path_params["order_id"]
            raw = await request.body()

            def work() -> Response[bytes]:
                with broker.lock:
                    order = broker.orders.get(order_id)
                    if order is None:
                        return error(404, 40410000, "order not found")
                    if order["status"] not in ("new", "accepted", "partially_filled"):
                        return error(422, 42210000, "order is not replaceable")
                    changes = msgspec.json.decode(raw)
                    if "qty" in changes and Decimal(changes["qty"]) <= Decimal(order["filled_qty"]):
                        return error(422, 40010001, "qty must be greater than filled qty")
                    body = {**order, **{k: v for k, v in changes.items() if k != "trail"}}
                    body["client_order_id"] = changes.get("client_order_id")
                    new = broker._new_order(body, status="new", replaces=order_id)
                    new["filled_qty"] = order["filled_qty"]
                    new["filled_avg_price"] = order["filled_avg_price"]
                    order["status"] = "replaced"
                    order["replaced_by"] = new["id"]
                    order["replaced_at"] = order["updated_at"] = iso(broker._now())
                    broker._publish("replaced", order)
                    broker._publish("new", new)
                    return ok(new)

            return await broker._answer("PATCH /v2/orders/{id}", work)

        @get("/v2/positions")
        async def positions(request: Request[Any, Any, Any]) -> Response[bytes]:
            if not broker._authorized(request):
                return unauthorized()

            def work() -> Response[bytes]:
                with broker.lock:
                    rows = []
                    for symbol, (qty, avg) in broker.positions.items():
                        price = broker.prices.get(symbol, broker.default_price)
                        rows.append(
                            {
                                "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",
                                "symbol": symbol,
                                "exchange": "NASDAQ",
                                "asset_class": "us_equity",
                                "avg_entry_price": str(avg),
                                "qty": str(qty),
                                "qty_available": str(qty),
                                "side": "long" if qty > 0 else "short",
                                "market_value": str(qty * price),
                                "cost_basis": str(qty * avg),
                                "unrealized_pl": str(qty * (price - avg)),
                                "current_price": str(price),
                                "lastday_price": str(price),
                                "change_today": "0",
                            }
                        )
                    return ok(rows)

            return await broker._answer("GET /v2/positions", work)

        @get("/v2/account")
        async def account(request: Request[Any, Any, Any]) -> Response[bytes]:
            if not broker._authorized(request):
                return unauthorized()

            def work() -> Response[bytes]:
                with broker.lock:
                    value = sum(
                        (
                            q * broker.prices.get(s, broker.default_price)
                            for s, (q, _) in broker.positions.items()
                        ),
                        Decimal(0),
                    )
                    return ok(
                        {
                            "id": "904837e3-3b76-47ec-b432-046db621571b",
                            "account_number": "PA3PBNSH1U6U",
                            "status": "ACTIVE",
                            "currency": "USD",
                            "cash": str(broker.cash),
                            "portfolio_value": str(broker.cash + value),
                            "equity": str(broker.cash + value),
                            "buying_power": str(broker.cash),
                            "pattern_day_trader": False,
                            "trading_blocked": False,
                            "transfers_blocked": False,
                            "account_blocked": False,
                            "shorting_enabled": True,
                            "multiplier": "1",
                        }
                    )

            return await broker._answer("GET /v2/account", work)

        @get("/v2/account/activities/FILL")
        async def fills(request: Request[Any, Any, Any]) -> Response[bytes]:
            if not broker._authorized(request):
                return unauthorized()
            params = request.query_params
            after = params.get("after")
            size = int(params.get("page_size", "100"))
            token = params.get("page_token")

            def work() -> Response[bytes]:
                with broker.lock:
                    rows = list(broker.activities)
                if after:
                    rows = [a for a in rows if a["transaction_time"] > after]
                if token:
                    ids = [a["id"] for a in rows]
                    rows = rows[ids.index(token) + 1 :] if token in ids else []
                return ok(rows[:size])

            return await broker._answer("GET /v2/account/activities/FILL", work)

        @websocket("/stream")
        async def stream(socket: WebSocket[Any, Any, Any]) -> None:
            await socket.accept()
            auth = msgspec.json.decode(await socket.receive_data(mode="text"))
            authorized = (
                auth.get("action") == "auth"
                and auth.get("key") == broker.key_id
                and auth.get("secret") == broker.secret_key
            )
            status = "authorized" if authorized else "unauthorized"
            await socket.send_data(
                msgspec.json.encode(
                    {
                        "stream": "authorization",
                        "data": {"action": "authenticate", "status": status},
                    }
                ),
                mode="binary",
            )
            if not authorized:
                await socket.close(code=1008)
                return
            listen = msgspec.json.decode(await socket.receive_data(mode="text"))
            streams = listen.get("data", {}).get("streams", [])
            await socket.send_data(
                msgspec.json.encode({"stream": "listening", "data": {"streams": streams}}),
                mode="binary",
            )
            queue: asyncio.Queue[bytes | None] = asyncio.Queue()
            entry = (asyncio.get_running_loop(), queue)
            with broker.lock:
                broker._subscribers.append(entry)
                broker.stream_connections += 1

            async def watch() -> None:
                # The client hanging up ends the handler (else it would wait on the queue).
                try:
                    while True:
                        await socket.receive_data(mode="text")
                except Exception:  # any end of the socket ends the stream
                    queue.put_nowait(None)

            watcher = asyncio.create_task(watch())
            try:
                while True:
                    frame = await queue.get()
                    if frame is None:
                        break
                    with broker.lock:
                        if broker._drop_after is not None:
                            if broker._drop_after == 0:
                                broker._drop_after = None
                                break  # drop the connection: this update is lost to the stream
                            broker._drop_after -= 1
                    await socket.send_data(frame, mode="binary")
            finally:
                watcher.cancel()
                with broker.lock:
                    broker._subscribers.remove(entry)
            if socket.connection_state != "disconnect":
                await socket.close(code=1011)

        return Litestar(
            route_handlers=[
                create_order,
                list_orders,
                by_client_order_id,
                get_order,
                cancel_order,
                cancel_all,
                replace_order,
                positions,
                account,
                fills,
                stream,
            ],
            debug=False,
        )
