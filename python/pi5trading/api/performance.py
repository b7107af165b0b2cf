"""How the account and each strategy are doing: performance (return, today's P&L,
drawdowns, Sharpe, trades, win rate, per-strategy attribution), allocation (market value
and weight of each position), and a strategy's recent events.

Money is exact: equity, cash, P&L and market values come from the node's portfolio
(``Decimal``), drawdowns from the stored equity snapshots (``Decimal``); only the Sharpe
ratio is a float statistic, as in backtest reports (``pi5trading.analysis``). Trades are
the engine's closed round trips (flat -> position -> flat, per strategy and instrument).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Final

import msgspec
from litestar import Request, get
from litestar.params import FromPath, FromQuery

from pi5trading import _core
from pi5trading.analysis.performance import analyse, trade_stats
from pi5trading.analysis.records import EquityCurve, plain
from pi5trading.analysis.trades import trades_from_round_trips
from pi5trading.api.errors import Problem
from pi5trading.api.node_access import node_of, repository_of
from pi5trading.api.roles import ANYONE
from pi5trading.api.timefmt import iso, parse_iso
from pi5trading.backtest.jobs import number_text
from pi5trading.node.trading_node import TradingNode
from pi5trading.storage.records import EquityRow

RATIO: Final = Decimal("1e-8")
"""Returns, drawdowns and weights: fractions to 8 places (0.00000001 = 1e-6 %)."""
MAX_POINTS: Final = 100_000
"""Equity snapshots read for the drawdowns and the Sharpe ratio (as the history route)."""


class StrategyFigures(msgspec.Struct, frozen=True, kw_only=True):
    strategy_id: str
    realized_pnl: str
    unrealized_pnl: str
    trades: int
    """Closed round trips."""
    fills: int


class StrategyPerformance(msgspec.Struct, frozen=True, kw_only=True):
    strategy_id: str
    realized_pnl: str
    unrealized_pnl: str
    trades: int
    fills: int
    win_rate: str | None
    """Share of trades with net P&L > 0 (null without trades)."""


class Performance(msgspec.Struct, frozen=True, kw_only=True):
    equity: str
    starting_equity: str
    """The equity at ``since`` (the first snapshot from then on), else the starting cash."""
    total_return: str
    """``equity / starting_equity - 1``, a fraction."""
    today_pnl: str
    """Equity now minus the first snapshot of today (UTC)."""
    max_drawdown: str
    """The largest fall from a running peak of equity, as a fraction of that peak."""
    current_drawdown: str
    sharpe: str | None
    """Of daily returns, annualised (null for fewer than two days)."""
    trades: int
    win_rate: str | None
    by_strategy: list[StrategyFigures]


class AllocationItem(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    strategy_id: str | None
    """The strategy holding it (``null``: a position no strategy of the node holds)."""
    market_value: str
    weight: str
    """``market_value / equity``; negative for a short."""


class Allocation(msgspec.Struct, frozen=True, kw_only=True):
    cash: str
    equity: str
    items: list[AllocationItem]


class StrategyEvent(msgspec.Struct, frozen=True, kw_only=True):
    at: str
    kind: str
    """``order`` (a lifecycle step), ``fill`` or ``status`` (started, stopped...)."""
    status: str
    """The order's new status, ``filled``, or the strategy's run status."""
    order_id: str | None = None
    symbol: str | None = None
    side: str | None = None
    quantity: str | None = None
    price: str | None = None
    detail: str | None = None


def _ratio(a: Decimal, b: Decimal) -> str:
    return plain((a / b).quantize(RATIO)) if b else "0"


def _text(d: Decimal) -> str:
    return plain(d)


def _engine_figures(node: TradingNode, engine: _core.Engine, since: int | None) -> dict[str, Any]:
    """On the engine thread: the portfolio now, each strategy's P&L, trades and fills."""
    p = engine.portfolio
    trips, _ = engine.round_trips()
    trades = [t for t in trades_from_round_trips(trips) if since is None or t.exit_ts >= since]
    fills: dict[str, int] = {}
    for f in engine.fills():
        if since is None or f.ts >= since:
            fills[f.strategy_id] = fills.get(f.strategy_id, 0) + 1
    strategies = {}
    for sid in node.strategies():
        realised, unrealised, _ = p.strategy_pnl(sid)
        own = [t for t in trades if t.strategy_id == sid]
        strategies[sid] = (realised, unrealised, own, fills.get(sid, 0))
    return {
        "equity": p.equity,
        "cash": p.cash,
        "starting_cash": p.starting_cash,
        "trades": trades,
        "strategies": strategies,
    }


def _drawdowns(rows: list[EquityRow], now: Decimal) -> tuple[Decimal, Decimal]:
    """Largest and current fall from the running peak (exact), the current equity last."""
    peak, worst = Decimal(0), Decimal(0)
    for e in [*(r.equity for r in rows), now]:
        peak = max(peak, e)
        if peak > 0:
            worst = max(worst, (peak - e) / peak)
    current = (peak - now) / peak if peak > 0 else Decimal(0)
    return worst, current


@get(
    "/api/v1/portfolio/performance",
    tags=["portfolio"],
    guards=ANYONE,
    operation_id="portfolioPerformance",
)
async def portfolio_performance(
    request: Request[Any, Any, Any], since: FromQuery[str | None] = None
) -> Performance:
    """Return, today's P&L, drawdowns, Sharpe, trades and win rate of the account since
    ``since`` (default: all that is stored), with each strategy's P&L."""
    try:
        start = parse_iso(since, "since") if since is not None else None
    except (ValueError, OverflowError) as exc:
        raise Problem(400, "Invalid request", str(exc)) from None
    node = node_of(request)
    figures = await node.call(lambda e: _engine_figures(node, e, start))
    repo = repository_of(request)
    rows = await repo.get_equity_curve("account", start, None, limit=MAX_POINTS)
    equity: Decimal = figures["equity"]
    starting: Decimal = rows[0].equity if rows and start is not None else figures["starting_cash"]
    midnight = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    today = await repo.get_equity_curve("account", int(midnight.timestamp()) * 10**9, None, limit=1)
    opened = today[0].equity if today else (rows[-1].equity if rows else starting)
    worst, current = _drawdowns(rows, equity)
    sharpe = None
    if len(rows) >= 2:
        curve = EquityCurve([r.ts_ns for r in rows], [float(r.equity) for r in rows])
        sharpe = analyse(curve, [], starting_equity=float(starting)).sharpe
    stats = trade_stats(figures["trades"])
    return Performance(
        equity=_text(equity),
        starting_equity=_text(starting),
        total_return=plain((equity / starting - 1).quantize(RATIO)) if starting else "0",
        today_pnl=_text(equity - opened),
        max_drawdown=plain(worst.quantize(RATIO)),
        current_drawdown=plain(current.quantize(RATIO)),
        sharpe=number_text(sharpe),
        trades=stats.trades,
        win_rate=number_text(stats.win_rate),
        by_strategy=[
            StrategyFigures(
                strategy_id=sid,
                realized_pnl=_text(realised),
                unrealized_pnl=_text(unrealised),
                trades=len(own),
                fills=n_fills,
            )
            for sid, (realised, unrealised, own, n_fills) in sorted(figures["strategies"].items())
        ],
    )


def _allocation(node: TradingNode, engine: _core.Engine) -> Allocation:
    p = engine.portfolio
    equity = p.equity
    items = []
    for symbol, pos in sorted(p.positions().items()):
        if pos.quantity == 0 or pos.mark is None:
            continue
        # Split by the strategies that hold it; what none holds is the account's own.
        left = pos.quantity
        for sid in sorted(node.strategies()):
            own = p.strategy_position(sid, symbol)
            if own is None or own.quantity == 0:
                continue
            left -= own.quantity
            value = own.quantity * pos.mark
            items.append(
                AllocationItem(
                    symbol=symbol,
                    strategy_id=sid,
                    market_value=_text(value),
                    weight=_ratio(value, equity),
                )
            )
        if left != 0:
            value = left * pos.mark
            items.append(
                AllocationItem(
                    symbol=symbol,
                    strategy_id=None,
                    market_value=_text(value),
                    weight=_ratio(value, equity),
                )
            )
    return Allocation(cash=_text(p.cash), equity=_text(equity), items=items)


@get(
    "/api/v1/portfolio/allocation",
    tags=["portfolio"],
    guards=ANYONE,
    operation_id="portfolioAllocation",
)
async def portfolio_allocation(request: Request[Any, Any, Any]) -> Allocation:
    """Cash, equity and each position's market value and weight of equity, by strategy."""
    node = node_of(request)
    return await node.call(lambda e: _allocation(node, e))


def _known(node: TradingNode, strategy_id: str) -> None:
    if strategy_id not in node.strategies():
        raise Problem(404, "Unknown strategy", f"no strategy {strategy_id!r} in the node")


@get(
    "/api/v1/strategies/{strategy_id:str}/performance",
    tags=["strategies"],
    guards=ANYONE,
    operation_id="strategyPerformance",
)
async def strategy_performance(
    request: Request[Any, Any, Any], strategy_id: FromPath[str]
) -> StrategyPerformance:
    """One strategy's P&L (exact), closed trades, fills and win rate."""
    node = node_of(request)
    _known(node, strategy_id)
    figures = await node.call(lambda e: _engine_figures(node, e, None))
    realised, unrealised, own, n_fills = figures["strategies"][strategy_id]
    return StrategyPerformance(
        strategy_id=strategy_id,
        realized_pnl=_text(realised),
        unrealized_pnl=_text(unrealised),
        trades=len(own),
        fills=n_fills,
        win_rate=number_text(trade_stats(own).win_rate),
    )


@get(
    "/api/v1/strategies/{strategy_id:str}/events",
    tags=["strategies"],
    guards=ANYONE,
    operation_id="strategyEvents",
)
async def strategy_events(
    request: Request[Any, Any, Any], strategy_id: FromPath[str], limit: FromQuery[int] = 50
) -> list[StrategyEvent]:
    """A strategy's recent order lifecycle steps, fills and status changes, newest first."""
    if not 1 <= limit <= 500:
        raise Problem(400, "Invalid request", f"limit: expected 1 to 500, got {limit}")
    repo = repository_of(request)
    node = getattr(request.app.state, "node", None)
    known = strategy_id in node.strategies() if node is not None else False
    if not known and await repo.get_strategy(strategy_id) is None:
        raise Problem(404, "Unknown strategy", f"no strategy {strategy_id!r}")
    events: list[tuple[int, StrategyEvent]] = []
    for o in await repo.find_orders(strategy_id=strategy_id, limit=limit):
        for e in await repo.get_order_events(o.order_id):
            events.append(
                (
                    e.ts_ns,
                    StrategyEvent(
                        at=iso(e.ts_ns),
                        kind="order",
                        status=e.status,
                        order_id=o.order_id,
                        symbol=o.instrument_id,
                        side=o.side,
                        quantity=_text(o.quantity),
                        price=_text(o.limit_price) if o.limit_price is not None else None,
                        detail=e.reason,
                    ),
                )
            )
    for f in await repo.find_fills(strategy_id=strategy_id, limit=limit):
        events.append(
            (
                f.ts_ns,
                StrategyEvent(
                    at=iso(f.ts_ns),
                    kind="fill",
                    status="filled",
                    order_id=f.order_id,
                    symbol=f.instrument_id,
                    side=f.side,
                    quantity=_text(f.quantity),
                    price=_text(f.price),
                ),
            )
        )
    for run in await repo.list_strategy_runs(strategy_id, limit=limit):
        events.append(
            (
                run.started_ns,
                StrategyEvent(
                    at=iso(run.started_ns), kind="status", status="running", detail=run.mode
                ),
            )
        )
        if run.stopped_ns is not None:
            events.append(
                (
                    run.stopped_ns,
                    StrategyEvent(
                        at=iso(run.stopped_ns), kind="status", status=run.status, detail=run.error
                    ),
                )
            )
    events.sort(key=lambda pair: pair[0], reverse=True)
    return [e for _, e in events[:limit]]


ROUTES: Final = [portfolio_performance, portfolio_allocation, strategy_performance, strategy_events]

__all__ = ["ROUTES"]
