"""Seeded synthetic bars for examples, tests and benchmarks.

Imports only NumPy, so the side-by-side benchmark loads this very file into the peer
engines' virtualenv: every engine sees the same bars, byte for byte.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

MINUTE_NS = 60 * 10**9
DEFAULT_START_NS = 1_704_187_800 * 10**9  # 2024-01-02 09:30 UTC


def random_walk_bars(
    n: int,
    *,
    seed: int = 42,
    start_price: float = 100.0,
    volatility: float = 0.0008,
    interval_ns: int = MINUTE_NS,
    start_ns: int = DEFAULT_START_NS,
    market_hours: bool = False,
) -> dict[str, npt.NDArray[Any]]:
    """``n`` bars of a geometric random walk, prices rounded to cents.

    Each bar's high/low enclose its open and close; volume is uniform in [100, 10000).
    Returns columns ``ts`` (int64 ns, the bar's close time), ``open``, ``high``, ``low``,
    ``close``, ``volume`` (float64). With ``market_hours`` the one-minute bars follow the
    US stock session (09:30-16:00 America/New_York, weekdays) from ``start_ns``'s date,
    so strategies and risk checks that know the session see realistic days.
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    rng = np.random.default_rng(seed)
    close = np.round(start_price * np.exp(np.cumsum(rng.normal(0.0, volatility, n))), 2)
    open_ = np.round(np.concatenate(([start_price], close[:-1])) + rng.normal(0, 0.01, n), 2)
    wick_hi = np.round(np.abs(rng.normal(0, 0.03, n)), 2)
    wick_lo = np.round(np.abs(rng.normal(0, 0.03, n)), 2)
    high = np.round(np.maximum(open_, close) + wick_hi, 2)
    low = np.round(np.maximum(np.minimum(open_, close) - wick_lo, 0.01), 2)
    volume = rng.integers(100, 10_000, n).astype(np.float64)
    if market_hours:
        ts = session_minutes(n, start_ns)
    else:
        ts = start_ns + np.arange(1, n + 1, dtype=np.int64) * interval_ns
    return {"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume}


def session_minutes(n: int, start_ns: int = DEFAULT_START_NS) -> npt.NDArray[np.int64]:
    """Close times (UTC ns) of ``n`` one-minute bars of US regular sessions (390 a day,
    weekdays, 09:30-16:00 New York time with its daylight-saving changes)."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    day = dt.datetime.fromtimestamp(start_ns / 1e9, tz=dt.UTC).astimezone(ny).date()
    minutes = np.arange(1, 391, dtype=np.int64) * MINUTE_NS
    out: list[npt.NDArray[np.int64]] = []
    have = 0
    while have < n:
        if day.weekday() < 5:
            open_ = dt.datetime.combine(day, dt.time(9, 30), tzinfo=ny)
            out.append(int(open_.timestamp()) * 10**9 + minutes)
            have += 390
        day += dt.timedelta(days=1)
    return np.concatenate(out)[:n]
