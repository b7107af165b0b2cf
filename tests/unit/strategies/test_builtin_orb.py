"""Opening-range breakout on two hand-built days: one in winter (EST, UTC-5), one in
summer (EDT, UTC-4), so a strategy reading UTC (or the wrong offset) gets other trades."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from pi5trading.data import BarFrame, random_walk_bars
from pi5trading.exceptions import ConfigurationError
from pi5trading.strategies import OpeningRangeBreakout
from tests.unit.strategies.helpers import Fill, fills, run, utc_ns

OHLC = tuple[float, float, float, float]


def day(
    date: str, offset: int, segments: list[tuple[str, OHLC]], special: dict[str, OHLC]
) -> list[tuple[float, ...]]:
    """One-minute bars closing 09:31 ... 16:00 New York time. ``segments``: from each
    "HH:MM" on, the bars are the given (open, high, low, close) unless ``special``
    names that minute."""
    rows: list[tuple[float, ...]] = []
    for m in range(9 * 60 + 31, 16 * 60 + 1):
        hhmm = f"{m // 60:02d}:{m % 60:02d}"
        bar = next(b for start, b in reversed(segments) if start <= hhmm)
        rows.append((utc_ns(f"{date} {hhmm}", offset), *special.get(hhmm, bar)))
    return rows


# Day 1, 2024-01-02 (EST). Flat at 100 (high 100.1, low 99.9). Range (09:31-09:45):
# high 100.1, low 99.9. 10:00 closes at 100.5 > 100.1: buy -> the 10:01 bar's open
# (100.5). Stop: max(99.9, 100.5 - 2 * ATR) with ATR ~0.2 -> 100.1; the closes stay at
# 100.5. The bar closing 15:55 ends the trade -> the 15:56 bar's open (100.7).
DAY1 = day(
    "2024-01-02",
    -5,
    [
        ("09:31", (100, 100.1, 99.9, 100)),
        ("10:01", (100.5, 100.6, 100.4, 100.5)),
        ("15:56", (100.7, 100.8, 100.6, 100.7)),
    ],
    {"10:00": (100, 100.6, 99.95, 100.5)},
)
# Day 2, 2024-07-01 (EDT). Range low 99.0 (the 09:35 bar), high 100.1. ATR(2) of the
# flat bars is 0.2; the 10:00 bar (true range 0.4) closes at 100.3: buy, ATR at the
# signal (0.2 + 0.4) / 2 = 0.3. Filled at the 10:01 open, 100.3. Stop = max(99.0,
# 100.3 - 2 * 0.3) = 99.7. 11:00 closes at 99.65 <= 99.7: exit -> 11:01's open (99.65).
# 12:00 breaks out again (close 101): no second trade on the same day.
DAY2 = day(
    "2024-07-01",
    -4,
    [
        ("09:31", (100, 100.1, 99.9, 100)),
        ("10:01", (100.3, 100.4, 100.2, 100.3)),
        ("11:01", (99.65, 99.75, 99.55, 99.65)),
        ("12:01", (101, 101.1, 100.9, 101)),
    ],
    {
        "09:35": (100, 100.1, 99.0, 100),
        "10:00": (100, 100.35, 99.95, 100.3),
        "11:00": (100.3, 100.4, 99.6, 99.65),
        "12:00": (99.65, 101.1, 99.55, 101),
    },
)
ROWS = DAY1 + DAY2
F = BarFrame(*np.asarray(ROWS, dtype=object).T.tolist(), np.full(len(ROWS), 1000.0))


def at(date: str, hhmm: str, offset: int) -> int:
    """Row index of the bar closing at ``hhmm`` New York time."""
    return int(np.searchsorted(F.ts, utc_ns(f"{date} {hhmm}", offset)))


def test_breakout_stop_and_time_exit() -> None:
    got = run(OpeningRangeBreakout({"atr_period": 2, "quantity": 10}), F)
    want: list[Fill] = fills(
        (at("2024-01-02", "10:01", -5), "buy", 100.5),
        (at("2024-01-02", "15:56", -5), "sell", 100.7),
        (at("2024-07-01", "10:01", -4), "buy", 100.3),
        (at("2024-07-01", "11:01", -4), "sell", 99.65),
    )
    assert got == want


def test_thirty_minute_range() -> None:
    # Range 09:31-10:00 includes the 10:00 bars. Day 1: its high is 100.6 and nothing
    # closes above it: no trade. Day 2: high 100.35; 12:00 closes at 101: buy at the
    # 12:01 open (101), stop max(99.0, 101 - 2 * (0.2 + 1.55) / 2) = 99.25, not hit;
    # out at the 15:56 open (101).
    got = run(OpeningRangeBreakout({"range_minutes": 30, "atr_period": 2, "quantity": 10}), F)
    assert got == fills(
        (at("2024-07-01", "12:01", -4), "buy", 101),
        (at("2024-07-01", "15:56", -4), "sell", 101),
    )


def test_range_low_caps_the_stop() -> None:
    # A wide ATR multiple puts entry - k * ATR far below: the range low (99.0) is the
    # stop on day 2, so the 11:00 close (99.65) does not stop out; 15:55 does.
    got = run(OpeningRangeBreakout({"atr_period": 2, "atr_multiplier": 10, "quantity": 10}), F)
    assert got[2:] == fills(
        (at("2024-07-01", "10:01", -4), "buy", 100.3),
        (at("2024-07-01", "15:56", -4), "sell", 101),
    )


def test_defaults_and_validation() -> None:
    cfg = OpeningRangeBreakout().config
    assert (cfg.range_minutes, cfg.atr_period, cfg.market_open, cfg.exit_time) == (
        15,
        14,
        "09:30",
        "15:55",
    )
    with pytest.raises(ConfigurationError, match="exit_time"):
        OpeningRangeBreakout({"exit_time": "9:40"})
    with pytest.raises(ConfigurationError, match="must be after the end of the range"):
        OpeningRangeBreakout({"exit_time": "09:40"})
    with pytest.raises(ConfigurationError, match="range_minutes"):
        OpeningRangeBreakout({"range_minutes": 0})


def test_properties_on_generated_sessions() -> None:
    ny = ZoneInfo("America/New_York")
    # 60 sessions from 2024-01-02, across the March daylight-saving change.
    f = BarFrame.from_columns(random_walk_bars(390 * 60, seed=5, market_hours=True), "gen")
    got = run(OpeningRangeBreakout({"range_minutes": 30, "quantity": 10}), f)
    local = [
        (datetime.fromtimestamp(int(f.ts[i]) / 1e9, tz=UTC).astimezone(ny), side)
        for i, side, _, _ in got
    ]
    buys = [t for t, side in local if side == "buy"]
    assert len(buys) > 20
    # At most one trade a day; entries filled after the 30-minute range (the bar after
    # the signal: 10:01 at the earliest) and before 15:56.
    assert max(Counter(t.date() for t in buys).values()) == 1
    assert all((10, 1) <= (t.hour, t.minute) <= (15, 55) for t in buys)
    # Every trade is closed the same day, at the latest by the bar after 15:55.
    for (t_in, s_in), (t_out, s_out) in zip(local[::2], local[1::2], strict=True):
        assert (s_in, s_out) == ("buy", "sell")
        assert t_out.date() == t_in.date()
        assert (t_out.hour, t_out.minute) <= (15, 56)
