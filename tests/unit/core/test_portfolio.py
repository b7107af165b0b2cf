"""The portfolio through the Python API: exact accounting, attribution, property tests.

The identity checked after every event (docs/venue.md):
``cash + Σ market_value == starting_cash + realised + unrealised - commissions``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pi5trading.exceptions import InvalidInputError
from pi5trading.portfolio import Portfolio
from tests.proof import examples


def test_round_trip_with_commissions() -> None:
    p = Portfolio("10000")
    ev = p.apply_fill("A", "AAPL", "buy", 10, "100", commission="1", ts=1)
    assert [(e.strategy_id, e.kind) for e in ev] == [(None, "opened"), ("A", "opened")]
    p.mark("AAPL", "105")
    assert (p.cash, p.unrealised_pnl, p.equity) == (Decimal(8999), 50, Decimal(10049))
    p.apply_fill("A", "AAPL", "sell", 10, "110", commission="1", ts=2)
    assert (p.realised_pnl, p.commissions, p.cash) == (100, 2, Decimal(10098))
    assert p.identity_residual == 0
    pos = p.position("AAPL")
    assert pos is not None
    assert (pos.quantity, pos.avg_px, pos.realised_pnl) == (0, None, 100)


def test_strategies_share_the_account_with_their_own_pnl() -> None:
    p = Portfolio("100000", account_type="margin", allow_short=True)
    p.apply_fill("A", "X", "buy", 10, "100")
    p.apply_fill("B", "X", "sell", 10, "110")
    p.mark("X", "105")
    net = p.position("X")
    assert net is not None
    assert net.quantity == 0
    assert p.realised_pnl == 100
    assert p.strategies() == ["A", "B"]
    assert p.strategy_pnl("A") == (0, 50, 0)
    assert p.strategy_pnl("B") == (0, 50, 0)
    b = p.strategy_position("B", "X")
    assert b is not None
    assert (b.quantity, b.avg_px) == (-10, 110)


def test_short_flip_and_exposure() -> None:
    p = Portfolio("1000", account_type="margin", allow_short=True)
    p.apply_fill("A", "X", "buy", 3, "10")
    ev = p.apply_fill("A", "X", "sell", 5, "12")
    assert [e.kind for e in ev if e.strategy_id is None] == ["closed", "opened"]
    p.mark("X", "11")
    assert p.exposure == 22
    assert p.net_exposure == -22
    assert p.unrealised_pnl == 2
    assert p.realised_pnl == 6


def test_invalid_inputs() -> None:
    with pytest.raises(InvalidInputError, match="allow_short"):
        Portfolio("1", allow_short=True)
    with pytest.raises(InvalidInputError, match="account_type"):
        Portfolio("1", account_type="crypto")  # type: ignore[arg-type]
    p = Portfolio()
    assert p.starting_cash == 100_000
    with pytest.raises(InvalidInputError, match="quantity"):
        p.apply_fill("A", "X", "buy", 0, "1")
    with pytest.raises(TypeError):
        p.apply_fill("A", "X", "buy", 1, 1.5)  # type: ignore[arg-type]


fill = st.tuples(
    st.sampled_from(["A", "B", "C"]),
    st.sampled_from(["X", "Y"]),
    st.sampled_from(["buy", "sell"]),
    st.integers(1, 10_000).map(lambda q: Decimal(q) / 100),  # 2 decimals
    st.integers(1, 1_000_000).map(lambda c: Decimal(c) / 100),  # cents
    st.integers(0, 500).map(lambda c: Decimal(c) / 100),
    st.booleans(),
)


@settings(max_examples=examples(150), deadline=None)
@given(st.lists(fill, min_size=1, max_size=60))
def test_identity_after_every_event(
    ops: list[tuple[str, str, str, Decimal, Decimal, Decimal, bool]],
) -> None:
    p = Portfolio("1000000", account_type="margin", allow_short=True)
    for strategy, inst, side, qty, price, fee, mark in ops:
        if mark:
            p.mark(inst, price)
        else:
            p.apply_fill(strategy, inst, side, qty, price, commission=fee)
        assert p.identity_residual == 0
        # Independently: cash + marked == start + realised + unrealised - commissions.
        marked = sum((pos.market_value for pos in p.positions().values()), Decimal(0))
        assert p.cash + marked == (
            p.starting_cash + p.realised_pnl + p.unrealised_pnl - p.commissions
        )
        # Strategy P&L sums to the account's.
        total = Decimal(0)
        for s in p.strategies():
            r, u, c = p.strategy_pnl(s)
            total += r + u - c
        assert total == p.realised_pnl + p.unrealised_pnl - p.commissions
