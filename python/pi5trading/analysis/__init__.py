"""What a run's equity curve and closed trades say: statistics, Monte Carlo, the report.

Built on plain records (``Trade``, ``EquityCurve``) and nothing else of the engine, so the
same analysis serves a backtest (``BacktestResult.performance`` / ``.write_report``) and,
later, paper and live trading::

    from pi5trading.analysis import analyse, resample_trades, write_report

    perf = analyse(curve, trades, starting_equity=100_000)
    perf.sharpe, perf.max_drawdown, perf.trade_stats.win_rate

Metric conventions, the report and the Monte Carlo method: ``docs/backtesting.md``.
"""

from pi5trading.analysis.montecarlo import MonteCarloResult, resample_trades
from pi5trading.analysis.performance import Performance, TradeStats, analyse, monthly_returns
from pi5trading.analysis.records import EquityCurve, Trade
from pi5trading.analysis.report import write_report

__all__ = [
    "EquityCurve",
    "MonteCarloResult",
    "Performance",
    "Trade",
    "TradeStats",
    "analyse",
    "monthly_returns",
    "resample_trades",
    "write_report",
]
