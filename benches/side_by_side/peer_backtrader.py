"""SMA 10/30 crossover, long-only, 100 units, no costs, in backtrader. Prints one JSON line."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import backtrader as bt
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import load


class SmaCross(bt.Strategy):  # type: ignore[misc]
    params = (("fast", 10), ("slow", 30))

    def __init__(self) -> None:
        fast = bt.ind.SMA(self.data.close, period=self.p.fast)
        slow = bt.ind.SMA(self.data.close, period=self.p.slow)
        self.cross = bt.ind.CrossOver(fast, slow)
        self.fills: list[tuple[int, str, float]] = []

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            side = "buy" if order.isbuy() else "sell"
            self.fills.append((len(self.data) - 1, side, float(order.executed.price)))

    def next(self) -> None:
        if not self.position and self.cross > 0:
            self.buy(size=100)
        elif self.position and self.cross < 0:
            self.close()


def main() -> None:
    d = load(Path(sys.argv[1]))
    df = pd.DataFrame(
        {k: d[k] for k in ("open", "high", "low", "close", "volume")},
        index=pd.to_datetime(d["ts"], utc=True).tz_localize(None),
    )
    t0 = time.perf_counter()
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=df))
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(1e12)
    cerebro.broker.setcommission(commission=0.0)
    strat = cerebro.run()[0]
    secs = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "engine": f"backtrader {bt.__version__}",
                "bars": len(df),
                "seconds": secs,
                "peak_rss_mb": rss,
                "fills": strat.fills,
            }
        )
    )


if __name__ == "__main__":
    main()
