"""The vectorised mode: signals as a NumPy array, fills by the same venue rules.

``run_vectorised`` takes a target position per bar (e.g. +100 long, 0 flat) and lets the
engine send market orders for the differences — in Rust, with no Python call per bar. It
gives the same fills as an event-driven strategy that does the same in ``on_bar``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pi5trading import _core
from pi5trading.data.bars import BarFrame
from pi5trading.engine.backtest import BacktestResult, BacktestRunner, us_equity
from pi5trading.engine.denials import warn_if_mostly_denied
from pi5trading.exceptions import InvalidInputError

_SCALE = 10**9


def run_vectorised(
    runner: BacktestRunner,
    symbol: str,
    target: npt.ArrayLike,
    *,
    strategy_id: str = "signals",
) -> BacktestResult:
    """Simulate ``target`` (signed quantity wanted after each bar, in units) on ``symbol``."""
    if symbol not in runner.bars:
        raise InvalidInputError(f"no bars for {symbol!r}")
    interval, frame = runner.bars[symbol]
    tgt = np.asarray(target)
    if tgt.shape != (len(frame),):
        raise InvalidInputError(f"target has shape {tgt.shape}, expected ({len(frame)},)")
    raw = np.rint(tgt.astype(np.float64) * _SCALE).astype(np.int64)
    engine = _core.Engine(runner.venue, runner.risk)
    ins = runner.instruments.get(symbol) or us_equity(symbol)
    engine.add_instrument(ins)
    f: BarFrame = frame
    ts, cols = f.engine_columns()
    engine.add_bars(symbol, interval, ts, *cols)
    engine.add_target_positions(strategy_id, symbol, raw)
    engine.run()
    result = BacktestResult.from_engine(
        engine,
        {symbol: frame},
        {"strategies": [strategy_id], "symbols": [symbol], "mode": "vectorised"},
    )
    result.risk_warning = warn_if_mostly_denied(result.denials, result.orders)
    return result
