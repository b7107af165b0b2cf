"""``TradeList``: the trades of a run as compact columns, each ``Trade`` built when read,
identical to the list the round trips make."""

from __future__ import annotations

import pytest

from pi5trading.analysis.trades import TradeList, trades_from_round_trips
from pi5trading.data import BarFrame, random_walk_bars
from pi5trading.engine import BacktestRunner
from pi5trading.strategies.sma_crossover import MovingAverageCrossover
from tests.venues import no_cost_venue


@pytest.fixture(scope="module")
def fills():  # type: ignore[no-untyped-def]
    runner = BacktestRunner(venue=no_cost_venue(), risk=None)
    runner.add_bars("AAA", BarFrame.from_columns(random_walk_bars(20_000, seed=9), "mem"))
    runner.add_strategy(MovingAverageCrossover({"fast": 5, "slow": 20, "quantity": 7}))
    return runner.run().fills


def test_the_list_reads_as_the_trades_it_was_made_from(fills) -> None:  # type: ignore[no-untyped-def]
    trips, _ = fills.round_trips()
    assert len(trips) > 100
    reference = trades_from_round_trips(trips)
    lazy = TradeList(trips)
    assert len(lazy) == len(reference)
    assert list(lazy) == reference
    assert lazy == reference  # equal to any sequence of the same trades
    assert lazy[0] == reference[0]
    assert lazy[-1] == reference[-1]
    assert lazy[10:20] == reference[10:20]
    assert lazy[::50] == reference[::50]
    with pytest.raises(IndexError):
        lazy[len(reference)]
    assert TradeList([]) == []
    assert lazy != reference[:-1]


def test_the_fill_log_is_a_read_only_sequence(fills) -> None:  # type: ignore[no-untyped-def]
    n = len(fills)
    assert n > 200
    everything = list(fills)
    assert [f.ts for f in everything] == sorted(f.ts for f in everything)
    assert fills[0] == everything[0]
    assert fills[-1] == everything[-1]
    assert fills[5:9] == everything[5:9]
    assert fills == everything
    assert fills != everything[:-1]
    with pytest.raises(IndexError):
        fills[n]
    with pytest.raises(TypeError):
        fills[0] = everything[1]  # type: ignore[index]
