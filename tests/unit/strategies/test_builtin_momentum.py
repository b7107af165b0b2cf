"""Momentum (rate of change) against ROC values computed by hand."""

from __future__ import annotations

import pytest

from pi5trading.exceptions import ConfigurationError
from pi5trading.strategies import MomentumStrategy
from tests.unit.strategies.helpers import fills, frame, run

# period 2, entry above 5 %, exit below 0 %. ROC = 100 * (c[t] - c[t-2]) / c[t-2].
#  i  close  ROC                 action
#  2  100    0
#  3  104    4     (vs 100)      < 5: flat
#  4  106    6     (vs 100)      > 5: buy -> bar 5's open (106.75)
#  5  107    2.88  (vs 104)      hold
#  6  105   -0.94  (vs 106)      < 0: exit -> bar 7's open (103.75)
#  7  104   -2.80  (vs 107)      flat
#  8  112    6.67  (vs 105)      buy -> bar 9's open (112.75)
#  9  113
CLOSES = [100, 100, 100, 104, 106, 107, 105, 104, 112, 113]


def test_enters_above_and_exits_below_the_thresholds() -> None:
    strategy = MomentumStrategy(
        {"period": 2, "entry_threshold": 5, "exit_threshold": 0, "quantity": 10}
    )
    got = run(strategy, frame(CLOSES))
    assert got == fills((5, "buy", 106.75), (7, "sell", 103.75), (9, "buy", 112.75))


def test_higher_entry_threshold_waits() -> None:
    strategy = MomentumStrategy(
        {"period": 2, "entry_threshold": 6.5, "exit_threshold": 0, "quantity": 10}
    )
    assert run(strategy, frame(CLOSES)) == fills((9, "buy", 112.75))


def test_bad_parameters() -> None:
    with pytest.raises(ConfigurationError, match="exit_threshold <= entry_threshold"):
        MomentumStrategy({"entry_threshold": 1, "exit_threshold": 2})
    with pytest.raises(ConfigurationError, match="period"):
        MomentumStrategy({"period": 0})
