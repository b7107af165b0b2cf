"""Shared helpers of the strategy tests: hand-built bars and a no-cost run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from pi5trading.data import BarFrame
from pi5trading.engine import BacktestRunner
from pi5trading.strategies import Strategy
from tests.venues import fill_rows, no_cost_venue

MIN = 60 * 10**9
# 2024-01-02 14:31 UTC: an arbitrary start for series where the clock does not matter.
T0 = 1_704_205_860 * 10**9

Fill = tuple[int, str, Decimal, Decimal]
"""(bar index of the fill, side, quantity, price)."""


def frame(
    closes: Sequence[float],
    *,
    opens: Sequence[float] | None = None,
    highs: Sequence[float] | None = None,
    lows: Sequence[float] | None = None,
    volumes: Sequence[float] | None = None,
    ts: Sequence[int] | None = None,
    spread: float = 0.5,
) -> BarFrame:
    """Bars from closes; by default open = close - 0.25 and high/low ``spread`` around."""
    c = np.asarray(closes, dtype=np.float64)
    o = np.asarray(opens, dtype=np.float64) if opens is not None else c - 0.25
    h = np.asarray(highs, dtype=np.float64) if highs is not None else np.maximum(o, c) + spread
    lo = np.asarray(lows, dtype=np.float64) if lows is not None else np.minimum(o, c) - spread
    v = np.asarray(volumes, dtype=np.float64) if volumes is not None else np.full(len(c), 1000.0)
    t = (
        np.asarray(ts, dtype=np.int64)
        if ts is not None
        else T0 + MIN * np.arange(len(c), dtype=np.int64)
    )
    return BarFrame(t, o, h, lo, c, v, source="hand-built")


def run(
    strategy: Strategy, f: BarFrame, fill: str = "next_open", symbol: str = "AAA"
) -> list[Fill]:
    """Run ``strategy`` alone on ``f`` with no costs and no risk checks."""
    r = BacktestRunner(venue=no_cost_venue(fill), risk=None)
    r.add_bars(symbol, f)
    r.add_strategy(strategy)
    res = r.run()
    out: list[Fill] = []
    # The built-in strategies send market orders: with "next_open" they fill at the open of
    # the fill bar, stamped at its open time (one minute before its close); with
    # "this_close" at the signal bar's close, stamped at its close.
    shift = MIN if fill == "next_open" else 0
    for ts, _sid, _sym, _oid, side, qty, price, _comm in fill_rows(res.fills):
        i = int(np.searchsorted(f.ts, ts + shift))
        assert f.ts[i] == ts + shift
        out.append((i, side, Decimal(qty) / 10**9, Decimal(price) / 10**9))
    return out


def fills(*rows: tuple[int, str, float | str], qty: int | str = 10) -> list[Fill]:
    """Expected fills written compactly: (bar index, side, price)."""
    return [(i, s, Decimal(qty), Decimal(str(p))) for i, s, p in rows]


def utc_ns(local: str, utc_offset_hours: int) -> int:
    """``"2024-07-01 09:31"`` at a fixed UTC offset (written out, not looked up)."""
    dt = datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    return int((dt - timedelta(hours=utc_offset_hours)).timestamp()) * 10**9
