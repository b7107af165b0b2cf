"""Indicator throughput from Python: streaming calls, batch forms, and plain baselines.

Workload: a 1,000,000-point random walk of prices around 100.0 (10^-9 resolution) for the
batch forms, its first 100,000 points for per-call streaming. Each benchmark records
``updates_per_s`` in ``extra_info`` (inputs / mean time). Baselines measured in the same
run: a plain-Python deque SMA (streaming) and a NumPy cumsum SMA (batch, float, drifts).

Run: ``.venv/bin/pytest benches/bench_core_indicators.py --benchmark-only -p no:cacheprovider``
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import pi5trading.indicators as ind

pytestmark = pytest.mark.benchmark

SCALE = 10**9
N_BATCH = 1_000_000
N_STREAM = 100_000


def _walk(n: int) -> npt.NDArray[np.int64]:
    rng = np.random.default_rng(42)
    raw = 100 * SCALE + np.cumsum(rng.integers(-50_000_000, 50_000_001, size=n))
    return np.maximum(raw, 1).astype(np.int64)


RAW = _walk(N_BATCH)
PRICES = RAW / SCALE
STREAM_FLOATS: list[float] = PRICES[:N_STREAM].tolist()
STREAM_RAW: list[int] = RAW[:N_STREAM].tolist()


def _run(benchmark: Any, fn: Callable[[], object], n: int, rounds: int = 5) -> None:
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["updates_per_s"] = round(n / stats.stats.mean)


# ----- streaming: one Python call per input -----


def test_stream_sma_update_float(benchmark: Any) -> None:
    def run() -> float:
        s = ind.SMA(20)
        update = s.update
        for x in STREAM_FLOATS:
            update(x)
        return s.value

    _run(benchmark, run, N_STREAM)


def test_stream_sma_update_raw(benchmark: Any) -> None:
    def run() -> float:
        s = ind.SMA(20)
        update = s.update_raw
        for x in STREAM_RAW:
            update(x)
        return s.value

    _run(benchmark, run, N_STREAM)


def test_stream_sma_update_and_read(benchmark: Any) -> None:
    def run() -> float:
        s = ind.SMA(20)
        acc = 0.0
        for x in STREAM_FLOATS:
            s.update(x)
            if s.is_ready:
                acc += s.value
        return acc

    _run(benchmark, run, N_STREAM)


@pytest.mark.parametrize(
    "factory",
    [
        lambda: ind.EMA(20),
        lambda: ind.RSI(14),
        lambda: ind.MACD(12, 26, 9),
        lambda: ind.BollingerBands(20, 2.0),
        lambda: ind.Donchian(20),
    ],
    ids=["ema_20", "rsi_14", "macd", "bollinger_20", "donchian_20"],
)
def test_stream_update_float(benchmark: Any, factory: Callable[[], Any]) -> None:
    def run() -> float:
        obj = factory()
        update = obj.update
        for x in STREAM_FLOATS:
            update(x)
        return float(obj.value)

    _run(benchmark, run, N_STREAM)


def test_stream_baseline_python_deque_sma(benchmark: Any) -> None:
    """Plain Python: a deque and a running float sum (drifts; for scale only)."""

    def run() -> float:
        window: deque[float] = deque(maxlen=20)
        total = 0.0
        value = float("nan")
        for x in STREAM_FLOATS:
            if len(window) == 20:
                total -= window[0]
            window.append(x)
            total += x
            if len(window) == 20:
                value = total / 20
        return value

    _run(benchmark, run, N_STREAM)


# ----- batch over 1,000,000 points -----


@pytest.mark.parametrize(
    ("name", "fn"),
    [
        ("sma_20_f64", lambda: ind.sma(PRICES, 20)),
        ("sma_20_raw", lambda: ind.sma(RAW, 20, raw=True)),
        ("ema_20_f64", lambda: ind.ema(PRICES, 20)),
        ("rsi_14_f64", lambda: ind.rsi(PRICES, 14)),
        ("macd_f64", lambda: ind.macd(PRICES)),
        ("bollinger_20_f64", lambda: ind.bollinger(PRICES, 20)),
        ("donchian_20_raw", lambda: ind.donchian(RAW, RAW, 20, raw=True)),
        ("stddev_20_raw", lambda: ind.stddev(RAW, 20, raw=True)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_batch(benchmark: Any, name: str, fn: Callable[[], object]) -> None:
    _run(benchmark, fn, N_BATCH)


def test_batch_baseline_numpy_cumsum_sma(benchmark: Any) -> None:
    """Vectorised NumPy float SMA (cumsum; accumulates rounding error over the series)."""

    def run() -> npt.NDArray[np.float64]:
        c = np.cumsum(np.concatenate([[0.0], PRICES]))
        return (c[20:] - c[:-20]) / 20

    _run(benchmark, run, N_BATCH)
