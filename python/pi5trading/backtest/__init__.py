"""Backtest analytics, reports, Monte Carlo resampling and walk-forward windows."""

from pi5trading.backtest.analytics import Performance, TradeStats, analyse, monthly_returns
from pi5trading.backtest.montecarlo import MonteCarloResult, resample_trades
from pi5trading.backtest.records import EquityCurve, Trade
from pi5trading.backtest.report import write_report
from pi5trading.backtest.walkforward import Window, walk_forward_windows

__all__ = [
    "EquityCurve",
    "MonteCarloResult",
    "Performance",
    "Trade",
    "TradeStats",
    "Window",
    "analyse",
    "monthly_returns",
    "resample_trades",
    "walk_forward_windows",
    "write_report",
]
