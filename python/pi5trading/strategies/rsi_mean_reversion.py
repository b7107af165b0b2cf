"""RSI mean reversion: buy an oversold market, sell when it has recovered."""

from __future__ import annotations

import math
from decimal import Decimal

from pi5trading.indicators import RSI
from pi5trading.model import Bar
from pi5trading.strategies.base import Level, Period, Quantity, Strategy, StrategyConfig


class RsiMeanReversion(Strategy):
    """Buy when RSI falls below ``oversold``; sell when it recovers.

    Rules (per instrument, evaluated at each bar's close, long-only, one position):

    - flat and ``RSI < oversold`` -> buy ``quantity`` (market order: with the default
      venue it fills at the next bar's open);
    - long and ``RSI > overbought`` -> close the position;
    - long and ``RSI >= exit_level`` -> close the position ("mean reversion complete").

    These are the original system's rules (``rsi_mean_reversion``). With the defaults
    the second exit fires first (RSI reaches 50 before 70), so a trade ends when RSI
    recovers to 50; set ``exit_level`` to ``None`` to hold until RSI exceeds
    ``overbought``. The original's "confidence" values only gated its signal-to-order
    converter and are not kept.

    Parameters (defaults from the original): ``period`` 14, ``oversold`` 30,
    ``overbought`` 70, ``exit_level`` 50, ``quantity`` 100.

    Warm-up: RSI(period) is ready after ``period + 1`` closes; the strategy acts from
    that bar on (Wilder's smoothing, seeded with the mean of the first ``period``
    changes; see docs/indicators.md).
    """

    name = "rsi_mean_reversion"

    class Config(StrategyConfig):
        period: Period = 14
        oversold: Level = 30.0
        overbought: Level = 70.0
        exit_level: Level | None = 50.0
        quantity: Quantity = Decimal(100)

        def validate(self) -> None:
            if self.period < 2:
                raise ValueError(f"period must be >= 2, got {self.period}")
            if not 0 < self.oversold < self.overbought < 100:
                raise ValueError(
                    "need 0 < oversold < overbought < 100, "
                    f"got oversold={self.oversold}, overbought={self.overbought}"
                )
            if self.exit_level is not None and not self.oversold < self.exit_level <= 100:
                raise ValueError(
                    f"exit_level must be above oversold ({self.oversold}), got {self.exit_level}"
                )

    def on_start(self) -> None:
        cfg = self.config
        self.per_symbol(lambda s: self.indicator(RSI(cfg.period), s))
        self._oversold = cfg.oversold
        self._overbought = cfg.overbought
        self._exit_level = math.inf if cfg.exit_level is None else cfg.exit_level
        self._quantity = cfg.quantity

    def on_bar(self, bar: Bar) -> None:
        symbol, indicator = self.state(bar)
        rsi = indicator.value
        if self.is_flat(symbol):
            if rsi < self._oversold:
                self.buy(self._quantity, symbol)
        elif rsi > self._overbought or rsi >= self._exit_level:
            self.close_position(symbol)
