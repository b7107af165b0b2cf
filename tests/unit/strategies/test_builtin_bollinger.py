"""Bollinger reversion against bands computed by hand (period 3, k 1, population std)."""

from __future__ import annotations

import pytest

from pi5trading.exceptions import ConfigurationError
from pi5trading.strategies import BollingerReversion
from tests.unit.strategies.helpers import fills, frame, run

# Bar: close, window, middle, std, lower / upper, action (flat or long).
#  2  10    10 10 10       10       0      10 / 10        flat; 10 is not below 10
#  3   7    10 10 7         9       1.414  7.586 / 10.41  7 < lower: buy -> bar 4's open
#  4   8    10 7 8          8.333   1.247                 long; 8 < middle: hold
#  5   9    7 8 9           8       0.816                 9 >= middle: exit -> bar 6
#  6   9    8 9 9           8.667   0.471  8.195          flat; 9 not below
#  7   9    9 9 9           9       0      9              flat
#  8   8.5  9 9 8.5         8.833   0.236  8.598          8.5 < lower: buy -> bar 9
#  9   8.6  9 8.5 8.6       8.7                           8.6 < middle: hold
# 10   8.7  8.5 8.6 8.7     8.6                           8.7 >= middle: exit -> bar 11
CLOSES = [10, 10, 10, 7, 8, 9, 9, 9, 8.5, 8.6, 8.7, 8.7]


def test_buys_below_the_lower_band_and_exits_at_the_middle() -> None:
    got = run(BollingerReversion({"period": 3, "k": 1.0, "quantity": 10}), frame(CLOSES))
    # Fills at the next bar's open (close - 0.25).
    assert got == fills((4, "buy", 7.75), (6, "sell", 8.75), (9, "buy", 8.35), (11, "sell", 8.45))


def test_exit_at_the_upper_band() -> None:
    # Bar 5: upper = 8 + 0.816 = 8.816 < 9: exit there as well; bar 10: upper = 8.6 +
    # 0.0816 = 8.68 < 8.7: exit. Bar 9 (8.6 >= 8.7? no; > upper 8.7+0.04? no) holds.
    got = run(
        BollingerReversion({"period": 3, "k": 1.0, "exit_at": "upper", "quantity": 10}),
        frame(CLOSES),
    )
    assert got == fills((4, "buy", 7.75), (6, "sell", 8.75), (9, "buy", 8.35), (11, "sell", 8.45))


# Stop: 10 10 10 7 5 5. Bar 3 buys (7 < 7.586). Bar 4: window 10 7 5, middle 7.333,
# std 2.055, lower 5.278, upper 9.388, %B = (5 - 5.278) / 4.11 = -0.068.
STOP_CLOSES = [10, 10, 10, 7, 5, 5, 5]


def test_percent_b_stop() -> None:
    keep = run(BollingerReversion({"period": 3, "k": 1.0, "quantity": 10}), frame(STOP_CLOSES))
    assert keep == fills((4, "buy", 4.75))
    stop = BollingerReversion({"period": 3, "k": 1.0, "stop_percent_b": -0.05, "quantity": 10})
    assert run(stop, frame(STOP_CLOSES)) == fills((4, "buy", 4.75), (5, "sell", 4.75))
    tight = BollingerReversion({"period": 3, "k": 1.0, "stop_percent_b": -0.1, "quantity": 10})
    assert run(tight, frame(STOP_CLOSES)) == fills((4, "buy", 4.75))


# Squeeze: bar 2 closes below its middle (10 < 10.0067); bar 3 closes above its middle
# (10.03 > 10.0167) with a width 2 * 0.01247 / 10.0167 = 0.0025 < 0.02: buy -> bar 4.
# Bar 4: window 10 10.03 10.10, middle 10.0433, std 0.0419, upper 10.0852 < 10.10: exit.
SQUEEZE = [10, 10.02, 10.0, 10.03, 10.10, 10.10]


def test_squeeze_breakout_is_optional() -> None:
    plain = BollingerReversion({"period": 3, "k": 1.0, "quantity": 10})
    assert run(plain, frame(SQUEEZE, spread=0.01)) == []
    squeeze = BollingerReversion({"period": 3, "k": 1.0, "squeeze_bandwidth": 0.02, "quantity": 10})
    got = run(squeeze, frame(SQUEEZE, spread=0.01))
    assert got == fills((4, "buy", 9.85), (5, "sell", 9.85))
    narrow = BollingerReversion({"period": 3, "k": 1.0, "squeeze_bandwidth": 0.002, "quantity": 10})
    assert run(narrow, frame(SQUEEZE, spread=0.01)) == []


def test_defaults_are_the_originals() -> None:
    cfg = BollingerReversion().config
    assert (cfg.period, cfg.k) == (20, 2.0)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"period": 1}, "period"),
        ({"k": 0}, "k=0.0: out of range, allowed: 0 < k <= 10"),
        ({"stop_percent_b": 0.1}, "stop_percent_b"),
        ({"exit_at": "lower"}, "exit_at"),
        ({"squeeze_bandwidth": -1}, "squeeze_bandwidth"),
    ],
)
def test_bad_parameters(params: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        BollingerReversion(params)
