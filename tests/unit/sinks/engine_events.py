"""Real engine events for the sink tests: a small backtest whose strategy records every
order event, position event and bar it sees, in order, with the topic the node would
publish it on (no fakes of our own types: core payloads cannot be built from Python)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pi5trading import events as ev
from pi5trading.data import BarFrame, random_walk_bars
from pi5trading.engine import BacktestRunner
from pi5trading.engine.denials import RiskDenialWarning
from pi5trading.events import EquitySample, StrategyStatus
from pi5trading.model import Bar
from pi5trading.orders import FillRecord, Order, OrderEvent
from pi5trading.portfolio import PositionEvent
from pi5trading.risk import RiskEngine
from pi5trading.strategies.base import Strategy
from tests.venues import no_cost_venue


@dataclass
class Recorded:
    """What one run published, in order, as ``(topic, payload)``."""

    messages: list[tuple[str, object]] = field(default_factory=list)
    orders: dict[str, Order] = field(default_factory=dict)
    final_cash: Decimal = Decimal(0)
    final_equity: Decimal = Decimal(0)
    fills: list[FillRecord] = field(default_factory=list)
    positions: dict[tuple[str, str], tuple[Decimal, Decimal | None, Decimal]] = field(
        default_factory=dict
    )
    """The run's final positions: (strategy, symbol) -> (quantity, average price, realised)."""

    def payloads(self, kind: type) -> list[object]:
        return [m for _, m in self.messages if isinstance(m, kind)]


class Trader(Strategy):
    """Every 7th bar: alternately a market buy, a limit sell near the close, a stop buy;
    on bar 20 an order far above the risk limit (denied)."""

    warmup = True

    def __init__(self, out: Recorded, *, publish_orders: bool = True, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.out = out
        self.publish_orders = publish_orders

    def on_start(self) -> None:
        self.i = 0

    def _emit(self, topic: str, payload: object) -> None:
        self.out.messages.append((topic, payload))

    def on_bar(self, bar: Bar) -> None:
        self.i += 1
        self._emit(bar.bar_type.topic, bar)
        close = bar.close.as_decimal()
        if self.i == 20:
            self._send("buy", 100_000, "market")
        elif self.i % 21 == 0:
            self._send("buy", 7, "market")
        elif self.i % 21 == 7:
            self._send("sell", 3, "limit", price=close + Decimal("0.05"))
        elif self.i % 21 == 14:
            self._send(
                "buy", 2, "stop_market", trigger_price=close + Decimal("0.10"), tags=["breakout"]
            )
        p = self.portfolio
        self._emit(ev.EQUITY, EquitySample(self.now, p.cash, p.equity))

    def _send(self, side: str, qty: int, order_type: str, **prices: Any) -> None:
        # What Strategy.submit_order does, keeping the Order so it can be published
        # before its events, as the node does.
        engine = self._engine
        oid = engine.next_order_id(self._k)
        order = Order(oid, self.id, "AAA", side, order_type, qty, ts_init=self.now, **prices)  # type: ignore[arg-type]
        self.out.orders[oid] = order
        if self.publish_orders:
            self._emit(ev.order_topic("initialized"), order)
        engine.submit(self._k, order)

    def on_order(self, event: OrderEvent) -> None:
        self._emit(ev.order_topic(event.kind), event)

    def on_position(self, event: PositionEvent) -> None:
        self._emit(ev.position_topic(event.instrument), event)


def record_run(n_bars: int = 300, seed: int = 7, *, publish_orders: bool = True) -> Recorded:
    out = Recorded()
    frame = BarFrame.from_columns(random_walk_bars(n_bars, seed=seed, volatility=0.002), "gen")
    r = BacktestRunner(venue=no_cost_venue(), risk=None)
    r.risk = RiskEngine("unlimited")
    r.risk.set_limit("max_quantity", 500)
    r.add_bars("AAA", frame)
    r.add_strategy(Trader(out, publish_orders=publish_orders, strategy_id="trader"))
    out.messages.append((ev.STRATEGY_STATUS, StrategyStatus(0, "trader", "running")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RiskDenialWarning)
        res = r.run()
    out.final_cash = res.portfolio.cash
    out.final_equity = res.portfolio.equity
    out.fills = list(res.fills)
    pos = res.portfolio.strategy_position("trader", "AAA")
    if pos is not None:
        out.positions[("trader", "AAA")] = (pos.quantity, pos.avg_px, pos.realised_pnl)
    return out
