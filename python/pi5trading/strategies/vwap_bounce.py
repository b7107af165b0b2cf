"""VWAP bounce: buy a pull-back to the session VWAP in an up-trend."""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pi5trading.indicators import EMA, VWAP
from pi5trading.model import Bar
from pi5trading.orders import OrderEvent
from pi5trading.strategies._sessions import NEW_YORK, SessionDay
from pi5trading.strategies.base import Name, Percent, Period, Quantity, Strategy, StrategyConfig


class _State:
    __slots__ = ("ema", "entry", "session", "vwap")

    def __init__(self, vwap: VWAP, ema: EMA, tz: str) -> None:
        self.vwap = vwap
        self.ema = ema
        self.session = SessionDay(tz=tz)
        self.entry: float | None = None


class VwapBounce(Strategy):
    """Buy when price pulls back to just above the session VWAP while the trend is up;
    take profit, or exit below VWAP or at a hard stop.

    VWAP is the volume-weighted mean of the typical price ``(high + low + close) / 3``
    since the start of the exchange-local day (``timezone``, America/New_York by default,
    with daylight saving handled by ``zoneinfo``: the original reset on the timestamp's
    own date instead). ``distance = 100 * (close - VWAP) / VWAP`` (%),
    ``profit = 100 * (close - entry) / entry`` (%) with ``entry`` the fill price.

    Rules (per instrument, at each bar's close, long-only, one position; the original's):

    - flat, ``close > VWAP``, ``EMA(ema_period) > VWAP`` and
      ``distance <= tolerance_pct`` -> buy ``quantity``;
    - long and any of: ``profit >= target_pct`` (take profit); ``close < VWAP``;
      ``distance > 2 * target_pct`` (stretched too far); ``profit < -stop_pct`` (hard
      stop) -> close the position.

    Parameters (the original's defaults): ``tolerance_pct`` 0.3, ``target_pct`` 1.0,
    ``stop_pct`` 0.5, ``ema_period`` 20, ``quantity`` 100, ``timezone``
    ``"America/New_York"``.

    Warm-up: trades once the EMA has ``ema_period`` closes and the day's VWAP has seen
    volume. The VWAP indicator is reset at the first bar of each local day (a bar
    belongs to the day its close time falls in; one closing at midnight to the day
    before). A position is not closed at the end of the day (as in the original).
    """

    name = "vwap_bounce"
    warmup = True  # the day boundary is tracked on every bar, the EMA checked here

    class Config(StrategyConfig):
        tolerance_pct: Percent = 0.3
        target_pct: Percent = 1.0
        stop_pct: Percent = 0.5
        ema_period: Period = 20
        quantity: Quantity = Decimal(100)
        timezone: Name = NEW_YORK

        def validate(self) -> None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                raise ValueError(f"unknown timezone {self.timezone!r}") from None

    def on_start(self) -> None:
        cfg = self.config
        self.per_symbol(
            lambda s: _State(
                self.indicator(VWAP(), s), self.indicator(EMA(cfg.ema_period), s), cfg.timezone
            )
        )

    def on_bar(self, bar: Bar) -> None:
        symbol, st = self.state(bar)
        vwap = st.vwap
        if st.session.roll(bar.ts_event):
            # A new local day: restart the VWAP with this bar (the engine fed it already).
            vwap.reset()
            vwap.update_bar_raw(
                bar.high.raw, bar.low.raw, bar.close.raw, bar.volume.raw, bar.ts_event
            )
        if not (vwap.is_ready and st.ema.is_ready):
            return
        cfg = self.config
        v = vwap.value
        close = bar.close.as_float()
        distance = (close - v) / v * 100.0
        if self.is_flat(symbol):
            if close > v and st.ema.value > v and distance <= cfg.tolerance_pct:
                self.buy(cfg.quantity, symbol)
            return
        entry = st.entry
        if entry is None:
            pos = self.position(symbol)
            entry = float(pos.avg_px) if pos is not None and pos.avg_px is not None else close
        profit = (close - entry) / entry * 100.0
        if (
            profit >= cfg.target_pct
            or close < v
            or distance > 2.0 * cfg.target_pct
            or profit < -cfg.stop_pct
        ):
            self.close_position(symbol)

    def on_fill(self, event: OrderEvent) -> None:
        fill = event.fill
        if fill is None:
            return
        st = self.state_of(event.instrument)
        st.entry = float(fill.price) if fill.side == "buy" else None
