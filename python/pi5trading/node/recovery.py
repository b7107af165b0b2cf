"""Restart recovery: a node that was stopped, or killed (SIGKILL included), starts again
from what storage holds, and resumes.

What the database holds after a crash is a prefix of what the engine did: the storage sink
takes every event in the engine's order through one subscription, and the writer commits
batches in that order (docs/paper-trading.md, "Restart and recovery"). The fills are the
truth for the account; the rest follows from them:

1. ``read_recovery`` reads back the strategies (config, saved ``on_save`` state, status),
   every fill, the open orders with their events and fills, the order and trade numbers
   used, the risk states and equity marks, and how far the data had got.
2. ``close_stale_orders`` settles open orders that cannot go back to work: one whose
   stored fills complete it (its closing event was in the lost tail) is recorded filled;
   one the venue cannot rebuild alone (bracket/OCO/OTO links, a trailing stop, a strategy
   no longer there) is recorded cancelled with the reason. Nothing is sent anywhere.
3. ``book_fills`` (before the engine starts, so ``on_start`` sees its positions) books
   every stored fill into the account, to the digit.
4. ``resume`` (the node's ``start(prepare=...)``, after ``on_start`` and before any data):
   trade numbering continues after the stored trades and, with the node's
   ``resume_order_numbers``, order numbering after the stored orders (no client order id or
   fill id is used twice), the working orders go back into the venue with their fills, the
   risk engine gets its session, P&L baseline, equity peak and trading states back, and
   the indicators are warmed up on the stored bars, and the restored positions are
   published (the latest-state cache may hold ones from events that never reached storage).
5. The feed resumes after the last stored event (the simulated feed draws the same seeded
   path and sends nothing twice); with a broker, after the last stored quote or trade
   (the broker's times are on its own clock).

What the crash lost (events published but not yet committed, at most about one writer
flush interval) did not happen as far as the account is concerned: an order whose fill
was lost is still working and fills again on the next data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final

import msgspec

from pi5trading import _core
from pi5trading.events import StrategyState
from pi5trading.sinks.records import ACCOUNT
from pi5trading.sinks.recovery import booking_order, order_numbers, trade_number
from pi5trading.storage.protocol import Repository
from pi5trading.storage.records import (
    AuditRow,
    EquityRow,
    FillRow,
    OrderEventRow,
    OrderRow,
    StrategyRow,
)

log = logging.getLogger("pi5trading.node")

_ALL: Final = 2**31 - 1
_RAW: Final = Decimal(10**9)
NODE_STARTED: Final = "node.start"
"""Audit action of a node start; its details carry ``feed_start_ns`` (where the simulated
feed's seeded path begins, the same for every restart)."""

# The storage vocabulary back to the engine's.
_ORDER_TYPE: Final = {
    "market": "market",
    "limit": "limit",
    "stop": "stop_market",
    "stop_limit": "stop_limit",
    "trailing_stop": "trailing_stop_market",
}
_RESTORABLE: Final = frozenset({"market", "limit", "stop_market", "stop_limit"})
_STATUS: Final[dict[str, StrategyState]] = {
    "running": "running",
    "paused": "paused",
    "stopped": "stopped",
    "error": "failed",
}


class OpenOrder(msgspec.Struct, frozen=True):
    """An order storage has as working, with its lifecycle and fills."""

    row: OrderRow
    events: list[OrderEventRow]
    fills: list[FillRow]

    @property
    def filled(self) -> Decimal:
        return sum((f.quantity for f in self.fills), Decimal(0))

    @property
    def detail(self) -> dict[str, Any]:
        """The first event's detail: the engine's order type and flags the row lacks."""
        return self.events[0].detail if self.events else {}


class RiskMarks(msgspec.Struct, frozen=True, kw_only=True):
    """The risk engine's state as storage has it."""

    state: str = "active"
    cause: str | None = None
    strategies: list[tuple[str, str, str | None]] = msgspec.field(default_factory=list)
    """``(strategy id, state, cause)`` of strategies whose last state change left them
    not active."""
    equity_peak: Decimal | None = None


class Recovery(msgspec.Struct, kw_only=True):
    """Everything a restarted node reads back (``read_recovery``)."""

    strategies: list[StrategyRow]
    fills: list[FillRow]
    """Every stored fill, in the order the venue booked them."""
    open_orders: list[OpenOrder]
    order_numbers: dict[str, int]
    last_trade_id: int
    last_event_ns: int | None
    feed_start_ns: int | None
    risk: RiskMarks

    @property
    def fresh(self) -> bool:
        """Nothing stored: a first start."""
        return not (self.strategies or self.fills or self.open_orders or self.order_numbers)


class Resumed(msgspec.Struct, kw_only=True):
    """What ``resume`` put back (for the log line and the tests)."""

    fills: int = 0
    orders_restored: list[str] = msgspec.field(default_factory=list)
    orders_closed: dict[str, str] = msgspec.field(default_factory=dict)
    """Order id → why it was recorded filled or cancelled instead of restored."""
    warmed_bars: int = 0


async def read_recovery(repository: Repository, *, broker: bool = False) -> Recovery:
    """Read back what a restarted node needs (see the module doc).

    ``broker``: orders go to an external broker, whose clock stamps their events and fills;
    the data resumes after the newest market data instead (the simulated feed's clock may
    be far from the broker's)."""
    fills = await repository.list_fills(limit=_ALL)
    fills.sort(key=booking_order)
    open_orders = []
    for row in await repository.list_orders(open_only=True, limit=_ALL):
        events = await repository.get_order_events(row.order_id)
        own = await repository.list_fills(order_id=row.order_id, limit=_ALL)
        own.sort(key=booking_order)
        open_orders.append(OpenOrder(row, events, own))
    open_orders.sort(key=lambda o: (o.row.created_ns, o.row.order_id))
    trade_ids = [trade_number(f) for f in fills]
    started = await repository.list_audit(action=NODE_STARTED, limit=1)
    feed_start = started[0].details.get("feed_start_ns") if started else None
    return Recovery(
        strategies=await repository.list_strategies(),
        fills=fills,
        open_orders=open_orders,
        order_numbers=await order_numbers(repository),
        last_trade_id=max((t for t in trade_ids if t is not None), default=0),
        last_event_ns=await repository.last_event_ns(ACCOUNT, orders=not broker),
        feed_start_ns=int(feed_start) if feed_start is not None else None,
        risk=await _risk_marks(repository),
    )


async def _risk_marks(repository: Repository) -> RiskMarks:
    rows = await repository.list_audit(action="risk.state_changed", limit=10_000)
    latest: dict[str, AuditRow] = {}
    for row in rows:  # newest first
        latest.setdefault(row.resource or ACCOUNT, row)
    account = latest.pop(ACCOUNT, None)
    strategies = [
        (who, str(r.details.get("to", "active")), _cause(r))
        for who, r in sorted(latest.items())
        if r.details.get("to", "active") != "active"
    ]
    peak = await repository.equity_peak(ACCOUNT)
    return RiskMarks(
        state=str(account.details.get("to", "active")) if account else "active",
        cause=_cause(account) if account else None,
        strategies=strategies,
        equity_peak=peak.equity if peak is not None else None,
    )


def _cause(row: AuditRow) -> str | None:
    cause = row.details.get("cause")
    return str(cause) if cause else None


async def close_stale_orders(
    repository: Repository,
    recovery: Recovery,
    strategies: Sequence[str],
    now_ns: int,
) -> dict[str, str]:
    """Record the open orders that cannot go back to work as filled or cancelled (see the
    module doc) and drop them from ``recovery.open_orders``. Returns order id → reason."""
    closed: dict[str, str] = {}
    keep: list[OpenOrder] = []
    records: list[OrderEventRow | OrderRow] = []
    for o in recovery.open_orders:
        row = o.row
        if o.filled >= row.quantity:
            reason = "its fills complete it (its last event was lost in a crash)"
            records += _closing(o, "filled", None, max(f.ts_ns for f in o.fills), reason)
        elif (why := _cannot_restore(o, strategies)) is not None:
            reason = f"node restarted: {why}"
            records += _closing(o, "cancelled", reason, now_ns, reason)
        else:
            keep.append(o)
            continue
        closed[row.order_id] = reason
    if records:
        await repository.write(records)
    recovery.open_orders = keep
    return closed


def _cannot_restore(o: OpenOrder, strategies: Sequence[str]) -> str | None:
    row, detail = o.row, o.detail
    if row.strategy_id not in strategies:
        return f"its strategy {row.strategy_id!r} is not running in this node"
    order_type = str(detail.get("order_type") or _ORDER_TYPE.get(row.order_type, row.order_type))
    if order_type not in _RESTORABLE:
        return f"a {order_type.replace('_', ' ')} order is not restored"
    links = detail.get("order", {})
    if any(k in links for k in ("parent_order_id", "child_order_ids", "linked_order_ids")):
        return "a linked order (bracket, OCO, OTO) is not restored alone"
    if row.time_in_force in ("ioc", "fok"):
        return f"an {row.time_in_force.upper()} order does not rest"
    return None


def _closing(
    o: OpenOrder, status: str, reason: str | None, ts: int, why: str
) -> list[OrderEventRow | OrderRow]:
    row = o.row
    seq = max((e.seq for e in o.events), default=0) + 1
    filled = o.filled
    avg = None
    if filled:
        avg = sum((f.quantity * f.price for f in o.fills), Decimal(0)) / filled
        avg = avg.quantize(Decimal("1e-9")).normalize()
    event = OrderEventRow(row.order_id, seq, ts, status, reason, {"kind": status, "recovery": why})
    closed = msgspec.structs.replace(
        row,
        status=status,
        updated_ns=max(ts, row.updated_ns),
        filled_quantity=filled,
        avg_fill_price=avg,
        reason=reason,
    )
    return [event, closed]


def core_fill(f: FillRow) -> _FillRecord:
    """A stored fill in the shape ``Engine.restore_fills`` takes."""
    return _FillRecord(
        ts=f.ts_ns,
        strategy_id=f.strategy_id,
        symbol=f.instrument_id,
        client_order_id=f.order_id,
        side=f.side,
        quantity_raw=int(f.quantity * _RAW),
        price_raw=int(f.price * _RAW),
        commission_raw=int(f.commission * _RAW),
    )


class _FillRecord(msgspec.Struct, frozen=True, kw_only=True):
    ts: int
    strategy_id: str
    symbol: str
    client_order_id: str
    side: str
    quantity_raw: int
    price_raw: int
    commission_raw: int


def core_order(o: OpenOrder) -> _core.Order:
    """The stored order as the engine's ``Order`` (as it was sent)."""
    row, detail = o.row, o.detail
    links = detail.get("order", {})
    expire = detail.get("expire_time")
    return _core.Order(
        row.order_id,
        row.strategy_id,
        row.instrument_id,
        row.side,  # type: ignore[arg-type]
        str(detail.get("order_type") or _ORDER_TYPE[row.order_type]),  # type: ignore[arg-type]
        row.quantity,
        price=row.limit_price,
        trigger_price=row.stop_price,
        time_in_force="gtd" if expire is not None else row.time_in_force,  # type: ignore[arg-type]
        expire_time=int(expire) if expire is not None else None,
        reduce_only=bool(links.get("reduce_only", False)),
        post_only=bool(links.get("post_only", False)),
        tags=list(links.get("tags", [])),
        ts_init=row.created_ns,
    )


def resume(
    engine: _core.Engine,
    recovery: Recovery,
    *,
    starting_cash: Decimal,
    session_start_equity: Decimal | None,
    warmup: Sequence[_core.Bar] = (),
) -> Resumed:
    """Put trade numbering, working orders, risk state and indicator warm-up back (on the
    engine, after its start and before any data: the node's ``start(prepare=...)``; the
    order numbering is the node's ``resume_order_numbers``).

    ``session_start_equity``: the first equity stored in the risk session under way
    (``None``: none stored)."""
    done = Resumed()
    engine.resume_trade_ids(recovery.last_trade_id)
    for o in recovery.open_orders:
        fills = [(f.quantity, f.price, int(f.commission * _RAW)) for f in o.fills]
        triggered = any(e.detail.get("kind") == "triggered" for e in o.events)
        try:
            engine.restore_order(core_order(o), fills, triggered=triggered)
        except (ValueError, KeyError) as exc:
            # Left working in storage; the log says why (the next stop cancels it there).
            log.error("order %s could not be restored: %s", o.row.order_id, exc)
            done.orders_closed[o.row.order_id] = str(exc)
        else:
            done.orders_restored.append(o.row.order_id)
    risk = recovery.risk
    engine.restore_risk(
        session_start_pnl=(
            session_start_equity - starting_cash if session_start_equity is not None else None
        ),
        equity_peak=risk.equity_peak,
        state=risk.state,  # type: ignore[arg-type]
        cause=risk.cause,  # type: ignore[arg-type]
        strategies=risk.strategies,  # type: ignore[arg-type]
    )
    if warmup:
        engine.warm_up(list(warmup))
        done.warmed_bars = len(warmup)
    if recovery.fills:
        # The restored account on the bus: the cache may hold positions from events the
        # crash kept from storage.
        engine.announce_positions()
    return done


def stored_status(row: StrategyRow) -> StrategyState:
    """The node status a stored strategy had (``error`` is ``failed``)."""
    return _STATUS.get(row.status, "stopped")


async def session_start_equity(
    repository: Repository, engine: _core.Engine, at_ns: int
) -> Decimal | None:
    """The first equity stored in the risk session holding ``at_ns``."""
    start = engine.risk_day_start(at_ns)
    if start is None:
        return None
    rows: list[EquityRow] = await repository.get_equity_curve(ACCOUNT, start_ns=start, limit=1)
    return rows[0].equity if rows else None


__all__ = [
    "NODE_STARTED",
    "OpenOrder",
    "Recovery",
    "Resumed",
    "RiskMarks",
    "close_stale_orders",
    "core_fill",
    "core_order",
    "read_recovery",
    "resume",
    "session_start_equity",
    "stored_status",
]
