"""Alpaca as an execution client: REST v2 trading API (httpx) and the ``trade_updates`` stream.

Paper trading (``https://paper-api.alpaca.markets``) unless the settings say live *and*
confirm it (``PI5_BROKER__LIVE=true`` with ``PI5_BROKER__I_UNDERSTAND_LIVE_TRADING=yes``).

Safety of retries: reads (GET) and cancels (DELETE) are retried on 5xx, timeouts, broken
connections and malformed bodies; a 429 waits for the broker's reset time and is retried
for every call (Alpaca answers it before doing anything). An order (POST) is never sent
again blindly: after an answer we did not get, the order is looked up by its client order
id and only re-sent if Alpaca has none (and a duplicate client order id is answered 422,
which is looked up in turn). A replace (PATCH) in doubt is resolved the same way through
the order it replaces, which can be replaced once only.

The keys go into two request headers and the stream's auth message, nowhere else: not in
``repr``, log lines (the WebSocket library's frame logging is kept below DEBUG) or errors.
The wire format and the mapping of Alpaca's words to ours: ``pi5trading.brokers.alpaca_wire``.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any, Final

import anyio
import httpx
import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from pi5trading.brokers.alpaca_wire import (
    ACCOUNT,
    AUTH,
    CANCELS,
    ENCODE,
    ERROR,
    EVENT_KINDS,
    FILLS,
    MESSAGE,
    ORDER,
    ORDERS,
    POSITIONS,
    UPDATE,
    AuthReply,
    TradeUpdate,
    WireError,
    WireFill,
    WireOrder,
    broker_order,
    iso,
    order_body,
    order_status,
    parse_ts,
    plain,
    working_status,
)
from pi5trading.brokers.execution import (
    TERMINAL_STATUSES,
    BrokerAccount,
    BrokerAuthError,
    BrokerFill,
    BrokerOrder,
    BrokerOrderUpdate,
    BrokerPosition,
    BrokerRateLimitError,
    BrokerUnavailableError,
    ExecutionClient,
    OrderNotFoundError,
    OrderRejectedError,
    OrderRequest,
    OrderStatus,
    TimeInForce,
)
from pi5trading.brokers.rate_limit import TokenBucket
from pi5trading.config import BrokerSettings
from pi5trading.exceptions import ConfigurationError

log = logging.getLogger(__name__)
_FINISHED_KEPT: Final = 10_000
_LOOK_BACK_NS: Final = 60 * 1_000_000_000

PAPER_URL: Final = "https://paper-api.alpaca.markets"
LIVE_URL: Final = "https://api.alpaca.markets"


class _Tracked:
    """What the stream last told us about one broker order (for dedup and gap recovery)."""

    __slots__ = ("client_order_id", "filled", "quantity", "status")

    def __init__(
        self, client_order_id: str, status: OrderStatus, filled: Decimal, quantity: Decimal
    ) -> None:
        self.client_order_id = client_order_id
        self.status = status
        self.filled = filled
        self.quantity = quantity


class _UncertainError(Exception):
    """We do not know whether the broker acted on the request (timeout, 5xx, bad body)."""


class _QuietFrames(logging.LoggerAdapter[logging.Logger]):
    """The WebSocket library logs every frame at DEBUG, the auth message (our keys)
    included: let it log warnings and errors only."""

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 (logging's name)
        return level >= logging.WARNING and self.logger.isEnabledFor(level)

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if level >= logging.WARNING:
            super().log(level, msg, *args, **kwargs)


def alpaca_endpoints(settings: BrokerSettings) -> tuple[str, str]:
    """The REST base URL and the ``trade_updates`` URL; refuses live trading unconfirmed."""
    if settings.live:
        if settings.i_understand_live_trading != "yes":
            raise ConfigurationError(
                "PI5_BROKER__LIVE=true sends orders with real money to "
                f"{settings.live_url}: set PI5_BROKER__I_UNDERSTAND_LIVE_TRADING=yes to "
                "confirm, or PI5_BROKER__LIVE=false to paper trade"
            )
        base = settings.live_url
    else:
        base = settings.paper_url
    base = base.rstrip("/")
    return base, settings.stream_url or re.sub(r"^http", "ws", base) + "/stream"


class AlpacaClient(ExecutionClient):
    """Orders, positions and account at Alpaca; ``updates()`` streams ``trade_updates``."""

    name = "alpaca"

    def __init__(
        self,
        *,
        key_id: str,
        secret_key: str,
        base_url: str = PAPER_URL,
        stream_url: str | None = None,
        timeout_s: float = 10.0,
        max_retries: int = 3,
        rate_limit_per_minute: int = 200,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
    ) -> None:
        if not key_id or not secret_key:
            raise ConfigurationError(
                "Alpaca needs PI5_BROKER__KEY_ID and PI5_BROKER__SECRET_KEY (paper keys from "
                "https://app.alpaca.markets, Paper Trading, API keys), or store them with "
                "PUT /api/v1/credentials/alpaca_broker"
            )
        self.base_url = base_url.rstrip("/")
        self.stream_url = stream_url or re.sub(r"^http", "ws", self.base_url) + "/stream"
        self._key_id = key_id
        self._secret_key = secret_key
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"APCA-API-KEY-ID": key_id, "APCA-API-SECRET-KEY": secret_key},
            timeout=timeout_s,
        )
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._bucket = TokenBucket(rate_limit_per_minute)
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        # broker order id -> what we last knew; our client order id -> current broker id.
        self._tracked: dict[str, _Tracked] = {}
        self._broker_ids: dict[str, str] = {}
        self._ws: ClientConnection | None = None
        self._finished: dict[str, None] = {}  # recently finished broker ids, oldest first
        # Gap recovery looks back to the last update, at first to just before we started.
        self._last_update_ts = time.time_ns() - _LOOK_BACK_NS
        self._closed = False

    @classmethod
    def from_settings(cls, settings: BrokerSettings) -> AlpacaClient:
        base, stream = alpaca_endpoints(settings)
        return cls(
            key_id=settings.key_id,
            secret_key=settings.secret_key,
            base_url=base,
            stream_url=stream,
            timeout_s=settings.request_timeout_s,
            max_retries=settings.max_retries,
            rate_limit_per_minute=settings.rate_limit_per_minute,
        )

    def __repr__(self) -> str:
        return f"AlpacaClient(base_url={self.base_url!r}, stream_url={self.stream_url!r})"

    def _is_closed(self) -> bool:
        return self._closed  # a call, so mypy does not narrow it inside the stream loop

    @property
    def paper(self) -> bool:
        return "paper-api" in self.base_url or not self.base_url.startswith(LIVE_URL)

    # --- HTTP plumbing ---------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        # Exponential with full jitter, so many clients do not retry in step.
        return random.uniform(0, min(self._max_backoff_s, self._backoff_s * 2**attempt))

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """One request through the rate limit; a 429 waits and is sent again (Alpaca did
        nothing). Raises ``_UncertainError`` when we cannot tell what the broker did."""
        what = f"{method} {path}"
        for attempt in range(self._max_retries + 1):
            await self._bucket.acquire()
            try:
                response = await self._http.request(
                    method,
                    path,
                    params=params,
                    content=None if json is None else ENCODE.encode(json),
                    headers=None if json is None else {"Content-Type": "application/json"},
                )
            except httpx.TimeoutException as exc:
                raise _UncertainError(f"{what}: no answer within {self._timeout_s} s") from exc
            except httpx.TransportError as exc:
                raise _UncertainError(f"{what}: connection failed ({type(exc).__name__})") from exc
            if response.status_code == 429:
                wait = self._rate_limit_wait(response, attempt)
                self._bucket.drain(wait)
                log.warning("Alpaca rate limit hit on %s; waiting %.1f s", what, wait)
                if attempt == self._max_retries:
                    break
                await anyio.sleep(wait)
                continue
            if response.status_code >= 500:
                raise _UncertainError(f"{what}: Alpaca answered {response.status_code}")
            return response
        raise BrokerRateLimitError(f"{what}: still rate limited after {self._max_retries} retries")

    def _rate_limit_wait(self, response: httpx.Response, attempt: int) -> float:
        headers = response.headers
        try:
            if "Retry-After" in headers:
                return max(0.0, float(headers["Retry-After"]))
            if "X-RateLimit-Reset" in headers:
                return min(60.0, max(0.0, float(headers["X-RateLimit-Reset"]) - time.time()))
        except ValueError:
            pass
        return self._backoff(attempt) or self._backoff_s

    async def _read(
        self,
        method: str,
        path: str,
        decoder: msgspec.json.Decoder[Any],
        *,
        params: Mapping[str, str] | None = None,
        missing_ok: bool = False,
    ) -> Any:
        """An idempotent call: retried on 5xx, timeouts and malformed bodies."""
        what = f"{method} {path}"
        failure = ""
        for attempt in range(self._max_retries + 1):
            if attempt:
                await anyio.sleep(self._backoff(attempt))
            try:
                response = await self._send(method, path, params=params)
            except _UncertainError as exc:
                failure = str(exc)
                log.warning("%s; %s", failure, _next_step(attempt, self._max_retries))
                continue
            if missing_ok and response.status_code == 404:
                return None
            self._raise_for_status(what, response)
            if response.status_code == 204:
                return None
            try:
                return decoder.decode(response.content)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                failure = f"{what}: malformed answer from Alpaca ({exc})"
                log.warning("%s; %s", failure, _next_step(attempt, self._max_retries))
        raise BrokerUnavailableError(f"{failure} ({_gave_up(self._max_retries)})")

    @staticmethod
    def _error(response: httpx.Response) -> WireError:
        try:
            return ERROR.decode(response.content)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return WireError(message=response.text[:200])

    def _raise_for_status(self, what: str, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        error = self._error(response)
        detail = f"{error.message or 'no message'}" + (
            f" (code {error.code})" if error.code else ""
        )
        if status == 401 or (status == 403 and not _is_trading_refusal(error)):
            raise BrokerAuthError(
                f"{what}: Alpaca refused the API keys ({status}: {detail}); check "
                "PI5_BROKER__KEY_ID / PI5_BROKER__SECRET_KEY and paper vs live"
            )
        if status == 404:
            raise OrderNotFoundError(f"{what}: not found at Alpaca ({detail})")
        raise OrderRejectedError(f"{what}: Alpaca refused ({status}: {detail})", code=error.code)

    # --- orders --------------------------------------------------------------------

    def _track(self, order: BrokerOrder, like: str | None = None) -> BrokerOrder:
        """Follow an order we placed: the stream (or the gap recovery) then tells its whole
        life from ``submitted`` on; a replacement continues from the order it replaces."""
        self._broker_ids[order.client_order_id] = order.broker_order_id
        broker_id = order.broker_order_id
        if broker_id in self._tracked or broker_id in self._finished:
            return order  # the stream got there first
        prior = self._tracked.get(like) if like is not None else None
        self._tracked[broker_id] = _Tracked(
            order.client_order_id,
            prior.status if prior is not None else "submitted",
            prior.filled if prior is not None else Decimal(0),
            order.quantity,
        )
        return order

    def _track_placed(self, order: BrokerOrder, request: OrderRequest) -> BrokerOrder:
        """Track a new order and its legs; the legs of a bracket/OCO/OTO get our ids (the
        engine's child orders) where the request names them, so their updates carry them."""
        legs = []
        for leg in order.legs:
            ours = None
            if leg.order_type == "limit" and request.take_profit is not None:
                ours = request.take_profit.client_order_id
            elif leg.order_type != "limit" and request.stop_loss is not None:
                ours = request.stop_loss.client_order_id
            if ours is not None:
                leg = msgspec.structs.replace(leg, client_order_id=ours)
            legs.append(self._track(leg))
        if legs:
            order = msgspec.structs.replace(order, legs=tuple(legs))
        return self._track(order)

    def follow(self, order: BrokerOrder) -> None:
        """From now on name this broker order with ``order.client_order_id`` (a bracket
        leg or an adopted order that the reconciliation matched): its updates carry it.
        Its history up to now is the reconciliation's; the stream tells what follows."""
        if not order.is_open:
            return
        self._broker_ids[order.client_order_id] = order.broker_order_id
        tracked = self._tracked.get(order.broker_order_id)
        if tracked is not None:
            tracked.client_order_id = order.client_order_id
        else:
            self._tracked[order.broker_order_id] = _Tracked(
                order.client_order_id, order.status, order.filled_qty, order.quantity
            )

    def _forget(self, broker_id: str) -> None:
        tracked = self._tracked.pop(broker_id, None)
        if tracked is not None:
            if self._broker_ids.get(tracked.client_order_id) == broker_id:
                del self._broker_ids[tracked.client_order_id]  # memory stays with open orders
            self._finished[broker_id] = None
            if len(self._finished) > _FINISHED_KEPT:
                del self._finished[next(iter(self._finished))]

    async def submit(self, request: OrderRequest) -> BrokerOrder:
        body = order_body(request)
        coid = request.client_order_id
        what = f"submit of order {coid!r}"
        failure = ""
        for attempt in range(self._max_retries + 1):
            if attempt:
                await anyio.sleep(self._backoff(attempt))
            try:
                response = await self._send("POST", "/v2/orders", json=body)
                if response.status_code < 300:
                    placed = broker_order(ORDER.decode(response.content))
                    return self._track_placed(placed, request)
            except (_UncertainError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                # Did Alpaca take it? Ask by our id before sending anything again.
                failure = f"{what}: {exc}"
                log.warning("%s; looking the order up by client order id", failure)
                try:
                    existing = await self.order(coid)
                except BrokerUnavailableError as lookup:
                    raise BrokerUnavailableError(f"{failure}; {_IN_DOUBT} ({lookup})") from exc
                if existing is not None:
                    return self._track_placed(existing, request)
                continue
            error = self._error(response)
            if response.status_code == 422 and "client_order_id" in error.message:
                existing = await self.order(coid)
                if existing is not None and _same_order(existing, request):
                    return self._track_placed(existing, request)
                if existing is not None:
                    raise OrderRejectedError(
                        f"{what}: client order id already used at Alpaca by a different order",
                        code=error.code,
                    )
            self._raise_for_status(f"{what} (POST /v2/orders)", response)
        raise BrokerUnavailableError(f"{failure} ({_gave_up(self._max_retries)}); {_IN_DOUBT}")

    async def _current(self, client_order_id: str) -> BrokerOrder:
        broker_id = self._broker_ids.get(client_order_id)
        if broker_id is not None:
            raw = await self._read("GET", f"/v2/orders/{broker_id}", ORDER, missing_ok=True)
            if raw is not None:
                return await self._follow(raw, client_order_id)
        order = await self.order(client_order_id)
        if order is None:
            raise OrderNotFoundError(f"order {client_order_id!r}: Alpaca has no such order")
        return order

    async def _follow(self, raw: WireOrder, client_order_id: str) -> BrokerOrder:
        """The live successor of a replaced order (Alpaca gives replacements new ids)."""
        for _ in range(50):
            if raw.status != "replaced" or not raw.replaced_by:
                break
            raw = await self._read("GET", f"/v2/orders/{raw.replaced_by}", ORDER)
        return broker_order(raw, client_order_id)

    async def order(self, client_order_id: str) -> BrokerOrder | None:
        raw = await self._read(
            "GET",
            "/v2/orders:by_client_order_id",
            ORDER,
            params={"client_order_id": client_order_id, "nested": "true"},
            missing_ok=True,
        )
        return None if raw is None else await self._follow(raw, client_order_id)

    async def cancel(self, client_order_id: str) -> None:
        order = await self._current(client_order_id)
        what = f"cancel of order {client_order_id!r}"
        for attempt in range(self._max_retries + 1):
            if attempt:
                await anyio.sleep(self._backoff(attempt))
            try:
                response = await self._send("DELETE", f"/v2/orders/{order.broker_order_id}")
            except _UncertainError as exc:
                log.warning("%s: %s; %s", what, exc, _next_step(attempt, self._max_retries))
                continue
            if response.status_code == 422:
                # A retried cancel meets its own first attempt: that is success.
                now = await self._current(client_order_id)
                if now.status == "cancelled" or now.broker_status == "pending_cancel":
                    return
            self._raise_for_status(f"{what} (DELETE /v2/orders/{{id}})", response)
            return
        raise BrokerUnavailableError(f"{what}: no answer ({_gave_up(self._max_retries)})")

    async def cancel_all(self) -> list[str]:
        """``DELETE /v2/orders``: Alpaca cancels every open order in one call and answers
        each order's outcome (207); the ids it accepted to cancel, ours where we know them."""
        what = "cancel of all open orders (DELETE /v2/orders)"
        for attempt in range(self._max_retries + 1):
            if attempt:
                await anyio.sleep(self._backoff(attempt))
            try:
                response = await self._send("DELETE", "/v2/orders")
            except _UncertainError as exc:
                # Cancelling twice is harmless.
                log.warning("%s: %s; %s", what, exc, _next_step(attempt, self._max_retries))
                continue
            self._raise_for_status(what, response)
            try:
                outcomes = CANCELS.decode(response.content)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue  # the cancels went out; ask again for the list
            asked = []
            for outcome in outcomes:
                if outcome.status < 300:
                    tracked = self._tracked.get(outcome.id)
                    asked.append(tracked.client_order_id if tracked is not None else outcome.id)
            return asked
        raise BrokerUnavailableError(f"{what}: no answer ({_gave_up(self._max_retries)})")

    async def replace(
        self,
        client_order_id: str,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        trail: Decimal | None = None,
        time_in_force: TimeInForce | None = None,
    ) -> BrokerOrder:
        old = await self._current(client_order_id)
        body: dict[str, str] = {}
        for name, value in (
            ("qty", quantity),
            ("limit_price", limit_price),
            ("stop_price", stop_price),
            ("trail", trail),
        ):
            if value is not None:
                if not value.is_finite() or value <= 0:
                    raise OrderRejectedError(
                        f"replace of order {client_order_id!r}: {name} must be > 0, got {value}"
                    )
                body[name] = plain(value)
        if time_in_force is not None:
            body["time_in_force"] = time_in_force
        if not body:
            raise OrderRejectedError(f"replace of order {client_order_id!r}: nothing to change")
        what = f"replace of order {client_order_id!r}"
        for attempt in range(self._max_retries + 1):
            if attempt:
                await anyio.sleep(self._backoff(attempt))
            try:
                response = await self._send("PATCH", f"/v2/orders/{old.broker_order_id}", json=body)
                if response.status_code < 300:
                    new = broker_order(ORDER.decode(response.content), client_order_id)
                    return self._track(new, like=old.broker_order_id)
            except (_UncertainError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                log.warning("%s: %s; checking the order", what, exc)
                now = await self._current(client_order_id)
                if now.broker_order_id != old.broker_order_id:
                    return self._track(now, like=old.broker_order_id)
                if now.broker_status == "pending_replace" or not now.is_open:
                    # In flight or finished: wait for the outcome instead of sending again.
                    continue
                continue  # untouched: the old order can be replaced only once, safe to resend
            self._raise_for_status(f"{what} (PATCH /v2/orders/{{id}})", response)
        raise BrokerUnavailableError(f"{what}: no answer ({_gave_up(self._max_retries)})")

    async def open_orders(self) -> list[BrokerOrder]:
        return [self._resolve(raw) for raw in await self._open_raw()]

    async def _open_raw(self) -> list[WireOrder]:
        orders: list[WireOrder] = []
        params = {"status": "open", "limit": "500", "nested": "true", "direction": "asc"}
        for _ in range(1_000):
            page: list[WireOrder] = await self._read("GET", "/v2/orders", ORDERS, params=params)
            orders.extend(page)
            if len(page) < 500 or not page[-1].submitted_at:
                break
            # Alpaca pages by time: the next page starts after the last order's submission.
            params = {**params, "after": page[-1].submitted_at}
        return orders

    def _resolve(self, raw: WireOrder) -> BrokerOrder:
        """A broker order named by our client order id where we know it (replacements)."""
        tracked = self._tracked.get(raw.id)
        ours = tracked.client_order_id if tracked is not None else None
        if ours is None and raw.replaces:
            prior = self._tracked.get(raw.replaces)
            ours = prior.client_order_id if prior is not None else None
        return broker_order(raw, ours)

    async def positions(self) -> list[BrokerPosition]:
        raws = await self._read("GET", "/v2/positions", POSITIONS)
        # Alpaca reports a short as a negative qty with side "short"; keep the sign either way.
        return [
            BrokerPosition(
                instrument=p.symbol,
                quantity=-abs(p.qty) if p.side == "short" else p.qty,
                avg_px=p.avg_entry_price,
            )
            for p in raws
        ]

    async def account(self) -> BrokerAccount:
        a = await self._read("GET", "/v2/account", ACCOUNT)
        return BrokerAccount(
            account_id=a.id,
            currency=a.currency,
            cash=a.cash,
            equity=a.equity,
            buying_power=a.buying_power,
            status=a.status,
            trading_blocked=a.trading_blocked,
        )

    async def fills_since(self, ts: int) -> list[BrokerFill]:
        fills: list[BrokerFill] = []
        # ``after`` is exclusive and coarse: ask from a second earlier, filter exactly here.
        params = {"after": iso(max(0, ts - 1_000_000_000)), "direction": "asc", "page_size": "100"}
        names: dict[str, str] = {}
        for _ in range(10_000):
            page: list[WireFill] = await self._read(
                "GET", "/v2/account/activities/FILL", FILLS, params=params
            )
            for a in page:
                when = parse_ts(a.transaction_time)
                if when < ts:
                    continue
                fills.append(
                    BrokerFill(
                        fill_id=a.id,
                        broker_order_id=a.order_id,
                        client_order_id=await self._client_order_id(a.order_id, names),
                        instrument=a.symbol,
                        side=a.side,
                        quantity=a.qty,
                        price=a.price,
                        ts=when,
                        cum_qty=a.cum_qty,
                    )
                )
            if len(page) < 100:
                break
            params = {**params, "page_token": page[-1].id}
        return fills

    async def _client_order_id(self, broker_order_id: str, cache: dict[str, str]) -> str:
        tracked = self._tracked.get(broker_order_id)
        if tracked is not None:
            return tracked.client_order_id
        for ours, broker_id in self._broker_ids.items():
            if broker_id == broker_order_id:
                return ours
        if broker_order_id not in cache:
            raw = await self._read("GET", f"/v2/orders/{broker_order_id}", ORDER, missing_ok=True)
            cache[broker_order_id] = raw.client_order_id if raw is not None else ""
        return cache[broker_order_id]

    # --- trade_updates -----------------------------------------------------------------

    def map_update(self, update: TradeUpdate) -> BrokerOrderUpdate | None:
        """Our update for one ``trade_updates`` message; ``None`` for one already applied
        (seen live after the gap recovery reported it)."""
        raw = update.order
        kind = EVENT_KINDS.get(update.event)
        if kind is None:
            log.warning("Alpaca trade_updates: unknown event %r on order %s", update.event, raw.id)
            kind = "notice"
        if raw.id in self._finished:
            return None  # its end was told already (live or by the gap recovery)
        tracked = self._tracked.get(raw.id)
        if update.event == "new" and raw.replaces:
            # A replacement's own "new": the replace was (or is now) told as modify_accepted.
            prior = self._tracked.pop(raw.replaces, None)
            if tracked is not None:
                kind = "notice"
            elif prior is not None:
                tracked = self._tracked[raw.id] = prior
                kind = "modify_accepted"
        elif update.event == "replaced" and tracked is None and raw.replaced_by in self._tracked:
            kind = "notice"  # its successor's "new" came first and told it
        ours = tracked.client_order_id if tracked is not None else raw.client_order_id
        status = order_status(raw.status, raw.filled_qty, raw.qty)
        ts = parse_ts(update.timestamp or raw.updated_at)
        broker_id = raw.id
        fill_qty = fill_price = None
        if kind == "filled":
            if tracked is not None and raw.filled_qty <= tracked.filled:
                return None  # recovered from the REST history already
            fill_qty = update.qty
            fill_price = update.price
            if fill_qty is None and tracked is not None:
                fill_qty = raw.filled_qty - tracked.filled
            status = working_status(raw.filled_qty, raw.qty)
        elif kind in ("cancelled", "expired", "rejected"):
            if tracked is not None and tracked.status in TERMINAL_STATUSES:
                return None
            status = kind  # the same words: cancelled, expired, rejected
        elif kind == "modify_accepted":
            broker_id = raw.replaced_by or raw.id
            status = working_status(raw.filled_qty, raw.qty)
            if tracked is not None and raw.replaced_by:
                self._forget(raw.id)
                self._tracked[raw.replaced_by] = tracked
            self._broker_ids[ours] = broker_id
        result = BrokerOrderUpdate(
            client_order_id=ours,
            broker_order_id=broker_id,
            instrument=raw.symbol,
            kind=kind,
            status=status,
            ts=ts,
            broker_event=update.event,
            filled_qty=raw.filled_qty,
            avg_px=raw.filled_avg_price,
            fill_qty=fill_qty,
            fill_price=fill_price,
            reason=update.event
            if kind in ("rejected", "modify_rejected", "cancel_rejected")
            else "",
        )
        self._note(result, raw.qty)
        return result

    def _note(self, update: BrokerOrderUpdate, quantity: Decimal | None) -> None:
        self._last_update_ts = max(self._last_update_ts, update.ts)
        if update.status in TERMINAL_STATUSES:
            self._forget(update.broker_order_id)
            return
        tracked = self._tracked.get(update.broker_order_id)
        if tracked is None:
            tracked = self._tracked[update.broker_order_id] = _Tracked(
                update.client_order_id, update.status, update.filled_qty, quantity or Decimal(0)
            )
        tracked.status = update.status
        tracked.filled = max(tracked.filled, update.filled_qty)

    async def _authenticate(self, ws: ClientConnection) -> None:
        await ws.send(
            ENCODE.encode(
                {"action": "auth", "key": self._key_id, "secret": self._secret_key}
            ).decode()  # a text frame, as Alpaca's examples send
        )
        with anyio.fail_after(self._timeout_s):
            reply = MESSAGE.decode(await ws.recv())
        auth = AUTH.decode(reply.data) if reply.stream == "authorization" else AuthReply()
        if auth.status != "authorized":
            raise BrokerAuthError(
                "Alpaca trade_updates refused the API keys; check PI5_BROKER__KEY_ID / "
                "PI5_BROKER__SECRET_KEY and paper vs live"
            )
        await ws.send(
            ENCODE.encode({"action": "listen", "data": {"streams": ["trade_updates"]}}).decode()
        )
        with anyio.fail_after(self._timeout_s):
            while MESSAGE.decode(await ws.recv()).stream != "listening":
                pass

    async def updates(self) -> AsyncIterator[BrokerOrderUpdate]:
        """``trade_updates`` as our updates until ``close()``. After every (re)connection,
        what happened while we were away is fetched over REST first; a refused key ends
        it with ``BrokerAuthError``, anything else reconnects with backoff and jitter."""
        attempt = 0
        while not self._is_closed():
            reason = "closed by Alpaca"
            try:
                async with connect(
                    self.stream_url,
                    open_timeout=self._timeout_s,
                    close_timeout=self._timeout_s,
                    max_size=2**20,
                    logger=_QuietFrames(log, {}),
                ) as ws:
                    self._ws = ws
                    await self._authenticate(ws)
                    attempt = 0
                    for update in await self._recover():
                        yield update
                    async for frame in ws:
                        message = MESSAGE.decode(frame)
                        if message.stream != "trade_updates":
                            continue
                        mapped = self.map_update(UPDATE.decode(message.data))
                        if mapped is not None:
                            yield mapped
            except BrokerAuthError:
                raise
            except (
                ConnectionClosed,
                InvalidHandshake,
                InvalidURI,
                OSError,
                TimeoutError,
                msgspec.DecodeError,
                msgspec.ValidationError,
                BrokerUnavailableError,
            ) as exc:
                reason = type(exc).__name__
            finally:
                self._ws = None
            if self._is_closed():
                return
            wait = self._backoff(attempt) + self._backoff_s / 2
            attempt += 1
            log.warning("Alpaca trade_updates lost (%s); reconnecting in %.1f s", reason, wait)
            await anyio.sleep(wait)

    async def _recover(self) -> list[BrokerOrderUpdate]:
        """Updates for what changed while the stream was down, from the REST history:
        replacements first (fills may be on the successor), then fills (exact, from the
        fill activities), then orders that ended (cancelled, expired, rejected)."""
        if not self._tracked:
            return []
        out: list[BrokerOrderUpdate] = []
        latest: dict[str, WireOrder] = {}
        # One listing answers for every order still open; only those that ended (or were
        # replaced) are asked about one by one, so a gap costs few calls.
        still_open: dict[str, WireOrder] = {}
        for raw_open in await self._open_raw():
            still_open[raw_open.id] = raw_open
            still_open.update((leg.id, leg) for leg in raw_open.legs or ())
        pending = list(self._tracked)
        while pending:
            broker_id = pending.pop()
            raw = still_open.get(broker_id) or await self._read(
                "GET", f"/v2/orders/{broker_id}", ORDER, missing_ok=True
            )
            if raw is None or broker_id not in self._tracked:
                continue
            if raw.status == "replaced" and raw.replaced_by:
                update = self.map_update(
                    TradeUpdate(event="replaced", order=raw, timestamp=raw.updated_at)
                )
                if update is not None:
                    out.append(msgspec.structs.replace(update, recovered=True))
                pending.append(raw.replaced_by)
                continue
            latest[broker_id] = raw
            waiting = self._tracked[broker_id]
            if waiting.status == "submitted" and raw.status not in _NOT_YET_ACCEPTED:
                # It was accepted while we were away (and may have filled since).
                out.append(
                    BrokerOrderUpdate(
                        client_order_id=waiting.client_order_id,
                        broker_order_id=broker_id,
                        instrument=raw.symbol,
                        kind="accepted",
                        status="accepted",
                        ts=parse_ts(raw.submitted_at or raw.created_at),
                        broker_event="new",
                        recovered=True,
                    )
                )
                waiting.status = "accepted"
        # Look back further than the last update: clocks differ and fills of one instant
        # may straddle it; each fill is still told once (by the order's cumulative qty).
        for fill in await self.fills_since(self._last_update_ts - _LOOK_BACK_NS):
            tracked = self._tracked.get(fill.broker_order_id)
            if tracked is None or fill.cum_qty <= tracked.filled:
                continue
            out.append(
                BrokerOrderUpdate(
                    client_order_id=tracked.client_order_id,
                    broker_order_id=fill.broker_order_id,
                    instrument=fill.instrument,
                    kind="filled",
                    status=working_status(fill.cum_qty, tracked.quantity),
                    ts=fill.ts,
                    broker_event="fill" if fill.cum_qty >= tracked.quantity else "partial_fill",
                    filled_qty=fill.cum_qty,
                    fill_qty=fill.quantity,
                    fill_price=fill.price,
                    recovered=True,
                )
            )
            self._note(out[-1], tracked.quantity)
        for broker_id, raw in latest.items():
            tracked = self._tracked.get(broker_id)
            if tracked is None:
                continue
            event = _RECOVERED_EVENTS.get(raw.status)
            if event is None or (event == "new" and tracked.status != "submitted"):
                continue
            update = self.map_update(TradeUpdate(event=event, order=raw, timestamp=raw.updated_at))
            if update is not None:
                out.append(msgspec.structs.replace(update, recovered=True))
        return out

    async def close(self) -> None:
        """Stop: the update stream ends (its iterator returns) and HTTP connections close."""
        self._closed = True
        if self._ws is not None:
            await self._ws.close()
        await self._http.aclose()


_IN_DOUBT: Final = (
    "the order may still reach Alpaca: submit it again with the same client order id "
    "(never a new one) to find out"
)


def _next_step(attempt: int, max_retries: int) -> str:
    """What follows the failed ``attempt`` (0 = the first try), for the log line."""
    if attempt < max_retries:
        return f"retrying ({attempt + 1}/{max_retries})"
    if max_retries == 0:
        return "not retrying (PI5_BROKER__MAX_RETRIES is 0)"
    return f"not retrying again ({max_retries}/{max_retries} retries used)"


def _gave_up(max_retries: int) -> str:
    """How the last failure ended, for the error raised."""
    if max_retries == 0:
        return "not retried: PI5_BROKER__MAX_RETRIES is 0"
    return f"gave up after {max_retries} retries"


_NOT_YET_ACCEPTED: Final = frozenset({"pending_new", "held", "rejected"})
_RECOVERED_EVENTS: Final = {
    "canceled": "canceled",
    "expired": "expired",
    "rejected": "rejected",
    "new": "new",
    "accepted": "new",
}
"""An order's status found after a gap, as the event that would have told us."""


def _is_trading_refusal(error: WireError) -> bool:
    # Alpaca answers 403 for bad keys ({"message": "forbidden."}, no code) and, with a
    # 403xxxxx code, for refused trades: insufficient buying power or quantity, PDT rules.
    return error.code is not None and 40300000 <= error.code < 40400000


def _same_order(existing: BrokerOrder, request: OrderRequest) -> bool:
    return (
        existing.instrument == request.instrument
        and existing.side == request.side
        and existing.quantity == request.quantity
    )


__all__ = ["LIVE_URL", "PAPER_URL", "AlpacaClient", "alpaca_endpoints"]
