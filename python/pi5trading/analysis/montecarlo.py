"""Monte Carlo resampling of closed trades: how much of a result was luck of the order?

Trades are drawn with replacement (bootstrap, same count as the backtest) and their net P&L
applied in the drawn order to the starting equity. Each run yields a final return and a
maximum drawdown (fraction of the running peak); percentiles of both give confidence
intervals. Seeded, so a report is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

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


# Simulations come in chunks of this many, each with its own random stream (the seed and
# the chunk's index): the result is the same whether the chunks run here one after another
# or on a cluster's workers in any order.
CHUNK_SIMULATIONS = 2500

# (chunk function, one argument tuple per chunk) -> the results in the chunks' order.
ChunkMap = Callable[
    [Callable[..., tuple[np.ndarray, np.ndarray]], list[tuple[Any, ...]]],
    list[tuple[np.ndarray, np.ndarray]],
]


def simulate_chunk(
    pnl: np.ndarray, starting_equity: float, seed: int, chunk: int, rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` resampled paths of chunk ``chunk``: (final returns, max drawdowns)."""
    rng = np.random.default_rng([seed, chunk])
    final = np.empty(rows)
    max_dd = np.empty(rows)
    # Paths in blocks of ~1M points: memory stays ~40 MB whatever the number of trades
    # (a 20k-trade run took 750 MB as one matrix).
    block = max(1, _BLOCK_POINTS // pnl.size)
    for start in range(0, rows, block):
        n = min(block, rows - start)
        draws = rng.integers(0, pnl.size, size=(n, pnl.size))
        paths = np.cumsum(pnl[draws], axis=1)
        del draws
        paths += starting_equity
        peaks = np.maximum(np.maximum.accumulate(paths, axis=1), starting_equity)
        with np.errstate(divide="ignore", invalid="ignore"):
            dd = np.where(peaks > 0, 1.0 - paths / peaks, 1.0)
        # The start (no trade yet) is a point of every path: drawdown 0 there.
        max_dd[start : start + n] = np.maximum(dd.max(axis=1), 0.0 if starting_equity > 0 else 1.0)
        final[start : start + n] = paths[:, -1] / starting_equity - 1.0
    return final, max_dd


def resample_trades(
    trades: Sequence[Trade],
    starting_equity: float,
    *,
    simulations: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    target_return: float = 0.10,
    ruin_drawdown: float = 0.50,
    chunk_map: ChunkMap | None = None,
) -> MonteCarloResult | None:
    """Bootstrap ``trades``; ``None`` when there is no trade to resample. ``chunk_map``
    runs the chunks elsewhere (a cluster: ``Cluster.map_chunks``); the result is the same."""
    if not trades:
        return None
    if simulations < 1:
        raise ValueError("simulations must be >= 1")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    if starting_equity <= 0:
        raise ValueError("starting_equity must be > 0")
    pnl = np.array([float(t.net_pnl) for t in trades], dtype=np.float64)
    chunks = [
        (pnl, starting_equity, seed, i, min(CHUNK_SIMULATIONS, simulations - start))
        for i, start in enumerate(range(0, simulations, CHUNK_SIMULATIONS))
    ]
    if chunk_map is None:
        parts = [simulate_chunk(*args) for args in chunks]
    else:
        parts = chunk_map(simulate_chunk, chunks)
    final = np.concatenate([f for f, _ in parts])
    max_dd = np.concatenate([d for _, d in parts])
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
