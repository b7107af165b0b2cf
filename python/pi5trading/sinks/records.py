"""Engine events as storage records: exact, with ids stable across a restart.

``RecordConverter.convert(message)`` turns one payload the node publishes (see
``pi5trading.events``) into the rows ``pi5trading.storage`` stores. It keeps a little
state, all of it bounded by what is *open*:

- **Orders.** An ``OrderEvent`` carries the transition but not the order's terms (side,
  type, quantity, prices, time in force), which ``OrderRow`` needs. The converter learns
  them from the ``Order`` itself — published on the bus (any ``orders.*`` topic; the
  storage sink queues the one its ``order_lookup`` finds), handed to ``remember_order``,
  or found by this converter's own ``order_lookup`` (only where calling it from the
  converter's thread is safe). An order whose terms are unknown still gets its lifecycle
  rows and fills; only its ``OrderRow`` waits until the terms arrive (counted in
  ``orders_without_terms``). Terminal orders are forgotten (their ids kept a while, to
  recognise replays), so memory follows the open orders.
- **Replays.** An order event already recorded (same time, kind and trade id), an event of
  an order already final, or a snapshot not newer than the last recorded one is dropped
  (``replays_dropped``); ``restore_order`` / ``restore_snapshots`` prime this after a
  restart.
- **Stable ids.** ``OrderEventRow.seq`` counts the order's events from 1; a fill's id is
  ``<order id>:<trade id>``; quotes sharing an instrument and a nanosecond are numbered
  from 0 in arrival order. Replaying the same events stores them once.
- **Snapshots never lost to a tie.** Position and equity snapshots are keyed by time; two
  states of one key in the same nanosecond (two fills in one step) would keep only the
  first, so a later state is stamped 1 ns after the one before it.

Money stays ``Decimal`` throughout; an average fill price is rounded half-even to the
storage scale (9 places) because a division need not terminate. Not thread-safe: one
task converts.

``RecordConverter(core=True)`` (what the node's storage sink uses) hands order events,
orders, position events and equity samples to the core (``_core.RecordEncoder``,
``rust_core/src/records.rs``), which keeps the same state and returns each row already
encoded (``EncodedRow``: what the repository would make of this module's record, digit
for digit); this module stays the reference the tests compare it with.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

import msgspec

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
from pi5trading.storage.tables import canonical_decimal

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
DONE_KEPT: Final = 10_000
"""Final orders remembered (their ids), so a later event of one is known as a replay."""
_TERMINAL: Final = frozenset({"denied", "rejected", "filled", "cancelled", "expired"})
_AGGRESSOR: Final = {"BUYER": "buy", "SELLER": "sell", "NO_AGGRESSOR": "none"}


def fill_id(order_id: str, trade_id: int | str) -> str:
    """The stored id of a fill: unique per order, the same when the fill is replayed."""
    return f"{order_id}:{trade_id}"


class OrderTerms:
    """What an ``OrderRow`` needs that its events do not carry (engine vocabulary)."""

    __slots__ = (
        "expire_time",
        "limit_price",
        "links",
        "order_type",
        "quantity",
        "side",
        "stop_price",
        "time_in_force",
    )

    def __init__(
        self,
        side: str,
        order_type: str,
        quantity: Decimal,
        *,
        time_in_force: str = "gtc",
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        expire_time: int | None = None,
        links: dict[str, Any] | None = None,
    ) -> None:
        self.side = side
        self.order_type = order_type
        self.quantity = quantity
        self.time_in_force = time_in_force
        self.limit_price = limit_price
        self.stop_price = stop_price
        self.expire_time = expire_time
        self.links = links or {}
        """Flags and links the ``orders`` row has no column for (``reduce_only``,
        ``post_only``, ``tags``, parent, children and OCO/OTO links), when set."""

    @classmethod
    def of(cls, order: _core.Order) -> OrderTerms:
        return cls(
            order.side,
            order.order_type,
            order.quantity,
            time_in_force=order.time_in_force,
            limit_price=order.price,
            stop_price=order.trigger_price,
            expire_time=order.expire_time,
            links=_links(order),
        )

    @classmethod
    def from_row(cls, row: OrderRow, first: OrderEventRow | None) -> OrderTerms:
        """Back from storage: the engine's names where the first event's detail kept them."""
        detail = first.detail if first is not None else {}
        order_type = detail.get("order_type") or _ENGINE_ORDER_TYPE[row.order_type]
        expire = detail.get("expire_time")
        return cls(
            row.side,
            str(order_type),
            row.quantity,
            time_in_force="gtd" if expire is not None else row.time_in_force,
            limit_price=row.limit_price,
            stop_price=row.stop_price,
            expire_time=int(expire) if expire is not None else None,
            links=dict(detail.get("order", {})),
        )


def _links(order: _core.Order) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if order.reduce_only:
        out["reduce_only"] = True
    if order.post_only:
        out["post_only"] = True
    if order.tags:
        out["tags"] = list(order.tags)
    if order.parent_order_id is not None:
        out["parent_order_id"] = order.parent_order_id
    if order.child_order_ids:
        out["child_order_ids"] = list(order.child_order_ids)
    if order.linked_order_ids:
        out["linked_order_ids"] = list(order.linked_order_ids)
    return out


_ENGINE_ORDER_TYPE: Final = {
    "market": "market",
    "limit": "limit",
    "stop": "stop_market",
    "stop_limit": "stop_limit",
    "trailing_stop": "trailing_stop_market",
}


class _OrderTrack:
    """Per open order: the event count (``seq``), its terms once known, fill totals, and
    the keys of the events already recorded (a replayed event is recognised and dropped)."""

    __slots__ = ("created_ns", "filled", "notional", "seen", "seq", "terms", "updated_ns")

    def __init__(self) -> None:
        self.seq = 0
        self.created_ns = 0
        self.updated_ns = 0
        """The newest time among its events: its row's ``updated_ns``. A broker stamps its
        answers with its own clock, which may be behind the data's (the order was submitted
        at the data's time): the row must still take each later state, and storage keeps
        the row with the newest ``updated_ns``."""
        self.terms: OrderTerms | None = None
        self.filled = _ZERO
        self.notional = _ZERO
        self.seen: set[tuple[int, str, int, str]] = set()


def event_key(
    ts_ns: int, kind: str, trade_id: int | None, detail: dict[str, Any] | None = None
) -> tuple[int, str, int, str]:
    """What tells a replayed order event from a new one: time, kind and trade id, and for a
    modify the terms it accepted (two modifies at the same engine time are two events)."""
    terms = ""
    if kind == "modify_accepted" and detail is not None:
        terms = "|".join(str(detail.get(k, "")) for k in ("quantity", "price", "trigger_price"))
    return (ts_ns, kind, -1 if trade_id is None else trade_id, terms)


class RecordConverter:
    """Engine payloads → storage records (see the module doc). Not thread-safe."""

    def __init__(
        self,
        order_lookup: Callable[[str], _core.Order | None] | None = None,
        *,
        core: bool = False,
    ) -> None:
        self._lookup = order_lookup
        self._core = _core.RecordEncoder(order_lookup) if core else None
        """With ``core``: order events, orders, position events and equity samples are
        converted by the core (``_core.RecordEncoder``) into ``EncodedRow``s — the rows the
        repository would encode from this converter's records, with the same state —
        and ``encode`` turns bars into their rows too; this class keeps the rest (quotes,
        trades, risk events, statuses). Without: everything here, the reference."""
        self._warned_terms = False
        self._orders: dict[str, _OrderTrack] = {}
        self._quote_seq: dict[str, tuple[int, int]] = {}
        # Per snapshot key: the stored time (nudged past ties) and the event's own time.
        self._snapshot_ns: dict[tuple[str, str], int] = {}
        self._snapshot_src: dict[tuple[str, str], int] = {}
        self._equity_ns: dict[str, int] = {}
        self._equity_src: dict[str, int] = {}
        self._snapshot_state: dict[tuple[str, str], tuple[Decimal, Decimal, Decimal]] = {}
        self._equity_state: tuple[Decimal, Decimal] | None = None
        # Positions' quantity x average price and realised P&L, for the equity rows.
        self._cost: dict[tuple[str, str], Decimal] = {}
        self._realised: dict[tuple[str, str], Decimal] = {}
        self._cost_total = [_ZERO, _ZERO]
        self._realised_total = [_ZERO, _ZERO]
        self._account_positions = False
        # Orders that reached a final status lately: their replayed events are dropped.
        self._done: OrderedDict[str, None] = OrderedDict()
        self._without_terms = 0
        self._replays = 0

    @property
    def core(self) -> bool:
        """Are order events, positions and equity converted by the core?"""
        return self._core is not None

    @property
    def orders_without_terms(self) -> int:
        """Order rows not written because the order's terms were not known (yet)."""
        extra = self._core.orders_without_terms if self._core is not None else 0
        return self._without_terms + extra

    @property
    def replays_dropped(self) -> int:
        """Events recognised as replays of ones already recorded (not stored again)."""
        return self._replays + (self._core.replays_dropped if self._core is not None else 0)

    # -- state the node restores after a restart --

    def remember_order(self, order: _core.Order) -> None:
        """Learn an order's terms (side, type, quantity, prices); call before its events."""
        if self._core is not None:
            self._core.remember_order(order)
            return
        if order.client_order_id in self._done:
            return
        track = self._orders.get(order.client_order_id)
        if track is None:
            track = self._orders[order.client_order_id] = _OrderTrack()
        track.terms = OrderTerms.of(order)

    def restore_done(self, order_ids: Sequence[str]) -> None:
        """After a restart: orders storage has as final, oldest first. An event of one
        that comes again is a replay and is dropped, as before the restart (otherwise it
        looked like the first event of a new order and rewrote the order's row)."""
        if self._core is not None:
            self._core.restore_done(list(order_ids))
            return
        for oid in order_ids:
            self._orders.pop(oid, None)
            self._mark_done(oid)

    def _mark_done(self, oid: str) -> None:
        self._done[oid] = None
        self._done.move_to_end(oid)
        if len(self._done) > DONE_KEPT:
            self._done.popitem(last=False)

    def restore_order(
        self,
        row: OrderRow,
        events: list[OrderEventRow],
        fills: list[FillRow],
    ) -> None:
        """After a restart: an open order as storage has it, so its numbering, fill totals
        and replay detection continue where the previous process stopped."""
        if self._core is not None:
            terms = OrderTerms.from_row(row, events[0] if events else None)
            self._core.restore_order(
                row.order_id,
                terms.side,
                terms.order_type,
                str(terms.quantity),
                terms.time_in_force,
                None if terms.limit_price is None else str(terms.limit_price),
                None if terms.stop_price is None else str(terms.stop_price),
                terms.expire_time,
                msgspec.json.encode(terms.links).decode() if terms.links else None,
                max((e.seq for e in events), default=0),
                row.created_ns,
                row.updated_ns,
                [(str(f.quantity), str(f.price)) for f in fills],
                [
                    event_key(
                        e.ts_ns, str(e.detail.get("kind", "")), e.detail.get("trade_id"), e.detail
                    )
                    for e in events
                ],
            )
            return
        track = self._orders[row.order_id] = _OrderTrack()
        track.terms = OrderTerms.from_row(row, events[0] if events else None)
        track.seq = max((e.seq for e in events), default=0)
        track.created_ns = row.created_ns
        track.updated_ns = row.updated_ns
        for f in fills:
            track.filled += f.quantity
            track.notional += f.quantity * f.price
        for e in events:
            trade = e.detail.get("trade_id")
            track.seen.add(event_key(e.ts_ns, str(e.detail.get("kind", "")), trade, e.detail))

    def restore_snapshots(self, positions: list[PositionRow], equity: EquityRow | None) -> None:
        """After a restart: the latest position and equity snapshots, so the account's cost
        basis (unrealised P&L) and the snapshot times continue."""
        if self._core is not None:
            for p in positions:
                self._core.restore_position(
                    p.strategy_id,
                    p.instrument_id,
                    p.ts_ns,
                    str(p.quantity),
                    str(p.avg_price),
                    str(p.realized_pnl),
                )
            if equity is not None:
                self._core.restore_equity(equity.ts_ns, str(equity.cash), str(equity.equity))
            return
        for p in positions:
            self._snapshot_ns[(p.strategy_id, p.instrument_id)] = p.ts_ns
            self._snapshot_src[(p.strategy_id, p.instrument_id)] = p.ts_ns
            self._snapshot_state[(p.strategy_id, p.instrument_id)] = (
                p.quantity,
                p.avg_price,
                p.realized_pnl,
            )
            self._book((p.strategy_id, p.instrument_id), p.quantity * p.avg_price, p.realized_pnl)
        if equity is not None:
            self._equity_ns[ACCOUNT] = self._equity_src[ACCOUNT] = equity.ts_ns
            self._equity_state = (equity.cash, equity.equity)

    @property
    def open_orders(self) -> int:
        return len(self._orders) + (self._core.open_orders if self._core is not None else 0)

    # -- conversion --

    def convert(self, message: object) -> list[EngineEvent]:
        """The records for one published payload (empty for payloads storage does not keep;
        with ``core``, ``EncodedRow``s for the payloads the core converts)."""
        out: list[EngineEvent] = []
        self.convert_into(message, out)
        return out

    def convert_many(self, messages: Iterable[object]) -> list[EngineEvent]:
        out: list[EngineEvent] = []
        for m in messages:
            self.convert_into(m, out)
        return out

    def encode(self, messages: Sequence[object], *, bars: bool = True) -> list[Any]:
        """The storage sink's fast path: ``messages`` with what the core converts replaced
        by its rows (see ``core``; bars by their ``EncodedBar`` when ``bars``), a
        payload it could not convert by the ``ValueError`` saying why, and the rest left
        in place for ``convert_into``. Without ``core``, only the bars are encoded."""
        if self._core is None:
            return _core.bar_rows(messages) if bars else list(messages)
        out: list[Any] = self._core.encode(messages, bars)
        if not self._warned_terms and self._core.orders_without_terms:
            self._warned_terms = True
            log.warning(
                "an order's terms (side, type, quantity) are unknown, so its orders row is "
                "not written; publish the Order or give the sink an order lookup"
            )
        return out

    def convert_into(self, m: object, out: list[Any]) -> None:
        if self._core is not None and type(m) in _CORE_TYPES:
            for r in self._core.encode([m], False):
                if isinstance(r, ValueError):
                    raise r
                out.append(r)
            return
        # Most frequent first: market data, then the order lifecycle.
        if isinstance(m, _core.QuoteTick):
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
        elif isinstance(m, _core.Bar):
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
        if oid in self._done:
            self._replays += 1
            return
        track = self._orders.get(oid)
        if track is None:
            track = self._orders[oid] = _OrderTrack()
        fill = e.fill
        kind = e.kind
        if track.terms is None and self._lookup is not None:
            order = self._lookup(oid)
            if order is not None:
                track.terms = OrderTerms.of(order)
        terms = track.terms
        modified = e.modified if kind == "modify_accepted" else None
        if modified is not None and terms is not None:
            # The event's own terms, not the order's now: after two modifies in one batch
            # the order already has the second's, which the first must not be stored with.
            terms.quantity, terms.limit_price, terms.stop_price = modified
        detail: dict[str, Any] = {"kind": kind}
        if kind == "modify_accepted" and terms is not None:
            # The stored event keeps the terms it accepted.
            detail["quantity"] = str(terms.quantity)
            if terms.limit_price is not None:
                detail["price"] = str(terms.limit_price)
            if terms.stop_price is not None:
                detail["trigger_price"] = str(terms.stop_price)
        key = event_key(e.ts, kind, fill.trade_id if fill is not None else None, detail)
        if key in track.seen:
            self._replays += 1
            return
        track.seen.add(key)
        track.seq += 1
        ts = e.ts
        if track.seq == 1:
            track.created_ns = ts
        status = ORDER_STATUS[e.status]
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
        if track.seq == 1 and terms is not None:
            if terms.order_type not in ("market", "limit", "stop_limit"):
                detail["order_type"] = terms.order_type
            if terms.time_in_force == "gtd":
                detail["expire_time"] = terms.expire_time
            if terms.links:
                detail["order"] = terms.links
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
        track.updated_ns = max(track.updated_ns, ts)
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
                    track.updated_ns,
                    TIME_IN_FORCE[terms.time_in_force],
                    terms.limit_price,
                    terms.stop_price,
                    track.filled,
                    avg,
                    reason,
                )
            )
        else:
            self._without_terms += 1
            if not self._warned_terms:
                self._warned_terms = True
                log.warning(
                    "order %s: its terms (side, type, quantity) are unknown, so its orders row "
                    "is not written; publish the Order or give the sink an order lookup",
                    oid,
                )
        if e.status in _TERMINAL:
            del self._orders[oid]
            self._mark_done(oid)

    def _position(self, p: _core.PositionEvent, out: list[EngineEvent]) -> None:
        sid = p.strategy_id or ACCOUNT
        key = (sid, p.instrument)
        ts = src = p.ts
        qty = p.quantity
        avg = p.avg_px if p.avg_px is not None else _ZERO
        state = (qty, avg, p.realised_pnl)
        last_src = self._snapshot_src.get(key, -1)
        if src < last_src or (src == last_src and self._snapshot_state.get(key) == state):
            # Older than, or the same as, the state last recorded: a replay after a restart.
            self._replays += 1
            return
        self._snapshot_state[key] = state
        self._book(key, qty * avg, p.realised_pnl)
        last = self._snapshot_ns.get(key)
        if last is not None and ts <= last:
            ts = last + 1
        self._snapshot_ns[key] = ts
        self._snapshot_src[key] = src
        # The event carries no mark: unrealised P&L lives in the equity snapshots.
        out.append(PositionRow(sid, p.instrument, ts, qty, avg, p.realised_pnl, _ZERO))

    def _equity(self, s: EquitySample, out: list[EngineEvent]) -> None:
        ts = src = s.ts
        last_src = self._equity_src.get(ACCOUNT, -1)
        state = (s.cash, s.equity)
        if src < last_src or (src == last_src and self._equity_state == state):
            self._replays += 1
            return
        self._equity_state = state
        last = self._equity_ns.get(ACCOUNT)
        if last is not None and ts <= last:
            ts = last + 1
        self._equity_ns[ACCOUNT] = ts
        self._equity_src[ACCOUNT] = src
        # equity = cash + Σ market value, so Σ (market value - cost) = equity - cash - Σ cost,
        # over the account's netting positions (or, when the node publishes only strategy
        # positions, over those: exact while no two strategies hold the same instrument).
        i = 0 if self._account_positions else 1
        cost, realised = self._cost_total[i], self._realised_total[i]
        out.append(
            EquityRow(
                ACCOUNT, ts, s.cash, s.equity, _canon(realised), _canon(s.equity - s.cash - cost)
            )
        )

    def _book(self, key: tuple[str, str], cost: Decimal, realised: Decimal) -> None:
        # Running totals, [account positions, strategy positions]: O(1) per event.
        i = 0 if key[0] == ACCOUNT else 1
        if i == 0:
            self._account_positions = True
        self._cost_total[i] += cost - self._cost.get(key, _ZERO)
        self._realised_total[i] += realised - self._realised.get(key, _ZERO)
        self._cost[key] = cost
        self._realised[key] = realised

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


_CORE_TYPES: Final = frozenset({_core.OrderEvent, _core.Order, _core.PositionEvent, EquitySample})


def avg_fill_text(notional: str, filled: str) -> str:
    """An average fill price the core could not divide exactly, as this converter computes
    it and the repository encodes it (the core's ``RecordEncoder`` calls this)."""
    return str(canonical_decimal(_fit(Decimal(notional) / Decimal(filled))))


def _canon(value: Decimal) -> Decimal:
    """A computed amount in one spelling (no trailing zeros), so the same value computed
    from the engine's figures or from stored ones is stored with the same digits."""
    return _fit(value).normalize()


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
    "avg_fill_text",
    "event_key",
    "fill_id",
]
