"""Bollinger Band mean reversion."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Final, Literal

from pi5trading.indicators import BollingerBands
from pi5trading.model import Bar
from pi5trading.strategies.base import Bounds, Period, Quantity, Strategy, StrategyConfig

K: Final = Bounds(0, 10, low_open=True)
"""Band width in standard deviations."""
PERCENT_B: Final = Bounds(-10, 0, high_open=True)
"""A %B below the lower band (0); -10 is ten band widths below it."""
BANDWIDTH: Final = Bounds(0, 10, low_open=True)
"""(upper - lower) / middle."""


class _State:
    __slots__ = ("bands", "prev_below_middle", "squeeze_entry")

    def __init__(self, bands: BollingerBands) -> None:
        self.bands = bands
        self.prev_below_middle: bool | None = None
        self.squeeze_entry = False


class BollingerReversion(Strategy):
    """Buy a close below the lower band; sell when price is back at the middle band.

    Bands: middle = SMA(``period``) of the close, upper/lower = middle +/- ``k``
    population standard deviations; ``%B = (close - lower) / (upper - lower)``.

    Rules (per instrument, at each bar's close, long-only, one position):

    - flat and ``close < lower`` -> buy ``quantity``;
    - long and ``close >= middle`` (``exit_at="middle"``, the default) or
      ``close > upper`` (``exit_at="upper"``) -> close the position;
    - long and ``%B < stop_percent_b`` (when set) -> close the position (stop: the
      market kept falling away from the band).

    Optional squeeze breakout (``squeeze_bandwidth``, off by default): flat, the band
    width ``(upper - lower) / middle`` below ``squeeze_bandwidth`` and the close crossing
    above the middle band (previous close below it) -> buy. A position opened this way
    exits on a close above the upper band, or back below the middle band (the breakout
    failed).

    What was kept from the original (``bollinger_bounce``): its entry below the lower band,
    its exit at the middle or above the upper band, its squeeze rule (with its 2 % width,
    as an option) and its stop rule in a usable form. Dropped: the entry on ``%B <= 0.1``
    (inside the band: not a reversion signal), and the stop "close below the lower band
    and %B < -0.1", which fired on the bar after most entries; ``stop_percent_b`` (e.g.
    -0.5) makes the stop explicit instead. Middle-band comparisons are exact.

    Parameters (defaults from the original where it had them): ``period`` 20, ``k`` 2.0,
    ``exit_at`` ``"middle"``, ``stop_percent_b`` None, ``squeeze_bandwidth`` None (the
    original used 0.02), ``quantity`` 100.

    Warm-up: the bands are ready after ``period`` closes.
    """

    name = "bollinger_reversion"

    class Config(StrategyConfig):
        period: Period = 20
        k: Annotated[float, K, K.meta] = 2.0
        exit_at: Literal["middle", "upper"] = "middle"
        stop_percent_b: Annotated[float, PERCENT_B, PERCENT_B.meta] | None = None
        squeeze_bandwidth: Annotated[float, BANDWIDTH, BANDWIDTH.meta] | None = None
        quantity: Quantity = Decimal(100)

        def validate(self) -> None:
            if self.period < 2:
                raise ValueError(f"period must be >= 2, got {self.period}")

    def on_start(self) -> None:
        cfg = self.config
        self.per_symbol(lambda s: _State(self.indicator(BollingerBands(cfg.period, cfg.k), s)))
        self._to_upper = cfg.exit_at == "upper"

    def on_bar(self, bar: Bar) -> None:
        symbol, st = self.state(bar)
        bands = st.bands
        cfg = self.config
        close_raw = bar.close.raw
        middle = bands.middle_raw
        below_middle = middle is not None and close_raw < middle
        was_below, st.prev_below_middle = st.prev_below_middle, below_middle
        close = bar.close.as_float()
        if self.is_flat(symbol):
            if close < bands.lower:
                st.squeeze_entry = False
                self.buy(cfg.quantity, symbol)
            elif (
                cfg.squeeze_bandwidth is not None
                and was_below
                and not below_middle
                and close_raw != middle
                and bands.bandwidth < cfg.squeeze_bandwidth
            ):
                st.squeeze_entry = True
                self.buy(cfg.quantity, symbol)
            return
        if st.squeeze_entry:
            if close > bands.upper or below_middle:
                self.close_position(symbol)
            return
        if (close > bands.upper if self._to_upper else not below_middle) or (
            cfg.stop_percent_b is not None and bands.percent_b < cfg.stop_percent_b
        ):
            self.close_position(symbol)
