"""Engine events as storage records: exact, with ids stable across a restart.

``RecordConverter.convert(message)`` turns one payload the node publishes (see
``pi5trading.events``) into the rows ``pi5trading.storage`` stores. It keeps a little
state, all of it bounded by what is *open*:

- **Orders.** An ``OrderEvent`` carries the transition but not the order's terms (side,
  type, quantity, prices, time in force), which ``OrderRow`` needs. The converter learns
  them from the ``Order`` itself — published on the bus (any ``orders.*`` topic), handed
  to ``remember_order``, or found by the ``order_lookup`` the node gives it. An order whose
  terms are unknown still gets its lifecycle rows and fills; only its ``OrderRow`` waits
  until the terms arrive (counted in ``orders_without_terms``). Terminal orders are
  forgotten, so memory follows the open orders.
- **Stable ids.** ``OrderEventRow.seq`` counts the order's events from 1; a fill's id is
  ``<order id>:<trade id>``; quotes sharing an instrument and a nanosecond are numbered
  from 0 in arrival order. Replaying the same events stores them once.
- **Snapshots never lost to a tie.** Position and equity snapshots are keyed by time; two
  states of one key in the same nanosecond (two fills in one step) would keep only the
  first, so a later state is stamped 1 ns after the one before it.

Money stays ``Decimal`` throughout; an average fill price is rounded half-even to the
storage scale (9 places) because a division need not terminate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

from pi5trading import _core
from pi5trading.events import EquitySample, FeedStatus, StrategyStatus
from pi5trading.storage.records import (
    AlertRow,
    AuditRow,
    BarRow,
    EngineEvent,
    EquityRow,
    FillRow,
    OrderEventRow,
    OrderRow,
    PositionRow,
    QuoteTickRow,
    TradeTickRow,
)

log = logging.getLogger(__name__)

ACCOUNT: Final = "account"
"""``strategy_id`` of the account's netting positions and ``account_id`` of its equity."""

_SCALE: Final = Decimal("1e-9")
_ZERO: Final = Decimal(0)

# The engine's order statuses in the storage vocabulary (migrations/*/0001: orders.status).
# ``initialized`` is an order made but not yet sent; ``denied`` is a refusal by our own risk
# engine, stored as ``rejected`` with the denial code in the reason.
ORDER_STATUS: Final[dict[str, str]] = {
    "initialized": "created",
    "denied": "rejected",
    "submitted": "submitted",
    "accepted": "accepted",
    "rejected": "rejected",
    "partially_filled": "partially_filled",
    "filled": "filled",
    "cancelled": "cancelled",
    "expired": "expired",
}
# Order types the storage schema names differently. ``market_if_touched`` has no column
# value of its own: it is stored as ``stop`` (a market order released at a trigger price),
# and the engine's own name rides in the first order event's ``detail``.
ORDER_TYPE: Final[dict[str, str]] = {
    "market": "market",
    "limit": "limit",
    "stop_market": "stop",
    "stop_limit": "stop_limit",
    "market_if_touched": "stop",
    "trailing_stop_market": "trailing_stop",
}
# ``gtd`` (good till a date) is stored as ``gtc``; its expiry is in the order event detail.
TIME_IN_FORCE: Final[dict[str, str]] = {
    "gtc": "gtc",
    "day": "day",
    "ioc": "ioc",
    "fok": "fok",
    "gtd": "gtc",
}
_TERMINAL: Final = frozenset({"denied", "rejected", "filled", "cancelled", "expired"})
_AGGRESSOR: Final = {"BUYER": "buy", "SELLER": "sell", "NO_AGGRESSOR": "none"}


def fill_id(order_id: str, trade_id: int | str) -> str:
    """The stored id of a fill: unique per order, the same when the fill is replayed."""
    return f"{order_id}:{trade_id}"


class OrderTerms:
    """What an ``OrderRow`` needs that its events do not carry."""

    __slots__ = (
        "expire_time",
        "instrument",
        "limit_price",
        "order_type",
        "quantity",
        "side",
        "stop_price",
        "strategy_id",
        "time_in_force",
    )

    def __init__(self, order: _core.Order) -> None:
        self.strategy_id = order.strategy_id
        self.instrument = order.instrument
        self.side: str = order.side
        self.order_type: str = order.order_type
        self.quantity = order.quantity
        self.time_in_force: str = order.time_in_force
        self.expire_time = order.expire_time
        self.limit_price = order.price
        self.stop_price = order.trigger_price


class _OrderTrack:
    """Per open order: the event count (``seq``), its terms once known, fill totals."""

    __slots__ = ("created_ns", "filled", "notional", "seq", "terms")

    def __init__(self) -> None:
        self.seq = 0
        self.created_ns = 0
        self.terms: OrderTerms | None = None
        self.filled = _ZERO
        self.notional = _ZERO


class RecordConverter:
    """Engine payloads → storage records (see the module doc). Not thread-safe."""

    def __init__(self, order_lookup: Callable[[str], _core.Order | None] | None = None) -> None:
        self._lookup = order_lookup
        self._orders: dict[str, _OrderTrack] = {}
        self._quote_seq: dict[str, tuple[int, int]] = {}
        self._snapshot_ns: dict[tuple[str, str], int] = {}
        self._equity_ns: dict[str, int] = {}
        # The account's netting positions: quantity x average price, for unrealised P&L.
        self._cost: dict[str, Decimal] = {}
        self._realised: dict[str, Decimal] = {}
        self.orders_without_terms = 0
        """Order rows not written because the order's terms were not known (yet)."""

    # -- state the node restores after a restart --

    def remember_order(self, order: _core.Order) -> None:
        """Learn an order's terms (side, type, quantity, prices); call before its events."""
        track = self._orders.get(order.client_order_id)
        if track is None:
            track = self._orders[order.client_order_id] = _OrderTrack()
        track.terms = OrderTerms(order)

    def restore_order(
        self, order_id: str, *, last_seq: int, created_ns: int, filled: Decimal, notional: Decimal
    ) -> None:
        """After a restart: continue an open order's numbering and fill totals from storage
        (``notional``: Σ fill quantity x price)."""
        track = self._orders.get(order_id)
        if track is None:
            track = self._orders[order_id] = _OrderTrack()
        track.seq = last_seq
        track.created_ns = created_ns
        track.filled = filled
        track.notional = notional

    @property
    def open_orders(self) -> int:
        return len(self._orders)

    # -- conversion --

    def convert(self, message: object) -> list[EngineEvent]:
        """The records for one published payload (empty for payloads storage does not keep)."""
        out: list[EngineEvent] = []
        self.convert_into(message, out)
        return out

    def convert_many(self, messages: Iterable[object]) -> list[EngineEvent]:
        out: list[EngineEvent] = []
        for m in messages:
            self.convert_into(m, out)
        return out

    def convert_into(self, m: object, out: list[EngineEvent]) -> None:
        # Most frequent first: market data, then the order lifecycle.
        if isinstance(m, _core.Bar):
            bt = m.bar_type
            out.append(
                BarRow(
                    bt.symbol,
                    bt.interval,
                    m.ts_event - bt.interval_ns,  # stored by open time, the engine's is the close
                    m.open.as_decimal(),
                    m.high.as_decimal(),
                    m.low.as_decimal(),
                    m.close.as_decimal(),
                    m.volume.as_decimal(),
                )
            )
        elif isinstance(m, _core.QuoteTick):
            sym, ts = m.symbol, m.ts_event
            last = self._quote_seq.get(sym)
            seq = last[1] + 1 if last is not None and last[0] == ts else 0
            self._quote_seq[sym] = (ts, seq)
            out.append(
                QuoteTickRow(
                    sym,
                    ts,
                    seq,
                    m.bid.as_decimal(),
                    m.ask.as_decimal(),
                    m.bid_size.as_decimal(),
                    m.ask_size.as_decimal(),
                )
            )
        elif isinstance(m, _core.TradeTick):
            out.append(
                TradeTickRow(
                    m.symbol,
                    m.ts_event,
                    m.trade_id,
                    m.price.as_decimal(),
                    m.size.as_decimal(),
                    _AGGRESSOR[m.aggressor_side],
                )
            )
        elif isinstance(m, _core.OrderEvent):
            self._order_event(m, out)
        elif isinstance(m, _core.Order):
            self.remember_order(m)
        elif isinstance(m, _core.PositionEvent):
            self._position(m, out)
        elif isinstance(m, EquitySample):
            self._equity(m, out)
        elif isinstance(m, _core.RiskEvent):
            self._risk(m, out)
        elif isinstance(m, StrategyStatus):
            if m.status == "failed":
                out.append(
                    AlertRow(
                        f"strategy-failed:{m.strategy_id}:{m.ts}",
                        m.ts,
                        "critical",
                        "strategy",
                        f"strategy {m.strategy_id} failed and was stopped",
                        m.error or "",
                    )
                )
        elif isinstance(m, FeedStatus):
            out.append(
                AuditRow(
                    f"feed:{m.feed}:{m.status}:{m.ts}",
                    m.ts,
                    f"feed.{m.status}",
                    "failure" if m.status in ("failed", "stale") else "success",
                    resource=m.feed,
                    details={"message": m.message} if m.message else {},
                )
            )

    def _order_event(self, e: _core.OrderEvent, out: list[EngineEvent]) -> None:
        oid = e.client_order_id
        track = self._orders.get(oid)
        if track is None:
            track = self._orders[oid] = _OrderTrack()
        if track.terms is None and self._lookup is not None:
            order = self._lookup(oid)
            if order is not None:
                track.terms = OrderTerms(order)
        track.seq += 1
        ts = e.ts
        if track.seq == 1:
            track.created_ns = ts
        status = ORDER_STATUS[e.status]
        kind = e.kind
        detail: dict[str, Any] = {"kind": kind}
        reason = e.reason or None
        denial = e.denial
        if denial is not None:
            detail["denial"] = {
                "code": denial.code,
                "scope": denial.scope,
                "limit": str(denial.limit),
                "actual": str(denial.actual),
            }
            reason = f"{denial.code}: {denial.message}"
        terms = track.terms
        if track.seq == 1 and terms is not None:
            if terms.order_type not in ("market", "limit", "stop_limit"):
                detail["order_type"] = terms.order_type
            if terms.time_in_force == "gtd":
                detail["expire_time"] = terms.expire_time
        fill = e.fill
        if fill is not None:
            qty, px = fill.quantity, fill.price
            track.filled += qty
            track.notional += qty * px
            detail["trade_id"] = fill.trade_id
            out.append(
                FillRow(
                    fill_id(oid, fill.trade_id),
                    oid,
                    e.strategy_id,
                    e.instrument,
                    fill.side,
                    qty,
                    px,
                    fill.commission,
                    ts,
                )
            )
        out.append(OrderEventRow(oid, track.seq, ts, status, reason, detail))
        if terms is not None:
            avg = _fit(track.notional / track.filled) if track.filled else None
            out.append(
                OrderRow(
                    oid,
                    e.strategy_id,
                    e.instrument,
                    terms.side,
                    ORDER_TYPE[terms.order_type],
                    terms.quantity,
                    status,
                    track.created_ns,
                    ts,
                    TIME_IN_FORCE[terms.time_in_force],
                    terms.limit_price,
                    terms.stop_price,
                    track.filled,
                    avg,
                    reason,
                )
            )
        else:
            self.orders_without_terms += 1
            if self.orders_without_terms == 1:
                log.warning(
                    "order %s: its terms (side, type, quantity) are unknown, so its orders row "
                    "is not written; publish the Order or give the sink an order lookup",
                    oid,
                )
        if e.status in _TERMINAL:
            del self._orders[oid]

    def _position(self, p: _core.PositionEvent, out: list[EngineEvent]) -> None:
        sid = p.strategy_id or ACCOUNT
        qty = p.quantity
        avg = p.avg_px if p.avg_px is not None else _ZERO
        if p.strategy_id is None:
            self._cost[p.instrument] = qty * avg
            self._realised[p.instrument] = p.realised_pnl
        key = (sid, p.instrument)
        ts = p.ts
        last = self._snapshot_ns.get(key)
        if last is not None and ts <= last:
            ts = last + 1
        self._snapshot_ns[key] = ts
        # The event carries no mark: unrealised P&L lives in the equity snapshots.
        out.append(PositionRow(sid, p.instrument, ts, qty, avg, p.realised_pnl, _ZERO))

    def _equity(self, s: EquitySample, out: list[EngineEvent]) -> None:
        ts = s.ts
        last = self._equity_ns.get(ACCOUNT)
        if last is not None and ts <= last:
            ts = last + 1
        self._equity_ns[ACCOUNT] = ts
        # equity = cash + Σ market value, so Σ (market value - cost) = equity - cash - Σ cost.
        unrealised = s.equity - s.cash - sum(self._cost.values(), _ZERO)
        realised = sum(self._realised.values(), _ZERO)
        out.append(EquityRow(ACCOUNT, ts, s.cash, s.equity, _fit(realised), _fit(unrealised)))

    def _risk(self, r: _core.RiskEvent, out: list[EngineEvent]) -> None:
        who = r.strategy_id or ACCOUNT
        details: dict[str, Any] = {"message": r.message}
        if r.kind == "state_changed":
            details.update(
                {"from": r.from_state, "to": r.to_state, "cause": r.cause,
                 "cancel_open_orders": r.cancel_open_orders,
                 "flatten_positions": r.flatten_positions}
            )  # fmt: skip
        else:
            details["date"] = r.date
        out.append(
            AuditRow(
                f"risk:{who}:{r.kind}:{r.ts}",
                r.ts,
                f"risk.{r.kind}",
                "success",
                resource=who,
                details=details,
            )
        )
        if r.kind == "state_changed" and r.to_state == "halted":
            out.append(
                AlertRow(
                    f"risk-halted:{who}:{r.ts}",
                    r.ts,
                    "critical",
                    "risk",
                    f"trading halted for {who}",
                    r.message,
                )
            )


def _fit(value: Decimal) -> Decimal:
    """Within the storage scale (9 places): products of 9-place values can carry more."""
    exp = value.as_tuple().exponent
    if isinstance(exp, int) and exp < -9:
        return value.quantize(_SCALE, ROUND_HALF_EVEN)
    return value


__all__ = [
    "ACCOUNT",
    "ORDER_STATUS",
    "ORDER_TYPE",
    "TIME_IN_FORCE",
    "OrderTerms",
    "RecordConverter",
    "fill_id",
]
