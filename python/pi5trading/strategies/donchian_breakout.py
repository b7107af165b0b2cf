"""Donchian channel breakout (turtle-style trend following)."""

from __future__ import annotations

from decimal import Decimal

from pi5trading.indicators import Donchian
from pi5trading.model import Bar
from pi5trading.strategies.base import Period, Quantity, Strategy, StrategyConfig


class _Channels:
    __slots__ = ("entry", "exit", "prev_high", "prev_low")

    def __init__(self, entry: Donchian, exit_: Donchian) -> None:
        self.entry = entry
        self.exit = exit_
        self.prev_high: int | None = None
        self.prev_low: int | None = None


class DonchianBreakout(Strategy):
    """Buy a close above the previous ``entry_period``-bar high; exit on a close below
    the previous ``exit_period``-bar low.

    Rules (per instrument, at each bar's close, long-only, one position):

    - flat and ``close > max(high of the entry_period bars before this one)`` -> buy
      ``quantity``;
    - long and ``close < min(low of the exit_period bars before this one)`` -> close.

    The channels are those of the bars *before* the current one: the engine's
    ``Donchian`` indicator includes the bar it was just fed, so the strategy keeps the
    previous bar's values (a close can never exceed a channel that contains its own
    high). Comparisons are exact (raw fixed-point units).

    Parameters: ``entry_period`` 20, ``exit_period`` 10 (the classic "System 1"),
    ``quantity`` 100. The original system had no such strategy.

    Warm-up: the first decision is on bar ``max(entry_period, exit_period) + 1`` (the
    channels need that many bars before it).
    """

    name = "donchian_breakout"

    class Config(StrategyConfig):
        entry_period: Period = 20
        exit_period: Period = 10
        quantity: Quantity = Decimal(100)

    def on_start(self) -> None:
        cfg = self.config
        self.per_symbol(
            lambda s: _Channels(
                self.indicator(Donchian(cfg.entry_period), s),
                self.indicator(Donchian(cfg.exit_period), s),
            )
        )

    def on_bar(self, bar: Bar) -> None:
        symbol, ch = self.state(bar)
        prev_high, prev_low = ch.prev_high, ch.prev_low
        ch.prev_high, ch.prev_low = ch.entry.upper_raw, ch.exit.lower_raw
        if prev_high is None or prev_low is None:
            return  # the first bar with both channels ready: nothing to compare with yet
        close = bar.close.raw
        if self.is_flat(symbol):
            if close > prev_high:
                self.buy(self.config.quantity, symbol)
        elif close < prev_low:
            self.close_position(symbol)
