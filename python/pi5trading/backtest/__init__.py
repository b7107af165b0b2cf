"""Backtests as data, built on the engine: specs, parameter search, walk-forward, run history.

``BacktestSpec`` describes a run (strategy, parameters, data, venue, risk); ``run_spec``
runs it through ``pi5trading.engine.BacktestRunner``; ``optimise`` searches parameters on
every core and walks forward over ``walk_forward_windows``; ``history`` records runs in the
database. The statistics and the report of a run are ``pi5trading.analysis``.
"""

from pi5trading.backtest.spec import BacktestSpec, run_spec
from pi5trading.backtest.walkforward import Window, walk_forward_windows

__all__ = ["BacktestSpec", "Window", "run_spec", "walk_forward_windows"]
