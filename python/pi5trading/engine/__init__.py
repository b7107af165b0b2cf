"""The Python facade over the Rust engine: backtests (and, later, paper trading)."""

from pi5trading.engine.backtest import BacktestResult, BacktestRunner, us_equity
from pi5trading.engine.vectorised import run_vectorised

__all__ = ["BacktestResult", "BacktestRunner", "run_vectorised", "us_equity"]
