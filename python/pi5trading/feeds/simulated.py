"""The simulated feed, the embedded default: seeded prices that move like a market's.

Each symbol follows its own seeded random walk (seeded by ``seed`` and the symbol, so
adding a symbol never changes another's prices). Each simulated minute has
``quotes_per_minute`` steps; at each step the symbol trades once, at the ask (a buyer) or
the bid (a seller), and quotes; the minute's bar is those trades: open the first, close
the last, high/low their extremes, volume their sizes. So bars, quotes and trades agree,
and every price sits on the symbol's tick. On an exchange calendar volume, volatility and
spreads are U-shaped over the session (about three times the midday volume at the open and
close, wider spreads at the open); nights, weekends and holidays are skipped at once.

Speed is simulated seconds per real second (``60``: a one-minute bar each second) or
``None``: as fast as the queue takes it (a ``block`` queue then paces the feed). Subscribed
bar intervals other than ``1m`` are aggregated from the minute bars on the calendar::

    feed = SimulatedFeed(seed=7, speed=60.0, calendar="XNYS")
    feed.subscribe(["AAPL", "MSFT"], bars=("1m", "5m"), quotes=True)
    await feed.start(queue)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import random
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Final

import msgspec

from pi5trading.exceptions import InvalidInputError
from pi5trading.feeds.aggregation import BarAggregator, check_aggregation
from pi5trading.feeds.calendars import ALWAYS_OPEN, SessionCalendar, get_calendar
from pi5trading.feeds.feed import FeedBase, FeedMessage, await_if_needed
from pi5trading.model import Bar, BarType, Price, Quantity, QuoteTick, TradeTick

NS: Final = 1_000_000_000
MINUTE_NS: Final = 60 * NS
_RAW: Final = 10**9  # raw units per 1 (Price/Quantity are 10^-9 fixed point)
_MINUTES_PER_YEAR: Final = 252 * 390


class SimulatedSymbol(msgspec.Struct, frozen=True, kw_only=True):
    """How one symbol behaves: start price, tick, yearly volatility, minute volume."""

    symbol: str
    price: Decimal = Decimal(100)
    tick_size: Decimal = Decimal("0.01")
    volatility: float = 0.25
    """Annualised, as a fraction (0.25: 25 %)."""
    volume: int = 20_000
    """Average shares (or units) a minute at midday."""
    spread_ticks: int = 1
    """Typical spread at midday, in ticks."""

    def __post_init__(self) -> None:
        if self.tick_size <= 0 or self.price < self.tick_size:
            raise InvalidInputError(
                f"invalid simulated symbol {self.symbol}: price {self.price} and tick "
                f"{self.tick_size} (need 0 < tick <= price)"
            )
        if self.price % self.tick_size:
            raise InvalidInputError(
                f"invalid simulated symbol {self.symbol}: price {self.price} is not on the "
                f"tick {self.tick_size}"
            )
        if not (0 <= self.volatility < 10 and self.volume >= 1 and self.spread_ticks >= 1):
            raise InvalidInputError(
                f"invalid simulated symbol {self.symbol}: volatility, volume or spread"
            )


DEFAULT_SYMBOLS: Final[Mapping[str, SimulatedSymbol]] = {
    s.symbol: s
    for s in (
        SimulatedSymbol(symbol="AAPL", price=Decimal("190.00"), volatility=0.25, volume=60_000),
        SimulatedSymbol(symbol="MSFT", price=Decimal("420.00"), volatility=0.22, volume=30_000),
        SimulatedSymbol(symbol="NVDA", price=Decimal("140.00"), volatility=0.45, volume=250_000),
        SimulatedSymbol(symbol="SPY", price=Decimal("590.00"), volatility=0.15, volume=80_000),
        SimulatedSymbol(symbol="TSLA", price=Decimal("250.00"), volatility=0.55, volume=120_000),
        SimulatedSymbol(
            symbol="BTCUSD",
            price=Decimal("95000.00"),
            volatility=0.6,
            volume=5,
            spread_ticks=50,
        ),
    )
}
"""Known symbols; any other subscribed symbol gets ``SimulatedSymbol(symbol=...)``."""


class _Walk:
    """One symbol's state: its price in ticks (an int, so always on the tick)."""

    __slots__ = (
        "bar_type",
        "mid",
        "p_prec",
        "rng",
        "sigma",
        "spec",
        "tick_raw",
        "trade_seq",
    )

    def __init__(self, spec: SimulatedSymbol, seed: int) -> None:
        self.spec = spec
        self.rng = random.Random(f"{seed}:{spec.symbol}")
        tick = spec.tick_size
        self.tick_raw = int(tick * _RAW)
        self.p_prec = max(0, -int(tick.normalize().as_tuple().exponent))
        self.mid = float(spec.price / tick)  # in ticks; the latent price, never sent
        self.sigma = spec.volatility / math.sqrt(_MINUTES_PER_YEAR)
        self.bar_type = BarType(spec.symbol, "1m")
        self.trade_seq = 0

    def price(self, ticks: int) -> Price:
        return Price.from_raw(ticks * self.tick_raw, self.p_prec)


class SimulatedFeed(FeedBase):
    """Seeded bars, quotes and trades for any symbols, on a calendar, at a chosen speed."""

    def __init__(
        self,
        name: str = "simulated",
        *,
        seed: int = 42,
        speed: float | None = 60.0,
        calendar: str | SessionCalendar = "XNYS",
        start_ns: int | None = None,
        end_ns: int | None = None,
        quotes_per_minute: int = 6,
        symbols: Mapping[str, SimulatedSymbol] = DEFAULT_SYMBOLS,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        super().__init__(name)
        if speed is not None and not speed > 0:
            raise InvalidInputError(f"invalid speed: {speed} (simulated s per real s, > 0)")
        if not 1 <= quotes_per_minute <= 600:
            raise InvalidInputError(f"invalid quotes_per_minute: {quotes_per_minute} (1 to 600)")
        self._seed = seed
        self._speed = speed
        self._cal_name = calendar if isinstance(calendar, str) else calendar.name
        self._cal: SessionCalendar | None = None if isinstance(calendar, str) else calendar
        self._start_ns = start_ns
        self._end_ns = end_ns
        self._steps = quotes_per_minute
        self._known = dict(symbols)
        self._walks: dict[str, _Walk] = {}
        self._aggs: dict[tuple[str, str], BarAggregator] = {}
        self._monotonic = monotonic
        self._sleep: Callable[[float], object] = sleep or asyncio.sleep
        self._wall_ns = wall_ns
        self.sim_ns = 0
        """Simulated time reached (the close of the last minute produced)."""

    @property
    def calendar(self) -> SessionCalendar:
        if self._cal is None:
            self._cal = get_calendar(self._cal_name)
        return self._cal

    def _walk(self, symbol: str) -> _Walk:
        w = self._walks.get(symbol)
        if w is None:
            spec = self._known.get(symbol) or SimulatedSymbol(symbol=symbol)
            w = self._walks[symbol] = _Walk(spec, self._seed)
        return w

    def _first_minute(self) -> int:
        """Where simulated time starts: ``start_ns``, else the open of the session under way
        (or the last one) so a new user sees prices move at once."""
        if self._start_ns is not None:
            return self._start_ns // MINUTE_NS * MINUTE_NS
        now = self._wall_ns()
        cal = self.calendar
        if cal.name == ALWAYS_OPEN:
            return now // MINUTE_NS * MINUTE_NS
        s = cal.session_at(now)
        if s is not None:
            return s.open_ns
        day = dt.datetime.fromtimestamp(now / NS, tz=dt.UTC).date()
        for back in range(10):
            prev = cal.session_on(day - dt.timedelta(days=back))
            if prev is not None and prev.open_ns <= now:
                return prev.open_ns
        return cal.next_session(now).open_ns

    async def _run(self) -> None:
        cal = self.calendar
        t = self._first_minute()
        self.sim_ns = t
        self._stats.last_ts_event = t
        self._set_status("live", f"simulated from {t} at speed {self._speed or 'max'}")
        real0 = self._monotonic()
        sim0 = t
        skipped = 0  # simulated ns jumped over (closed market): not waited for
        while self._end_ns is None or t < self._end_ns:
            session = cal.session_at(t)
            if session is None:
                nxt = cal.next_session(t).open_ns
                skipped += nxt - t
                t = nxt
                continue
            events = self._minute(t, session.open_ns, session.close_ns)
            if events:
                for ts, message in events:
                    if self._speed is not None:
                        due = real0 + (ts - sim0 - skipped) / NS / self._speed
                        wait = due - self._monotonic()
                        if wait > 0:
                            await await_if_needed(self._sleep(wait))
                    await self._room()
                    if not self._send(message):
                        return
                if self._speed is None:
                    await asyncio.sleep(0)  # let the node run between minutes
            t += MINUTE_NS
            self.sim_ns = t
        self._set_status("closed", "reached the end of the simulation")

    def _minute(self, t: int, open_ns: int, close_ns: int) -> list[tuple[int, FeedMessage]]:
        """All events of minute ``[t, t + 1m)`` for the subscribed symbols, in time order."""
        subs = list(self._subs.values())
        if not subs:
            return []
        is_session = self.calendar.name != ALWAYS_OPEN
        if is_session:
            x = (t + MINUTE_NS // 2 - open_ns) / (close_ns - open_ns)
            u = 1.0 + 8.0 * (x - 0.5) ** 2  # 3x at the open and close, 1x midday
        else:
            u = 1.0
        steps = self._steps
        step_ns = MINUTE_NS // steps
        per_step: list[list[tuple[int, FeedMessage]]] = [[] for _ in range(steps)]
        closing: list[tuple[int, FeedMessage]] = []
        end = t + MINUTE_NS
        for sub in subs:
            w = self._walk(sub.symbol)
            spec = w.spec
            rng = w.rng
            sigma = w.sigma * math.sqrt(u / steps)
            volume = max(1, round(spec.volume * u * rng.lognormvariate(-0.125, 0.5)))
            weights = [rng.random() + 0.1 for _ in range(steps)]
            scale = volume / sum(weights)
            sizes = [int(wt * scale) for wt in weights]
            sizes[-1] += volume - sum(sizes)  # the parts add up exactly
            spread = spec.spread_ticks + (1 if u > 2.0 and rng.random() < 0.5 else 0)
            o = h = lo = c = 0
            for k in range(steps):
                w.mid = max(w.mid * math.exp(rng.gauss(0.0, sigma)), float(spread + 1))
                bid = max(1, round(w.mid) - spread // 2)
                ask = bid + spread
                buyer = rng.random() < 0.5
                px = ask if buyer else bid
                if k == 0:
                    o = h = lo = px
                else:
                    h = max(h, px)
                    lo = min(lo, px)
                c = px
                ts = t + k * step_ns
                if sub.quotes:
                    bid_size = Quantity(100 * rng.randint(1, 20))
                    ask_size = Quantity(100 * rng.randint(1, 20))
                    per_step[k].append(
                        (
                            ts,
                            QuoteTick(
                                spec.symbol, w.price(bid), w.price(ask), bid_size, ask_size, ts
                            ),
                        )
                    )
                if sub.trades:
                    w.trade_seq += 1
                    per_step[k].append(
                        (
                            ts,
                            TradeTick(
                                spec.symbol,
                                w.price(px),
                                Quantity(sizes[k]),
                                "BUYER" if buyer else "SELLER",
                                f"{spec.symbol}-{w.trade_seq}",
                                ts,
                            ),
                        )
                    )
            bar = Bar(
                w.bar_type, w.price(o), w.price(h), w.price(lo), w.price(c), Quantity(volume), end
            )
            if "1m" in sub.bars:
                closing.append((end, bar))
            for interval in sub.bars:
                if interval != "1m":
                    closing.extend(
                        (b.ts_event, b) for b in self._aggregate(sub.symbol, interval, bar)
                    )
        out = [e for step in per_step for e in step]
        out.extend(closing)
        return out

    def _aggregate(self, symbol: str, interval: str, bar: Bar) -> list[Bar]:
        agg = self._aggs.get((symbol, interval))
        if agg is None:
            agg = self._aggs[(symbol, interval)] = BarAggregator(
                symbol, "1m", interval, self.calendar
            )
        return agg.update(bar)

    def _subscriptions_changed(self) -> None:
        for sub in self._subs.values():
            for interval in sub.bars:
                if interval != "1m":
                    check_aggregation("1m", interval)


__all__ = ["DEFAULT_SYMBOLS", "SimulatedFeed", "SimulatedSymbol"]
