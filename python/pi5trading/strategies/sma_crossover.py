"""Moving-average crossover (trend following)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pi5trading.indicators import EMA, SMA
from pi5trading.model import Bar
from pi5trading.strategies.base import Period, Quantity, Strategy, StrategyConfig


class MovingAverageCrossover(Strategy):
    """Buy when the fast average crosses above the slow one; sell when it crosses below.

    Long-only, one position per instrument, a fixed quantity. The averages are exact
    (SMA) or seeded with the SMA (EMA); a cross is a change of the sign of fast - slow,
    and an equality in between does not hide it. Defaults follow the original system
    (20/50); the classic fast setting is 10/30.
    """

    name = "sma_crossover"

    class Config(StrategyConfig):
        fast: Period = 20
        slow: Period = 50
        kind: Literal["sma", "ema"] = "sma"
        quantity: Quantity = Decimal(100)

        def validate(self) -> None:
            if not 1 <= self.fast < self.slow:
                raise ValueError(f"need 1 <= fast < slow, got fast={self.fast}, slow={self.slow}")

    def on_start(self) -> None:
        avg = SMA if self.config.kind == "sma" else EMA
        for symbol in self.symbols:
            fast = self.indicator(avg(self.config.fast), symbol)
            slow = self.indicator(avg(self.config.slow), symbol)
            # Python runs only on the bars where the averages cross.
            self.when_crossed(self.crossover(fast, slow), self.on_cross)

    def on_cross(self, bar: Bar, direction: int) -> None:
        symbol = bar.bar_type.symbol
        if direction > 0:
            if self.is_flat(symbol):
                self.buy(self.config.quantity, symbol)
        elif not self.is_flat(symbol):
            self.close_position(symbol)
