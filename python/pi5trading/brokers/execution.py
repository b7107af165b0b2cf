"""The execution client: what the engine needs from a venue that fills its orders.

An ``ExecutionClient`` takes ``OrderRequest``s (a plain msgspec Struct; build one from an
engine ``Order`` with ``OrderRequest.from_order``), cancels and replaces them by *our*
client order id, answers what the venue holds (open orders, positions, account, fills
since a time) and streams ``BrokerOrderUpdate``s: every change the venue reports, already
mapped to our order lifecycle (``pi5trading.orders.OrderEvent`` kinds and statuses), fills
exact as ``Decimal``. The engine applies an update as the matching ``OrderEvent``.

Why a request struct and not ``Order`` alone: brokers know time-in-force values the engine
does not (Alpaca's ``opg``/``cls``), percent trailing stops and extended hours, and an
order crossing a process boundary must be plain data. ``from_order`` converts every engine
order that carries what the broker needs.

Ids: the client order id is ours (the engine's ``<strategy>-<n>``) and is the idempotency
key at the broker: submitting the same id twice never makes two orders. The broker's own
order id (``broker_order_id``) is kept alongside; it changes when an order is replaced
(Alpaca makes a new order) while our client order id stays.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Literal, TypeAlias

import msgspec

from pi5trading.exceptions import InvalidInputError, Pi5TradingError
from pi5trading.orders import Order

Side: TypeAlias = Literal["buy", "sell"]
OrderType: TypeAlias = Literal[
    "market", "limit", "stop_market", "stop_limit", "market_if_touched", "trailing_stop_market"
]
TimeInForce: TypeAlias = Literal["day", "gtc", "opg", "cls", "ioc", "fok", "gtd"]
"""Ours (``gtc``, ``day``, ``ioc``, ``fok``, ``gtd``) plus the auctions: ``opg`` (market on
open) and ``cls`` (market on close)."""
OrderClass: TypeAlias = Literal["simple", "bracket", "oco", "oto"]
OrderStatus: TypeAlias = Literal[
    "initialized",
    "denied",
    "submitted",
    "accepted",
    "rejected",
    "partially_filled",
    "filled",
    "cancelled",
    "expired",
]
"""The engine's order statuses (``pi5trading.orders.Order.status``)."""
UpdateKind: TypeAlias = Literal[
    "submitted",
    "accepted",
    "rejected",
    "triggered",
    "modify_accepted",
    "modify_rejected",
    "cancel_rejected",
    "filled",
    "cancelled",
    "expired",
    "notice",
]
"""The engine's ``OrderEvent.kind`` values a venue can cause, and ``notice``: the venue
reported something that moves no lifecycle state (pending cancel, done for the day,
suspended ...); ``status`` then repeats the order's current status."""

TERMINAL_STATUSES: frozenset[str] = frozenset(
    {"denied", "rejected", "filled", "cancelled", "expired"}
)


class BrokerError(Pi5TradingError):
    """A broker call failed. Messages name the call and the broker's answer, never a key."""


class BrokerAuthError(BrokerError):
    """The broker refused our credentials (wrong or missing keys)."""


class BrokerUnavailableError(BrokerError):
    """The broker did not answer usefully after the retries (5xx, timeouts, bad JSON)."""


class BrokerRateLimitError(BrokerUnavailableError):
    """Still rate limited after the retries."""


class OrderRejectedError(BrokerError):
    """The broker refused the order or the change; ``code`` is the broker's error code."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class OrderNotFoundError(BrokerError):
    """The broker knows no order with this id."""


class TakeProfit(msgspec.Struct, frozen=True, kw_only=True):
    """The take-profit leg of a bracket or OCO: a limit order. ``client_order_id``: our id
    for the leg (the engine's child order), so its updates carry it."""

    limit_price: Decimal
    client_order_id: str | None = None


class StopLoss(msgspec.Struct, frozen=True, kw_only=True):
    """The stop-loss leg of a bracket, OCO or OTO: a stop, or a stop-limit with ``limit_price``."""

    stop_price: Decimal
    limit_price: Decimal | None = None
    client_order_id: str | None = None


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One order (or one order with its attached exits) for a venue.

    Prices: ``limit_price`` for limit / stop-limit, ``stop_price`` for stop / stop-limit
    (and market-if-touched), ``trail_price`` *or* ``trail_percent`` for a trailing stop.
    ``order_class``: ``simple``; ``bracket`` (entry + ``take_profit`` + ``stop_loss``);
    ``oco`` (a limit exit whose ``limit_price`` is the take-profit, plus ``stop_loss``);
    ``oto`` (entry + one of ``take_profit`` / ``stop_loss``).
    """

    client_order_id: str
    instrument: str
    side: Side
    order_type: OrderType
    quantity: Decimal
    time_in_force: TimeInForce = "day"
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    expire_time: int | None = None
    extended_hours: bool = False
    order_class: OrderClass = "simple"
    take_profit: TakeProfit | None = None
    stop_loss: StopLoss | None = None
    strategy_id: str = ""

    def __post_init__(self) -> None:
        where = f"order {self.client_order_id!r}"
        if not (0 < len(self.client_order_id) <= 128 and self.client_order_id.isprintable()):
            raise InvalidInputError(
                f"invalid client_order_id {self.client_order_id!r}: 1 to 128 printable characters"
            )
        if not self.instrument or not self.instrument.isprintable():
            raise InvalidInputError(f"{where}: invalid instrument {self.instrument!r}")
        _positive(where, "quantity", self.quantity)
        for name in ("limit_price", "stop_price", "trail_price", "trail_percent"):
            value = getattr(self, name)
            if value is not None:
                _positive(where, name, value)
        kind = self.order_type
        if kind in ("limit", "stop_limit") and self.limit_price is None:
            raise InvalidInputError(f"{where}: a {kind} order needs limit_price")
        if kind in ("stop_market", "stop_limit", "market_if_touched") and self.stop_price is None:
            raise InvalidInputError(f"{where}: a {kind} order needs stop_price")
        if kind == "trailing_stop_market" and (self.trail_price is None) == (
            self.trail_percent is None
        ):
            raise InvalidInputError(
                f"{where}: a trailing stop needs exactly one of trail_price, trail_percent"
            )
        if (self.time_in_force == "gtd") != (self.expire_time is not None):
            raise InvalidInputError(f"{where}: expire_time goes with time_in_force 'gtd' only")
        legs = self.take_profit is not None, self.stop_loss is not None
        needed = {"simple": "no", "bracket": "both", "oco": "both", "oto": "one"}[self.order_class]
        if {"no": legs != (False, False), "both": legs != (True, True), "one": sum(legs) != 1}[
            needed
        ]:
            raise InvalidInputError(
                f"{where}: a {self.order_class} order takes {needed} of take_profit, stop_loss"
            )
        for leg in (self.take_profit, self.stop_loss):
            for name in ("limit_price", "stop_price"):
                value = getattr(leg, name, None)
                if value is not None:
                    _positive(where, f"{type(leg).__name__}.{name}", value)

    @classmethod
    def from_order(cls, order: Order, *, extended_hours: bool = False) -> OrderRequest:
        """The request for an engine ``Order``.

        The engine's order does not expose its trailing offset: build an ``OrderRequest``
        with ``trail_price``/``trail_percent`` for a trailing stop instead.
        """
        kind = order.order_type
        if kind == "trailing_stop_market":
            raise InvalidInputError(
                f"order {order.client_order_id!r}: a trailing stop cannot be read back from an "
                "engine Order; build an OrderRequest with trail_price or trail_percent"
            )
        return cls(
            client_order_id=order.client_order_id,
            instrument=order.instrument,
            side=order.side,
            order_type=kind,
            quantity=order.quantity,
            time_in_force=order.time_in_force,
            limit_price=order.price if kind in ("limit", "stop_limit") else None,
            stop_price=order.trigger_price
            if kind in ("stop_market", "stop_limit", "market_if_touched")
            else None,
            expire_time=order.expire_time,
            extended_hours=extended_hours,
            strategy_id=order.strategy_id,
        )

    @classmethod
    def from_bracket(cls, entry: Order, take_profit: Order, stop_loss: Order) -> OrderRequest:
        """One bracket request for the engine's three orders (``submit_bracket``)."""
        return msgspec.structs.replace(
            cls.from_order(entry),
            order_class="bracket",
            take_profit=_take_profit(take_profit),
            stop_loss=_stop_loss(stop_loss),
        )

    @classmethod
    def from_oco(cls, take_profit: Order, stop_loss: Order) -> OrderRequest:
        """An OCO pair of exits: the limit order carries the stop as its linked leg."""
        return msgspec.structs.replace(
            cls.from_order(take_profit),
            order_class="oco",
            take_profit=_take_profit(take_profit),
            stop_loss=_stop_loss(stop_loss),
        )

    @classmethod
    def from_oto(cls, parent: Order, child: Order) -> OrderRequest:
        """A parent and one child released when it fills: a limit child is a take-profit,
        a stop (or stop-limit) child a stop-loss."""
        leg = (
            {"take_profit": _take_profit(child)}
            if child.order_type == "limit"
            else {"stop_loss": _stop_loss(child)}
        )
        return msgspec.structs.replace(cls.from_order(parent), order_class="oto", **leg)


def _take_profit(order: Order) -> TakeProfit:
    if order.order_type != "limit" or order.price is None:
        raise InvalidInputError(
            f"order {order.client_order_id!r}: a take-profit is a limit order, "
            f"not {order.order_type}"
        )
    return TakeProfit(limit_price=order.price, client_order_id=order.client_order_id)


def _stop_loss(order: Order) -> StopLoss:
    if order.order_type not in ("stop_market", "stop_limit") or order.trigger_price is None:
        raise InvalidInputError(
            f"order {order.client_order_id!r}: a stop-loss is a stop or stop-limit order, "
            f"not {order.order_type}"
        )
    return StopLoss(
        stop_price=order.trigger_price,
        limit_price=order.price if order.order_type == "stop_limit" else None,
        client_order_id=order.client_order_id,
    )


def _positive(where: str, name: str, value: Decimal) -> None:
    if not value.is_finite() or value <= 0:
        raise InvalidInputError(f"{where}: {name} must be a finite number > 0, got {value}")


class BrokerOrder(msgspec.Struct, frozen=True, kw_only=True):
    """An order as the broker holds it, in our terms."""

    client_order_id: str
    broker_order_id: str
    instrument: str
    side: Side
    order_type: str
    quantity: Decimal
    filled_qty: Decimal
    status: OrderStatus
    time_in_force: str
    avg_px: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    order_class: str = "simple"
    broker_status: str = ""
    """The broker's own status word (``new``, ``pending_cancel``, ``replaced`` ...)."""
    replaced_by: str | None = None
    replaces: str | None = None
    legs: tuple[BrokerOrder, ...] = ()
    created_ns: int = 0
    updated_ns: int = 0

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL_STATUSES


class BrokerPosition(msgspec.Struct, frozen=True, kw_only=True):
    """The broker's net position in one instrument: ``quantity`` < 0 is short."""

    instrument: str
    quantity: Decimal
    avg_px: Decimal


class BrokerAccount(msgspec.Struct, frozen=True, kw_only=True):
    account_id: str
    currency: str
    cash: Decimal
    equity: Decimal
    buying_power: Decimal
    status: str
    trading_blocked: bool = False


class BrokerFill(msgspec.Struct, frozen=True, kw_only=True):
    """One execution at the broker. ``cum_qty`` (the order's filled quantity after it)
    identifies it across the stream and the REST history."""

    fill_id: str
    broker_order_id: str
    client_order_id: str
    instrument: str
    side: Side
    quantity: Decimal
    price: Decimal
    ts: int
    cum_qty: Decimal
    commission: Decimal = Decimal(0)


class BrokerOrderUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """One change the broker reported, mapped to our lifecycle.

    ``kind``/``status`` are the engine's ``OrderEvent.kind``/``status`` (or ``notice``);
    a fill (``kind == "filled"``, status ``partially_filled`` or ``filled``) carries the
    executed ``fill_qty`` at ``fill_price`` and its ``commission``; ``filled_qty`` and
    ``avg_px`` are the order's totals after it. ``broker_event`` is the broker's own word
    (``partial_fill``, ``pending_cancel`` ...). ``ts`` is UTC nanoseconds.
    """

    client_order_id: str
    broker_order_id: str
    instrument: str
    kind: UpdateKind
    status: OrderStatus
    ts: int
    broker_event: str
    filled_qty: Decimal = Decimal(0)
    avg_px: Decimal | None = None
    fill_qty: Decimal | None = None
    fill_price: Decimal | None = None
    commission: Decimal = Decimal(0)
    reason: str = ""
    recovered: bool = False
    """Synthesised from the REST history after a stream gap, not received live."""


class ExecutionClient(abc.ABC):
    """A venue that fills our orders. Every method is a coroutine except ``updates``.

    ``submit`` is idempotent by client order id: calling it again with the same request
    (after a timeout, a crash) returns the order already made and never makes a second.
    ``cancel`` and ``replace`` address the order by our client order id; their outcome
    also arrives as updates (``cancelled``, ``modify_accepted``, ``cancel_rejected`` ...).
    """

    name: str

    @abc.abstractmethod
    async def submit(self, request: OrderRequest) -> BrokerOrder: ...

    @abc.abstractmethod
    async def cancel(self, client_order_id: str) -> None: ...

    @abc.abstractmethod
    async def replace(
        self,
        client_order_id: str,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        trail: Decimal | None = None,
        time_in_force: TimeInForce | None = None,
    ) -> BrokerOrder: ...

    async def cancel_all(self) -> list[str]:
        """Cancel every open order (a shutdown that does not keep orders working); the
        client order ids asked to cancel. Their ``cancelled`` updates follow."""
        asked = []
        for order in await self.open_orders():
            try:
                await self.cancel(order.client_order_id)
            except (OrderRejectedError, OrderNotFoundError):
                continue  # it filled or ended meanwhile: its update tells
            asked.append(order.client_order_id)
        return asked

    @abc.abstractmethod
    async def order(self, client_order_id: str) -> BrokerOrder | None:
        """The order with our client order id, ``None`` if the broker has none."""

    @abc.abstractmethod
    async def open_orders(self) -> list[BrokerOrder]: ...

    @abc.abstractmethod
    async def positions(self) -> list[BrokerPosition]: ...

    @abc.abstractmethod
    async def account(self) -> BrokerAccount: ...

    @abc.abstractmethod
    async def fills_since(self, ts: int) -> list[BrokerFill]:
        """Executions at or after ``ts`` (UTC ns), oldest first."""

    @abc.abstractmethod
    def updates(self) -> AsyncIterator[BrokerOrderUpdate]:
        """Every order update, in the broker's order, across reconnects (gaps filled).
        One consumer per client: the client remembers what it has told."""

    def follow(self, order: BrokerOrder) -> None:  # noqa: B027 (optional: a no-op here)
        """Name a broker order with ``order.client_order_id`` from now on (a leg or an
        adopted order the reconciliation matched). Venues that keep our ids need nothing."""

    @abc.abstractmethod
    async def close(self) -> None: ...


__all__ = [
    "TERMINAL_STATUSES",
    "BrokerAccount",
    "BrokerAuthError",
    "BrokerError",
    "BrokerFill",
    "BrokerOrder",
    "BrokerOrderUpdate",
    "BrokerPosition",
    "BrokerRateLimitError",
    "BrokerUnavailableError",
    "ExecutionClient",
    "OrderClass",
    "OrderNotFoundError",
    "OrderRejectedError",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "Side",
    "StopLoss",
    "TakeProfit",
    "TimeInForce",
    "UpdateKind",
]
