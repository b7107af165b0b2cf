"""The engine stepped from Python (what the trading node drives): the same fills as
``run`` whatever the batches, the outbox, refused events, failures kept per strategy."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pi5trading import _core
from pi5trading.data import BarFrame
from pi5trading.data.synthetic import random_walk_bars
from pi5trading.engine import us_equity
from pi5trading.events import EquitySample
from pi5trading.exceptions import InvalidInputError
from pi5trading.model import Bar
from pi5trading.strategies.base import Strategy
from pi5trading.strategies.sma_crossover import MovingAverageCrossover
from tests.proof import examples

FRAME = BarFrame(**random_walk_bars(600, seed=3, market_hours=True))
SCALE = Decimal(10) ** 9


def bars() -> list[Bar]:
    ts, o, h, lo, c, v = FRAME.raw_columns()
    d = lambda x: Decimal(int(x)) / SCALE  # noqa: E731
    return [
        Bar("AAA-1m", d(o[i]), d(h[i]), d(lo[i]), d(c[i]), d(v[i]), int(ts[i]))
        for i in range(len(FRAME))
    ]


BARS = bars()


class EveryTen(Strategy):
    warmup = True

    def on_start(self) -> None:
        self.n = 0

    def on_bar(self, bar: Bar) -> None:
        self.n += 1
        if self.n % 10 == 0:
            if self.is_flat():
                self.buy(5)
            else:
                self.close_position()


def engine(*strategies: Strategy) -> _core.Engine:
    e = _core.Engine(_core.SimulatedVenue(starting_cash=Decimal(100_000)), None)
    e.add_instrument(us_equity("AAA"))
    for s in strategies:
        s._attach(e, ("AAA",))
    return e


def backtest_fills() -> list[Any]:
    e = engine(MovingAverageCrossover({"fast": 5, "slow": 15}), EveryTen())
    ts, cols = FRAME.engine_columns()
    e.add_bars("AAA", "1m", ts, *cols)
    e.run()
    return list(e.fills())


RUN_FILLS = backtest_fills()


@settings(max_examples=examples(25), deadline=None)
@given(cuts=st.lists(st.integers(0, len(BARS)), max_size=12))
def test_any_batching_steps_to_the_fills_of_a_run(cuts: list[int]) -> None:
    e = engine(MovingAverageCrossover({"fast": 5, "slow": 15}), EveryTen())
    e.start(BARS[0].ts_event, outbox=True)
    events = [("data.bars.AAA.1m", b.ts_event, b) for b in BARS]
    edges = [0, *sorted(cuts), len(events)]
    for a, b in itertools.pairwise(edges):
        e.step_many(events[a:b])
    e.stop()
    assert len(RUN_FILLS) > 20
    assert list(e.fills()) == RUN_FILLS


def test_the_outbox_is_off_by_default_and_holds_everything_when_on() -> None:
    quiet = engine(EveryTen())
    quiet.start(BARS[0].ts_event)
    for b in BARS[:50]:
        quiet.step_bar(b)
    assert quiet.take_events() == []

    e = engine(EveryTen())
    e.start(BARS[0].ts_event, outbox=True)
    for b in BARS[:50]:
        e.step_bar(b)
    got = e.take_events()
    topics = [t for t, _ in got]
    assert topics.count("data.bars.AAA.1m") == 50
    assert "orders.filled" in topics
    assert "positions.AAA" in topics
    # Each bar comes before what it caused; equity only when the account changed.
    first_fill = topics.index("orders.filled")
    assert topics[first_fill - 1] == "data.bars.AAA.1m"
    samples = [m for t, m in got if t == "account.equity"]
    assert all(isinstance(s, EquitySample) for s in samples)
    assert len(samples) < 50
    assert all((a.cash, a.equity) != (b.cash, b.equity) for a, b in itertools.pairwise(samples))
    assert e.take_events() == []  # taken once


def test_refused_events_are_kept_not_published_and_do_not_stop_the_batch() -> None:
    e = engine(EveryTen())
    e.start(BARS[0].ts_event, outbox=True)
    stranger = Bar("ZZZ-1m", 1, 1, 1, 1, 1, BARS[1].ts_event)
    n = e.step_many(
        [
            ("data.bars.AAA.1m", 0, BARS[1]),
            ("data.bars.ZZZ.1m", 0, stranger),
            ("data.bars.AAA.1m", 0, BARS[0]),  # before the clock
            ("data.bars.AAA.1m", 0, BARS[2]),
        ]
    )
    assert n == 2
    refused = e.take_rejected()
    assert [t for t, _, _ in refused] == ["data.bars.ZZZ.1m", "data.bars.AAA.1m"]
    assert "not a registered instrument" in refused[0][2]
    assert "before the engine clock" in refused[1][2]
    assert [m for t, m in e.take_events() if t.startswith("data.")] == [BARS[1], BARS[2]]
    with pytest.raises(InvalidInputError, match="before the engine clock"):
        e.step_bar(BARS[0])


class Raiser(Strategy):
    warmup = True

    def on_bar(self, bar: Bar) -> None:
        raise KeyError("oops")


def test_a_live_failure_is_kept_per_strategy_and_a_backtest_step_raises() -> None:
    ok, bad = EveryTen(), Raiser()
    e = engine(bad, ok)
    e.start(BARS[0].ts_event)
    for b in BARS[:30]:
        e.step_bar(b)
    failures = e.take_failures()
    assert [(k, type(x)) for k, x in failures] == [(bad._k, KeyError)]
    assert not e.is_active(bad._k)
    assert ok.n == 30

    strict = engine(Raiser())
    strict.start(BARS[0].ts_event, isolate=False)
    with pytest.raises(KeyError, match="oops"):
        strict.step_bar(BARS[0])


def test_stepping_needs_a_started_running_engine() -> None:
    e = engine(EveryTen())
    with pytest.raises(RuntimeError, match="has not started"):
        e.step_bar(BARS[0])
    e.start(BARS[0].ts_event)
    with pytest.raises(RuntimeError, match="already started"):
        e.start()
    e.stop()
    with pytest.raises(RuntimeError, match="has stopped"):
        e.step_bar(BARS[1])


def test_publish_sends_every_event_in_order_and_each_batch_handler_one_list() -> None:
    from pi5trading.bus import Bus

    e = engine(EveryTen())
    e.start(BARS[0].ts_event, outbox=True)
    e.step_many([("data.bars.AAA.1m", b.ts_event, b) for b in BARS[:40]])
    assert e.take_events() != []
    e.step_many([("data.bars.AAA.1m", b.ts_event, b) for b in BARS[40:80]])
    bus = Bus()
    each: list[tuple[str, Any]] = []
    batches: list[list[Any]] = []
    orders: list[list[Any]] = []
    bus.subscribe(">", lambda m: each.append(m))
    bus.subscribe(">", batches.append, batch=True)
    bus.subscribe("orders.>", orders.append, batch=True)
    n = e.publish(bus)
    assert n == len(each) > 40
    assert len(batches) == 1
    assert batches[0] == each
    assert len(orders) == 1
    assert orders[0] == [m for m in each if type(m).__name__ == "OrderEvent"]
    assert e.publish(bus) == 0


def test_a_node_keeping_only_the_latest_records_trades_the_same() -> None:
    # keep_records (what the trading node passes): the fills are published; all kept for
    # a result, they would grow for as long as the node runs (issue 17, memory).
    e = engine(MovingAverageCrossover({"fast": 5, "slow": 15}), EveryTen())
    e.start(BARS[0].ts_event, outbox=True, keep_records=6)
    e.step_many([("data.bars.AAA.1m", b.ts_event, b) for b in BARS])
    published = [m for t, m in e.take_events() if t.startswith("orders.") and m.fill is not None]
    e.stop()
    assert [m.client_order_id for m in published] == [f.client_order_id for f in RUN_FILLS]
    kept = [f.client_order_id for f in e.fills()]
    assert 3 <= len(kept) <= 6
    assert kept == [f.client_order_id for f in RUN_FILLS][-len(kept) :]
