"""Backtest throughput (pytest-benchmark; run by ``make bench``, never by ``make test``).

The side-by-side comparison with other engines is ``benches/side_by_side/compare.py``
(``make bench-peers``); this suite tracks our own engine between commits.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pi5trading.data import BarFrame, random_walk_bars
from pi5trading.engine import BacktestRunner, run_vectorised
from pi5trading.indicators import SMA
from pi5trading.model import Bar
from pi5trading.strategies.base import Strategy
from pi5trading.strategies.sma_crossover import MovingAverageCrossover
from pi5trading.venue import SimulatedVenue

BARS = 200_000
DATA = BarFrame.from_columns(random_walk_bars(BARS), "bench")


def venue() -> SimulatedVenue:
    return SimulatedVenue(
        starting_cash="1000000000",
        slippage="none",
        commission_per_share="0",
        commission_minimum="0",
        unlimited_volume=True,
    )


class OnBar(Strategy):
    def on_start(self) -> None:
        self.cross = self.crossover(self.indicator(SMA(10)), self.indicator(SMA(30)))

    def on_bar(self, bar: Bar) -> None:
        c = self.cross.value
        if c > 0 and self.is_flat():
            self.buy(Decimal(100))
        elif c < 0 and not self.is_flat():
            self.close_position()


def run(strategy: Strategy) -> Any:
    r = BacktestRunner(venue=venue(), risk=None)
    r.add_bars("SIM", DATA)
    r.add_strategy(strategy)
    return r.run().trades


@pytest.mark.benchmark(group="backtest")
def test_sma_cross_callback(benchmark: Any) -> None:
    benchmark.extra_info["bars"] = BARS
    benchmark(lambda: run(MovingAverageCrossover({"fast": 10, "slow": 30, "quantity": 100})))


@pytest.mark.benchmark(group="backtest")
def test_sma_cross_on_bar(benchmark: Any) -> None:
    benchmark.extra_info["bars"] = BARS
    benchmark(lambda: run(OnBar()))


@pytest.mark.benchmark(group="backtest")
def test_vectorised_signals(benchmark: Any) -> None:
    import numpy as np

    target = np.where(DATA.close > np.median(DATA.close), 100, 0)

    def go() -> Any:
        r = BacktestRunner(venue=venue(), risk=None)
        r.add_bars("SIM", DATA)
        return run_vectorised(r, "SIM", target).fills

    benchmark.extra_info["bars"] = BARS
    benchmark(go)
