"""Parity, proven: recorded data replayed through the node (replay feed, simulated venue,
engine thread, as fast as it comes) gives the backtest's fills, positions, account and
strategy events, event for event, to the exact digit."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import anyio
import pytest

from pi5trading import events
from pi5trading.bus import IngestQueue
from pi5trading.config import NodeSettings
from pi5trading.data import BarFrame
from pi5trading.data.synthetic import random_walk_bars
from pi5trading.engine import BacktestResult, BacktestRunner
from pi5trading.node import TradingNode
from pi5trading.strategies.base import Strategy
from pi5trading.strategies.rsi_mean_reversion import RsiMeanReversion
from pi5trading.strategies.sma_crossover import MovingAverageCrossover

from .replay import Recorder, ReplayFeed, bars_of, merged

pytestmark = pytest.mark.anyio

SYMBOLS = ("AAA", "BBB", "CCC")
# Parity with the node's shutdown: the backtest leaves orders working at the end.
KEEP = NodeSettings(shutdown_orders="keep", failed_orders="keep")


def frames(n: int) -> dict[str, BarFrame]:
    return {
        s: BarFrame(
            **random_walk_bars(n, seed=11 + k, start_price=50.0 + 30 * k, market_hours=True)
        )
        for k, s in enumerate(SYMBOLS)
    }


def strategies() -> list[tuple[Strategy, tuple[str, ...]]]:
    return [
        (MovingAverageCrossover({"fast": 5, "slow": 20}, strategy_id="sma"), ("AAA", "BBB")),
        (RsiMeanReversion(strategy_id="rsi"), ("CCC",)),
        (Recorder(strategy_id="rec"), SYMBOLS),
        (Recorder({"every": 30, "quantity": 3, "timer_s": 900}, strategy_id="rec2"), ("BBB",)),
    ]


def backtest(data: dict[str, BarFrame]) -> tuple[BacktestResult, list[Strategy]]:
    runner = BacktestRunner(starting_cash=Decimal(250_000), risk="default")
    for s, f in data.items():
        runner.add_bars(s, f)
    strats = strategies()
    for st, syms in strats:
        runner.add_strategy(st, syms)
    return runner.run(), [st for st, _ in strats]


async def replay(
    data: dict[str, BarFrame],
) -> tuple[TradingNode, list[Strategy], list[tuple[str, Any]]]:
    node = TradingNode(
        settings=KEEP, clock="replay", risk="default", starting_cash=Decimal(250_000)
    )
    for s in data:
        node.add_instrument(s)
    published: list[tuple[str, Any]] = []
    for pattern in ("data.>", "orders.>", "positions.>", "account.>", "strategies.>"):
        node.bus.subscribe(pattern, lambda m, p=pattern: published.append((p, m)))
    strats = strategies()
    for st, syms in strats:
        await node.add_strategy(st, symbols=syms)
    items = merged({s: bars_of(s, f) for s, f in data.items()})
    feed = ReplayFeed(items)
    node.add_feed(feed)
    await node.start(start_ts=items[0][1])
    await feed.finished()
    await node.drain()
    await node.stop()
    return node, [st for st, _ in strats], published


def _until_full(queue: IngestQueue) -> None:
    while len(queue) < queue.capacity:
        time.sleep(0.001)


def account(p: Any) -> tuple[Any, ...]:
    positions = sorted(
        (sid, sym, pos.quantity, pos.avg_px, pos.realised_pnl, pos.commissions)
        for sid in p.strategies()
        for sym in SYMBOLS
        if (pos := p.strategy_position(sid, sym)) is not None
    )
    return (p.cash, p.equity, p.realised_pnl, p.commissions, positions)


async def test_replayed_bars_trade_exactly_as_the_backtest() -> None:
    data = frames(1500)
    result, bt_strats = backtest(data)
    node, node_strats, published = await replay(data)

    assert len(result.fills) > 100  # the strategies really trade
    assert list(node.engine.fills()) == list(result.fills)
    assert [repr(d) for d in node.engine.denials()] == [repr(d) for d in result.denials]
    assert account(node.engine.portfolio) == account(result.portfolio)
    # Every callback each strategy saw, in order (bars, order events with their fills,
    # positions, timers).
    for a, b in zip(bt_strats, node_strats, strict=True):
        if isinstance(a, Recorder):
            assert isinstance(b, Recorder)
            assert len(a.log_) > 1000
            assert b.log_ == a.log_
    # The node published every bar, every order event (fills on them) and the account.
    bars = [m for p, m in published if p == "data.>"]
    assert len(bars) == sum(len(f) for f in data.values())
    scale = Decimal(10) ** 9
    fills = [
        (m.client_order_id, m.ts, m.fill.price, m.fill.quantity, m.fill.commission)
        for p, m in published
        if p == "orders.>" and m.fill is not None
    ]
    assert fills == [
        (
            f.client_order_id,
            f.ts,
            Decimal(f.price_raw) / scale,
            Decimal(f.quantity_raw) / scale,
            Decimal(f.commission_raw) / scale,
        )
        for f in result.fills
    ]
    equity = [m for p, m in published if p == "account.>"]
    assert isinstance(equity[-1], events.EquitySample)
    assert equity[-1].cash == result.portfolio.cash
    assert equity[-1].equity == result.portfolio.equity
    statuses = [(m.strategy_id, m.status) for p, m in published if p == "strategies.>"]
    assert ("rec", "running") in statuses
    assert ("rec", "stopped") in statuses


async def test_replay_parity_holds_with_a_queue_smaller_than_the_data() -> None:
    data = frames(400)
    result, _ = backtest(data)
    node = TradingNode(
        settings=NodeSettings(
            shutdown_orders="keep", failed_orders="keep", queue_capacity=64, batch_max=7
        ),
        clock="replay",
        risk="default",
        starting_cash=Decimal(250_000),
    )
    for s in data:
        node.add_instrument(s)
    for st, syms in strategies():
        await node.add_strategy(st, symbols=syms)
    items = merged({s: bars_of(s, f) for s, f in data.items()})
    feed = ReplayFeed(items)
    # The feed fills the queue before the engine runs: it has to wait for it.
    await feed.start(node.queue)
    with anyio.fail_after(30):
        await anyio.to_thread.run_sync(_until_full, node.queue)
    await node.start(start_ts=items[0][1])
    with anyio.fail_after(30):
        await feed.finished()
        await node.drain()
    await node.stop()
    assert node.queue.stats()["blocked"] > 0  # the feed really waited for the engine
    assert list(node.engine.fills()) == list(result.fills)
    assert account(node.engine.portfolio) == account(result.portfolio)
