"""VWAP bounce on hand-built one-minute bars (open = high = low = close, so the typical
price is the close and VWAP is the volume-weighted mean close of the New York day)."""

from __future__ import annotations

import pytest

from pi5trading.data import BarFrame
from pi5trading.exceptions import ConfigurationError
from pi5trading.strategies import VwapBounce
from tests.unit.strategies.helpers import fills, frame, run, utc_ns

# (New York time, price, volume). Day 1 is 2024-07-01 (EDT, UTC-4); day 2 2024-07-02.
# EMA(3) (alpha 0.5, seeded with the SMA of the first three closes).
BARS = [
    ("2024-07-01 09:31", 99.0, 10_000),  # 0  VWAP 99
    ("2024-07-01 09:32", 100.0, 100),  # 1  VWAP 99.0099
    # 2  VWAP (990000 + 10000 + 9920) / 10200 = 99.1098; EMA 99.4 > VWAP; close above
    #    VWAP by 0.091 % <= 0.3 %: buy -> bar 3's open
    ("2024-07-01 09:33", 99.2, 100),
    ("2024-07-01 09:34", 99.5, 100),  # 3  filled at 99.5; VWAP 99.0165, +0.49 %: hold
    ("2024-07-01 09:35", 100.6, 100),  # 4  profit 1.1 % >= 1 %: exit -> bar 5's open
    ("2024-07-01 09:36", 100.6, 100),  # 5  flat; 1.57 % above VWAP: no entry
    # Day 2: VWAP restarts at New York midnight.
    ("2024-07-02 09:31", 100.0, 100),  # 6  VWAP 100 = close: no entry
    # 7  VWAP 100.05, EMA 100.128: 0.05 % above: buy -> bar 8 (without the reset the
    #    VWAP would be 99.07 and the close 1.04 % above it: no entry)
    ("2024-07-02 09:32", 100.1, 100),
    ("2024-07-02 09:33", 99.9, 100),  # 8  filled at 99.9; VWAP 100: close below: exit
    ("2024-07-02 09:34", 99.9, 100),  # 9  exit filled at 99.9
]


def bars(rows: list[tuple[str, float, int]] = BARS) -> BarFrame:
    ts = [utc_ns(t, -4) for t, _, _ in rows]
    px = [p for _, p, _ in rows]
    return frame(px, opens=px, highs=px, lows=px, volumes=[v for *_, v in rows], ts=ts)


def test_bounce_entries_and_exits() -> None:
    got = run(VwapBounce({"ema_period": 3, "quantity": 10}), bars())
    assert got == fills((3, "buy", 99.5), (5, "sell", 100.6), (8, "buy", 99.9), (9, "sell", 99.9))


def test_hard_stop() -> None:
    # Bar 4 falls to 99.2: -0.30 % from the 99.5 entry, still above VWAP (99.018) and
    # 0.18 % from it. The default 0.5 % stop holds; a 0.2 % stop exits -> bar 5's open.
    f = bars([(t, 99.2 if i in (4, 5) else p, v) for i, (t, p, v) in enumerate(BARS[:6])])
    assert run(VwapBounce({"ema_period": 3, "quantity": 10}), f) == fills((3, "buy", 99.5))
    got = run(VwapBounce({"ema_period": 3, "stop_pct": 0.2, "quantity": 10}), f)
    assert got == fills((3, "buy", 99.5), (5, "sell", 99.2))


def test_stretched_too_far_above_vwap() -> None:
    # target 0.1 %: at bar 3 the close is 0.49 % above VWAP, more than 2 * 0.1 %: exit
    # -> bar 4's open (100.6), although the trade has made nothing yet.
    got = run(VwapBounce({"ema_period": 3, "target_pct": 0.1, "quantity": 10}), bars())
    assert got == fills((3, "buy", 99.5), (4, "sell", 100.6), (8, "buy", 99.9), (9, "sell", 99.9))


def test_target_too_far_is_not_an_entry() -> None:
    # tolerance 0.05 %: bar 2 is 0.091 % above VWAP: no entry; bar 7 (0.05 %) enters.
    got = run(VwapBounce({"ema_period": 3, "tolerance_pct": 0.05, "quantity": 10}), bars())
    assert got == fills((8, "buy", 99.9), (9, "sell", 99.9))


def test_defaults_are_the_originals() -> None:
    cfg = VwapBounce().config
    assert (cfg.tolerance_pct, cfg.target_pct, cfg.stop_pct, cfg.ema_period) == (
        0.3,
        1.0,
        0.5,
        20,
    )
    assert cfg.timezone == "America/New_York"
    with pytest.raises(ConfigurationError, match="timezone"):
        VwapBounce({"timezone": "Mars/Olympus"})
    with pytest.raises(ConfigurationError, match="target_pct"):
        VwapBounce({"target_pct": 0})
