"""Bars that stand for a whole session are judged by their trading day, not by the
intraday clock (issue 11: daily bars under the default risk profile traded nothing)."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np

from pi5trading.data import BarFrame
from pi5trading.engine import BacktestRunner
from pi5trading.engine.denials import RiskDenialWarning
from pi5trading.model import Bar
from pi5trading.strategies.base import Strategy
from tests.venues import no_cost_venue

DAY = 86_400 * 10**9


def _daily(days: list[dt.date]) -> BarFrame:
    # Stamped at the close: the next UTC midnight, as load_bars makes of vendors' dates.
    ts = np.array(
        [
            int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp()) * 10**9 + DAY
            for d in days
        ],
        dtype=np.int64,
    )
    px = np.linspace(100, 110, len(days))
    return BarFrame(ts, px, px + 1, px - 1, px, np.full(len(days), 1e6))


class EveryBar(Strategy):
    warmup = True

    def on_bar(self, bar: Bar) -> None:
        if self.is_flat():
            self.buy(1)
        else:
            self.close_position()


def _run(days: list[dt.date], interval: str) -> tuple[int, list[str]]:
    runner = BacktestRunner(venue=no_cost_venue(), risk="default")
    runner.add_bars("AAA", _daily(days), interval)
    runner.add_strategy(EveryBar())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RiskDenialWarning)
        result = runner.run()
    return len(result.fills), [d.code for d in result.denials]


def test_daily_bars_trade_under_the_default_profile() -> None:
    weekdays = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(28)]
    weekdays = [d for d in weekdays if d.weekday() < 5]
    fills, denied = _run(weekdays, "1d")
    assert denied == []
    assert fills >= len(weekdays) - 2  # every bar sends an order; the last does not fill


def test_a_daily_bar_on_a_closed_day_is_still_refused() -> None:
    saturdays = [dt.date(2024, 1, 6) + dt.timedelta(weeks=i) for i in range(4)]
    fills, denied = _run(saturdays, "1d")
    assert fills == 0
    assert set(denied) == {"outside_trading_hours"}


def test_intraday_bars_stamped_after_the_close_are_still_judged_by_the_clock() -> None:
    weekdays = [dt.date(2024, 1, 2) + dt.timedelta(days=i) for i in range(4)]
    # The same midnight stamps, declared as hourly bars: outside New York hours.
    fills, denied = _run(weekdays, "1h")
    assert fills == 0
    assert set(denied) == {"outside_trading_hours"}
