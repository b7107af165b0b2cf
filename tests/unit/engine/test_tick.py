"""Data finer than the instrument's tick is traded as it is; orders are put on the tick on
the side that never worsens them (issue 11: the venue rounds orders, never rejects data)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from pi5trading.data import BarFrame
from pi5trading.engine import BacktestRunner, us_equity
from pi5trading.model import Bar
from pi5trading.orders import OrderEvent
from pi5trading.strategies.base import Strategy
from pi5trading.venue import SimulatedVenue


def _sub_cent_bars(n: int = 50) -> BarFrame:
    ts = np.arange(1, n + 1, dtype=np.int64) * 60_000_000_000 + 1_700_000_000_000_000_000
    close = 10 + np.arange(n) * 0.0001  # four decimals: off a 0.01 tick
    return BarFrame(ts, close, close + 0.0003, close - 0.0003, close, np.full(n, 1e6))


class LimitsOffTheTick(Strategy):
    warmup = True

    def on_start(self) -> None:
        self.events: list[OrderEvent] = []
        self.sent = False

    def on_bar(self, bar: Bar) -> None:
        if not self.sent:
            self.sent = True
            self.buy(10, limit=Decimal("9.005"))  # resting: below the market
            self.sell(10, limit=Decimal("11.005"))
            self.buy(10, stop=Decimal("10.505"))

    def on_order(self, event: OrderEvent) -> None:
        self.events.append(event)


def _run() -> LimitsOffTheTick:
    venue = SimulatedVenue(
        starting_cash="1000000",
        account_type="margin",
        allow_short=True,  # the sell limit opens a short
        slippage="none",
        commission_per_share="0",
        commission_minimum="0",
    )
    runner = BacktestRunner(venue=venue, risk="unlimited")
    runner.add_instrument(us_equity("AAA"))  # tick 0.01, coarser than the data
    runner.add_bars("AAA", _sub_cent_bars())  # accepted: no "not on the instrument's tick"
    s = LimitsOffTheTick()
    runner.add_strategy(s)
    result = runner.run()
    assert result.denials == []
    assert result.orders == 3
    return s


def test_orders_are_put_on_the_tick_on_the_side_that_never_worsens_them() -> None:
    s = _run()
    accepted = [e.client_order_id for e in s.events if e.kind == "accepted"]
    assert len(accepted) == 3
    got = sorted(
        ((str(o.side), o.price, o.trigger_price) for o in map(s._engine.order, accepted) if o),
        key=str,
    )
    assert got == [
        ("buy", Decimal("9.00"), None),  # a buy limit rounds down: never pays more
        ("buy", None, Decimal("10.51")),  # a buy stop rounds up: never triggers earlier
        ("sell", Decimal("11.01"), None),  # a sell limit rounds up: never receives less
    ]
