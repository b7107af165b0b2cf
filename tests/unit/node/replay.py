"""Test helpers for the node: a replay feed over bars or quotes, and a strategy that
records everything it sees (what the parity tests compare)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pi5trading import events
from pi5trading.bus import IngestQueue
from pi5trading.data import BarFrame
from pi5trading.model import Bar
from pi5trading.strategies.base import Strategy, StrategyConfig

_SCALE = Decimal(10) ** 9


def bars_of(symbol: str, frame: BarFrame, interval: str = "1m") -> list[Bar]:
    """The frame's rows as exact ``Bar``s (raw units, so nothing is rounded twice)."""
    ts, o, h, lo, c, v = frame.raw_columns()
    d = lambda raw: Decimal(int(raw)) / _SCALE  # noqa: E731
    return [
        Bar(f"{symbol}-{interval}", d(o[i]), d(h[i]), d(lo[i]), d(c[i]), d(v[i]), int(ts[i]))
        for i in range(len(frame))
    ]


def merged(series: dict[str, list[Any]]) -> list[tuple[str, int, Any]]:
    """``(topic, ts, event)`` of every series in time order, ties in the order the series
    were given (the backtest's order)."""
    out: list[tuple[int, int, int, str, Any]] = []
    for k, (symbol, items) in enumerate(series.items()):
        for i, item in enumerate(items):
            if isinstance(item, Bar):
                topic = events.bar_topic(symbol, str(item.bar_type).rsplit("-", 1)[1])
            else:
                topic = events.quote_topic(symbol)
            out.append((int(item.ts_event), k, i, topic, item))
    out.sort(key=lambda x: (x[0], x[1], x[2]))
    return [(topic, ts, item) for ts, _, _, topic, item in out]


class ReplayFeed:
    """Sends recorded events into the queue from its own thread, as fast as it can (a
    real feed's thread), in the given order."""

    name = "replay"

    def __init__(self, items: Sequence[tuple[str, int, Any]]) -> None:
        self.items = items
        self._thread: threading.Thread | None = None
        self.stopped = False

    async def start(self, queue: IngestQueue) -> None:
        def send() -> None:
            for topic, ts, item in self.items:
                if queue.send(topic, ts, item) == "closed":
                    return

        self._thread = threading.Thread(target=send, daemon=True)
        self._thread.start()

    async def finished(self) -> None:
        assert self._thread is not None
        await asyncio.to_thread(self._thread.join)

    async def stop(self) -> None:
        self.stopped = True


class Recorder(Strategy):
    """Trades a little of everything (market, limit and stop orders, cancels, timers) and
    records every callback as text: two runs that see the same must record the same."""

    warmup = True

    class Config(StrategyConfig):
        every: int = 40
        quantity: Decimal = Decimal(10)
        timer_s: int = 420

    def on_start(self) -> None:
        self.log_: list[str] = []
        self.n = 0
        self.set_timer("tick", self.config.timer_s * 10**9)

    def on_bar(self, bar: Bar) -> None:
        self.n += 1
        self.log_.append(f"bar {bar!r}")
        sym = bar.symbol
        if self.n % self.config.every:
            return
        q = self.config.quantity
        if self.is_flat(sym):
            self.buy(q, symbol=sym)
            self.buy(q, symbol=sym, limit=bar.close.as_decimal() - Decimal("0.05"))
        else:
            self.sell(self.position_qty(sym), symbol=sym)
            self.buy(q, symbol=sym, stop=bar.high.as_decimal() + Decimal("0.02"))

    def on_order(self, event: Any) -> None:
        self.log_.append(f"order {event!r} {event.fill!r}")

    def on_position(self, event: Any) -> None:
        self.log_.append(f"position {event!r}")

    def on_timer(self, event: Any) -> None:
        self.log_.append(f"timer {event.name} {event.ts_event}")
        for oid in self.open_orders():
            self.cancel(oid)
        for sym in self.symbols:
            if not self.is_flat(sym) and self.n % 2:
                self.close_position(sym)


class QuoteTrader(Strategy):
    """Acts on timers only (quotes reach no strategy callback): orders fill on quotes."""

    class Config(StrategyConfig):
        timer_s: int = 30
        quantity: Decimal = Decimal(5)

    def on_start(self) -> None:
        self.log_: list[str] = []
        self.k = 0
        self.set_timer("t", self.config.timer_s * 10**9)

    def on_order(self, event: Any) -> None:
        self.log_.append(f"order {event!r} {event.fill!r}")

    def on_position(self, event: Any) -> None:
        self.log_.append(f"position {event!r}")

    def on_timer(self, event: Any) -> None:
        self.k += 1
        self.log_.append(f"timer {event.ts_event}")
        for sym in self.symbols:
            if self.k % 3 == 0 and not self.is_flat(sym):
                self.close_position(sym)
            elif self.k % 3 == 1:
                self.buy(self.config.quantity, symbol=sym)
            else:
                for oid in self.open_orders():
                    self.cancel(oid)
                mark = self.portfolio.position(sym)
                if mark is not None and mark.mark is not None:
                    self.buy(self.config.quantity, symbol=sym, limit=mark.mark - Decimal("0.02"))
