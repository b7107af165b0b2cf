from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pi5trading.analysis import Trade, resample_trades
from pi5trading.backtest.walkforward import walk_forward_windows

DAY = 86_400 * 10**9


def trades_from(pnls: list[int]) -> list[Trade]:
    return [
        Trade(
            strategy_id="s",
            symbol="X",
            side="long",
            quantity=Decimal(1),
            entry_ts=i,
            entry_price=Decimal(100),
            exit_ts=i + 1,
            exit_price=Decimal(100 + p),
        )
        for i, p in enumerate(pnls)
    ]


def test_montecarlo_is_seeded_and_reproducible() -> None:
    t = trades_from([50, -20, 30, -40, 10, 25, -5])
    a = resample_trades(t, 10_000, simulations=500, seed=7)
    b = resample_trades(t, 10_000, simulations=500, seed=7)
    c = resample_trades(t, 10_000, simulations=500, seed=8)
    assert a == b
    assert a != c


def test_montecarlo_against_reference_bootstrap() -> None:
    pnls = [120, -80, 45, -30, 60]
    res = resample_trades(trades_from(pnls), 1_000, simulations=2000, seed=3, confidence=0.9)
    assert res is not None
    # Same draws, computed plainly.
    rng = np.random.default_rng(3)
    draws = rng.integers(0, len(pnls), size=(2000, len(pnls)))
    finals = []
    for row in draws:
        finals.append(sum(pnls[j] for j in row) / 1_000)
    lo, med, hi = np.quantile(finals, [0.05, 0.5, 0.95])
    assert res.final_return.low == pytest.approx(lo)
    assert res.final_return.median == pytest.approx(med)
    assert res.final_return.high == pytest.approx(hi)
    assert res.probability_of_profit == pytest.approx(np.mean(np.array(finals) > 0))


def test_montecarlo_all_winners_has_no_drawdown() -> None:
    res = resample_trades(trades_from([5, 10, 15]), 1000, simulations=100)
    assert res is not None
    assert res.max_drawdown.high == 0.0
    assert res.probability_of_profit == 1.0
    assert res.risk_of_ruin == 0.0


def test_montecarlo_without_trades_and_bad_args() -> None:
    assert resample_trades([], 1000) is None
    with pytest.raises(ValueError, match="confidence"):
        resample_trades(trades_from([1]), 1000, confidence=1.5)


def test_rolling_windows() -> None:
    w = walk_forward_windows(0, 100 * DAY, in_sample=30 * DAY, out_of_sample=10 * DAY)
    assert [(x.is_start // DAY, x.is_end // DAY, x.oos_end // DAY) for x in w] == [
        (0, 30, 40),
        (10, 40, 50),
        (20, 50, 60),
        (30, 60, 70),
        (40, 70, 80),
        (50, 80, 90),
        (60, 90, 100),
    ]


def test_anchored_windows_grow_and_terminate() -> None:
    w = walk_forward_windows(0, 60 * DAY, in_sample=30 * DAY, out_of_sample=10 * DAY, anchored=True)
    assert [(x.is_start, x.is_end // DAY, x.oos_end // DAY) for x in w] == [
        (0, 30, 40),
        (0, 40, 50),
        (0, 50, 60),
    ]


@given(st.integers(1, 500), st.integers(1, 100), st.integers(1, 100), st.booleans())
def test_windows_never_leak_out_of_sample(
    total: int, is_len: int, oos: int, anchored: bool
) -> None:
    ws = walk_forward_windows(0, total, in_sample=is_len, out_of_sample=oos, anchored=anchored)
    prev_oos_end = None
    for w in ws:
        assert w.is_start < w.is_end < w.oos_end <= total
        if prev_oos_end is not None:
            assert w.is_end == prev_oos_end  # test periods tile without gaps or overlap
        prev_oos_end = w.oos_end
