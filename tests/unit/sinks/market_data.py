"""Real core market data payloads in volume, for throughput and outage tests."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from pi5trading import events as ev
from pi5trading.model import Bar, QuoteTick, TradeTick

T0 = 1_767_225_600_000_000_000
MIN = 60 * 10**9


def market_data(n: int, symbols: int = 50, t0: int = T0) -> Iterator[tuple[str, object]]:
    """``n`` payloads: per step one quote per symbol, a trade every 7th, a 1m bar every
    10th step (all exact, two decimal places)."""
    names = [f"S{i:02d}" for i in range(symbols)]
    made = 0
    step = 0
    while True:
        ts = t0 + step * 100_000_000  # 100 ms steps
        for k, sym in enumerate(names):
            cents = 10_000 + (step * 7 + k * 13) % 500
            bid = Decimal(cents) / 100
            ask = bid + Decimal("0.01")
            if made == n:
                return
            made += 1
            yield ev.quote_topic(sym), QuoteTick(sym, bid, ask, 100 + k, 200, ts)
            if step % 7 == 3 and made < n:
                made += 1
                yield (
                    ev.trade_topic(sym),
                    TradeTick(sym, ask, 5, "BUYER", f"{sym}-{step}", ts),
                )
            if step % 10 == 9 and made < n:
                made += 1
                bar = Bar(
                    f"{sym}-1m", bid, ask + 1, bid - 1, ask, 1000 + step, t0 + (step + 1) * MIN
                )
                yield bar.bar_type.topic, bar
        step += 1
