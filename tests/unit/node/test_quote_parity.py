"""Parity on quotes: quotes replayed through the node fill exactly as a backtest on the
same quotes (``BacktestRunner.add_quotes``), event for event."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from pi5trading.config import NodeSettings
from pi5trading.engine import BacktestResult, BacktestRunner
from pi5trading.model import QuoteTick
from pi5trading.node import TradingNode
from pi5trading.strategies.base import Strategy

from .replay import QuoteTrader, ReplayFeed, merged

pytestmark = pytest.mark.anyio

SYMBOLS = ("AAA", "BBB")
START = 1_704_205_800_000_000_000  # 2024-01-02 14:30 UTC, the New York open


def quotes(symbol: str, n: int, seed: int) -> list[QuoteTick]:
    """A random walk of mid prices with one- to three-cent spreads, a quote every 1-4 s."""
    rng = np.random.default_rng(seed)
    mid = np.round(40 + np.cumsum(rng.normal(0, 0.02, n)), 2)
    spread = rng.integers(1, 4, n)
    ts = START + np.cumsum(rng.integers(1, 5, n)) * 1_000_000_000
    cent = Decimal("0.01")
    out = []
    for i in range(n):
        bid = Decimal(str(mid[i])) - cent * int(spread[i])
        ask = Decimal(str(mid[i])) + cent * int(spread[i])
        size = Decimal(int(rng.integers(1, 20)) * 100)
        out.append(QuoteTick(symbol, bid, ask, size, size, int(ts[i])))
    return out


def strategies() -> list[Strategy]:
    return [
        QuoteTrader({"timer_s": 180}, strategy_id="q1"),
        QuoteTrader({"timer_s": 420, "quantity": 3}, strategy_id="q2"),
    ]


def account(p: Any) -> tuple[Any, ...]:
    positions = sorted(
        (sid, sym, pos.quantity, pos.avg_px, pos.realised_pnl, pos.commissions)
        for sid in p.strategies()
        for sym in SYMBOLS
        if (pos := p.strategy_position(sid, sym)) is not None
    )
    return (p.cash, p.equity, p.realised_pnl, p.commissions, positions)


async def test_replayed_quotes_trade_exactly_as_the_backtest() -> None:
    data = {s: quotes(s, 3000, seed=k) for k, s in enumerate(SYMBOLS)}

    runner = BacktestRunner(starting_cash=Decimal(100_000), risk="default")
    for s, qs in data.items():
        runner.add_quotes(s, qs)
    bt = strategies()
    for st in bt:
        runner.add_strategy(st)
    result: BacktestResult = runner.run()

    node = TradingNode(
        settings=NodeSettings(shutdown_orders="keep", failed_orders="keep"),
        clock="replay",
        risk="default",
        starting_cash=Decimal(100_000),
    )
    for s in SYMBOLS:
        node.add_instrument(s)
    published: list[Any] = []
    node.bus.subscribe("orders.>", published.append)
    live = strategies()
    for st in live:
        await node.add_strategy(st)
    items = merged(dict(data))
    feed = ReplayFeed(items)
    node.add_feed(feed)
    await node.start(start_ts=items[0][1])
    await feed.finished()
    await node.drain()
    await node.stop()

    assert len(result.fills) > 50
    assert list(node.engine.fills()) == list(result.fills)
    assert account(node.engine.portfolio) == account(result.portfolio)
    for a, b in zip(bt, live, strict=True):
        assert isinstance(a, QuoteTrader)
        assert isinstance(b, QuoteTrader)
        assert len(a.log_) > 100
        assert b.log_ == a.log_
    scale = Decimal(10) ** 9
    assert [
        (e.client_order_id, e.ts, e.fill.price, e.fill.quantity)
        for e in published
        if e.fill is not None
    ] == [
        (f.client_order_id, f.ts, Decimal(f.price_raw) / scale, Decimal(f.quantity_raw) / scale)
        for f in result.fills
    ]
    # The backtest on quotes keeps an equity curve (one point per quote time).
    assert len(result.curve.ts) > 1000


def test_add_quotes_checks_its_input() -> None:
    from pi5trading.exceptions import InvalidInputError

    runner = BacktestRunner()
    qs = quotes("AAA", 5, seed=1)
    with pytest.raises(InvalidInputError, match="quote #0 is for 'AAA', not 'BBB'"):
        runner.add_quotes("BBB", qs)
    with pytest.raises(InvalidInputError, match=r"quote #1 of 'AAA' .* is before"):
        runner.add_quotes("AAA", [qs[1], qs[0]])
    with pytest.raises(InvalidInputError, match="no quotes"):
        runner.add_quotes("AAA", [])
