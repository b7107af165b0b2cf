"""``on_bar`` is handed one ``Bar`` object reused from bar to bar while nothing else holds
it (a new object per bar was a tenth of a Python backtest's cost). A strategy that keeps a
bar (in a list, on itself, in a set) keeps it unchanged: the engine sees the extra
reference and hands the next bar a new object."""

from __future__ import annotations

import gc
import itertools
import weakref
from decimal import Decimal
from typing import Any

from pi5trading import _core
from pi5trading.data import BarFrame, random_walk_bars
from pi5trading.engine import BacktestRunner, us_equity
from pi5trading.model import Bar
from pi5trading.strategies.base import Strategy
from tests.venues import no_cost_venue

FRAME = BarFrame.from_columns(random_walk_bars(500, seed=7, volatility=0.002), "gen")
SCALE = Decimal(10) ** 9


def rows() -> list[tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]]:
    """Each bar of ``FRAME`` as ``(ts, open, high, low, close, volume)``, exact."""
    ts, o, h, lo, c, v = FRAME.raw_columns()
    d = lambda x: Decimal(int(x)) / SCALE  # noqa: E731
    return [(int(ts[i]), d(o[i]), d(h[i]), d(lo[i]), d(c[i]), d(v[i])) for i in range(len(FRAME))]


ROWS = rows()


def values(bar: Bar) -> tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]:
    return (
        bar.ts_event,
        bar.open.as_decimal(),
        bar.high.as_decimal(),
        bar.low.as_decimal(),
        bar.close.as_decimal(),
        bar.volume.as_decimal(),
    )


def backtest(strategy: Strategy) -> None:
    r = BacktestRunner(venue=no_cost_venue("next_open"), risk=None)
    r.add_bars("AAA", FRAME)
    r.add_strategy(strategy)
    r.run()


class KeepsEvery(Strategy):
    """Keeps every ``n``-th bar object and what each bar read when it was handed over."""

    warmup = True

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.seen: list[tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]] = []
        self.kept: list[Bar] = []
        self.ids: list[int] = []

    def on_bar(self, bar: Bar) -> None:
        self.seen.append(values(bar))
        self.ids.append(id(bar))
        if len(self.seen) % self.n == 0:
            self.kept.append(bar)


def test_bars_kept_in_a_list_keep_their_own_values() -> None:
    s = KeepsEvery(1)
    backtest(s)
    assert s.seen == ROWS
    assert [values(b) for b in s.kept] == ROWS
    assert len({id(b) for b in s.kept}) == len(ROWS)


def test_bars_kept_now_and_then_keep_their_values_and_the_others_are_reused() -> None:
    s = KeepsEvery(7)
    backtest(s)
    assert s.seen == ROWS
    assert [values(b) for b in s.kept] == ROWS[6::7]
    # The bars nobody kept were one object, reused: far fewer objects than bars.
    assert len(set(s.ids)) < len(ROWS) // 5


class KeepsTheLast(Strategy):
    """Compares each bar with the one before, kept on the strategy (a common pattern)."""

    warmup = True

    def on_start(self) -> None:
        self.last: Bar | None = None
        self.pairs: list[tuple[int, int]] = []

    def on_bar(self, bar: Bar) -> None:
        if self.last is not None:
            self.pairs.append((self.last.ts_event, bar.ts_event))
            assert self.last is not bar
        self.last = bar


def test_the_previous_bar_kept_on_the_strategy_is_still_the_previous_bar() -> None:
    s = KeepsTheLast()
    backtest(s)
    ts = [r[0] for r in ROWS]
    assert s.pairs == list(itertools.pairwise(ts))


class HashesBars(Strategy):
    """Puts bars in a set and a dict: their hashes must not change under them."""

    warmup = True

    def on_start(self) -> None:
        self.bars: set[Bar] = set()
        self.by_bar: dict[Bar, int] = {}

    def on_bar(self, bar: Bar) -> None:
        if bar.ts_event % 3 == 0:
            self.bars.add(bar)
        self.by_bar[bar] = bar.ts_event


def test_bars_in_sets_and_dicts_keep_their_hash() -> None:
    s = HashesBars()
    backtest(s)
    assert len(s.by_bar) == len(ROWS)
    assert all(s.by_bar[b] == b.ts_event for b in s.by_bar)
    assert all(b in s.by_bar for b in s.bars)


class CallableOnBar:
    """An ``on_bar`` that is no bound method (a callable object on the class)."""

    def __init__(self) -> None:
        self.kept: list[Bar] = []
        self.seen: list[int] = []

    def __call__(self, bar: Bar) -> None:
        self.seen.append(bar.ts_event)
        if len(self.seen) % 2:
            self.kept.append(bar)


def test_an_on_bar_that_is_no_method_gets_the_same_bars() -> None:
    handler = CallableOnBar()

    class Plain(Strategy):
        warmup = True
        on_bar = handler  # type: ignore[assignment]

    backtest(Plain())
    ts = [r[0] for r in ROWS]
    assert handler.seen == ts
    assert [b.ts_event for b in handler.kept] == ts[0::2]


def test_live_steps_keep_kept_bars_too() -> None:
    s = KeepsEvery(3)
    e = _core.Engine(_core.SimulatedVenue(starting_cash=Decimal(100_000)), None)
    e.add_instrument(us_equity("AAA"))
    s._attach(e, ("AAA",))
    given = [Bar("AAA-1m", o, h, lo, c, v, t) for t, o, h, lo, c, v in ROWS]
    e.start(given[0].ts_event)
    for b in given:
        e.step_bar(b)
    e.stop()
    assert s.seen == ROWS
    assert [values(b) for b in s.kept] == ROWS[2::3]
    # The engine's own object, not the one stepped (that stays the caller's).
    assert all(k is not g for k, g in zip(s.kept, given[2::3], strict=True))


def test_a_bar_kept_after_an_exception_keeps_its_values() -> None:
    class FailsOnce(KeepsEvery):
        def on_bar(self, bar: Bar) -> None:
            super().on_bar(bar)
            if len(self.seen) == 10:
                raise RuntimeError("boom")

    s = FailsOnce(1)
    e = _core.Engine(_core.SimulatedVenue(starting_cash=Decimal(100_000)), None)
    e.add_instrument(us_equity("AAA"))
    s._attach(e, ("AAA",))
    given = [Bar("AAA-1m", o, h, lo, c, v, t) for t, o, h, lo, c, v in ROWS[:20]]
    e.start(given[0].ts_event)
    for b in given:
        e.step_bar(b)
    failures: list[Any] = e.take_failures()
    assert len(failures) == 1
    assert [values(b) for b in s.kept] == ROWS[:10]


def test_a_live_engine_holding_the_reused_bar_is_still_freed() -> None:
    # The kept argument tuple holds the strategy: a cycle the engine's GC support must see.
    s = KeepsEvery(1000)
    e = _core.Engine(_core.SimulatedVenue(starting_cash=Decimal(100_000)), None)
    e.add_instrument(us_equity("AAA"))
    s._attach(e, ("AAA",))
    e.start(ROWS[0][0])
    for t, o, h, lo, c, v in ROWS[:5]:
        e.step_bar(Bar("AAA-1m", o, h, lo, c, v, t))
    refs = (weakref.ref(s), weakref.ref(e))
    del s, e
    gc.collect()
    assert [r() for r in refs] == [None, None]
