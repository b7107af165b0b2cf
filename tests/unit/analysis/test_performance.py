"""Analytics against plain-Python reference computations written from the textbook formulas."""

from __future__ import annotations

import math
import statistics
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pi5trading.analysis import EquityCurve, Trade, analyse, monthly_returns
from pi5trading.analysis.performance import drawdown_series, max_drawdown_duration, trade_stats

DAY = 86_400 * 10**9
T0 = 1_704_067_200 * 10**9  # 2024-01-01 00:00 UTC


def trade(pnl: str, i: int = 0, strategy: str = "s1", commission: str = "0") -> Trade:
    # Entry 100 x 1 share; exit price chosen so gross P&L is `pnl` (+ commission).
    gross = Decimal(pnl) + Decimal(commission)
    return Trade(
        strategy_id=strategy,
        symbol="AAPL",
        side="long",
        quantity=Decimal(1),
        entry_ts=T0 + i * DAY,
        entry_price=Decimal(100),
        exit_ts=T0 + i * DAY + 3600 * 10**9,
        exit_price=Decimal(100) + gross,
        commission=Decimal(commission),
    )


def ref_max_drawdown(eq: list[float]) -> float:
    peak, worst = eq[0], 0.0
    for e in eq:
        peak = max(peak, e)
        worst = max(worst, (peak - e) / peak)
    return worst


def test_known_curve() -> None:
    # Daily equity: 100, 110, 99, 121 -> returns +10%, -10%, +22.2%; max DD 10% (110 -> 99).
    curve = EquityCurve([T0 + i * DAY for i in range(4)], [100.0, 110.0, 99.0, 121.0])
    p = analyse(curve, [], starting_equity=100.0)
    assert p.total_return == pytest.approx(0.21)
    assert p.max_drawdown == pytest.approx(0.10)
    assert p.max_drawdown_duration_ns == 2 * DAY - DAY  # below the 110 peak on day 2 only
    rets = [0.0, 0.10, -0.10, 121 / 99 - 1]  # first day has no change vs starting equity
    mean, sd = statistics.mean(rets), statistics.stdev(rets)
    assert p.sharpe == pytest.approx(mean / sd * math.sqrt(252))
    downside = math.sqrt(sum(min(r, 0) ** 2 for r in rets) / len(rets))
    assert p.sortino == pytest.approx(mean / downside * math.sqrt(252))
    years = 3 * DAY / (365.25 * DAY)
    assert p.annualised_return == pytest.approx(1.21 ** (1 / years) - 1)
    assert p.calmar == pytest.approx(p.annualised_return / 0.10)


def test_trade_stats_known_answers() -> None:
    trades = [trade("50", 0), trade("-20", 1), trade("30", 2), trade("0", 3), trade("-10", 4)]
    s = trade_stats(trades)
    assert (s.trades, s.wins, s.losses) == (5, 2, 3)  # a break-even trade is not a win
    assert s.win_rate == pytest.approx(0.4)
    assert s.gross_profit == Decimal(80)
    assert s.gross_loss == Decimal(30)
    assert s.net_profit == Decimal(50)
    assert s.profit_factor == pytest.approx(80 / 30)
    assert s.expectancy == Decimal(10)
    assert s.average_win == Decimal(40)
    assert s.average_loss == Decimal(-10)
    assert s.largest_win == Decimal(50)
    assert s.largest_loss == Decimal(-20)
    assert (s.max_consecutive_wins, s.max_consecutive_losses) == (1, 2)


def test_undefined_ratios_are_none_not_sentinels() -> None:
    s = trade_stats([trade("5", 0), trade("7", 1)])
    assert s.profit_factor is None  # no losing trade: undefined, not 999.99
    curve = EquityCurve([T0, T0 + DAY], [100.0, 100.0])
    p = analyse(curve, [])
    assert p.sharpe is None
    assert p.calmar is None
    assert p.max_drawdown == 0.0


def test_commission_counts_against_pnl_and_per_strategy_attribution() -> None:
    trades = [trade("10", 0, "a", commission="2"), trade("-5", 1, "b", commission="1")]
    assert trades[0].gross_pnl == Decimal(12)
    curve = EquityCurve([T0, T0 + DAY], [100.0, 105.0])
    p = analyse(curve, trades)
    assert set(p.per_strategy) == {"a", "b"}
    assert p.per_strategy["a"].net_profit == Decimal(10)
    assert p.per_strategy["b"].net_profit == Decimal(-5)
    assert p.trade_stats.total_commission == Decimal(3)


def test_monthly_returns_compound_month_ends() -> None:
    jan31 = T0 + 30 * DAY
    feb15 = T0 + 45 * DAY
    feb29 = T0 + 59 * DAY
    mar01 = T0 + 60 * DAY
    curve = EquityCurve([T0, jan31, feb15, feb29, mar01], [100.0, 110.0, 90.0, 99.0, 99.0])
    m = monthly_returns(curve, 100.0)
    assert list(m) == ["2024-01", "2024-02", "2024-03"]
    assert m["2024-01"] == pytest.approx(0.10)
    assert m["2024-02"] == pytest.approx(99 / 110 - 1)
    assert m["2024-03"] == pytest.approx(0.0)


def test_bad_curves_are_rejected() -> None:
    with pytest.raises(ValueError, match="backwards"):
        EquityCurve([T0, T0 - 1], [1.0, 2.0])
    with pytest.raises(ValueError, match="timestamps"):
        EquityCurve([T0], [1.0, 2.0])
    with pytest.raises(ValueError, match="empty"):
        analyse(EquityCurve([], []), [])


equity_lists = st.lists(
    st.floats(min_value=1.0, max_value=1e7, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(equity_lists)
def test_drawdown_matches_reference(eq: list[float]) -> None:
    arr = np.asarray(eq)
    assert float(drawdown_series(arr).max()) == pytest.approx(ref_max_drawdown(eq), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(equity_lists, st.integers(min_value=1, max_value=10**12))
def test_drawdown_duration_matches_reference(eq: list[float], spacing: int) -> None:
    ts = [T0 + i * spacing for i in range(len(eq))]
    peak, peak_t, longest = eq[0], ts[0], 0
    for t, e in zip(ts, eq, strict=True):
        if e >= peak:
            peak, peak_t = e, t
        else:
            longest = max(longest, t - peak_t)
    assert max_drawdown_duration(np.asarray(ts), np.asarray(eq)) == longest


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=-10_000, max_value=10_000), min_size=1, max_size=50))
def test_trade_stats_partition(pnls: list[int]) -> None:
    s = trade_stats([trade(str(p), i) for i, p in enumerate(pnls)])
    assert s.wins + s.losses == s.trades == len(pnls)
    assert s.gross_profit - s.gross_loss == s.net_profit == Decimal(sum(pnls))


def test_minutes_of_a_fast_paper_run_have_no_annual_return_not_an_overflow() -> None:
    # +6 % in two minutes compounds to a year beyond a float: "not a figure", not a 500
    # from /api/v1/portfolio/performance (seen in a broker outage run at 600x).
    minute = 60 * 10**9
    curve = EquityCurve([T0, T0 + minute, T0 + 2 * minute], [100_000.0, 103_000.0, 106_000.0])
    p = analyse(curve, [], starting_equity=100_000.0)
    assert p.total_return == pytest.approx(0.06)
    assert p.annualised_return is None
    assert p.calmar is None
