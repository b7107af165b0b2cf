"""SMA 10/30 crossover, long-only, 100 units, no costs, in backtesting.py. Prints one JSON line."""

from __future__ import annotations

import json
import resource
import sys
import time
import warnings
from pathlib import Path

import backtesting
import numpy as np
import pandas as pd
from backtesting import Backtest, Strategy
from backtesting.lib import crossover

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import load


def sma(values: np.ndarray, n: int) -> np.ndarray:
    return pd.Series(values).rolling(n).mean().to_numpy()


class SmaCross(Strategy):  # type: ignore[misc]
    fast = 10
    slow = 30

    def init(self) -> None:
        self.f = self.I(sma, self.data.Close, self.fast)
        self.s = self.I(sma, self.data.Close, self.slow)

    def next(self) -> None:
        if not self.position and crossover(self.f, self.s):
            self.buy(size=100)
        elif self.position and crossover(self.s, self.f):
            self.position.close()


def main() -> None:
    d = load(Path(sys.argv[1]))
    df = pd.DataFrame(
        {
            "Open": d["open"],
            "High": d["high"],
            "Low": d["low"],
            "Close": d["close"],
            "Volume": d["volume"],
        },
        index=pd.to_datetime(d["ts"], utc=True).tz_localize(None),
    )
    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    bt = Backtest(df, SmaCross, cash=1e12, commission=0.0, finalize_trades=True)
    stats = bt.run()
    secs = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    fills = []
    for t in stats["_trades"].itertuples():
        fills.append((int(t.EntryBar), "buy", float(t.EntryPrice)))
        fills.append((int(t.ExitBar), "sell", float(t.ExitPrice)))
    print(
        json.dumps(
            {
                "engine": f"backtesting.py {backtesting.__version__}",
                "bars": len(df),
                "seconds": secs,
                "peak_rss_mb": rss,
                "fills": fills,
            }
        )
    )


if __name__ == "__main__":
    main()
