"""Monte Carlo resampling of closed trades: how much of a result was luck of the order?

Trades are drawn with replacement (bootstrap, same count as the backtest) and their net P&L
applied in the drawn order to the starting equity. Each run yields a final return and a
maximum drawdown (fraction of the running peak); percentiles of both give confidence
intervals. Seeded, so a report is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np

from pi5trading.analysis.records import Trade


class Interval(msgspec.Struct, frozen=True):
    low: float
    median: float
    high: float


class MonteCarloResult(msgspec.Struct, frozen=True, kw_only=True):
    simulations: int
    confidence: float
    seed: int
    final_return: Interval
    """Total return (fraction) at the (1-c)/2, 0.5 and (1+c)/2 quantiles."""
    max_drawdown: Interval
    probability_of_profit: float
    probability_of_target: float
    """Share of runs whose return reaches ``target_return``."""
    target_return: float
    risk_of_ruin: float
    """Share of runs whose drawdown exceeds ``ruin_drawdown`` at any point."""
    ruin_drawdown: float


_BLOCK_POINTS = 1 << 20


def resample_trades(
    trades: Sequence[Trade],
    starting_equity: float,
    *,
    simulations: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    target_return: float = 0.10,
    ruin_drawdown: float = 0.50,
) -> MonteCarloResult | None:
    """Bootstrap ``trades``; ``None`` when there is no trade to resample."""
    if not trades:
        return None
    if simulations < 1:
        raise ValueError("simulations must be >= 1")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    if starting_equity <= 0:
        raise ValueError("starting_equity must be > 0")
    pnl = np.array([float(t.net_pnl) for t in trades], dtype=np.float64)
    rng = np.random.default_rng(seed)
    final = np.empty(simulations)
    max_dd = np.empty(simulations)
    # Simulations in blocks of ~1M path points: memory stays ~40 MB whatever the number
    # of trades (a 20k-trade run took 750 MB as one matrix).
    block = max(1, _BLOCK_POINTS // pnl.size)
    for start in range(0, simulations, block):
        rows = min(block, simulations - start)
        draws = rng.integers(0, pnl.size, size=(rows, pnl.size))
        paths = np.cumsum(pnl[draws], axis=1)
        del draws
        paths += starting_equity
        peaks = np.maximum(np.maximum.accumulate(paths, axis=1), starting_equity)
        with np.errstate(divide="ignore", invalid="ignore"):
            dd = np.where(peaks > 0, 1.0 - paths / peaks, 1.0)
        # The start (no trade yet) is a point of every path: drawdown 0 there.
        max_dd[start : start + rows] = np.maximum(
            dd.max(axis=1), 0.0 if starting_equity > 0 else 1.0
        )
        final[start : start + rows] = paths[:, -1] / starting_equity - 1.0
    lo, hi = (1 - confidence) / 2, (1 + confidence) / 2

    def interval(x: np.ndarray) -> Interval:
        q = np.quantile(x, [lo, 0.5, hi])
        return Interval(float(q[0]), float(q[1]), float(q[2]))

    return MonteCarloResult(
        simulations=simulations,
        confidence=confidence,
        seed=seed,
        final_return=interval(final),
        max_drawdown=interval(max_dd),
        probability_of_profit=float(np.mean(final > 0)),
        probability_of_target=float(np.mean(final >= target_return)),
        target_return=target_return,
        risk_of_ruin=float(np.mean(max_dd > ruin_drawdown)),
        ruin_drawdown=ruin_drawdown,
    )
