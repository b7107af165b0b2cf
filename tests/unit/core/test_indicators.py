"""Indicators against independent reference computations written plainly in NumPy / Python.

Exact indicators (SMA, WMA, Bollinger middle, VWAP, momentum, Donchian) are checked for
equality with integer arithmetic on raw units (10^-9) and round-half-even; floating ones
(EMA, RSI, MACD, ATR, standard deviation, ROC) against textbook formulas to a tight
relative tolerance. Streaming and batch forms must agree bit for bit.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import pi5trading.indicators as ind
from pi5trading.exceptions import InvalidInputError

SCALE = 10**9
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


# ----- reference computations (independent of the implementation) -----


def round_half_even(num: int, den: int) -> int:
    """``num / den`` to the nearest integer, ties to even (Python's ``round`` on a Fraction)."""
    return round(Fraction(num, den))


def to_raw(x: float | Decimal) -> int:
    """A price on the 10^-9 grid from its exact value, ties to even."""
    return round(Fraction(x) * SCALE)


def raw_to_float(raw: Sequence[int | None]) -> F64:
    return np.array([math.nan if r is None else r / SCALE for r in raw], dtype=np.float64)


def ref_sma_raw(raw: Sequence[int], n: int) -> list[int | None]:
    return [
        None if i + 1 < n else round_half_even(sum(raw[i + 1 - n : i + 1]), n)
        for i in range(len(raw))
    ]


def ref_wma_raw(raw: Sequence[int], n: int) -> list[int | None]:
    den = n * (n + 1) // 2
    out: list[int | None] = []
    for i in range(len(raw)):
        if i + 1 < n:
            out.append(None)
            continue
        window = raw[i + 1 - n : i + 1]
        out.append(round_half_even(sum((k + 1) * v for k, v in enumerate(window)), den))
    return out


def ref_std(raw: Sequence[int], n: int, ddof: int) -> F64:
    """Exact variance from Python integers, one square root at the end."""
    out = np.full(len(raw), math.nan)
    for i in range(n - 1, len(raw)):
        w = raw[i + 1 - n : i + 1]
        m2 = n * sum(v * v for v in w) - sum(w) ** 2
        out[i] = math.sqrt(m2 / (n * (n - ddof))) / SCALE
    return out


def ref_ema(x: F64, n: int) -> F64:
    """Seeded with the (grid-rounded) SMA, then ``alpha*x + (1-alpha)*prev``."""
    alpha = 2.0 / (n + 1)
    out = np.full(len(x), math.nan)
    if len(x) < n:
        return out
    prev = round_half_even(sum(to_raw(v) for v in x[:n]), n) / SCALE
    out[n - 1] = prev
    for i in range(n, len(x)):
        prev = alpha * x[i] + (1 - alpha) * prev
        out[i] = prev
    return out


def ref_rsi(x: F64, n: int) -> F64:
    """Wilder's RSI in the TA-Lib form ``avg = (avg*(n-1) + g) / n``."""
    out = np.full(len(x), math.nan)
    if len(x) <= n:
        return out
    d = np.diff(x)
    gains, losses = np.where(d > 0, d, 0.0), np.where(d < 0, -d, 0.0)
    ag, al = gains[:n].mean(), losses[:n].mean()

    def rsi(g: float, lo: float) -> float:
        if g == 0 and lo == 0:
            return 50.0
        if lo == 0:
            return 100.0
        return 100.0 - 100.0 / (1.0 + g / lo)

    out[n] = rsi(ag, al)
    for i in range(n, len(d)):
        ag = (ag * (n - 1) + gains[i]) / n
        al = (al * (n - 1) + losses[i]) / n
        out[i + 1] = rsi(ag, al)
    return out


def ref_macd(x: F64, fast: int, slow: int, signal: int) -> tuple[F64, F64, F64]:
    line = ref_ema(x, fast) - ref_ema(x, slow)
    sig = np.full(len(x), math.nan)
    valid = np.flatnonzero(~np.isnan(line))
    if len(valid) >= signal:
        start = valid[0]
        alpha = 2.0 / (signal + 1)
        prev = float(line[start : start + signal].mean())
        sig[start + signal - 1] = prev
        for i in range(start + signal, len(x)):
            prev = alpha * line[i] + (1 - alpha) * prev
            sig[i] = prev
    line_out = line.copy()
    return line_out, sig, line - sig


def ref_atr(h: F64, lo: F64, c: F64, n: int) -> F64:
    prev_c = np.concatenate([[math.nan], c[:-1]])
    tr = np.maximum.reduce([h - lo, np.abs(h - prev_c), np.abs(lo - prev_c)])
    tr[0] = h[0] - lo[0]
    out = np.full(len(h), math.nan)
    if len(h) < n:
        return out
    atr = tr[:n].mean()
    out[n - 1] = atr
    for i in range(n, len(h)):
        atr = (atr * (n - 1) + tr[i]) / n
        out[i] = atr
    return out


def ref_vwap_raw(
    h: Sequence[int],
    lo: Sequence[int],
    c: Sequence[int],
    v: Sequence[int],
    sessions: Sequence[int] | None = None,
) -> list[int | None]:
    out: list[int | None] = []
    pv = vol = 0
    current = None
    for i in range(len(h)):
        if sessions is not None and sessions[i] != current:
            current, pv, vol = sessions[i], 0, 0
        pv += (h[i] + lo[i] + c[i]) * v[i]
        vol += v[i]
        out.append(round_half_even(pv, 3 * vol) if vol > 0 else None)
    return out


def ref_donchian_raw(h: I64, lo: I64, n: int) -> tuple[I64, I64]:
    return sliding_window_view(h, n).max(axis=1), sliding_window_view(lo, n).min(axis=1)


# ----- helpers -----


def random_walk(rng: np.random.Generator, size: int, start: float = 100.0) -> I64:
    """Raw prices of a positive random walk with 10^-9 resolution."""
    steps = rng.integers(-50_000_000, 50_000_001, size=size)
    raw: I64 = (int(start * SCALE) + np.cumsum(steps)).astype(np.int64)
    return np.maximum(raw, 1)


def bars(rng: np.random.Generator, size: int) -> tuple[I64, I64, I64, I64]:
    close = random_walk(rng, size)
    high = close + rng.integers(0, 500_000_000, size=size)
    low = np.maximum(close - rng.integers(0, 500_000_000, size=size), 1)
    volume = rng.integers(0, 10_000 * SCALE, size=size)
    return high, low, close, volume


def assert_same(a: F64, b: F64) -> None:
    """Bitwise equality, NaNs included."""
    assert a.shape == b.shape
    assert np.array_equal(a.view(np.int64), b.view(np.int64)), np.flatnonzero(a != b)[:5]


def stream(factory: Callable[[], object], raw: I64, attr: str = "value") -> F64:
    obj = factory()
    out = np.empty(len(raw))
    for i, r in enumerate(raw.tolist()):
        obj.update_raw(r)  # type: ignore[attr-defined]
        out[i] = getattr(obj, attr)
    return out


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261124)


# ----- exact indicators -----


@pytest.mark.parametrize("period", [1, 2, 3, 10, 50])
def test_sma_is_exact_window_mean(rng: np.random.Generator, period: int) -> None:
    raw = random_walk(rng, 2_000)
    want = raw_to_float(ref_sma_raw(raw.tolist(), period))
    got = ind.sma(raw, period, raw=True)
    assert_same(got, want)
    assert_same(ind.sma(raw / SCALE, period), want)  # float prices round-trip to the grid
    assert_same(stream(lambda: ind.SMA(period), raw), want)
    s = ind.SMA(period)
    for r in raw[:period].tolist():
        assert s.value_raw is None
        s.update_raw(r)
    assert s.value_raw == ref_sma_raw(raw[:period].tolist(), period)[-1]


@pytest.mark.parametrize("period", [1, 2, 7, 30])
def test_wma_is_exact(rng: np.random.Generator, period: int) -> None:
    raw = random_walk(rng, 1_000)
    want = raw_to_float(ref_wma_raw(raw.tolist(), period))
    assert_same(ind.wma(raw, period, raw=True), want)
    assert_same(stream(lambda: ind.WMA(period), raw), want)


def test_momentum_and_roc(rng: np.random.Generator) -> None:
    raw = random_walk(rng, 500)
    n = 12
    diff = np.full(len(raw), math.nan)
    diff[n:] = (raw[n:] - raw[:-n]) / SCALE
    assert_same(ind.momentum(raw, n, raw=True), diff)
    roc = np.full(len(raw), math.nan)
    roc[n:] = 100.0 * ((raw[n:] - raw[:-n]) / raw[:-n])
    np.testing.assert_allclose(ind.roc(raw, n, raw=True), roc, rtol=1e-14, equal_nan=True)
    m = ind.Momentum(n)
    for r in raw.tolist():
        m.update_raw(r)
    assert m.value_raw == int(raw[-1] - raw[-1 - n])


@pytest.mark.parametrize("period", [1, 5, 20])
def test_donchian_matches_rolling_max_min(rng: np.random.Generator, period: int) -> None:
    high, low, _, _ = bars(rng, 1_000)
    upper, lower = ref_donchian_raw(high, low, period)
    middle = [round_half_even(int(u) + int(lw), 2) for u, lw in zip(upper, lower, strict=True)]
    pad = [None] * (period - 1)
    got_u, got_m, got_l = ind.donchian(high, low, period, raw=True)
    assert_same(got_u, raw_to_float(pad + upper.tolist()))
    assert_same(got_l, raw_to_float(pad + lower.tolist()))
    assert_same(got_m, raw_to_float(pad + middle))
    d = ind.Donchian(period)
    for h, lw in zip(high.tolist(), low.tolist(), strict=True):
        d.update_bar_raw(h, lw)
    assert (d.upper_raw, d.middle_raw, d.lower_raw) == (upper[-1], middle[-1], lower[-1])


def test_vwap_exact_with_and_without_sessions(rng: np.random.Generator) -> None:
    high, low, close, volume = bars(rng, 600)
    volume[:3] = 0  # not ready until some volume has traded
    hl, ll, cl, vl = (a.tolist() for a in (high, low, close, volume))
    want = raw_to_float(ref_vwap_raw(hl, ll, cl, vl))
    assert_same(ind.vwap(high, low, close, volume, raw=True), want)
    assert math.isnan(want[0])
    assert math.isnan(want[2])

    minute, day = 60 * SCALE, 86_400 * SCALE
    ts = (1_700_000_000 * SCALE + np.arange(len(high)) * 7 * minute).astype(np.int64)
    offset = -5 * 3_600 * SCALE  # sessions start at 19:00 UTC
    sessions = [(t - offset) // day for t in ts.tolist()]
    want_s = raw_to_float(ref_vwap_raw(hl, ll, cl, vl, sessions))
    got = ind.vwap(high, low, close, volume, ts_ns=ts, session_ns=day, offset_ns=offset, raw=True)
    assert_same(got, want_s)
    assert len(set(sessions)) > 1
    v = ind.VWAP(session_ns=day, offset_ns=offset)
    for i in range(len(hl)):
        v.update_bar_raw(hl[i], ll[i], cl[i], vl[i], int(ts[i]))
    assert v.value_raw == ref_vwap_raw(hl, ll, cl, vl, sessions)[-1]


# ----- floating indicators -----


@pytest.mark.parametrize("period", [1, 2, 10, 26])
def test_ema_against_textbook_form(rng: np.random.Generator, period: int) -> None:
    raw = random_walk(rng, 3_000)
    x = raw / SCALE
    np.testing.assert_allclose(ind.ema(x, period), ref_ema(x, period), rtol=1e-12, equal_nan=True)
    assert_same(stream(lambda: ind.EMA(period), raw), ind.ema(raw, period, raw=True))


@pytest.mark.parametrize("period", [2, 14, 30])
def test_rsi_against_talib_form(rng: np.random.Generator, period: int) -> None:
    raw = random_walk(rng, 3_000)
    x = raw / SCALE
    got = ind.rsi(x, period)
    np.testing.assert_allclose(got, ref_rsi(x, period), rtol=1e-9, atol=1e-9, equal_nan=True)
    assert_same(stream(lambda: ind.RSI(period), raw), got)


def test_macd_against_reference_with_negative_lines(rng: np.random.Generator) -> None:
    # A falling series: the MACD line is negative and must still feed the signal EMA.
    raw = random_walk(rng, 2_000)[::-1].copy() - np.arange(2_000) * 10_000_000
    raw = np.maximum(raw, 1)
    x = raw / SCALE
    line, sig, hist = ind.macd(x, 12, 26, 9)
    rl, rs, rh = ref_macd(x, 12, 26, 9)
    for got, want in ((line, rl), (sig, rs), (hist, rh)):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10, equal_nan=True)
    assert np.nanmean(sig) < 0
    m = ind.MACD(12, 26, 9)
    lines, signals, hists = [], [], []
    for r in raw.tolist():
        m.update_raw(r)
        lines.append(m.line)
        signals.append(m.signal)
        hists.append(m.histogram)
    assert_same(np.array(lines), line)
    assert_same(np.array(signals), sig)
    assert_same(np.array(hists), hist)


@pytest.mark.parametrize("ddof", [0, 1])
def test_stddev_exact_numerator_and_numpy(rng: np.random.Generator, ddof: int) -> None:
    raw = random_walk(rng, 800)
    n = 20
    got = ind.stddev(raw, n, ddof, raw=True)
    np.testing.assert_allclose(got, ref_std(raw.tolist(), n, ddof), rtol=1e-14, equal_nan=True)
    windows = sliding_window_view(raw / SCALE, n)
    np.testing.assert_allclose(got[n - 1 :], windows.std(axis=1, ddof=ddof), rtol=1e-7)
    assert_same(stream(lambda: ind.StdDev(n, ddof), raw), got)


def test_bollinger_against_numpy(rng: np.random.Generator) -> None:
    raw = random_walk(rng, 1_000)
    n, k = 20, 2.0
    middle, upper, lower, pct_b, bandwidth = ind.bollinger(raw, n, k, raw=True)
    want_mid = raw_to_float(ref_sma_raw(raw.tolist(), n))
    assert_same(middle, want_mid)
    sigma = ref_std(raw.tolist(), n, 0)
    np.testing.assert_allclose(upper, want_mid + k * sigma, rtol=1e-13, equal_nan=True)
    np.testing.assert_allclose(lower, want_mid - k * sigma, rtol=1e-13, equal_nan=True)
    x = raw / SCALE
    np.testing.assert_allclose(
        pct_b, (x - (want_mid - k * sigma)) / (2 * k * sigma), rtol=1e-6, equal_nan=True
    )
    np.testing.assert_allclose(bandwidth, 2 * k * sigma / want_mid, rtol=1e-12, equal_nan=True)
    b = ind.BollingerBands(n, k)
    for r in raw.tolist():
        b.update_raw(r)
    assert (b.middle, b.upper, b.lower, b.percent_b, b.bandwidth) == (
        middle[-1],
        upper[-1],
        lower[-1],
        pct_b[-1],
        bandwidth[-1],
    )
    assert b.middle_raw == ref_sma_raw(raw.tolist(), n)[-1]


@pytest.mark.parametrize("period", [1, 14])
def test_atr_against_reference(rng: np.random.Generator, period: int) -> None:
    high, low, close, _ = bars(rng, 1_500)
    got = ind.atr(high / SCALE, low / SCALE, close / SCALE, period)
    want = ref_atr(high / SCALE, low / SCALE, close / SCALE, period)
    np.testing.assert_allclose(got, want, rtol=1e-9, equal_nan=True)
    a = ind.ATR(period)
    out = []
    for h, lw, c in zip(high.tolist(), low.tolist(), close.tolist(), strict=True):
        a.update_bar_raw(h, lw, c)
        out.append(a.value)
    assert_same(np.array(out), got)


# ----- edge cases -----


def test_constant_series() -> None:
    c = 123.456789012
    x = np.full(500, c)
    for out in (ind.sma(x, 20), ind.wma(x, 20), ind.ema(x, 20), ind.bollinger(x, 20)[0]):
        assert np.all(out[19:] == c)
    assert np.all(ind.stddev(x, 20)[19:] == 0.0)
    assert np.all(ind.rsi(x, 14)[14:] == 50.0)  # flat: neutral, no re-seeding
    _, upper, lower, pct_b, bandwidth = ind.bollinger(x, 20)
    assert np.all(upper[19:] == c)
    assert np.all(lower[19:] == c)
    assert np.all(pct_b[19:] == 0.5)
    assert np.all(bandwidth[19:] == 0.0)
    assert np.all(ind.atr(x, x, x, 14)[13:] == 0.0)
    line, _sig, hist = ind.macd(x)
    assert np.all(line[25:] == 0.0)
    assert np.all(hist[33:] == 0.0)


def test_gapped_series(rng: np.random.Generator) -> None:
    """Price gaps (jumps of up to ±40 % between bars, flat stretches in between)."""
    levels = rng.uniform(0.6, 1.4, size=40).cumprod() * 100.0
    x = np.repeat(levels, rng.integers(1, 30, size=40))
    raw = [to_raw(float(v)) for v in x]
    xr = np.array(raw, dtype=np.int64) / SCALE
    for n in (3, 14):
        assert_same(ind.sma(x, n), raw_to_float(ref_sma_raw(raw, n)))
        assert_same(ind.wma(x, n), raw_to_float(ref_wma_raw(raw, n)))
        np.testing.assert_allclose(ind.stddev(x, n), ref_std(raw, n, 0), rtol=1e-13, equal_nan=True)
        np.testing.assert_allclose(ind.ema(x, n), ref_ema(xr, n), rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(
            ind.rsi(x, n), ref_rsi(xr, n), rtol=1e-9, atol=1e-9, equal_nan=True
        )
        # On the grid already, so the reference sees exactly the engine's inputs.
        high = np.array([to_raw(float(v)) for v in xr * 1.01]) / SCALE
        low = np.array([to_raw(float(v)) for v in xr * 0.99]) / SCALE
        np.testing.assert_allclose(
            ind.atr(high, low, xr, n), ref_atr(high, low, xr, n), rtol=1e-9, equal_nan=True
        )


def test_rsi_after_flat_stretch_keeps_smoothing() -> None:
    # The original system re-seeded RSI whenever both averages were exactly 0.
    x = np.array([10.0] * 20 + [13.0, 10.0])
    got = ind.rsi(x, 3)
    np.testing.assert_allclose(got, ref_rsi(x, 3), rtol=1e-12, equal_nan=True)
    assert got[20] == 100.0
    assert abs(got[21] - 40.0) < 1e-12


@pytest.mark.parametrize(
    ("name", "factory", "ready_after"),
    [
        ("sma", lambda: ind.SMA(5), 5),
        ("ema", lambda: ind.EMA(5), 5),
        ("wma", lambda: ind.WMA(5), 5),
        ("rsi", lambda: ind.RSI(5), 6),
        ("roc", lambda: ind.ROC(5), 6),
        ("momentum", lambda: ind.Momentum(5), 6),
        ("stddev", lambda: ind.StdDev(5), 5),
        ("bollinger", lambda: ind.BollingerBands(5), 5),
        ("macd", lambda: ind.MACD(2, 5, 3), 7),
        ("donchian", lambda: ind.Donchian(5), 5),
    ],
)
def test_warm_up_boundaries(name: str, factory: Callable[[], object], ready_after: int) -> None:
    obj = factory()
    for i in range(1, ready_after + 3):
        obj.update(100.0 + i % 3)  # type: ignore[attr-defined]
        ready = obj.is_ready  # type: ignore[attr-defined]
        assert ready == (i >= ready_after), (name, i)
        assert math.isnan(obj.value) != ready  # type: ignore[attr-defined]
        assert obj.count == i  # type: ignore[attr-defined]
    obj.reset()  # type: ignore[attr-defined]
    assert not obj.is_ready
    assert obj.count == 0
    assert math.isnan(obj.value)  # type: ignore[attr-defined]


def test_batch_warm_up_is_nan() -> None:
    x = np.linspace(100, 110, 60)
    assert np.isnan(ind.sma(x, 10)[:9]).all()
    assert not np.isnan(ind.sma(x, 10)[9:]).any()
    assert np.isnan(ind.rsi(x, 14)[:14]).all()
    assert not np.isnan(ind.rsi(x, 14)[14:]).any()
    line, sig, _ = ind.macd(x, 12, 26, 9)
    assert np.isnan(line[:25]).all()
    assert not np.isnan(line[25:]).any()
    assert np.isnan(sig[:33]).all()
    assert not np.isnan(sig[33:]).any()
    assert ind.sma(np.array([], dtype=np.float64), 3).shape == (0,)
    assert np.isnan(ind.sma(x[:2], 3)).all()


def test_million_points_no_drift() -> None:
    rng = np.random.default_rng(7)
    raw = random_walk(rng, 1_000_000)
    n = 50
    csum = np.concatenate([[0], np.cumsum(raw)])  # exact: < 2^63 at these magnitudes
    sums = csum[n:] - csum[:-n]
    q, r = np.divmod(sums, n)
    up = (2 * r > n) | ((2 * r == n) & (q % 2 == 1))
    want = np.concatenate([np.full(n - 1, math.nan), (q + up) / SCALE])
    got = ind.sma(raw, n, raw=True)
    assert_same(got, want)
    # The same window seen after a million updates equals a fresh SMA over that window.
    fresh = ind.SMA(n)
    for v in raw[-n:].tolist():
        fresh.update_raw(v)
    assert fresh.value == got[-1]
    # Two averages over equal windows compare equal: a crossover never fires on noise.
    shifted = ind.sma(np.concatenate([raw[-3 * n :], raw[-n:]]), n, raw=True)
    assert shifted[-1] == got[-1]


@pytest.mark.parametrize("price", [1e-9, 3e-9, 0.5e-9, 2.5e-9, 1e-7])
def test_tiny_prices(price: float) -> None:
    x = np.array([price, price * 2, price * 3, price * 4])
    raw = [to_raw(float(v)) for v in x]
    assert_same(ind.sma(x, 2), raw_to_float(ref_sma_raw(raw, 2)))


def test_huge_prices() -> None:
    raw = np.array([9 * 10**18, 9 * 10**18 - 1, 9 * 10**18 - 3, 8 * 10**18], dtype=np.int64)
    assert_same(ind.sma(raw, 2, raw=True), raw_to_float(ref_sma_raw(raw.tolist(), 2)))
    upper, _, lower = ind.donchian(raw, raw, 3, raw=True)
    assert upper[-1] == 9 * 10**18 / SCALE
    assert lower[-1] == 8 * 10**18 / SCALE
    big = np.array([1e8, 1e8 + 1e-6, 1e8 - 1e-6, 1e8])  # 10^17 raw, sums of squares ~10^35
    sd = ind.stddev(big, 4)
    raw_big = [to_raw(float(v)) for v in big]
    np.testing.assert_allclose(sd[-1], ref_std(raw_big, 4, 0)[-1], rtol=1e-12)


def test_float_inputs_round_half_even_from_exact_value() -> None:
    for x in [0.1, 1 / 1024, 3 / 1024, -3 / 1024, 123.4567890125, 2.5e-9, 1e9, -7.000000000499999]:
        s = ind.SMA(1)
        s.update(x)
        assert s.value_raw == to_raw(x), x
    s = ind.SMA(1)
    s.update(Decimal("1.0000000025"))  # tie at 10^-9: to even
    assert s.value_raw == 1_000_000_002
    s.update(Decimal("-1.0000000035"))
    assert s.value_raw == -1_000_000_004
    s.update(7)  # int = whole price units
    assert s.value_raw == 7 * SCALE
    s.update(np.float32(0.25))
    assert s.value_raw == 250_000_000


def test_engine_types_are_taken_exactly() -> None:
    from pi5trading.model import Price, Quantity

    s = ind.SMA(2)
    s.update(Price("101.123456789"))
    s.update(Price("0.000000002"))
    assert s.value_raw == round(Fraction(101_123_456_791, 2))
    v = ind.VWAP()
    v.update_bar(Price("2"), Price("1"), Price("1.5"), Quantity("0.000000003"))
    assert v.value_raw == 1_500_000_000


def test_invalid_input_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="period"):
        ind.SMA(0)
    with pytest.raises(ValueError, match="fast"):
        ind.MACD(26, 12, 9)
    with pytest.raises(InvalidInputError, match="ddof"):
        ind.StdDev(5, ddof=2)
    with pytest.raises(InvalidInputError, match="index 1"):
        ind.sma(np.array([1.0, math.nan, 2.0]), 2)
    with pytest.raises(InvalidInputError, match="finite"):
        ind.EMA(3).update(math.inf)
    with pytest.raises(InvalidInputError, match="high"):
        ind.ATR(3).update_bar(1.0, 2.0, 1.5)
    with pytest.raises(InvalidInputError, match="volume"):
        ind.VWAP().update_bar(2.0, 1.0, 1.5, -1.0)
    with pytest.raises(InvalidInputError, match="low"):
        ind.atr(np.ones(3), np.ones(2), np.ones(3), 2)
    with pytest.raises(InvalidInputError, match="index 2"):
        ind.donchian(np.array([2.0, 2.0, 1.0]), np.array([1.0, 1.0, 1.5]), 2)
    with pytest.raises(TypeError, match="int64"):
        ind.sma(np.ones(3), 2, raw=True)
    with pytest.raises(InvalidInputError, match="session_ns needs timestamps"):
        ind.vwap(np.ones(3), np.ones(3), np.ones(3), np.ones(3), session_ns=10)


def test_batch_accepts_sequences_and_strided_arrays(rng: np.random.Generator) -> None:
    raw = random_walk(rng, 200)
    x = raw / SCALE
    want = ind.sma(x, 5)
    assert_same(ind.sma(x.tolist(), 5), want)
    assert_same(ind.sma(np.ascontiguousarray(x[::2]), 5), ind.sma(x[::2], 5))
    assert_same(
        ind.sma(raw[::2], 5, raw=True), ind.sma(np.ascontiguousarray(raw[::2]), 5, raw=True)
    )
    assert_same(
        ind.sma(x.astype(np.float32).astype(np.float64), 5), ind.sma(x.astype(np.float32), 5)
    )


def test_repr_and_properties() -> None:
    s = ind.SMA(2)
    assert repr(s) == "SMA(count=0, is_ready=False, value=nan)"
    s.update(1.0)
    s.update(2.0)
    assert repr(s) == "SMA(count=2, is_ready=True, value=1.5)"
    assert s.period == 2
    assert ind.EMA(9).alpha == 0.2
    m = ind.MACD()
    assert (m.fast_period, m.slow_period, m.signal_period) == (12, 26, 9)
    assert ind.BollingerBands().k == 2.0
    assert ind.VWAP(session_ns=5).session_ns == 5
    assert ind.StdDev(4, ddof=1).ddof == 1
    assert set(ind.STREAMING) >= {ind.SMA, ind.Donchian}


def test_batch_calls_release_their_inputs() -> None:
    """No reference leaked across the FFI, and the read-only borrow ends with the call."""
    x = np.linspace(100.0, 101.0, 1_000)
    raw = (x * SCALE).astype(np.int64)
    before = (sys.getrefcount(x), sys.getrefcount(raw))
    for _ in range(200):
        ind.sma(x, 5)
        ind.bollinger(x, 5)
        ind.donchian(raw, raw, 5, raw=True)
        ind.vwap(x, x, x, x, ts_ns=raw, session_ns=10**9)
    assert (sys.getrefcount(x), sys.getrefcount(raw)) == before
    x[0] = 1.0  # writable again once the call returned
    assert x.flags.writeable
    out = ind.sma(x, 5)
    assert out.flags.owndata or out.base is not None
    assert sys.getrefcount(out) == 2  # only `out` and the getrefcount argument
