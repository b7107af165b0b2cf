"""Opening-range breakout (ORB): buy a break above the first minutes' range."""

from __future__ import annotations

from datetime import date, time, timedelta
from decimal import Decimal
from typing import Annotated, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pi5trading.indicators import ATR
from pi5trading.model import Bar
from pi5trading.orders import OrderEvent
from pi5trading.strategies._sessions import NEW_YORK, SessionDay
from pi5trading.strategies.base import Bounds, Name, Period, Quantity, Strategy, StrategyConfig

MINUTES: Final = Bounds(1, 360)
"""The opening range: a minute to six hours."""
MULTIPLIER: Final = Bounds(0, 100, low_open=True)

_SCALE = 10**9


def _hhmm(text: str, name: str) -> time:
    try:
        t = time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} must be a time of day like '09:30', got {text!r}") from None
    if t.tzinfo is not None:
        raise ValueError(f"{name} is a local time of day: no UTC offset, got {text!r}")
    return t


def _since_midnight(t: time) -> timedelta:
    return timedelta(hours=t.hour, minutes=t.minute, seconds=t.second)


class _State:
    __slots__ = (
        "atr",
        "entry_day",
        "high",
        "low",
        "session",
        "signal_atr",
        "signal_low",
        "stop",
        "traded",
    )

    def __init__(self, atr: ATR, session: SessionDay) -> None:
        self.atr = atr
        self.session = session
        self.high: int | None = None
        self.low: int | None = None
        self.traded = False
        self.signal_atr: float | None = None
        self.signal_low = 0
        self.stop: int | None = None
        self.entry_day: date | None = None


class OpeningRangeBreakout(Strategy):
    """Build the range of the first ``range_minutes`` after the open; buy the first close
    above its high; stop below; flat before the close.

    Times are exchange-local (``timezone``, America/New_York by default), converted from
    the bars' UTC timestamps with ``zoneinfo`` (daylight saving included; the original
    used the timestamp's own time of day). A bar is stamped with its close time: the
    range is made of the bars closing in ``(open, open + range_minutes]`` (09:31 ... 09:45
    for one-minute bars and a 15-minute range), whatever the bar interval.

    Rules (per instrument and local day, long-only; the original's):

    - range: highest high and lowest low of the range bars;
    - entry: the first bar after the range, closing before ``exit_time``, whose close is
      above the range high -> buy ``quantity``; at most one trade per day;
    - stop: ``max(range low, entry - atr_multiplier * ATR(atr_period))``, with ``entry``
      the fill price and the ATR as of the signal bar (``entry * 0.98`` when the ATR is
      not ready yet, as in the original); a close at or below the stop -> close the
      position;
    - time exit: the first bar closing at or after ``exit_time`` (15:55) -> close, so a
      market order fills at the next bar's open (with the default venue); a position
      still open on a later day (a half-day session without bars until 15:55) is closed
      on that day's first bar.

    Parameters (the original's defaults): ``range_minutes`` 15 (the original allowed 15
    or 30; any 1 ... 360 here), ``atr_period`` 14, ``atr_multiplier`` 2.0,
    ``market_open`` ``"09:30"``, ``exit_time`` ``"15:55"``, ``quantity`` 100,
    ``timezone`` ``"America/New_York"``. The short side (commented out in the original)
    is not implemented.

    Warm-up: none for the range (``on_bar`` runs from the first bar); the ATR needs
    ``atr_period`` bars, and the fallback stop is used before.
    """

    name = "opening_range_breakout"
    warmup = True  # the range is built from the first bar, before the ATR is ready

    class Config(StrategyConfig):
        range_minutes: Annotated[int, MINUTES, MINUTES.meta] = 15
        atr_period: Period = 14
        atr_multiplier: Annotated[float, MULTIPLIER, MULTIPLIER.meta] = 2.0
        market_open: Name = "09:30"
        exit_time: Name = "15:55"
        quantity: Quantity = Decimal(100)
        timezone: Name = NEW_YORK

        def validate(self) -> None:
            end = _since_midnight(_hhmm(self.market_open, "market_open")) + timedelta(
                minutes=self.range_minutes
            )
            if not end < _since_midnight(_hhmm(self.exit_time, "exit_time")):
                raise ValueError(
                    f"exit_time ({self.exit_time}) must be after the end of the range "
                    f"({self.market_open} + {self.range_minutes} min)"
                )
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                raise ValueError(f"unknown timezone {self.timezone!r}") from None

    def on_start(self) -> None:
        cfg = self.config
        opens = _hhmm(cfg.market_open, "market_open")
        end = _since_midnight(opens) + timedelta(minutes=cfg.range_minutes)
        range_end = time(end.seconds // 3600, end.seconds // 60 % 60, end.seconds % 60)
        times = (opens, range_end, _hhmm(cfg.exit_time, "exit_time"))
        self.per_symbol(
            lambda s: _State(
                self.indicator(ATR(cfg.atr_period), s), SessionDay(times, cfg.timezone)
            )
        )

    def on_bar(self, bar: Bar) -> None:
        symbol, st = self.state(bar)
        ts = bar.ts_event
        session = st.session
        if session.roll(ts):
            st.high = st.low = None
            st.traded = False
        opens, range_end, exit_at = session.at
        in_range = opens < ts <= range_end
        if in_range:
            hi, lo = bar.high.raw, bar.low.raw
            if st.high is None or hi > st.high:
                st.high = hi
            if st.low is None or lo < st.low:
                st.low = lo
        if not self.is_flat(symbol):
            if (
                ts >= exit_at
                or st.entry_day != session.day
                or (st.stop is not None and bar.close.raw <= st.stop)
            ):
                self.close_position(symbol)
            return
        if in_range or ts <= opens or ts >= exit_at or st.traded or st.high is None:
            return
        if bar.close.raw > st.high:
            st.traded = True
            st.entry_day = session.day
            st.signal_atr = st.atr.value if st.atr.is_ready else None
            st.signal_low = st.low if st.low is not None else 0
            st.stop = None
            self.buy(self.config.quantity, symbol)

    def on_fill(self, event: OrderEvent) -> None:
        fill = event.fill
        if fill is None or fill.side != "buy":
            return
        st = self.state_of(event.instrument)
        entry = fill.price
        if st.signal_atr is None:
            stop = entry * Decimal("0.98")
        else:
            stop = entry - Decimal(repr(self.config.atr_multiplier)) * Decimal(repr(st.signal_atr))
        st.stop = max(int(stop * _SCALE), st.signal_low)
