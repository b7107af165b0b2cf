"""Performance statistics of a run (a backtest; later paper or live trading), from its equity
curve and closed trades.

Conventions (documented in docs/backtesting.md):
- Returns for Sharpe, Sortino and volatility are **daily**: the last equity of each UTC day
  with data, compared with the previous such day (the first day against starting equity);
  annualised with sqrt(252). No risk-free rate is subtracted unless given.
- Annualised return uses calendar time: (1 + total) ** (365.25 days / span) - 1.
- Ratios that are undefined (no losing trade, no downside, no drawdown) are ``None``,
  never a made-up sentinel like 999.99.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

import msgspec
import numpy as np
import numpy.typing as npt

from pi5trading.analysis.records import NANOS_PER_DAY, EquityCurve, Trade

TRADING_DAYS = 252
YEAR_NANOS = int(365.25 * NANOS_PER_DAY)


class TradeStats(msgspec.Struct, frozen=True, kw_only=True):
    """Statistics of closed trades."""

    trades: int
    wins: int
    losses: int
    win_rate: float | None
    """Share of trades with net P&L > 0 (0..1); a break-even trade is not a win."""
    gross_profit: Decimal
    gross_loss: Decimal
    """Sum of losing trades' net P&L as a positive number."""
    net_profit: Decimal
    profit_factor: float | None
    expectancy: Decimal | None
    """Mean net P&L per trade."""
    average_win: Decimal | None
    average_loss: Decimal | None
    """Mean net P&L of losing trades (negative)."""
    largest_win: Decimal | None
    largest_loss: Decimal | None
    total_commission: Decimal
    max_consecutive_wins: int
    max_consecutive_losses: int


class Performance(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a tearsheet shows about one backtest."""

    start_ts: int
    end_ts: int
    starting_equity: float
    final_equity: float
    total_return: float
    annualised_return: float | None
    volatility: float | None
    """Annualised standard deviation of daily returns."""
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    max_drawdown: float
    """Largest peak-to-trough fall as a fraction of the peak (0..1)."""
    max_drawdown_duration_ns: int
    """Longest time spent below a previous equity peak."""
    exposure: float | None
    """Share of bars with an open position (0..1), when the position series is known."""
    turnover: float | None
    """Traded notional divided by mean equity, when traded notional is known."""
    trade_stats: TradeStats
    per_strategy: dict[str, TradeStats]


def drawdown_series(equity: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Fraction below the running peak at each point (0 at a new high, positive below it)."""
    if equity.size == 0:
        return np.zeros(0)
    peak = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, 1.0 - equity / peak, 0.0)
    return np.asarray(dd, dtype=np.float64)


def max_drawdown_duration(ts: npt.NDArray[np.int64], equity: npt.NDArray[np.float64]) -> int:
    """Longest span (ns) from a peak until equity regains it (or the end of the data)."""
    if ts.size == 0:
        return 0
    at_peak = equity >= np.maximum.accumulate(equity)
    # Index of the latest peak at or before each point; the first point is a peak.
    last_peak = np.maximum.accumulate(np.where(at_peak, np.arange(ts.size), 0))
    return int(np.max(ts - ts[last_peak]))


def daily_returns(
    ts: npt.NDArray[np.int64], equity: npt.NDArray[np.float64], starting_equity: float
) -> npt.NDArray[np.float64]:
    """Simple returns between the closing equity of consecutive UTC days with data."""
    if ts.size == 0:
        return np.zeros(0)
    days = ts // NANOS_PER_DAY
    last_of_day = np.flatnonzero(np.append(days[1:] != days[:-1], True))
    closes = np.concatenate(([starting_equity], equity[last_of_day]))
    with np.errstate(divide="ignore", invalid="ignore"):
        rets = np.diff(closes) / closes[:-1]
    return np.asarray(rets[np.isfinite(rets)], dtype=np.float64)


def _ratio(num: float, den: float) -> float | None:
    if den == 0 or not math.isfinite(den) or not math.isfinite(num):
        return None
    return num / den


def trade_stats(trades: Sequence[Trade]) -> TradeStats:
    """Win rate, profit factor, expectancy and streaks of ``trades`` (in exit order)."""
    pnls = [t.net_pnl for t in sorted(trades, key=lambda t: (t.exit_ts, t.entry_ts))]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p <= 0]
    gross_profit = sum(wins, Decimal(0))
    gross_loss = -sum((p for p in losses if p < 0), Decimal(0))
    best_w = best_l = run_w = run_l = 0
    for p in pnls:
        if p > 0:
            run_w, run_l = run_w + 1, 0
        else:
            run_w, run_l = 0, run_l + 1
        best_w, best_l = max(best_w, run_w), max(best_l, run_l)
    n = len(pnls)
    return TradeStats(
        trades=n,
        wins=len(wins),
        losses=len(losses),
        win_rate=len(wins) / n if n else None,
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        net_profit=sum(pnls, Decimal(0)),
        profit_factor=float(gross_profit / gross_loss) if gross_loss > 0 else None,
        expectancy=sum(pnls, Decimal(0)) / n if n else None,
        average_win=gross_profit / len(wins) if wins else None,
        average_loss=sum(losses, Decimal(0)) / len(losses) if losses else None,
        largest_win=max(wins) if wins else None,
        largest_loss=min(losses) if losses else None,
        total_commission=sum((t.commission for t in trades), Decimal(0)),
        max_consecutive_wins=best_w,
        max_consecutive_losses=best_l,
    )


def _annualised(total: float, span_ns: int) -> float | None:
    """``total`` compounded to a year; ``None`` when it is not a number: no span, all lost,
    or a span so short (minutes of a fast paper run) that the power leaves a float."""
    if span_ns <= 0 or total <= -1.0:
        return None
    try:
        return float((1.0 + total) ** (YEAR_NANOS / span_ns) - 1.0)
    except OverflowError:
        return None


def analyse(
    curve: EquityCurve,
    trades: Sequence[Trade],
    *,
    starting_equity: float | None = None,
    position_open: Sequence[bool] | npt.NDArray[np.bool_] | None = None,
    traded_notional: float | None = None,
    risk_free_rate: float = 0.0,
) -> Performance:
    """Compute a ``Performance`` from an equity curve (one point per bar) and closed trades."""
    ts, equity = curve.arrays()
    if ts.size == 0:
        raise ValueError("equity curve is empty: the backtest produced no bars")
    start_eq = float(equity[0]) if starting_equity is None else starting_equity
    final_eq = float(equity[-1])
    total = final_eq / start_eq - 1.0 if start_eq else 0.0
    span = int(ts[-1] - ts[0])
    annual = _annualised(total, span)

    rets = daily_returns(ts, equity, start_eq)
    excess = rets - risk_free_rate / TRADING_DAYS
    vol = sharpe = sortino = None
    if rets.size >= 2:
        std = float(np.std(rets, ddof=1))
        vol = std * math.sqrt(TRADING_DAYS)
        sharpe = _ratio(float(np.mean(excess)) * math.sqrt(TRADING_DAYS), std)
        downside = float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2)))
        sortino = _ratio(float(np.mean(excess)) * math.sqrt(TRADING_DAYS), downside)

    dd = drawdown_series(equity)
    max_dd = float(dd.max()) if dd.size else 0.0
    calmar = _ratio(annual, max_dd) if annual is not None else None

    exposure = None
    if position_open is not None:
        if len(position_open) != ts.size:
            raise ValueError("position_open must have one entry per equity point")
        exposure = float(np.count_nonzero(np.asarray(position_open, dtype=bool))) / ts.size
    turnover = None
    if traded_notional is not None:
        turnover = _ratio(traded_notional, float(np.mean(equity)))

    by_strategy: dict[str, list[Trade]] = defaultdict(list)
    for t in trades:
        by_strategy[t.strategy_id].append(t)

    return Performance(
        start_ts=int(ts[0]),
        end_ts=int(ts[-1]),
        starting_equity=start_eq,
        final_equity=final_eq,
        total_return=total,
        annualised_return=annual,
        volatility=vol,
        sharpe=sharpe,
        sortino=sortino,
        calmar=calmar,
        max_drawdown=max_dd,
        max_drawdown_duration_ns=max_drawdown_duration(ts, equity),
        exposure=exposure,
        turnover=turnover,
        trade_stats=trade_stats(trades),
        per_strategy={k: trade_stats(v) for k, v in sorted(by_strategy.items())},
    )


def monthly_returns(curve: EquityCurve, starting_equity: float | None = None) -> dict[str, float]:
    """Return of each calendar month (UTC), keyed ``YYYY-MM``, compounding month-end equity."""
    ts, equity = curve.arrays()
    if ts.size == 0:
        return {}
    months = ts.astype("datetime64[ns]").astype("datetime64[M]")
    last_of_month = np.flatnonzero(np.append(months[1:] != months[:-1], True))
    start = float(equity[0]) if starting_equity is None else starting_equity
    closes = np.concatenate(([start], equity[last_of_month]))
    with np.errstate(divide="ignore", invalid="ignore"):
        rets = np.where(closes[:-1] != 0, np.diff(closes) / closes[:-1], 0.0)
    keys = [str(m) for m in months[last_of_month]]
    return dict(zip(keys, (float(r) for r in rets), strict=True))
