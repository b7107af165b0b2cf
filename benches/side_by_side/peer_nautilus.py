"""SMA 10/30 crossover, long-only, 100 units, no costs, in NautilusTrader (low-level
``BacktestEngine`` API). Prints one JSON line.

NautilusTrader has no "fill at the next bar's open" setting: the engine loop hands a bar to
the simulated exchange (which walks its open, high, low, close), then to the strategy, then
lets the exchange process the commands the strategy sent, so a market order decided on a
bar fills at that bar's *close*, stamped with the bar's close time (``backtest/engine.pyx``
main loop; also the answers in GitHub discussions #3756 and #4559). ``bar_execution`` and
``bar_adaptive_high_low_ordering`` only change the intrabar path (O-H-L-C or O-L-H-C), not
this. The answer in #4559 is to feed the open as a trade tick and act on it; this script
does that inside the engine, so the strategy itself stays unchanged:

* each bar's open also goes in as a ``TradeTick`` stamped 1 ns after the previous bar's
  close (``trade_execution=True``), so the exchange's market moves to the next open before
  the next bar arrives (the bar's own open then changes nothing);
* a 1 ns ``LatencyModel`` makes an order sent on bar N's close reach the exchange at that
  tick, so it fills at bar N+1's open; the fill's timestamp maps to row N+1.

The strategy is the plain one (decide in ``on_bar``, send a market order). ``--native``
runs bars only, with no latency: orders fill at the deciding bar's close (NautilusTrader's
default), so fill prices and rows differ from the other engines by design.

Crossover: the sign of SMA10 - SMA30 against the last non-zero sign (backtrader's
``CrossOver`` and pi5trading's definition), on NautilusTrader's ``SimpleMovingAverage``
(float mean of the window). Prices: an ``Equity`` with a 0.01 tick and zero maker/taker
fees (so the default maker/taker fee model charges nothing); ``BestPriceFillModel`` (all of
an order at the best price: no slippage, no volume limit; without it the L1 book holds only
the last trade's size, a quarter of the bar's volume for a bar's own prices, and the rest of
a 100-unit order fills one tick worse). The timing covers building the engine, building
the bars (and ticks) from the arrays and adding them, and the run.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
from nautilus_trader import __version__ as nautilus_version
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.backtest.models import BestPriceFillModel, LatencyModel
from nautilus_trader.common.config import LoggingConfig
from nautilus_trader.config import RiskEngineConfig, StrategyConfig
from nautilus_trader.indicators import SimpleMovingAverage
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import Bar, BarType, TradeTick
from nautilus_trader.model.enums import AccountType, AggressorSide, OmsType, OrderSide
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
from nautilus_trader.model.instruments import Equity
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.trading.strategy import Strategy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import load


class SmaCrossConfig(StrategyConfig, frozen=True):
    instrument_id: InstrumentId
    bar_type: BarType
    fast: int = 10
    slow: int = 30
    quantity: int = 100


class SmaCross(Strategy):  # type: ignore[misc]
    def __init__(self, config: SmaCrossConfig) -> None:
        super().__init__(config)
        self.fast = SimpleMovingAverage(config.fast)
        self.slow = SimpleMovingAverage(config.slow)
        self.qty = Quantity.from_int(config.quantity)
        self.last_sign = 0
        self.long = False
        self.fills: list[tuple[int, str, float]] = []  # (ts, side, price); rows mapped later

    def on_start(self) -> None:
        self.register_indicator_for_bars(self.config.bar_type, self.fast)
        self.register_indicator_for_bars(self.config.bar_type, self.slow)
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        if not self.slow.initialized:
            return
        diff = self.fast.value - self.slow.value
        sign = (diff > 0) - (diff < 0)
        if sign == 0:
            return
        cross = sign if self.last_sign and sign != self.last_sign else 0
        self.last_sign = sign
        if cross > 0 and not self.long:
            self._send(OrderSide.BUY)
            self.long = True
        elif cross < 0 and self.long:
            self._send(OrderSide.SELL)
            self.long = False

    def _send(self, side: OrderSide) -> None:
        self.submit_order(self.order_factory.market(self.config.instrument_id, side, self.qty))

    def on_order_filled(self, event: OrderFilled) -> None:
        side = "buy" if event.order_side == OrderSide.BUY else "sell"
        self.fills.append((event.ts_event, side, float(event.last_px)))


def main() -> None:
    native = "--native" in sys.argv
    path = Path(next(a for a in sys.argv[1:] if not a.startswith("--")))
    d = load(path)
    ts = d["ts"].astype(np.uint64)

    t0 = time.perf_counter()
    engine = BacktestEngine(
        BacktestEngineConfig(
            logging=LoggingConfig(log_level="ERROR", bypass_logging=True),
            risk_engine=RiskEngineConfig(bypass=True),
            run_analysis=False,
        )
    )
    venue = Venue("SIM")
    engine.add_venue(
        venue=venue,
        oms_type=OmsType.NETTING,
        account_type=AccountType.CASH,
        starting_balances=[Money(1_000_000_000, USD)],
        base_currency=USD,
        fill_model=BestPriceFillModel(),
        latency_model=None if native else LatencyModel(base_latency_nanos=1),
        bar_execution=True,
        bar_adaptive_high_low_ordering=False,
        trade_execution=not native,
    )
    instrument = Equity(
        instrument_id=InstrumentId(Symbol("SIM"), venue),
        raw_symbol=Symbol("SIM"),
        currency=USD,
        price_precision=2,
        price_increment=Price.from_str("0.01"),
        lot_size=Quantity.from_int(1),
        maker_fee=Decimal(0),
        taker_fee=Decimal(0),
        ts_event=0,
        ts_init=0,
    )
    engine.add_instrument(instrument)
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")
    bars = Bar.from_raw_arrays_to_list(
        bar_type, 2, 0, d["open"], d["high"], d["low"], d["close"], d["volume"], ts, ts
    )
    engine.add_data(bars, sort=native)
    if not native:
        # Bar i's open as a trade 1 ns after bar i-1's close (the first bar has none before it).
        tick_ts = ts[:-1] + np.uint64(1)
        ticks = TradeTick.from_raw_arrays_to_list(
            instrument.id,
            2,
            0,
            np.ascontiguousarray(d["open"][1:]),
            np.ascontiguousarray(d["volume"][1:]),
            np.full(len(tick_ts), AggressorSide.NO_AGGRESSOR, dtype=np.uint8),
            [str(i) for i in range(1, len(ts))],
            tick_ts,
            tick_ts,
        )
        engine.add_data(ticks, sort=True)
    strategy = SmaCross(SmaCrossConfig(instrument_id=instrument.id, bar_type=bar_type))
    engine.add_strategy(strategy)
    engine.run()
    secs = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    rows = np.searchsorted(d["ts"], [f[0] for f in strategy.fills]).tolist()
    fills = [(int(r), s, p) for r, (_, s, p) in zip(rows, strategy.fills, strict=True)]
    mode = "bars only, fills at the deciding bar's close" if native else "open ticks"
    print(
        json.dumps(
            {
                "engine": f"nautilus_trader {nautilus_version} ({mode})",
                "bars": len(ts),
                "seconds": secs,
                "peak_rss_mb": rss,
                "fills": fills,
            }
        )
    )
    engine.dispose()


if __name__ == "__main__":
    main()
