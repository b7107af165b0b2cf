"""The simulated venue through the Python API: hand-built scenarios with known answers.

Bars walk O→L→H→C when they close at or above the open, O→H→L→C otherwise (docs/venue.md).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from pi5trading.exceptions import InvalidInputError
from pi5trading.model import Bar, Instrument, QuoteTick, TradeTick
from pi5trading.orders import Fill, Order, OrderEvent
from pi5trading.portfolio import PositionEvent
from pi5trading.venue import SimulatedVenue

MIN = 60_000_000_000
T0 = 1_704_898_800_000_000_000  # 2024-01-10 15:00 UTC, 10:00 in New York


def plain(**kwargs: object) -> SimulatedVenue:
    """No slippage, no commission, no volume limit: prices are easy to check."""
    args: dict[str, object] = {
        "slippage": "none",
        "commission_per_share": 0,
        "commission_minimum": 0,
        "unlimited_volume": True,
        **kwargs,
    }
    v = SimulatedVenue(**args)  # type: ignore[arg-type]
    v.add_instrument("AAPL")
    return v


def bar(
    v: SimulatedVenue, n: int, o: str, h: str, low: str, c: str, volume: int = 0
) -> list[OrderEvent | PositionEvent]:
    """The one-minute bar closing at minute ``n``."""
    return v.process_bar("AAPL", T0 + n * MIN, o, h, low, c, volume, ts_open=T0 + (n - 1) * MIN)


def fills(events: list[OrderEvent | PositionEvent]) -> list[tuple[str, Decimal, Decimal]]:
    out = []
    for e in events:
        if isinstance(e, OrderEvent) and e.fill is not None:
            out.append((e.client_order_id, e.fill.quantity, e.fill.price))
    return out


def mkt(cid: str, side: str = "buy", qty: int = 10, **kw: object) -> Order:
    return Order(cid, "S1", "AAPL", side, "market", qty, **kw)  # type: ignore[arg-type]


def status(v: SimulatedVenue, cid: str) -> str:
    o = v.order(cid)
    assert o is not None
    return o.status


def test_market_order_fills_at_next_open_and_books_the_portfolio() -> None:
    v = SimulatedVenue(commission_minimum="1.00")  # defaults: 1-tick slippage, $0.005/share
    v.add_instrument("AAPL", tick_size="0.01", lot_size=1)
    bar(v, 0, "99", "101", "98", "100.50", 10_000)
    ev = v.submit(mkt("m"), T0)
    assert [e.kind for e in ev if isinstance(e, OrderEvent)] == ["submitted", "accepted"]
    ev = bar(v, 1, "100", "102", "99.50", "101", 10_000)
    assert fills(ev) == [("m", 10, Decimal("100.01"))]
    fill_event = next(e for e in ev if isinstance(e, OrderEvent) and e.fill is not None)
    assert isinstance(fill_event.fill, Fill)
    assert fill_event.strategy_id == "S1"
    assert fill_event.fill.commission == Decimal("1.00")
    assert fill_event.fill.liquidity == "taker"
    positions = [e for e in ev if isinstance(e, PositionEvent)]
    assert [(p.strategy_id, p.kind) for p in positions] == [(None, "opened"), ("S1", "opened")]
    p = v.portfolio
    assert p.cash == Decimal(100_000) - Decimal("1000.10") - 1
    assert p.unrealised_pnl == Decimal("9.90")  # marked at the close, 101
    assert p.identity_residual == 0
    pos = p.position("AAPL")
    assert pos is not None
    assert pos.quantity == 10
    assert pos.avg_px == Decimal("100.01")


def test_this_close_option_fills_immediately() -> None:
    v = plain(market_fill="this_close")
    bar(v, 0, "99", "101", "98", "100.50")
    assert fills(v.submit(mkt("m"), T0)) == [("m", 10, Decimal("100.5"))]


def test_gap_through_a_stop_fills_at_the_open() -> None:
    v = plain()
    v.submit(mkt("long"), T0)
    bar(v, 1, "100", "100", "100", "100")
    v.submit(Order("sl", "S1", "AAPL", "sell", "stop_market", 10, trigger_price="95"), T0 + MIN)
    ev = bar(v, 2, "90", "92", "89", "91")
    assert fills(ev) == [("sl", 10, Decimal(90))]
    assert v.portfolio.realised_pnl == -100


def test_limit_never_touched() -> None:
    v = plain()
    v.submit(Order("b", "S1", "AAPL", "buy", "limit", 10, price="95"), T0)
    for n in range(1, 4):
        assert fills(bar(v, n, "100", "101", "99", "100.5")) == []
    assert status(v, "b") == "accepted"
    assert v.depth("AAPL", "buy") == [(Decimal(95), Decimal(10), 1)]


@pytest.mark.parametrize(
    ("close", "winner", "loser", "realised"),
    [("104", "sl", "tp", -50), ("96", "tp", "sl", 50)],
)
def test_bracket_with_both_exits_inside_one_bar(
    close: str, winner: str, loser: str, realised: int
) -> None:
    v = plain()
    v.submit_bracket(
        mkt("e"),
        Order("tp", "S1", "AAPL", "sell", "limit", 10, price="105"),
        Order("sl", "S1", "AAPL", "sell", "stop_market", 10, trigger_price="95"),
        T0,
    )
    assert fills(bar(v, 1, "100", "100", "100", "100")) == [("e", 10, Decimal(100))]
    ev = bar(v, 2, "100", "106", "94", close)
    assert [f[0] for f in fills(ev)] == [winner]
    assert status(v, loser) == "cancelled"
    assert v.portfolio.realised_pnl == realised


def test_partial_fill_across_bars() -> None:
    v = plain(unlimited_volume=False, participation="0.1")
    v.submit(mkt("p", qty=100), T0)
    assert fills(bar(v, 1, "100", "101", "99", "100", 500)) == [("p", 50, Decimal(100))]
    assert status(v, "p") == "partially_filled"
    assert fills(bar(v, 2, "101", "101", "99", "100", 500)) == [("p", 50, Decimal(101))]
    o = v.order("p")
    assert o is not None
    assert (o.status, o.avg_px) == ("filled", Decimal("100.5"))


def test_ioc_fok_day() -> None:
    v = plain(unlimited_volume=False, participation="0.1")
    v.submit(mkt("ioc", qty=100, time_in_force="ioc"), T0)
    v.submit(mkt("fok", qty=100, time_in_force="fok"), T0)
    ev = bar(v, 1, "100", "101", "99", "100", 1000)
    assert fills(ev) == [("ioc", 100, Decimal(100))]  # the IOC came first and took it all
    assert status(v, "fok") == "cancelled"
    v.submit(Order("d", "S1", "AAPL", "buy", "limit", 1, price="50", time_in_force="day"), T0)
    bar(v, 360, "100", "100", "100", "100")  # 21:00 UTC = 16:00 New York: still working
    assert status(v, "d") == "accepted"
    ev = bar(v, 361, "100", "100", "100", "100")
    assert [e.kind for e in ev if isinstance(e, OrderEvent)] == ["expired"]


def test_modify_and_cancel_requests_have_their_own_events() -> None:
    v = plain()
    bar(v, 0, "100", "100", "100", "100")
    v.submit(Order("b", "S1", "AAPL", "buy", "limit", 10, price="90"), T0)
    ev = v.modify("b", T0, price="91", quantity=20)
    assert [e.kind for e in ev if isinstance(e, OrderEvent)] == ["modify_accepted"]
    assert v.depth("AAPL", "buy") == [(Decimal(91), Decimal(20), 1)]
    ev = v.modify("b", T0, trigger_price="1")
    assert [e.kind for e in ev if isinstance(e, OrderEvent)] == ["modify_rejected"]
    v.cancel("b", T0)
    ev = v.cancel("b", T0)
    assert [(e.kind, e.reason) for e in ev if isinstance(e, OrderEvent)] == [
        ("cancel_rejected", "order already cancelled")
    ]
    with pytest.raises(InvalidInputError, match="unknown order"):
        v.cancel("nope", T0)


def test_cash_account_rules() -> None:
    v = plain(starting_cash="1000")
    bar(v, 0, "100", "100", "100", "100")
    v.submit(mkt("short", side="sell", qty=1), T0)
    v.submit(mkt("big", qty=11), T0)
    assert status(v, "short") == "rejected"
    assert status(v, "big") == "rejected"
    v.submit(mkt("ok", qty=10), T0)
    ev = bar(v, 1, "200", "200", "200", "200")  # gap: only 5 affordable
    assert fills(ev) == [("ok", 5, Decimal(200))]
    assert status(v, "ok") == "cancelled"
    assert v.portfolio.cash == 0


def test_market_data_objects_and_instruments() -> None:
    v = plain()
    v.add_instrument(Instrument("MSFT", "SIM", "EQUITY", "USD", "0.01", "1"))
    v.submit(Order("m", "S1", "MSFT", "buy", "market", 3), T0)
    ev = v.process(QuoteTick("MSFT", "99.99", "100.01", 5, 5, T0 + 1))
    assert fills(ev) == [("m", 3, Decimal("100.01"))]
    v.submit(Order("s", "S1", "MSFT", "sell", "market", 3), T0 + 1)
    ev = v.process(TradeTick("MSFT", "100.05", 10, "BUYER", "t1", T0 + 2))
    assert fills(ev) == [("s", 3, Decimal("100.05"))]
    v.submit(Order("b", "S1", "MSFT", "buy", "limit", 1, price="99"), T0 + 2)
    ev = v.process(Bar("MSFT-1m", "100", "100.5", "98.5", "99.5", 100, T0 + MIN))
    assert fills(ev) == [("b", 1, Decimal(99))]
    with pytest.raises(TypeError):
        v.process("not data")  # type: ignore[arg-type]


def stamps(events: list[OrderEvent | PositionEvent]) -> list[tuple[str, str, int]]:
    return [(e.client_order_id, e.kind, e.ts) for e in events if isinstance(e, OrderEvent)]


def test_fills_are_stamped_at_the_market_time_of_their_price() -> None:
    v = plain(account_type="margin", allow_short=True)
    v.submit(mkt("m", qty=1), T0)
    v.submit(Order("l", "S1", "AAPL", "sell", "limit", 1, price="102"), T0)
    # Up bar from T0 to T0 + 1 min: O 100 at 0 s, L 99 at 20 s, H 103 at 40 s, C 102 at 60 s.
    ev = bar(v, 1, "100", "103", "99", "102")
    # The market order at the open; the limit where 99 -> 103 reaches 102 (3/4: 35 s).
    assert stamps(ev) == [("m", "filled", T0), ("l", "filled", T0 + 35 * 10**9)]
    positions = [e for e in ev if isinstance(e, PositionEvent)]
    assert positions[0].ts == T0
    assert positions[-1].ts == T0 + 35 * 10**9


def test_bar_open_time_defaults_and_bar_objects() -> None:
    v = plain()
    v.submit(mkt("a", qty=1), T0)
    # Without ts_open a bar has no duration: everything is stamped at its close.
    assert stamps(v.process_bar("AAPL", T0 + MIN, "100", "100", "100", "100")) == [
        ("a", "filled", T0 + MIN)
    ]
    v.submit(mkt("b", qty=1), T0 + MIN)
    # A Bar object opened one interval (here 5 minutes) before its close.
    ev = v.process(Bar("AAPL-5m", "100", "100", "100", "100", 0, T0 + 6 * MIN))
    assert stamps(ev) == [("b", "filled", T0 + MIN)]
    with pytest.raises(InvalidInputError, match="ts_open"):
        v.process_bar("AAPL", T0 + 7 * MIN, "1", "1", "1", "1", ts_open=T0 + 8 * MIN)


def test_invalid_bars_are_errors() -> None:
    v = plain()
    with pytest.raises(InvalidInputError):
        bar(v, 0, "100", "99", "98", "100")
    with pytest.raises(InvalidInputError, match="not registered"):
        v.process_bar("ZZZ", T0, "1", "1", "1", "1")
