"""Momentum: rate of change over N bars against entry and exit thresholds."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Final

from pi5trading.indicators import ROC
from pi5trading.model import Bar
from pi5trading.strategies.base import Bounds, Period, Quantity, Strategy, StrategyConfig

THRESHOLD: Final = Bounds(-100, 1000)
"""A rate of change in percent: a price falls at most 100 %."""


class MomentumStrategy(Strategy):
    """Buy when the ``period``-bar rate of change rises above ``entry_threshold`` %;
    exit when it falls below ``exit_threshold`` %.

    ``ROC = 100 * (close[t] - close[t - period]) / close[t - period]``.

    Rules (per instrument, at each bar's close, long-only, one position):

    - flat and ``ROC > entry_threshold`` -> buy ``quantity``;
    - long and ``ROC < exit_threshold`` -> close the position.

    The rules compare levels, not crossings: after an exit the strategy buys again as
    soon as ROC is back above the entry threshold. ``exit_threshold`` must not exceed
    ``entry_threshold`` (otherwise a bar could both enter and exit).

    Parameters: ``period`` 20, ``entry_threshold`` 2.0 (%), ``exit_threshold`` 0.0 (%),
    ``quantity`` 100. The original system had no such strategy.

    Warm-up: ROC(period) is ready after ``period + 1`` closes.
    """

    name = "momentum"

    class Config(StrategyConfig):
        period: Period = 20
        entry_threshold: Annotated[float, THRESHOLD, THRESHOLD.meta] = 2.0
        exit_threshold: Annotated[float, THRESHOLD, THRESHOLD.meta] = 0.0
        quantity: Quantity = Decimal(100)

        def validate(self) -> None:
            if self.exit_threshold > self.entry_threshold:
                raise ValueError(
                    "need exit_threshold <= entry_threshold, got "
                    f"exit_threshold={self.exit_threshold}, "
                    f"entry_threshold={self.entry_threshold}"
                )

    def on_start(self) -> None:
        cfg = self.config
        self.per_symbol(lambda s: self.indicator(ROC(cfg.period), s))
        self._entry = cfg.entry_threshold
        self._exit = cfg.exit_threshold
        self._quantity = cfg.quantity

    def on_bar(self, bar: Bar) -> None:
        symbol, indicator = self.state(bar)
        roc = indicator.value
        if self.is_flat(symbol):
            if roc > self._entry:
                self.buy(self._quantity, symbol)
        elif roc < self._exit:
            self.close_position(symbol)
