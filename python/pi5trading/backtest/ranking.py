"""What an optimisation ranks runs by: the metric names, and which of them are better low.

Kept apart from ``optimise`` (which loads NumPy and the engine) so the command line can
offer the choices without loading either.
"""

from __future__ import annotations

METRICS = (
    "sharpe",
    "sortino",
    "calmar",
    "total_return",
    "profit_factor",
    "win_rate",
    "max_drawdown",
    "expectancy",
)
MINIMISE = frozenset({"max_drawdown"})
