"""The shared data set of the side-by-side benchmark: seeded one-minute OHLCV bars.

Prices follow a geometric random walk rounded to cents; each bar's high/low enclose its
open and close. The same seed gives the same bars in every engine, byte for byte.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

MINUTE_NS = 60 * 10**9
START_NS = 1_704_187_800 * 10**9  # 2024-01-02 09:30 UTC


def generate(n: int, seed: int = 42) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = np.round(100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0008, n))), 2)
    open_ = np.round(np.concatenate(([100.0], close[:-1])) + rng.normal(0, 0.01, n), 2)
    wick_hi = np.round(np.abs(rng.normal(0, 0.03, n)), 2)
    wick_lo = np.round(np.abs(rng.normal(0, 0.03, n)), 2)
    high = np.maximum(open_, close) + wick_hi
    low = np.maximum(np.minimum(open_, close) - wick_lo, 0.01)
    volume = rng.integers(100, 10_000, n).astype(np.float64)
    ts = START_NS + np.arange(n, dtype=np.int64) * MINUTE_NS
    return {
        "ts": ts,
        "open": open_,
        "high": np.round(high, 2),
        "low": np.round(low, 2),
        "close": close,
        "volume": volume,
    }


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    np.savez(a.out, **generate(a.bars, a.seed))


if __name__ == "__main__":
    main()
