"""The simulated venue as an execution client: paper trading on our own fill model.

The same ``ExecutionClient`` interface as Alpaca, over ``pi5trading.venue.SimulatedVenue``
(docs/venue.md: fill rules, commissions, OCO/OTO/bracket). Market data reaches it through
``process(bar | quote | trade)``; every venue event becomes a ``BrokerOrderUpdate`` on
``updates()``. Useful where code is written against the interface (reconciliation, the
node's broker wiring) and for tests; the engine's own backtests and the default node drive
the venue inside the Rust engine directly.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import anyio

from pi5trading.brokers.execution import (
    BrokerAccount,
    BrokerFill,
    BrokerOrder,
    BrokerOrderUpdate,
    BrokerPosition,
    ExecutionClient,
    OrderNotFoundError,
    OrderRejectedError,
    OrderRequest,
    TimeInForce,
    UpdateKind,
)
from pi5trading.model import Bar, QuoteTick, TradeTick
from pi5trading.orders import Order, OrderEvent
from pi5trading.venue import SimulatedVenue

FILLS_KEPT = 100_000
"""Fills the simulated client remembers for ``fills_since``."""

_KINDS: dict[str, UpdateKind] = {
    "submitted": "submitted",
    "accepted": "accepted",
    "rejected": "rejected",
    "triggered": "triggered",
    "modify_accepted": "modify_accepted",
    "modify_rejected": "modify_rejected",
    "cancel_rejected": "cancel_rejected",
    "filled": "filled",
    "cancelled": "cancelled",
    "expired": "expired",
}


class SimulatedExecutionClient(ExecutionClient):
    """``venue`` fills the orders; ``clock`` stamps commands (UTC ns, the wall clock by
    default; pass the engine's clock for replays)."""

    name = "simulated"

    def __init__(
        self,
        venue: SimulatedVenue,
        *,
        clock: Callable[[], int] = time.time_ns,
        strategy_id: str = "broker",
    ) -> None:
        self.venue = venue
        self._clock = clock
        self._strategy_id = strategy_id
        self._pending: deque[BrokerOrderUpdate] = deque()
        self._wakeup = anyio.Event()
        # Recent fills for fills_since (reconciliation looks back a session, not forever).
        self._fills: deque[BrokerFill] = deque(maxlen=FILLS_KEPT)
        self._closed = False

    def __repr__(self) -> str:
        return f"SimulatedExecutionClient(open_orders={len(self.venue.open_orders())})"

    # --- venue events -> updates ---------------------------------------------------

    def _publish(self, events: list[object]) -> None:
        for event in events:
            if not isinstance(event, OrderEvent) or event.kind not in _KINDS:
                continue  # position events: positions() answers for them
            order = self.venue.order(event.client_order_id)
            fill = event.fill
            update = BrokerOrderUpdate(
                client_order_id=event.client_order_id,
                broker_order_id=str(order.venue_order_id) if order is not None else "",
                instrument=event.instrument,
                kind=_KINDS[event.kind],
                status=event.status,
                ts=event.ts,
                broker_event=event.kind,
                filled_qty=order.filled_qty if order is not None else Decimal(0),
                avg_px=order.avg_px if order is not None else None,
                fill_qty=fill.quantity if fill is not None else None,
                fill_price=fill.price if fill is not None else None,
                commission=fill.commission if fill is not None else Decimal(0),
                reason=event.reason,
            )
            if fill is not None and order is not None:
                self._fills.append(
                    BrokerFill(
                        fill_id=str(fill.trade_id),
                        broker_order_id=str(fill.venue_order_id),
                        client_order_id=event.client_order_id,
                        instrument=event.instrument,
                        side=fill.side,
                        quantity=fill.quantity,
                        price=fill.price,
                        ts=event.ts,
                        cum_qty=order.filled_qty,
                        commission=fill.commission,
                    )
                )
            self._pending.append(update)
        if self._pending:
            self._wakeup.set()

    def process(self, data: Bar | QuoteTick | TradeTick) -> None:
        """Market data for the venue: fills, triggers and expiries become updates."""
        self._publish(list(self.venue.process(data)))

    # --- the interface -------------------------------------------------------------

    def _order(self, request: OrderRequest, **changes: object) -> Order:
        if request.time_in_force in ("opg", "cls"):
            raise OrderRejectedError(
                f"order {request.client_order_id!r}: the simulated venue has no auctions "
                f"(time in force {request.time_in_force!r})"
            )
        kind = str(changes.get("order_type", request.order_type))
        trailing: Decimal | None = None
        offset_type = "price"
        if kind == "trailing_stop_market":
            if request.trail_price is not None:
                trailing = request.trail_price
            elif request.trail_percent is not None:
                trailing = request.trail_percent * 100  # whole basis points
                offset_type = "basis_points"
        price = changes.get("price", request.limit_price if kind != "market" else None)
        trigger = changes.get("trigger_price", request.stop_price)
        return Order(
            str(changes.get("client_order_id", request.client_order_id)),
            request.strategy_id or self._strategy_id,
            request.instrument,
            str(changes.get("side", request.side)),  # type: ignore[arg-type]
            kind,  # type: ignore[arg-type]
            request.quantity,
            price=price,  # type: ignore[arg-type]
            trigger_price=trigger,  # type: ignore[arg-type]
            trailing_offset=trailing,
            trailing_offset_type=offset_type,  # type: ignore[arg-type]
            time_in_force=request.time_in_force,  # type: ignore[arg-type]
            expire_time=request.expire_time,
            ts_init=self._clock(),
        )

    def _exits(self, request: OrderRequest, *, same_side: bool = False) -> list[Order]:
        # A bracket's or OTO's exits close the entry; an OCO's members are all exits.
        opposite = "sell" if request.side == "buy" else "buy"
        exit_side = request.side if same_side else opposite
        coid = request.client_order_id
        legs: list[Order] = []
        if request.take_profit is not None:
            legs.append(
                self._order(
                    request,
                    client_order_id=request.take_profit.client_order_id or f"{coid}-tp",
                    side=exit_side,
                    order_type="limit",
                    price=request.take_profit.limit_price,
                    trigger_price=None,
                )
            )
        if request.stop_loss is not None:
            sl = request.stop_loss
            legs.append(
                self._order(
                    request,
                    client_order_id=sl.client_order_id or f"{coid}-sl",
                    side=exit_side,
                    order_type="stop_limit" if sl.limit_price is not None else "stop_market",
                    price=sl.limit_price,
                    trigger_price=sl.stop_price,
                )
            )
        return legs

    async def submit(self, request: OrderRequest) -> BrokerOrder:
        existing = self.venue.order(request.client_order_id)
        if existing is not None:  # idempotent by client order id
            return _broker_order(existing)
        ts = self._clock()
        entry = self._order(request)
        if request.order_class == "simple":
            events = self.venue.submit(entry, ts)
        elif request.order_class == "bracket":
            tp, sl = self._exits(request)
            events = self.venue.submit_bracket(entry, tp, sl, ts)
        elif request.order_class == "oto":
            events = self.venue.submit_oto(entry, self._exits(request), ts)
        else:  # oco: the request's order is the take-profit; its stop leg is the other member
            events = self.venue.submit_oco([entry, *self._exits(request, same_side=True)[1:]], ts)
        self._publish(list(events))
        placed = self.venue.order(request.client_order_id)
        if placed is None:
            raise OrderRejectedError(f"order {request.client_order_id!r}: the venue kept nothing")
        return _broker_order(placed)

    def _known(self, client_order_id: str) -> Order:
        order = self.venue.order(client_order_id)
        if order is None:
            raise OrderNotFoundError(f"order {client_order_id!r}: the simulated venue has none")
        return order

    async def cancel(self, client_order_id: str) -> None:
        self._known(client_order_id)
        self._publish(list(self.venue.cancel(client_order_id, self._clock())))

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
        if trail is not None or time_in_force is not None:
            raise OrderRejectedError(
                f"replace of order {client_order_id!r}: the simulated venue changes quantity, "
                "limit and stop prices only"
            )
        self._known(client_order_id)
        events = self.venue.modify(
            client_order_id,
            self._clock(),
            quantity=quantity,
            price=limit_price,
            trigger_price=stop_price,
        )
        self._publish(list(events))
        return _broker_order(self._known(client_order_id))

    async def order(self, client_order_id: str) -> BrokerOrder | None:
        order = self.venue.order(client_order_id)
        return None if order is None else _broker_order(order)

    async def open_orders(self) -> list[BrokerOrder]:
        return [_broker_order(o) for o in self.venue.open_orders()]

    async def positions(self) -> list[BrokerPosition]:
        return [
            BrokerPosition(instrument=name, quantity=p.quantity, avg_px=p.avg_px or Decimal(0))
            for name, p in sorted(self.venue.portfolio.positions().items())
            if p.quantity != 0
        ]

    async def account(self) -> BrokerAccount:
        portfolio = self.venue.portfolio
        return BrokerAccount(
            account_id="simulated",
            currency="USD",
            cash=portfolio.cash,
            equity=portfolio.equity,
            buying_power=portfolio.buying_power,
            status="ACTIVE",
        )

    async def fills_since(self, ts: int) -> list[BrokerFill]:
        return [f for f in self._fills if f.ts >= ts]

    async def updates(self) -> AsyncIterator[BrokerOrderUpdate]:
        while not self._is_closed():
            while self._pending:
                yield self._pending.popleft()
            self._wakeup = anyio.Event()
            if self._pending:
                continue
            await self._wakeup.wait()

    def _is_closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        self._closed = True
        self._wakeup.set()


def _broker_order(order: Order) -> BrokerOrder:
    return BrokerOrder(
        client_order_id=order.client_order_id,
        broker_order_id=str(order.venue_order_id or ""),
        instrument=order.instrument,
        side=order.side,
        order_type=order.order_type,
        quantity=order.quantity,
        filled_qty=order.filled_qty,
        status=order.status,
        time_in_force=order.time_in_force,
        avg_px=order.avg_px,
        limit_price=order.price,
        stop_price=order.trigger_price,
        order_class="simple" if not order.linked_order_ids else "linked",
        broker_status=order.status,
    )


__all__ = ["FILLS_KEPT", "SimulatedExecutionClient"]
