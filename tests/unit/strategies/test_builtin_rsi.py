"""RSI mean reversion against a series whose RSI(2) is computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from pi5trading.exceptions import ConfigurationError
from pi5trading.indicators import rsi
from pi5trading.strategies import RsiMeanReversion
from tests.unit.strategies.helpers import fills, frame, run

# RSI(2), Wilder: first averages = mean of the first two changes, then
# avg = (avg + change) / 2. Bar: close, change, avg gain, avg loss, RSI.
#   0  10
#   1  11    +1
#   2  12    +1     1         0         100
#   3  11    -1     0.5       0.5       50
#   4   9    -2     0.25      1.25      16.67   < 30: buy -> fills at bar 5's open
#   5   9.5  +0.5   0.375     0.625     37.5    hold
#   6  10.5  +1     0.6875    0.3125    68.75   >= 50: exit -> bar 7's open
#   7  10.4  -0.1   0.34375   0.20625   62.5    flat, not oversold
#   8   8    -2.4   0.171875  1.303125  11.65   buy -> bar 9's open
#   9   8.2  +0.2   0.1859    0.6516    22.20   hold
#  10   8.1  -0.1   0.0930    0.3758    19.83   hold (still open at the end)
CLOSES = [10, 11, 12, 11, 9, 9.5, 10.5, 10.4, 8, 8.2, 8.1]
HAND_RSI = [100, 50, 100 / 6, 37.5, 68.75, 62.5, 11.6517, 22.2015, 19.8333]


def test_hand_rsi_is_the_indicator() -> None:
    assert rsi(np.asarray(CLOSES, dtype=float), 2)[2:] == pytest.approx(HAND_RSI, abs=1e-3)


def test_buys_oversold_and_exits_at_50() -> None:
    f = frame(CLOSES)  # open = close - 0.25
    got = run(RsiMeanReversion({"period": 2, "quantity": 10}), f)
    assert got == fills((5, "buy", 9.25), (7, "sell", 10.15), (9, "buy", 7.95))


def test_this_close_fills_on_the_signal_bar() -> None:
    got = run(RsiMeanReversion({"period": 2, "quantity": 10}), frame(CLOSES), fill="this_close")
    assert got == fills((4, "buy", 9), (6, "sell", 10.5), (8, "buy", 8))


def test_without_the_50_exit_it_waits_for_overbought() -> None:
    # RSI never exceeds 70 after the first buy: one trade, never closed.
    strategy = RsiMeanReversion({"period": 2, "exit_level": None, "quantity": 10})
    assert run(strategy, frame(CLOSES)) == fills((5, "buy", 9.25))
    # ... and with overbought at 65 it leaves at bar 6 (68.75 > 65).
    strategy = RsiMeanReversion({"period": 2, "exit_level": None, "overbought": 65, "quantity": 10})
    assert run(strategy, frame(CLOSES)) == fills(
        (5, "buy", 9.25), (7, "sell", 10.15), (9, "buy", 7.95)
    )


def test_defaults_are_the_originals() -> None:
    cfg = RsiMeanReversion().config
    assert (cfg.period, cfg.oversold, cfg.overbought, cfg.exit_level) == (14, 30, 70, 50)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"period": 1}, "period"),
        ({"oversold": 80}, "oversold < overbought"),
        ({"exit_level": 20}, "exit_level"),
        ({"quantity": 0}, "quantity"),
    ],
)
def test_bad_parameters(params: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RsiMeanReversion(params)


def test_overbought_exit_is_strict() -> None:
    # Bar 6's RSI is exactly 68.75: with overbought 68.75 and no 50 exit, RSI must be
    # *above* it to exit, so the position stays open.
    strategy = RsiMeanReversion(
        {"period": 2, "exit_level": None, "overbought": 68.75, "quantity": 10}
    )
    assert run(strategy, frame(CLOSES)) == fills((5, "buy", 9.25))
