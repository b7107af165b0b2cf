"""Donchian breakout against channels read off a hand-built table."""

from __future__ import annotations

import pytest

from pi5trading.exceptions import ConfigurationError
from pi5trading.strategies import DonchianBreakout
from tests.unit.strategies.helpers import fills, frame, run

# entry_period 3 (highs of the 3 bars before), exit_period 2 (lows of the 2 bars before).
#  i   high  low   close  previous 3-bar high / 2-bar low   action
#  0   11    9     10
#  1   12    10    11
#  2   11    9     10                                      channels ready: remember
#  3   13    11    12.5   12 (bars 0-2)                    12.5 > 12: buy -> bar 4 open
#  4   13    12    12.8   low 9 (bars 2-3)                 hold
#  5   13    11.5  12     low 11 (bars 3-4)                hold
#  6   12    10    10.5   low 11.5 (bars 4-5)              10.5 < 11.5: exit -> bar 7
#  7   11    10    10.5   high 13 (bars 4-6)               flat
#  8   14    10    13.5   high 13 (bars 5-7)               13.5 > 13: buy -> bar 9
#  9   14    13    13.8
# Bar 3's close (12.5) is below its own high (13): a channel that included the current
# bar would never buy here.
HIGHS = [11, 12, 11, 13, 13, 13, 12, 11, 14, 14]
LOWS = [9, 10, 9, 11, 12, 11.5, 10, 10, 10, 13]
CLOSES = [10, 11, 10, 12.5, 12.8, 12, 10.5, 10.5, 13.5, 13.8]
OPENS = [(h + lo) / 2 for h, lo in zip(HIGHS, LOWS, strict=True)]


def test_breakout_above_the_previous_high_and_exit_below_the_previous_low() -> None:
    f = frame(CLOSES, opens=OPENS, highs=HIGHS, lows=LOWS)
    got = run(DonchianBreakout({"entry_period": 3, "exit_period": 2, "quantity": 10}), f)
    assert got == fills((4, "buy", 12.5), (7, "sell", 10.5), (9, "buy", 13.5))


def test_warm_up_waits_for_the_longer_channel() -> None:
    # exit_period 4: both channels are ready at bar 3, which is remembered, not traded;
    # the first decision is bar 4, so the first entry is bar 8's breakout.
    f = frame(CLOSES, opens=OPENS, highs=HIGHS, lows=LOWS)
    got = run(DonchianBreakout({"entry_period": 3, "exit_period": 4, "quantity": 10}), f)
    assert got == fills((9, "buy", 13.5))


def test_defaults() -> None:
    cfg = DonchianBreakout().config
    assert (cfg.entry_period, cfg.exit_period) == (20, 10)
    with pytest.raises(ConfigurationError, match="entry_period"):
        DonchianBreakout({"entry_period": 0})
