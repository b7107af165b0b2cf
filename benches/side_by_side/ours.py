"""SMA 10/30 crossover, long-only, 100 units, no costs, in pi5trading (the built-in
``sma_crossover``: Python runs only on the bars where the averages cross).

Pass ``--on-bar`` to use a strategy whose ``on_bar`` runs on every bar instead.
Prints one JSON line. The timing covers building the engine, loading the bars into it,
the run, and extracting the fills and round trips.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

import pi5trading
from pi5trading.data import BarFrame
from pi5trading.engine import BacktestRunner
from pi5trading.indicators import SMA
from pi5trading.model import Bar
from pi5trading.strategies.base import Strategy
from pi5trading.strategies.sma_crossover import MovingAverageCrossover
from pi5trading.venue import SimulatedVenue


class SmaCrossOnBar(Strategy):
    """The same rules, written the plain way: look at the crossover on every bar."""

    def on_start(self) -> None:
        self.cross = self.crossover(self.indicator(SMA(10)), self.indicator(SMA(30)))
        self.qty = Decimal(100)

    def on_bar(self, bar: Bar) -> None:
        c = self.cross.value
        if c > 0:
            if self.is_flat():
                self.buy(self.qty)
        elif c < 0 and not self.is_flat():
            self.close_position()


def main() -> None:
    per_bar = "--on-bar" in sys.argv
    path = Path(next(a for a in sys.argv[1:] if not a.startswith("--")))
    with np.load(path) as z:
        d = {k: z[k] for k in z.files}
    t0 = time.perf_counter()
    venue = SimulatedVenue(
        starting_cash="1000000000",
        slippage="none",
        commission_per_share="0",
        commission_minimum="0",
        unlimited_volume=True,
    )
    runner = BacktestRunner(venue=venue, risk=None)
    runner.add_bars("SIM", BarFrame.from_columns(d, str(path)))
    strategy = (
        SmaCrossOnBar()
        if per_bar
        else MovingAverageCrossover({"fast": 10, "slow": 30, "quantity": 100})
    )
    runner.add_strategy(strategy)
    result = runner.run()
    trades = result.trades
    secs = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # A fill at a bar's open is stamped at its open time, one interval (the runner's default
    # "1m") before the close that stamps the bar's row.
    idx = np.searchsorted(d["ts"], [f.ts + 60 * 10**9 for f in result.fills])
    fills = [
        (int(i), f.side, round(f.price_raw / 1e9, 9))
        for i, f in zip(idx.tolist(), result.fills, strict=True)
    ]
    mode = "on_bar every bar" if per_bar else "cross callback"
    print(
        json.dumps(
            {
                "engine": f"pi5trading {pi5trading.__version__} ({mode})",
                "bars": len(d["ts"]),
                "seconds": secs,
                "peak_rss_mb": rss,
                "fills": fills,
                "round_trips": len(trades),
            }
        )
    )


if __name__ == "__main__":
    main()
