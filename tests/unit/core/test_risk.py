"""Pre-trade risk through the Python API: limits at their boundaries, the trading state,
sessions in the exchange time zone, sizing with known answers (docs/risk.md)."""

from __future__ import annotations

import calendar
import pickle
from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pi5trading.exceptions import InvalidInputError
from pi5trading.model import Instrument
from pi5trading.orders import Order
from pi5trading.portfolio import Portfolio
from pi5trading.risk import (
    Denial,
    RiskAccount,
    RiskEngine,
    denial_codes,
    limit_names,
    position_size,
    risk_profiles,
)

S = 1_000_000_000


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> int:
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * S


T0 = utc(2024, 7, 10, 15)  # Wednesday, 11:00 in New York


def account(cash: str = "1000000") -> RiskAccount:
    a = RiskAccount(cash)
    a.set_last_price("AAPL", "100")
    return a


def unlimited(**limits: Decimal | int | str) -> RiskEngine:
    e = RiskEngine("unlimited")
    for name, value in limits.items():
        e.set_limit(name, value)
    return e


def code(d: Denial | None) -> str | None:
    return None if d is None else d.code


def boundary(
    make: Callable[[], RiskEngine],
    acct: RiskAccount,
    order: Callable[[Decimal], dict[str, Decimal | str]],
    limit: Decimal,
    step: Decimal,
    want: str,
    *,
    minimum: bool = False,
) -> None:
    """Below / at / above the limit with a fresh engine each time."""
    results = [
        code(make().check(acct, "S1", "AAPL", ts=T0, **order(v)))  # type: ignore[arg-type]
        for v in (limit - step, limit, limit + step)
    ]
    assert results == ([want, None, None] if minimum else [None, None, want])


def buy(q: Decimal) -> dict[str, Decimal | str]:
    return {"side": "buy", "quantity": q}


def test_catalogue() -> None:
    assert risk_profiles() == ["conservative", "default", "aggressive", "unlimited"]
    assert "max_concentration" in limit_names()
    codes = denial_codes()
    assert len(codes) == len(set(codes)) == 26
    assert {"max_quantity", "trading_reducing", "outside_trading_hours"} <= set(codes)


def test_default_profile_mirrors_the_original() -> None:
    e = RiskEngine()
    assert e.profile == "default"
    assert e.state == "active"
    expected = {
        "max_quantity": Decimal(500),
        "max_notional": Decimal(25000),
        "max_position_quantity": Decimal(1000),
        "max_position_notional": Decimal(50000),
        "max_concentration": Decimal("0.2"),
        "max_daily_loss": Decimal(5000),
        "max_drawdown": Decimal("0.15"),
        "max_gross_exposure": Decimal(500000),
        "max_orders_per_session": 100,
        "min_cash_balance": Decimal(10000),
    }
    assert {k: e.get_limit(k) for k in expected} == expected
    assert e.check_buying_power
    cons, agg = RiskEngine("conservative"), RiskEngine("aggressive")
    assert cons.get_limit("max_quantity") == 200
    assert agg.get_limit("max_quantity") == 2000
    with pytest.raises(InvalidInputError, match="unknown risk profile"):
        RiskEngine("yolo")


@pytest.mark.parametrize(
    ("name", "limit", "step", "want", "order", "minimum"),
    [
        ("max_quantity", "500", "1", "max_quantity", buy, False),
        ("min_quantity", "10", "1", "min_quantity", buy, True),
        ("max_notional", "25000", "100", "max_notional", buy, False),
        ("min_notional", "1000", "100", "min_notional", buy, True),
        (
            "price_collar",
            "110",
            "0.01",
            "price_collar",
            lambda p: {"side": "buy", "quantity": Decimal(1), "price": p},
            False,
        ),
        ("max_position_quantity", "1000", "1", "max_position_quantity", buy, False),
        ("max_position_notional", "50000", "100", "max_position_notional", buy, False),
        ("max_gross_exposure", "500000", "100", "max_gross_exposure", buy, False),
        ("max_concentration", "200000", "100", "max_concentration", buy, False),
    ],
)
def test_limits_at_their_boundaries(
    name: str,
    limit: str,
    step: str,
    want: str,
    order: Callable[[Decimal], dict[str, Decimal | str]],
    minimum: bool,
) -> None:
    acct = account()
    value: Decimal | str = {
        "price_collar": Decimal("0.1"),
        "max_concentration": Decimal("0.2"),
    }.get(name, limit)
    # Limits in money are probed with quantities at the last price 100.
    scale = (
        Decimal(100)
        if name.endswith(("notional", "exposure")) or name == "max_concentration"
        else Decimal(1)
    )
    lim, st_ = Decimal(limit) / scale, Decimal(step) / scale
    boundary(lambda: unlimited(**{name: value}), acct, order, lim, st_, want, minimum=minimum)


def test_denial_carries_code_scope_numbers_and_message() -> None:
    e = RiskEngine("unlimited")
    e.set_limit("max_quantity", 100, strategy_id="S1")
    d = e.check(account(), "S1", "AAPL", "buy", 101, ts=T0)
    assert d is not None
    assert (d.code, d.scope, d.limit, d.actual) == ("max_quantity", "strategy", 100, 101)
    assert d.message == "quantity 101 exceeds the strategy maximum 100"
    assert str(d) == "max_quantity: quantity 101 exceeds the strategy maximum 100"
    assert e.check(account(), "S2", "AAPL", "buy", 101, ts=T0) is None
    assert e.get_limit("max_quantity", strategy_id="S1") == 100
    assert e.get_limit("max_quantity", instrument="AAPL") is None


def test_buying_power_min_cash_and_short_selling() -> None:
    acct = account("10000")
    e = RiskEngine("unlimited")
    e.check_buying_power = True
    assert e.check(acct, "S1", "AAPL", "buy", 100, price="100", ts=T0) is None
    d = e.check(acct, "S1", "AAPL", "buy", 100, price="100.01", ts=T0)
    assert code(d) == "insufficient_buying_power"
    e = unlimited(min_cash_balance="5000")
    assert code(e.check(acct, "S1", "AAPL", "buy", 51, ts=T0)) == "min_cash_balance"
    assert e.check(acct, "S1", "AAPL", "buy", 50, ts=T0) is None
    acct.set_position("AAPL", 10, "100")
    assert e.check(acct, "S1", "AAPL", "sell", 10, ts=T0) is None
    assert code(e.check(acct, "S1", "AAPL", "sell", 11, ts=T0)) == "short_selling_not_allowed"


def test_grid_rate_limits_and_duplicates() -> None:
    acct = account()
    e = unlimited(max_orders_per_second=2, duplicate_window_ns=S)
    e.add_instrument("AAPL", "0.01", "1")
    assert code(e.check(acct, "S1", "AAPL", "buy", 1, price="100.005", ts=T0)) == "price_off_tick"
    assert code(e.check(acct, "S1", "AAPL", "buy", "1.5", ts=T0)) == "quantity_off_lot"
    assert e.check(acct, "S1", "AAPL", "buy", 1, ts=T0) is None
    assert code(e.check(acct, "S1", "AAPL", "buy", 1, ts=T0 + 1)) == "duplicate_order"
    assert e.check(acct, "S1", "AAPL", "buy", 2, ts=T0 + 2) is None
    d = e.check(acct, "S1", "AAPL", "buy", 3, ts=T0 + 3)
    assert d is not None
    assert (d.code, d.limit, d.actual) == ("rate_limit_second", 2, 2)
    assert e.check(acct, "S1", "AAPL", "buy", 3, ts=T0 + S) is None
    stats = e.stats()
    assert (stats["checks"], stats["duplicate_order"], stats["rate_limit_second"]) == (7, 1, 1)


def test_trading_hours_in_new_york_across_dst() -> None:
    e = RiskEngine("unlimited")
    e.set_session("America/New_York", open="09:30", close="16:00", holidays=["2024-07-04"])
    acct = account()
    at = [
        (utc(2024, 7, 10, 13, 29, 59), "outside_trading_hours"),  # 09:29:59 EDT
        (utc(2024, 7, 10, 13, 30), None),
        (utc(2024, 7, 10, 19, 59, 59), None),
        (utc(2024, 7, 10, 20), "outside_trading_hours"),  # 16:00 EDT
        (utc(2024, 1, 10, 14, 29, 59), "outside_trading_hours"),  # 09:29:59 EST
        (utc(2024, 1, 10, 14, 30), None),
        (utc(2024, 7, 4, 15), "outside_trading_hours"),  # holiday
        (utc(2024, 7, 13, 15), "outside_trading_hours"),  # Saturday
    ]
    got = [
        (ts, code(e.check(acct, "S1", "AAPL", "buy", i + 1, ts=ts))) for i, (ts, _) in enumerate(at)
    ]
    assert got == at
    with pytest.raises(InvalidInputError, match="unknown time zone"):
        e.set_session("Mars/Olympus_Mons")
    with pytest.raises(InvalidInputError, match="HH:MM"):
        e.set_session("UTC", open="9:30")


SUNDAY_3AM_NEW_YORK = utc(2024, 7, 14, 7)  # 03:00 EDT, Sunday 2024-07-14


def test_a_24_7_instrument_is_never_outside_trading_hours() -> None:
    """Regression: under the default profile, orders on 24/7 data were all denied for hours."""
    e = RiskEngine("default")
    acct = account()
    acct.set_last_price("BTC-USD", "100")
    acct.set_last_price("EURUSD", "1.1")
    e.add_instrument(Instrument("BTC-USD", "SIM", "CRYPTO", "USD", "0.01", "0.001"))
    e.add_instrument(Instrument("EURUSD", "SIM", "FX", "USD", "0.0001", "1"))
    e.add_instrument(Instrument("AAPL", "XNAS", "EQUITY", "USD", "0.01", "1"))
    assert [e.calendar(s) for s in ("BTC-USD", "EURUSD", "AAPL")] == ["24/7", "24/7", "session"]
    t = SUNDAY_3AM_NEW_YORK
    assert e.check(acct, "S1", "BTC-USD", "buy", 1, ts=t) is None
    assert e.check(acct, "S1", "EURUSD", "buy", 100, ts=t + 1) is None
    d = e.check(acct, "S1", "AAPL", "buy", 1, ts=t + 2)
    assert d is not None
    assert (d.code, d.scope) == ("outside_trading_hours", "account")
    assert d.message == "AAPL outside trading hours (09:30-16:00 in America/New_York)"
    # The same equity, marked 24/7 (generated data), trades then; a copy of the engine too.
    e.add_instrument("AAPL", "0.01", "1", calendar="24/7")
    assert e.check(acct, "S1", "AAPL", "buy", 2, ts=t + 3) is None
    # The other limits still apply around the clock (default max_quantity 500).
    assert code(e.check(acct, "S1", "BTC-USD", "buy", 501, ts=t + 4)) == "max_quantity"


def test_instrument_calendars() -> None:
    equity = Instrument("AAPL", "XNAS", "EQUITY", "USD", "0.01", "1")
    crypto = Instrument("BTC-USD", "SIM", "CRYPTO", "USD", "0.01", "0.001")
    assert (equity.calendar, crypto.calendar) == ("session", "24/7")
    generated = Instrument("SIM", "SIM", "EQUITY", "USD", "0.01", "1", calendar="24/7")
    assert generated.calendar == "24/7"
    assert generated != Instrument("SIM", "SIM", "EQUITY", "USD", "0.01", "1")
    assert pickle.loads(pickle.dumps(generated)) == generated
    assert "calendar='24/7'" in repr(generated)
    with pytest.raises(InvalidInputError, match="calendar"):
        Instrument("X", "SIM", "EQUITY", "USD", "0.01", "1", calendar="always")  # type: ignore[arg-type]
    e = RiskEngine("default")
    assert e.calendar("never-registered") == "session"
    e.add_instrument(crypto, calendar="session")  # an explicit calendar wins
    assert e.calendar("BTC-USD") == "session"
    e.add_instrument("BTC-USD", "0.01", "0.001")  # the grid alone keeps the calendar
    assert e.calendar("BTC-USD") == "session"
    with pytest.raises(InvalidInputError, match="tick"):
        e.add_instrument(crypto, "0.01", "1")
    with pytest.raises(InvalidInputError, match="tick_size and lot_size"):
        e.add_instrument("ETH-USD")
    with pytest.raises(TypeError, match="Instrument or a symbol"):
        e.add_instrument(42)  # type: ignore[arg-type]


def test_daily_loss_reduces_then_the_next_session_resets() -> None:
    e = RiskEngine("unlimited")
    e.set_limit("max_daily_loss", "5000")
    e.set_session("America/New_York", open=None)
    acct = account()
    acct.set_position("AAPL", 100, "100")
    e.update(acct, ts=T0)
    acct.realised_pnl = Decimal(-5000)
    e.update(acct, ts=T0 + 1)
    assert e.state == "active"
    acct.realised_pnl = Decimal("-5000.01")
    e.update(acct, ts=T0 + 2)
    assert (e.state, e.cause) == ("reducing", "daily_loss")
    changes = [ev for ev in e.drain_events() if ev.kind == "state_changed"]
    assert [(ev.from_state, ev.to_state, ev.cause) for ev in changes] == [
        ("active", "reducing", "daily_loss")
    ]
    assert changes[0].message == "daily loss 5000.01 exceeds the limit 5000"
    assert code(e.check(acct, "S1", "AAPL", "buy", 1, ts=T0 + 3)) == "trading_reducing"
    assert e.check(acct, "S1", "AAPL", "sell", 50, ts=T0 + 4) is None
    acct.set_working_quantity("AAPL", 0, 60)
    assert code(e.check(acct, "S1", "AAPL", "sell", 50, ts=T0 + 5)) == "trading_reducing"
    acct.set_working_quantity("AAPL", 0, 0)
    assert code(e.check(acct, "S1", "AAPL", "sell", 101, ts=T0 + 5)) == "trading_reducing"
    # Midnight in New York is 04:00 UTC in July.
    e.update(acct, ts=utc(2024, 7, 11, 4))
    assert e.state == "active"
    kinds = [(ev.kind, ev.cause, ev.date) for ev in e.drain_events()]
    assert ("state_changed", "new_session", None) in kinds
    assert ("session_started", None, "2024-07-11") in kinds
    assert e.session_pnl(acct) == 0


def test_drawdown_halts_with_commands_until_an_admin_resets() -> None:
    e = unlimited(max_drawdown="0.15")
    e.set_actions(on_drawdown="halted", cancel_on_halt=True, flatten_on_halt=True)
    acct = account()
    e.update(acct, ts=T0)
    assert e.equity_peak == 1_000_000
    acct.cash = Decimal("850000")
    e.update(acct, ts=T0 + 1)
    assert e.state == "active"
    acct.cash = Decimal("849999.99")
    e.update(acct, ts=T0 + 2)
    assert (e.state, e.cause) == ("halted", "drawdown")
    (ev,) = [ev for ev in e.drain_events() if ev.kind == "state_changed"]
    assert (ev.cancel_open_orders, ev.flatten_positions, ev.strategy_id) == (True, True, None)
    assert code(e.check(acct, "S1", "AAPL", "sell", 1, ts=T0 + 3)) == "trading_halted"
    e.update(acct, ts=utc(2024, 7, 12, 15))
    assert [e.state] == ["halted"]
    e.set_state("active", "reviewed by ops", acct, ts=T0 + 4)
    assert (e.state, e.cause, e.equity_peak) == ("active", "admin", Decimal("849999.99"))


def test_strategy_loss_limit_and_admin_strategy_state() -> None:
    e = RiskEngine("unlimited")
    e.set_limit("max_loss", "1000", strategy_id="S1")
    acct = account()
    acct.set_position("AAPL", 10, "100", strategy_id="S1")
    e.update(acct, ts=T0)
    acct.set_strategy_pnl("S1", "-1000.01")
    e.update(acct, ts=T0 + 1)
    assert (e.strategy_state("S1"), e.state) == ("reducing", "active")
    d = e.check(acct, "S1", "AAPL", "buy", 1, ts=T0 + 2)
    assert d is not None
    assert (d.code, d.scope) == ("trading_reducing", "strategy")
    assert e.check(acct, "S2", "AAPL", "buy", 1, ts=T0 + 2) is None
    e.set_strategy_state("S2", "halted", "manual", ts=T0 + 3)
    assert code(e.check(acct, "S2", "AAPL", "buy", 1, ts=T0 + 4)) == "trading_halted"


def test_portfolio_and_orders_plug_in() -> None:
    p = Portfolio("100000")
    p.apply_fill("S1", "AAPL", "buy", 100, "100", ts=1)
    e = RiskEngine("default")
    e.set_session("UTC", open=None)
    order = Order("O-1", "S1", "AAPL", "buy", "limit", 200, price="100")
    d = e.check_order(order, p, ts=T0)
    assert d is not None
    # 300 shares at 100 = 30,000 of 100,000 equity: over the 20 % concentration limit.
    assert d.code == "max_concentration"
    assert e.check_order(Order("O-2", "S1", "AAPL", "sell", "market", 100), p, ts=T0) is None
    with pytest.raises(TypeError, match="RiskAccount or Portfolio"):
        e.check(object(), "S1", "AAPL", "buy", 1, ts=T0)  # type: ignore[arg-type]


def test_limit_errors() -> None:
    e = RiskEngine()
    with pytest.raises(InvalidInputError, match="unknown limit"):
        e.set_limit("max_yolo", 1)
    with pytest.raises(InvalidInputError, match="cannot be set for a strategy"):
        e.set_limit("max_drawdown", "0.1", strategy_id="S1")
    with pytest.raises(InvalidInputError, match="exceeds max_quantity"):
        e.set_limit("min_quantity", 600)
    with pytest.raises(TypeError, match="float"):
        e.set_limit("max_notional", 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected int"):
        e.set_limit("max_open_orders", "3")
    e.set_limit("max_quantity", None)
    assert e.get_limit("max_quantity") is None


def test_position_size_known_answers() -> None:
    # The original's worked example: $100k account, entry 475.50, stop 470.00 (code semantics).
    eq, px, stop = "100000", "475.50", "470"
    assert position_size("fixed_risk", eq, px, amount="500", stop_price=stop) == 90
    assert (
        position_size(
            "fixed_fractional_risk",
            eq,
            px,
            risk_fraction="0.01",
            stop_price=stop,
            max_fraction="0.2",
        )
        == 42
    )
    assert (
        position_size("fixed_fractional_risk", eq, px, risk_fraction="0.01", stop_price=stop) == 181
    )
    assert position_size("percent_of_equity", eq, px, fraction="0.05") == 10
    assert (
        position_size("volatility_scaled", eq, px, risk_fraction="0.01", atr="3.5", atr_multiple=2)
        == 142
    )
    kelly = position_size(
        "kelly", eq, px, win_rate="0.55", avg_win=2, avg_loss=1, fraction="0.25", max_fraction="0.2"
    )
    assert kelly == 17
    assert position_size("fixed_notional", eq, px, lot_size=5, notional="10000") == 20
    assert position_size("fixed_notional", eq, px, lot_size="0.001", notional="10000") == Decimal(
        "21.03"
    )
    with pytest.raises(InvalidInputError, match="stop_price"):
        position_size("fixed_risk", eq, px, amount="500", stop_price=px)
    with pytest.raises(InvalidInputError, match="required"):
        position_size("fixed_risk", eq, px, amount="500")
    with pytest.raises(TypeError, match="unexpected sizing parameter"):
        position_size("fixed_quantity", eq, px, quantity=1, stop=2)
    with pytest.raises(InvalidInputError, match="unknown sizing method"):
        position_size("martingale", eq, px)  # type: ignore[arg-type]


def test_size_order_is_clipped_to_the_limits() -> None:
    e = RiskEngine("default")
    e.add_instrument("AAPL", "0.01", "1")
    acct = account()
    # 10 % of 1M = 1,000 shares wanted; the 25,000 max order value allows 250.
    assert e.size_order(acct, "percent_of_equity", "S1", "AAPL", "buy", fraction="0.1") == 250
    assert e.max_order_quantity(acct, "S1", "AAPL", "buy") == 250
    acct.set_position("AAPL", 400, "100")
    assert e.max_order_quantity(acct, "S1", "AAPL", "buy") == 100
    assert e.max_order_quantity(acct, "S1", "NOPE", "buy") == 0


@settings(max_examples=200, deadline=None)
@given(
    cash=st.integers(0, 2_000_000),
    held=st.integers(0, 3_000),
    cents=st.integers(1, 100_000),
    fraction=st.integers(1, 100),
    side=st.sampled_from(["buy", "sell"]),
    profile=st.sampled_from(["conservative", "default", "aggressive"]),
)
def test_sized_orders_pass_the_check(
    cash: int, held: int, cents: int, fraction: int, side: str, profile: str
) -> None:
    e = RiskEngine(profile)
    e.set_session("UTC", open=None)
    e.add_instrument("AAPL", "0.01", "1")
    price = Decimal(cents) / 100
    acct = RiskAccount(cash)
    acct.set_position("AAPL", held, price)
    q = e.size_order(
        acct,
        "percent_of_equity",
        "S1",
        "AAPL",
        side,  # type: ignore[arg-type]
        price,
        fraction=Decimal(fraction) / 100,
    )
    assert q >= 0
    if q > 0:
        assert e.check(acct, "S1", "AAPL", side, q, price=price, ts=T0) is None  # type: ignore[arg-type]
