"""How the account and each strategy are doing: performance (return, today's P&L,
drawdowns, Sharpe, trades, win rate, per-strategy attribution), allocation (market value
and weight of each position), and a strategy's recent events.

Money is exact: equity, cash, P&L and market values come from the node's portfolio
(``Decimal``), drawdowns from the stored equity snapshots (``Decimal``); only the Sharpe
ratio is a float statistic, as in backtest reports (``pi5trading.analysis``). Trades are
closed round trips (flat -> position -> flat, per strategy and instrument) of the stored
fills, paired as the engine pairs them, so they survive a restart; "today" is the engine's
day (UTC), which a replayed or simulated feed sets.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

import msgspec
from litestar import Request, get
from litestar.params import FromPath, FromQuery

from pi5trading import _core
from pi5trading.analysis.performance import analyse, trade_stats
from pi5trading.analysis.records import EquityCurve, Trade, plain
from pi5trading.analysis.trades import trades_from_fills
from pi5trading.api.errors import Problem
from pi5trading.api.node_access import node_of, repository_of
from pi5trading.api.roles import ANYONE
from pi5trading.api.timefmt import iso, parse_iso
from pi5trading.backtest.jobs import number_text
from pi5trading.node.trading_node import TradingNode
from pi5trading.storage.protocol import Repository
from pi5trading.storage.records import EquityRow, FillRow

RATIO: Final = Decimal("1e-8")
"""Returns, drawdowns and weights: fractions to 8 places (0.00000001 = 1e-6 %)."""
MAX_POINTS: Final = 100_000
"""Equity snapshots read for the drawdowns and the Sharpe ratio (as the history route)."""
MAX_FILLS: Final = 200_000
"""Fills read to pair into trades (the newest ones, when there are more)."""
_PAGE: Final = 10_000
DAY_NS: Final = 86_400 * 10**9


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


def _engine_figures(node: TradingNode, engine: _core.Engine) -> dict[str, Any]:
    """On the engine thread: the portfolio now and each strategy's P&L."""
    p = engine.portfolio
    return {
        "now": int(engine.now),
        "equity": p.equity,
        "starting_cash": p.starting_cash,
        "pnl": {sid: p.strategy_pnl(sid)[:2] for sid in node.strategies()},
    }


async def _stored_trades(
    repo: Repository, strategy_id: str | None, since: int | None
) -> tuple[list[Trade], dict[str, int]]:
    """Closed trades (exit from ``since`` on) and fills (from ``since``) per strategy, from
    storage: every fill is read (up to ``MAX_FILLS``), since a trade may open before."""
    rows: list[FillRow] = []
    while len(rows) < MAX_FILLS:
        page = await repo.find_fills(strategy_id=strategy_id, limit=_PAGE, offset=len(rows))
        rows += page
        if len(page) < _PAGE:
            break
    rows.sort(key=lambda f: f.ts_ns)  # oldest first (stable: ties keep their stored order)
    fills: dict[str, int] = {}
    for f in rows:
        if since is None or f.ts_ns >= since:
            fills[f.strategy_id] = fills.get(f.strategy_id, 0) + 1
    trades = trades_from_fills(
        (f.ts_ns, f.strategy_id, f.instrument_id, f.side, f.quantity, f.price, f.commission)
        for f in rows
    )
    return [t for t in trades if since is None or t.exit_ts >= since], fills


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
    figures = await node.call(lambda e: _engine_figures(node, e))
    repo = repository_of(request)
    trades, fills = await _stored_trades(repo, None, start)
    rows = await repo.get_equity_curve("account", start, None, limit=MAX_POINTS)
    equity: Decimal = figures["equity"]
    starting: Decimal = rows[0].equity if rows and start is not None else figures["starting_cash"]
    midnight = figures["now"] // DAY_NS * DAY_NS
    today = await repo.get_equity_curve("account", midnight, None, limit=1)
    opened = today[0].equity if today else (rows[-1].equity if rows else starting)
    worst, current = _drawdowns(rows, equity)
    sharpe = None
    if len(rows) >= 2:
        curve = EquityCurve([r.ts_ns for r in rows], [float(r.equity) for r in rows])
        sharpe = analyse(curve, [], starting_equity=float(starting)).sharpe
    stats = trade_stats(trades)
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
                trades=sum(1 for t in trades if t.strategy_id == sid),
                fills=fills.get(sid, 0),
            )
            for sid, (realised, unrealised) in sorted(figures["pnl"].items())
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
    figures = await node.call(lambda e: _engine_figures(node, e))
    realised, unrealised = figures["pnl"][strategy_id]
    own, fills = await _stored_trades(repository_of(request), strategy_id, None)
    return StrategyPerformance(
        strategy_id=strategy_id,
        realized_pnl=_text(realised),
        unrealized_pnl=_text(unrealised),
        trades=len(own),
        fills=fills.get(strategy_id, 0),
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
    # (time, rank, event): at one time, the later step of a lifecycle ranks higher (an
    # order's next status, a run's stop after its start).
    events: list[tuple[int, int, StrategyEvent]] = []
    for o in await repo.find_orders(strategy_id=strategy_id, limit=limit):
        for e in await repo.get_order_events(o.order_id):
            events.append(
                (
                    e.ts_ns,
                    e.seq,
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
                1_000_000,
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
                0,
                StrategyEvent(
                    at=iso(run.started_ns), kind="status", status="running", detail=run.mode
                ),
            )
        )
        if run.stopped_ns is not None:
            events.append(
                (
                    run.stopped_ns,
                    1,
                    StrategyEvent(
                        at=iso(run.stopped_ns), kind="status", status=run.status, detail=run.error
                    ),
                )
            )
    events.sort(key=lambda t: t[:2], reverse=True)
    return [e for _, _, e in events[:limit]]


ROUTES: Final = [portfolio_performance, portfolio_allocation, strategy_performance, strategy_events]

__all__ = ["ROUTES"]
