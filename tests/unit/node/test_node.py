"""The trading node: strategies managed at run time, failures isolated, live timers,
shutdown by policy and by signal."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import re
import signal
import time
from decimal import Decimal
from typing import Any

import anyio
import pytest

from pi5trading.config import NodeSettings
from pi5trading.data import BarFrame
from pi5trading.data.synthetic import random_walk_bars
from pi5trading.events import FeedStatus, StrategyStatus
from pi5trading.exceptions import ConfigurationError, InvalidStateError
from pi5trading.model import Bar, QuoteTick
from pi5trading.node import TradingNode, trading_node
from pi5trading.strategies.base import Strategy, StrategyConfig

from .replay import ReplayFeed, bars_of, merged

pytestmark = pytest.mark.anyio


class Counter(Strategy):
    """Counts bars, rests a buy limit far below the market, keeps a small state."""

    warmup = True

    class Config(StrategyConfig):
        step: int = 1

    def on_start(self) -> None:
        self.bars = 0
        self.started = getattr(self, "started", 0) + 1
        self.loaded: dict[str, Any] | None = getattr(self, "loaded", None)

    def on_bar(self, bar: Bar) -> None:
        self.bars += self.config.step
        if not self.open_orders():
            self.buy(1, symbol=bar.symbol, limit=Decimal(1))

    def on_save(self) -> dict[str, Any]:
        return {"bars": self.bars}

    def on_load(self, state: dict[str, Any]) -> None:
        self.loaded = state


class Boom(Strategy):
    warmup = True

    def on_start(self) -> None:
        self.bars = 0

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        if not self.open_orders():
            self.buy(1, limit=Decimal(1))
        if self.bars == 5:
            raise ZeroDivisionError("bad math in on_bar")


def bar_items(n: int = 60, symbols: tuple[str, ...] = ("AAA",)) -> list[tuple[str, int, Any]]:
    return merged(
        {
            s: bars_of(s, BarFrame(**random_walk_bars(n, seed=k + 1, market_hours=True)))
            for k, s in enumerate(symbols)
        }
    )


def make_node(**settings: Any) -> tuple[TradingNode, list[StrategyStatus]]:
    node = TradingNode(settings=NodeSettings(**settings), clock="replay", risk="unlimited")
    node.add_instrument("AAA")
    statuses: list[StrategyStatus] = []
    node.bus.subscribe("strategies.status", statuses.append)
    return node, statuses


async def feed_through(node: TradingNode, items: list[tuple[str, int, Any]]) -> None:
    feed = ReplayFeed(items)
    await feed.start(node.queue)
    with anyio.fail_after(30):
        await feed.finished()
        await node.drain()


async def test_a_failing_strategy_is_stopped_alone_and_reported() -> None:
    node, statuses = make_node()
    ok = Counter(strategy_id="ok")
    boom = Boom(strategy_id="boom")
    await node.add_strategy(ok)
    await node.add_strategy(boom)
    items = bar_items(40)
    await node.start(start_ts=items[0][1])
    await feed_through(node, items)

    assert node.status("boom") == "failed"
    assert boom.bars == 5  # no callback after the failure
    assert ok.bars == 40  # the other strategy saw every bar, the one that failed included
    failed = [s for s in statuses if s.status == "failed"]
    assert [s.strategy_id for s in failed] == ["boom"]
    assert failed[0].error is not None
    assert "ZeroDivisionError: bad math in on_bar" in failed[0].error
    assert "on_bar" in failed[0].error  # the traceback, not only the message
    assert node.failure("boom") == failed[0].error
    # Its working order was cancelled (the default policy); the other's stands.
    assert await node.call(lambda e: e.open_orders(boom._k)) == []
    assert await node.call(lambda e: len(e.open_orders(ok._k))) == 1
    await node.stop()
    assert node.state == "stopped"


async def test_strategies_are_managed_at_run_time() -> None:
    node, statuses = make_node(shutdown_orders="keep")
    items = bar_items(90)
    third = len(items) // 3
    await node.start(start_ts=items[0][1])
    sid = await node.add_strategy(Counter, {"step": 1}, strategy_id="c")
    c = node._strategies[sid].strategy
    assert isinstance(c, Counter)

    await feed_through(node, items[:third])
    assert c.bars == third
    await node.pause_strategy("c")
    await feed_through(node, items[third : 2 * third])
    assert c.bars == third  # no callbacks while paused
    await node.resume_strategy("c")

    with pytest.raises(ConfigurationError, match="step"):
        await node.reconfigure_strategy("c", {"step": "many"})
    assert node.status("c") == "running"
    assert c.config.step == 1  # a bad parameter changes nothing

    await node.reconfigure_strategy("c", {"step": 10})  # stop -> new config -> start
    assert c.config.step == 10
    assert c.started == 2
    assert c.loaded == {"bars": third}  # on_save at the stop, on_load at the start
    await feed_through(node, items[2 * third :])
    assert c.bars == 10 * (len(items) - 2 * third)

    await node.stop_strategy("c")
    assert node.saved_state("c") == {"bars": c.bars}
    with pytest.raises(InvalidStateError, match="cannot pause strategy 'c': it is stopped"):
        await node.pause_strategy("c")
    await node.remove_strategy("c")
    assert node.strategies() == {}
    # The id is free again; the new strategy goes on with the old one's order numbering.
    again = Counter(strategy_id="c")
    await node.add_strategy(again)
    await node.stop()
    assert [s.status for s in statuses] == [
        "added",
        "running",
        "paused",
        "running",
        "stopped",
        "running",
        "stopped",
        "removed",
        "added",
        "running",
        "stopped",
    ]
    assert all(s.strategy_id == "c" for s in statuses)
    ids = [f.client_order_id for f in node.engine.fills()]
    assert len(ids) == len(set(ids))


async def test_add_strategy_checks_its_input() -> None:
    node, _ = make_node()
    with pytest.raises(ConfigurationError, match="unknown strategy 'no_such'"):
        await node.add_strategy("no_such")
    with pytest.raises(ConfigurationError, match="unknown parameter 'fastt'"):
        await node.add_strategy("sma_crossover", {"fastt": 3})
    with pytest.raises(ConfigurationError, match=r"trades \['ZZZ'\]"):
        await node.add_strategy(Counter(), symbols=["ZZZ"])
    with pytest.raises(ConfigurationError, match="give an instance its id"):
        await node.add_strategy(Counter(), strategy_id="other")
    await node.add_strategy("sma_crossover", {"fast": 3, "slow": 9})
    with pytest.raises(ConfigurationError, match="already in the node"):
        await node.add_strategy("sma_crossover")
    await node.stop()


@pytest.mark.parametrize(("policy", "left"), [("cancel", 0), ("keep", 1)])
async def test_shutdown_cancels_or_keeps_working_orders(policy: str, left: int) -> None:
    node, _ = make_node(shutdown_orders=policy)
    c = Counter(strategy_id="c")
    await node.add_strategy(c)
    items = bar_items(10)
    await node.start(start_ts=items[0][1])
    await feed_through(node, items)
    await node.stop()
    assert len(node.engine.open_orders(c._k)) == left


async def test_feed_status_and_data_are_published_and_bad_events_refused() -> None:
    node, _ = make_node()
    got: list[tuple[str, Any]] = []
    node.bus.subscribe("feeds.status", lambda m: got.append(("status", m)))
    node.bus.subscribe("data.>", lambda m: got.append(("data", m)))
    items = bar_items(3)
    await node.start(start_ts=items[0][1])
    status = FeedStatus(items[0][1], "replay", "live")
    stranger = Bar("ZZZ-1m", 1, 1, 1, 1, 1, items[1][1])
    await feed_through(node, [items[0], ("feeds.status", items[0][1], status), items[1]])
    await feed_through(node, [("data.bars.ZZZ.1m", items[1][1], stranger), items[2]])
    await node.stop()
    assert got == [
        ("data", items[0][2]),
        ("status", status),
        ("data", items[1][2]),
        ("data", items[2][2]),
    ]
    assert node.rejected == 1


async def test_a_late_bar_is_refused_in_a_traders_terms(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pi5trading.node")
    node, _ = make_node()
    items = bar_items(3)
    await node.start(start_ts=items[1][1])
    await feed_through(node, [items[0], items[2]])  # the first is older than the clock
    await node.stop()
    assert node.rejected == 1
    (line,) = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    at = dt.datetime.fromtimestamp(items[0][1] / 1e9, tz=dt.UTC).isoformat(timespec="milliseconds")
    assert f"first {items[0][0]} at {at} ({items[0][1]})" in line
    assert "PI5_NODE__LATE_DATA_MS=60000" in line


class Ticker(Strategy):
    def on_start(self) -> None:
        self.ticks: list[int] = []
        self.set_timer("t", 20_000_000)  # every 20 ms

    def on_timer(self, event: Any) -> None:
        self.ticks.append(event.ts_event)


async def test_timers_fire_on_the_live_clock_without_data() -> None:
    node = TradingNode(settings=NodeSettings(idle_ms=2), clock="live", risk="unlimited")
    node.add_instrument("AAA")
    t = Ticker()
    await node.add_strategy(t)
    await node.start()
    await asyncio.sleep(0.3)
    ticks = await node.call(lambda _: list(t.ticks))
    await node.stop()
    # Counted from the engine's start (now minus late_data_ms): the missed ones fire at
    # once, then one every 20 ms.
    assert len(ticks) >= 60_000 // 20
    assert ticks == sorted(ticks)


async def test_a_delayed_vendors_bars_are_on_time_and_timers_fire_on_their_clock() -> None:
    """A vendor 15 minutes behind (PI5_FEED__DELAY_S=900): its bars are taken, and the
    timers fire on the data's clock. On the wall clock the bars were refused (older than
    the node's start), and the first timer stepped the engine past all later ones."""
    delay_s = 900
    node = TradingNode(
        settings=NodeSettings(idle_ms=2), clock="live", risk="unlimited", data_delay_s=delay_s
    )
    node.add_instrument("AAA")
    t, c = Ticker(), Counter(strategy_id="c")
    await node.add_strategy(t)
    await node.add_strategy(c)
    await node.start()
    await asyncio.sleep(0.1)  # timers have fired: the clock is at the data's time now
    data_now = time.time_ns() - delay_s * 10**9
    frame = BarFrame(**random_walk_bars(3, seed=1, market_hours=True))
    bars = [
        Bar(b.bar_type, b.open, b.high, b.low, b.close, b.volume, data_now + (i + 1) * 10**9)
        for i, b in enumerate(bars_of("AAA", frame))
    ]
    await feed_through(node, merged({"AAA": bars}))
    ticks = await node.call(lambda _: list(t.ticks))
    seen = await node.call(lambda _: c.bars)
    await node.stop()
    assert node.rejected == 0
    assert seen == 3
    assert ticks
    assert ticks == sorted(ticks)
    # On the data's clock: a quarter of an hour behind the wall clock, give or take the
    # bars' few seconds.
    assert ticks[-1] < time.time_ns() - (delay_s - 60) * 10**9


async def test_live_data_that_arrives_after_its_time_is_taken_not_refused() -> None:
    """A minute bar arrives after the next minute's first quote (Alpaca's bars come a
    second or two after their close), and after a timer fired past it: both were refused
    ("events must come in time order"). Taken now at the clock's time, which stays; data
    later than PI5_NODE__LATE_DATA_MS is still refused."""
    node = TradingNode(
        settings=NodeSettings(idle_ms=2, late_data_ms=5_000), clock="live", risk="unlimited"
    )
    node.add_instrument("AAA")
    t, c = Ticker(), Counter(strategy_id="c")
    await node.add_strategy(t)
    await node.add_strategy(c)
    got: list[int] = []
    node.bus.subscribe("data.bars.AAA.1m", lambda b: got.append(b.ts_event))
    await node.start()
    await asyncio.sleep(0.1)  # timers fire: the clock is at the wall clock
    now = time.time_ns()
    frame = BarFrame(**random_walk_bars(3, seed=1, market_hours=True))
    bars = bars_of("AAA", frame)
    quote = QuoteTick("AAA", Decimal("100.00"), Decimal("100.02"), 1, 1, now + 10**9)
    late = [  # stamped a second and two seconds back, then a minute back
        Bar(b.bar_type, b.open, b.high, b.low, b.close, b.volume, now - k * 10**9)
        for k, b in zip((2, 1, 60), bars, strict=True)
    ]
    await feed_through(node, [("data.quotes.AAA", quote.ts_event, quote)])
    for bar in late:  # each after the quote was released: late in the queue too
        await feed_through(node, [("data.bars.AAA.1m", bar.ts_event, bar)])
    clock = await node.call(lambda e: e.now)
    seen = await node.call(lambda _: c.bars)
    stats = node.queue.stats()
    await node.stop()
    assert seen == 2
    assert got == [now - 2 * 10**9, now - 10**9]  # published with their own times
    assert clock >= now + 10**9  # the clock did not go back
    assert node.rejected + stats["dropped_late"] == 1  # the minute-old bar
    assert stats["delivered_late"] >= 2


async def test_a_vendors_delay_is_bounded() -> None:
    with pytest.raises(ConfigurationError, match="data_delay_s"):
        TradingNode(clock="live", data_delay_s=-1)


async def test_sigterm_stops_gracefully_and_a_second_signal_forces() -> None:
    node, statuses = make_node(shutdown_timeout_s=30)
    await node.add_strategy(Counter(strategy_id="c"))
    release = asyncio.Event()
    closing = asyncio.Event()
    closed: list[str] = []

    async def slow_close() -> None:
        closed.append("started")
        closing.set()
        await release.wait()  # a sink that never finishes flushing
        closed.append("finished")

    node.on_shutdown(slow_close, "slow sink")
    items = bar_items(5)
    await node.start(start_ts=items[0][1])
    runner = asyncio.get_running_loop().create_task(node.run())
    await asyncio.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)
    with anyio.fail_after(10):
        await closing.wait()
    assert node.state == "stopping"
    assert node.status("c") == "stopped"  # strategies stopped before the closers
    os.kill(os.getpid(), signal.SIGINT)  # the second signal: stop waiting
    with anyio.fail_after(10):
        await runner
    assert node.state == "stopped"
    assert closed == ["started"]
    assert statuses[-1].status == "stopped"


class Smooth(Strategy):
    """Buys once its 20-bar average is ready (``on_bar`` waits for it)."""

    def on_start(self) -> None:
        from pi5trading.indicators import SMA

        self.sma = self.indicator(SMA(20))
        self.first: int | None = None

    def on_bar(self, bar: Bar) -> None:
        if self.first is None:
            self.first = bar.ts_event
            self.buy(1)


async def test_a_restart_warms_indicators_up_without_trading_and_goes_on_numbering() -> None:
    node, _ = make_node()
    s = Smooth(strategy_id="smooth")
    await node.add_strategy(s)
    items = bar_items(30)
    history, live = items[:20], items[20:]
    await node.start(start_ts=history[-1][1])
    before = await node.call(lambda e: (e.portfolio.cash, e.now))
    await node.warm_up([bar for _, _, bar in history])
    after = await node.call(lambda e: (e.portfolio.cash, e.now, list(e.fills())))
    assert after == (*before, [])  # nothing traded, the clock did not move
    assert s.first is None  # no callback during the warm-up
    await node.resume_order_ids("smooth", 41)
    await feed_through(node, live)
    await node.stop()
    assert s.first == live[0][1]  # ready on the first live bar: no second warm-up
    assert [f.client_order_id for f in node.engine.fills()] == ["smooth-42"]
    with pytest.raises(InvalidStateError):
        await node.warm_up([])


async def test_replayed_fills_restore_cash_and_positions_to_the_digit() -> None:
    from .replay import Recorder

    items = bar_items(200, ("AAA",))
    first, _ = make_node(shutdown_orders="keep")
    await first.add_strategy(Recorder({"every": 7}, strategy_id="rec"))
    await first.start(start_ts=items[0][1])
    await feed_through(first, items)
    await first.stop()
    fills = list(first.engine.fills())
    assert len(fills) > 10

    second, _ = make_node()
    await second.add_strategy(Recorder({"every": 7}, strategy_id="rec"))
    await second.start(start_ts=items[-1][1])
    assert await second.restore_fills(fills) == len(fills)

    def account(e: Any) -> tuple[Any, ...]:
        p = e.portfolio
        pos = p.strategy_position("rec", "AAA")
        return (p.cash, p.realised_pnl, p.commissions, pos.quantity, pos.avg_px, pos.cost)

    restored = await second.call(account)
    assert list(await second.call(lambda e: e.fills())) == []  # not this run's fills
    await second.stop()
    assert restored == account(first.engine)
    fields = ("ts", "symbol", "client_order_id", "side", "quantity_raw", "price_raw")
    record = {k: getattr(fills[0], k) for k in (*fields, "commission_raw")}
    # A fill of a strategy no longer in the node (removed, not restarted) still books
    # into the account and under its id, for a strategy added later with that id.
    gone = type("Stored", (), {**record, "strategy_id": "nobody"})()
    third, _ = make_node()
    await third.add_strategy(Counter(strategy_id="c"))
    await third.start(start_ts=items[-1][1])
    assert await third.restore_fills([gone]) == 1
    held = await third.call(lambda e: e.portfolio.strategy_position("nobody", "AAA").quantity)
    assert held == Decimal(fills[0].quantity_raw) / 10**9
    bad = type("Stored", (), {**record, "strategy_id": "c", "symbol": "ZZZ"})()
    with pytest.raises(ValueError, match=r"fill #0 .*ZZZ"):
        await third.restore_fills([bad])
    await third.stop()


async def test_a_consumer_behind_holds_the_engine_and_commands_still_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(trading_node, "PAUSE_SAID_S", 0.05)
    caplog.set_level(logging.WARNING, logger="pi5trading.node")
    node, _ = make_node(batch_max=5)
    items = bar_items(50)
    held = True
    node.add_backpressure(lambda: False, "a sink keeping up")
    node.add_backpressure(lambda: held, "the test's sink")
    await node.add_strategy(Counter(strategy_id="c"))
    await node.start(start_ts=items[0][1] - 1)
    feed = ReplayFeed(items)
    await feed.start(node.queue)
    await asyncio.sleep(0.2)
    # At most the batch stepped before the first check; the rest waits in the queue.
    stepped = await node.call(lambda e: e.now)
    assert stepped < items[-1][1]
    assert len(node.queue) > 0
    assert node.waiting_for == "the test's sink"
    assert node.paused_s > 0.1  # counted while it waits, not only after
    held = False
    with anyio.fail_after(30):
        await feed.finished()
        await node.drain()
    assert await node.call(lambda e: e.now) == items[-1][1]
    assert node.waiting_for is None
    said = [r.getMessage() for r in caplog.records]
    assert said[0].startswith("trading paused: waiting for the test's sink to catch up")
    assert re.fullmatch(r"trading goes on after \d+\.\d s waiting", said[1]), said
    assert len(said) == 2
    await node.stop()
