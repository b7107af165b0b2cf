"""Hypothesis properties: exactness against integer references, streaming == batch."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import pi5trading.indicators as ind
from tests.unit.core.test_indicators import (
    SCALE,
    assert_same,
    raw_to_float,
    ref_donchian_raw,
    ref_sma_raw,
    ref_std,
    ref_vwap_raw,
    ref_wma_raw,
    stream,
)

# Raw prices from 10^-9 to ~10^6 (raw 10^15), and any sign for the exact averages.
prices = st.lists(st.integers(1, 10**15), min_size=0, max_size=120)
signed = st.lists(st.integers(-(2**62), 2**62), min_size=0, max_size=120)
periods = st.integers(1, 25)


@settings(max_examples=150, deadline=None)
@given(signed, periods)
def test_sma_and_wma_are_correctly_rounded(values: list[int], n: int) -> None:
    raw = np.array(values, dtype=np.int64)
    assert_same(ind.sma(raw, n, raw=True), raw_to_float(ref_sma_raw(values, n)))
    assert_same(ind.wma(raw, n, raw=True), raw_to_float(ref_wma_raw(values, n)))
    s = ind.SMA(n)
    for v in values:
        s.update_raw(v)
    assert s.value_raw == (ref_sma_raw(values, n)[-1] if len(values) >= n else None)


@settings(max_examples=100, deadline=None)
@given(prices, st.lists(st.integers(1, 10**15), min_size=1, max_size=25), st.randoms())
def test_equal_windows_give_equal_values(history: list[int], window: list[int], r: object) -> None:
    n = len(window)
    shuffled = window.copy()
    r.shuffle(shuffled)  # type: ignore[attr-defined]
    a = np.array(history + window, dtype=np.int64)
    b = np.array(shuffled, dtype=np.int64)
    assert ind.sma(a, n, raw=True)[-1] == ind.sma(b, n, raw=True)[-1]
    assert ind.stddev(a, n, raw=True)[-1] == ind.stddev(b, n, raw=True)[-1]
    assert ind.donchian(a, a, n, raw=True)[1][-1] == ind.donchian(b, b, n, raw=True)[1][-1]
    # Order matters for WMA, but not history.
    assert ind.wma(a, n, raw=True)[-1] == ind.wma(np.array(window), n, raw=True)[-1]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-(2**62), 2**62), st.integers(0, 10**12)), max_size=120),
    periods,
)
def test_donchian_matches_naive(rows: list[tuple[int, int]], n: int) -> None:
    high = np.array([h for h, _ in rows], dtype=np.int64)
    low = np.array([h - s for h, s in rows], dtype=np.int64)
    u, m, lo = ind.donchian(high, low, n, raw=True)
    if len(rows) < n:
        assert np.isnan(u).all()
        assert np.isnan(m).all()
        assert np.isnan(lo).all()
        return
    ru, rl = ref_donchian_raw(high, low, n)
    assert_same(u[n - 1 :], raw_to_float(ru.tolist()))
    assert_same(lo[n - 1 :], raw_to_float(rl.tolist()))
    mids = [round(Fraction(int(a) + int(b), 2)) for a, b in zip(ru, rl, strict=True)]
    assert_same(m[n - 1 :], raw_to_float(mids))


@settings(max_examples=100, deadline=None)
@given(prices, st.integers(2, 25), st.sampled_from([0, 1]))
def test_stddev_matches_exact_integer_variance(values: list[int], n: int, ddof: int) -> None:
    raw = np.array(values, dtype=np.int64)
    np.testing.assert_allclose(
        ind.stddev(raw, n, ddof, raw=True), ref_std(values, n, ddof), rtol=1e-14, equal_nan=True
    )


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 10**13),
            st.integers(0, 10**10),
            st.integers(0, 10**10),
            st.integers(0, 10**13),
        ),
        max_size=80,
    )
)
def test_vwap_is_exact(rows: list[tuple[int, int, int, int]]) -> None:
    low = [lo for lo, _, _, _ in rows]
    high = [lo + a for lo, a, _, _ in rows]
    close = [lo + min(a, b) for lo, a, b, _ in rows]
    vol = [v for _, _, _, v in rows]
    got = ind.vwap(*(np.array(a, dtype=np.int64) for a in (high, low, close, vol)), raw=True)
    assert_same(got, raw_to_float(ref_vwap_raw(high, low, close, vol)))


@settings(max_examples=60, deadline=None)
@given(prices, st.integers(1, 12))
def test_streaming_equals_batch(values: list[int], n: int) -> None:
    raw = np.array(values, dtype=np.int64)
    x = raw / SCALE
    cases = [
        (lambda: ind.SMA(n), ind.sma(x, n), "value"),
        (lambda: ind.EMA(n), ind.ema(x, n), "value"),
        (lambda: ind.WMA(n), ind.wma(x, n), "value"),
        (lambda: ind.RSI(n), ind.rsi(x, n), "value"),
        (lambda: ind.ROC(n), ind.roc(x, n), "value"),
        (lambda: ind.Momentum(n), ind.momentum(x, n), "value"),
        (lambda: ind.StdDev(n), ind.stddev(x, n), "value"),
        (lambda: ind.BollingerBands(n, 1.5), ind.bollinger(x, n, 1.5)[3], "percent_b"),
        (lambda: ind.MACD(n, n + 2, 3), ind.macd(x, n, n + 2, 3)[2], "histogram"),
        (lambda: ind.Donchian(n), ind.donchian(x, x, n)[0], "upper"),
    ]
    for factory, batch, attr in cases:
        assert_same(stream(factory, raw, attr), batch)


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-9e9, max_value=9e9, allow_nan=False, allow_infinity=False))
def test_float_to_grid_is_round_half_even_of_the_exact_value(x: float) -> None:
    s = ind.SMA(1)
    s.update(x)
    assert s.value_raw == round(Fraction(x) * SCALE)
    got = ind.sma(np.array([x]), 1)[0]
    assert got == round(Fraction(x) * SCALE) / SCALE
    assert not math.isnan(got)


@settings(max_examples=300, deadline=None)
@given(st.integers(-(2**63), 2**63 - 1))
def test_raw_to_float_is_correctly_rounded(raw: int) -> None:
    s = ind.SMA(1)
    s.update_raw(raw)
    assert s.value_raw == raw
    assert s.value == raw / SCALE  # Python's int / int is correctly rounded


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.floats(min_value=-1e4, max_value=1e4, allow_nan=False),
        # Decimals with 10 places land on or next to half-units of the 10^-9 grid.
        st.decimals(min_value=-9000, max_value=9000, places=10).map(float),
    )
)
def test_float_to_grid_near_ties(x: float) -> None:
    want = round(Fraction(x) * SCALE)
    s = ind.SMA(1)
    s.update(x)
    assert s.value_raw == want
    assert ind.sma(np.array([x]), 1)[0] == want / SCALE
