"""Backtests as data, built on the engine: specs, parameter search, walk-forward, run history.

``spec.BacktestSpec`` describes a run (strategy, parameters, data, venue, risk) and
``spec.run_spec`` runs it through ``pi5trading.engine.BacktestRunner``; ``optimise``
searches parameters on every core (ranked by ``ranking.METRICS``) and walks forward over
``walkforward.walk_forward_windows``; ``history`` records runs in the database. The
statistics and the report of a run are ``pi5trading.analysis``.

Nothing is imported here, so ``pi5trading.backtest.ranking`` stays cheap for the CLI.
"""
