"""The simulated feed, the embedded default: seeded prices that move like a market's.

Each symbol follows its own seeded random walk (seeded by ``seed`` and the symbol, so
adding a symbol never changes another's prices). Each simulated minute has
``quotes_per_minute`` steps; at each step the symbol trades once, at the ask (a buyer) or
the bid (a seller), and quotes; the minute's bar is those trades: open the first, close
the last, high/low their extremes, volume their sizes. So bars, quotes and trades agree,
and every price sits on the symbol's tick. On an exchange calendar volume, volatility and
spreads are U-shaped over the session (about three times the midday volume at the open and
close, wider spreads at the open); nights, weekends and holidays are skipped at once.

After a restart, ``SimulatedFeed(start_ns=<the first run's start>, resume_after_ns=<the
last event persisted>)`` draws the same seeded path again without sending what was already
sent: nothing is lost or doubled, prices go on where they stopped.

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
import time
import zlib
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

import msgspec
import numpy as np

from pi5trading.exceptions import InvalidInputError
from pi5trading.feeds.aggregation import BarAggregator, check_aggregation
from pi5trading.feeds.calendars import ALWAYS_OPEN, SessionCalendar, get_calendar
from pi5trading.feeds.feed import FeedBase, FeedMessage, Subscription, await_if_needed
from pi5trading.model import Bar, BarType, Instrument, Price, Quantity, QuoteTick, TradeTick

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

    @classmethod
    def for_instrument(
        cls, instrument: Instrument, price: Decimal | str, **behaviour: Any
    ) -> SimulatedSymbol:
        """An instrument's symbol and tick, starting at ``price`` (on its tick)."""
        return cls(
            symbol=instrument.symbol,
            price=instrument.make_price(Decimal(price)).as_decimal(),
            tick_size=instrument.tick_size.as_decimal(),
            **behaviour,
        )

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
            volume=30,
            spread_ticks=50,
        ),
    )
}
"""Known symbols; any other subscribed symbol gets ``SimulatedSymbol(symbol=...)``."""


_CHUNK: Final = 60
"""Minutes of a symbol's path drawn at once (NumPy), so per-event work is only building
the messages."""


class _Walk:
    """One symbol's state: a seeded generator, the latent mid (in ticks, never sent) and
    the drawn plan of the next minutes (prices in whole ticks, so always on the tick)."""

    __slots__ = (
        "ask",
        "ask_size",
        "bar_type",
        "bid",
        "bid_size",
        "buyer",
        "close",
        "gen",
        "high",
        "low",
        "mid",
        "open",
        "p_prec",
        "plan_end",
        "plan_start",
        "prices",
        "px",
        "sigma",
        "size",
        "spec",
        "tick_raw",
        "trade_seq",
        "volume",
    )

    def __init__(self, spec: SimulatedSymbol, seed: int) -> None:
        self.spec = spec
        # A seed of its own per symbol (crc32: stable across processes, unlike hash()).
        self.gen = np.random.default_rng([seed, zlib.crc32(spec.symbol.encode())])
        tick = spec.tick_size
        self.tick_raw = int(tick * _RAW)
        self.p_prec = max(0, -int(tick.normalize().as_tuple().exponent))
        self.mid = float(spec.price / tick)
        self.sigma = spec.volatility / math.sqrt(_MINUTES_PER_YEAR)
        self.bar_type = BarType(spec.symbol, "1m")
        self.trade_seq = 0
        self.plan_start = 0
        self.plan_end = 0
        self.prices: dict[int, Price] = {}

    def price(self, ticks: int) -> Price:
        p = self.prices.get(ticks)
        if p is None:
            if len(self.prices) > 1024:  # a long trend: keep the cache small
                self.prices.clear()
            p = self.prices[ticks] = Price.from_raw(ticks * self.tick_raw, self.p_prec)
        return p

    def plan(self, t: int, open_ns: int, close_ns: int, steps: int, session: bool) -> None:
        """Draws minutes ``[t, min(t + _CHUNK minutes, close))``."""
        k = max(1, min(_CHUNK, (close_ns - t) // MINUTE_NS))
        g = self.gen
        spec = self.spec
        if session:
            x = (t + (np.arange(k) + 0.5) * MINUTE_NS - open_ns) / (close_ns - open_ns)
            u = 1.0 + 8.0 * (x - 0.5) ** 2  # 3x at the open and close, 1x midday
        else:
            u = np.ones(k)
        scale = (self.sigma * np.sqrt(u / steps))[:, None]
        path = math.log(self.mid) + np.cumsum(g.standard_normal((k, steps)) * scale)
        spread = spec.spread_ticks + ((u > 2.0) & (g.random(k) < 0.5)).astype(np.int64)
        floor = (spread + 1)[:, None].astype(np.float64)
        mid = np.maximum(np.exp(path).reshape(k, steps), floor)
        self.mid = float(mid[-1, -1])
        bid = np.maximum(1, np.rint(mid).astype(np.int64) - (spread // 2)[:, None])
        ask = bid + spread[:, None]
        buyer = g.random((k, steps)) < 0.5
        px = np.where(buyer, ask, bid)
        volume = np.maximum(steps, np.rint(spec.volume * u * g.lognormal(-0.125, 0.5, k)))
        volume = volume.astype(np.int64)
        weights = g.random((k, steps)) + 0.1
        # Every trade at least one unit; the rest shared at random; the parts add up exactly.
        extra = (volume - steps)[:, None]
        size = 1 + np.floor(weights / weights.sum(axis=1)[:, None] * extra).astype(np.int64)
        size[:, -1] += volume - size.sum(axis=1)
        self.open = px[:, 0].tolist()
        self.high = px.max(axis=1).tolist()
        self.low = px.min(axis=1).tolist()
        self.close = px[:, -1].tolist()
        self.volume = volume.tolist()
        self.px = px.tolist()
        self.bid = bid.tolist()
        self.ask = ask.tolist()
        self.buyer = buyer.tolist()
        self.size = size.tolist()
        self.bid_size = (100 * g.integers(1, 21, (k, steps))).tolist()
        self.ask_size = (100 * g.integers(1, 21, (k, steps))).tolist()
        self.plan_start = t
        self.plan_end = t + k * MINUTE_NS


_QUANTITIES: dict[int, Quantity] = {}


def _quantity(n: int) -> Quantity:
    """Whole quantities; small ones (quote and trade sizes, which repeat) cached."""
    q = _QUANTITIES.get(n)
    if q is None:
        q = Quantity(n)
        if n < 10_000:
            _QUANTITIES[n] = q
    return q


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
        resume_after_ns: int | None = None,
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
        self._resume_after = resume_after_ns
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

    @property
    def origin_ns(self) -> int:
        """Where the seeded path begins: ``start_ns``, else chosen now and kept (a restarted
        node passes it back as ``start_ns`` to draw the same path)."""
        if self._start_ns is None:
            self._start_ns = self._first_minute()
        return self._start_ns // MINUTE_NS * MINUTE_NS

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
        resume = self._resume_after if self._resume_after is not None else t - 1
        self.sim_ns = t
        self._stats.last_ts_event = max(t, resume)
        self._set_status("live", f"simulated from {t} at speed {self._speed or 'max'}")
        # Pacing is anchored at the first event sent (after a resume: the resume point).
        real0 = 0.0
        sim0: int | None = None
        skipped = 0  # simulated ns jumped over (closed market): not waited for
        while self._end_ns is None or t < self._end_ns:
            session = cal.session_at(t)
            if session is None:
                nxt = cal.next_session(t).open_ns
                if sim0 is not None:
                    skipped += nxt - t
                t = nxt
                continue
            if t + MINUTE_NS <= resume:
                # Already sent before a restart: draw it (the same seeded path) unsent.
                self._minute(t, session.open_ns, session.close_ns, emit=False)
            else:
                for ts, message in self._minute(t, session.open_ns, session.close_ns):
                    if ts <= resume:
                        continue
                    if self._speed is not None:
                        if sim0 is None:
                            sim0, real0 = ts, self._monotonic()
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

    def _minute(
        self, t: int, open_ns: int, close_ns: int, *, emit: bool = True
    ) -> list[tuple[int, FeedMessage]]:
        """All events of minute ``[t, t + 1m)`` for the subscribed symbols, in time order.
        ``emit=False`` only moves the state on (path, trade ids, bars in progress)."""
        subs = list(self._subs.values())
        if not subs:
            return []
        session = self.calendar.name != ALWAYS_OPEN
        steps = self._steps
        step_ns = MINUTE_NS // steps
        per_step: list[list[tuple[int, FeedMessage]]] = [[] for _ in range(steps)]
        closing: list[tuple[int, FeedMessage]] = []
        end = t + MINUTE_NS
        for sub in subs:
            w = self._walk(sub.symbol)
            if not w.plan_start <= t < w.plan_end:
                w.plan(t, open_ns, close_ns, steps, session)
            m = (t - w.plan_start) // MINUTE_NS
            symbol = sub.symbol
            if not emit:
                if sub.trades:
                    w.trade_seq += steps
                if any(i != "1m" for i in sub.bars):
                    bar = self._bar(w, m, end)
                    for interval in sub.bars:
                        if interval != "1m":
                            self._aggregate(symbol, interval, bar)
                continue
            if sub.quotes or sub.trades:
                bid, ask, px, buyer = w.bid[m], w.ask[m], w.px[m], w.buyer[m]
                bid_size, ask_size, size = w.bid_size[m], w.ask_size[m], w.size[m]
                for k in range(steps):
                    ts = t + k * step_ns
                    if sub.quotes:
                        quote = QuoteTick(
                            symbol,
                            w.price(bid[k]),
                            w.price(ask[k]),
                            _quantity(bid_size[k]),
                            _quantity(ask_size[k]),
                            ts,
                        )
                        per_step[k].append((ts, quote))
                    if sub.trades:
                        w.trade_seq += 1
                        trade = TradeTick(
                            symbol,
                            w.price(px[k]),
                            _quantity(size[k]),
                            "BUYER" if buyer[k] else "SELLER",
                            f"{symbol}-{w.trade_seq}",
                            ts,
                        )
                        per_step[k].append((ts, trade))
            bar = self._bar(w, m, end)
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

    @staticmethod
    def _bar(w: _Walk, m: int, end: int) -> Bar:
        return Bar(
            w.bar_type,
            w.price(w.open[m]),
            w.price(w.high[m]),
            w.price(w.low[m]),
            w.price(w.close[m]),
            _quantity(w.volume[m]),
            end,
        )

    def _aggregate(self, symbol: str, interval: str, bar: Bar) -> list[Bar]:
        agg = self._aggs.get((symbol, interval))
        if agg is None:
            agg = self._aggs[(symbol, interval)] = BarAggregator(
                symbol, "1m", interval, self.calendar
            )
        return agg.update(bar)

    def _check_subscription(self, sub: Subscription) -> None:
        for interval in sub.bars:
            if interval != "1m":
                check_aggregation("1m", interval)


__all__ = ["DEFAULT_SYMBOLS", "SimulatedFeed", "SimulatedSymbol"]
