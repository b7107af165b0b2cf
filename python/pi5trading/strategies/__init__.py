"""Strategies: the ``Strategy`` base class, the built-in strategies and their registry.

``BUILTIN`` maps each built-in's registry name (``Strategy.name``) to its class;
``load_strategy`` resolves a name, a ``.py`` file or a ``module:Class`` path.
See docs/strategies.md.
"""

from __future__ import annotations

from pi5trading.strategies.base import Strategy, StrategyConfig
from pi5trading.strategies.bollinger_reversion import BollingerReversion
from pi5trading.strategies.donchian_breakout import DonchianBreakout
from pi5trading.strategies.loader import ALIASES, BUILTIN, load_strategy
from pi5trading.strategies.momentum import MomentumStrategy
from pi5trading.strategies.opening_range_breakout import OpeningRangeBreakout
from pi5trading.strategies.rsi_mean_reversion import RsiMeanReversion
from pi5trading.strategies.sma_crossover import MovingAverageCrossover
from pi5trading.strategies.vwap_bounce import VwapBounce

__all__ = [
    "ALIASES",
    "BUILTIN",
    "BollingerReversion",
    "DonchianBreakout",
    "MomentumStrategy",
    "MovingAverageCrossover",
    "OpeningRangeBreakout",
    "RsiMeanReversion",
    "Strategy",
    "StrategyConfig",
    "VwapBounce",
    "load_strategy",
]
