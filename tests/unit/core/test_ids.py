"""Ids at the Python boundary: the core keeps symbols, strategy ids and client order ids as
inline fixed-size values, so an id that does not fit (too long, empty, with spaces) is an
``InvalidInputError`` (a ``ValueError``) naming the field, never a crash or a truncation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pi5trading.data import BarFrame, random_walk_bars
from pi5trading.engine import BacktestRunner
from pi5trading.exceptions import InvalidInputError
from pi5trading.model import Bar
from pi5trading.orders import Order
from pi5trading.portfolio import Portfolio
from pi5trading.strategies.base import Strategy
from tests.venues import no_cost_venue


def order(cid: str = "c-1", sid: str = "s", symbol: str = "AAPL") -> Order:
    return Order(cid, sid, symbol, "buy", "market", 1)


@pytest.mark.parametrize(
    ("kwargs", "field", "why"),
    [
        ({"cid": "c" * 64}, "client_order_id", "1 to 63 characters"),
        ({"cid": "my order"}, "client_order_id", "without spaces"),
        ({"cid": ""}, "client_order_id", "1 to 63 characters"),
        ({"sid": "s" * 48}, "strategy_id", "1 to 47 characters"),
        ({"sid": "my strategy"}, "strategy_id", "without spaces"),
        ({"symbol": "A" * 24}, "instrument", "1 to 23 characters"),
    ],
)
def test_order_ids_that_do_not_fit_are_a_value_error_naming_the_field(
    kwargs: dict[str, str], field: str, why: str
) -> None:
    with pytest.raises(InvalidInputError, match=f"invalid {field}:.*{why}") as e:
        order(**kwargs)
    assert isinstance(e.value, ValueError)


def test_ids_at_the_limits_round_trip() -> None:
    o = order("c" * 63, "s" * 47, "A" * 23)
    assert (o.client_order_id, o.strategy_id, o.instrument) == ("c" * 63, "s" * 47, "A" * 23)


def test_portfolio_refuses_ids_that_do_not_fit() -> None:
    p = Portfolio("1000")
    with pytest.raises(InvalidInputError, match="invalid strategy_id"):
        p.apply_fill("s" * 48, "AAPL", "buy", 1, "10")
    with pytest.raises(InvalidInputError, match="invalid instrument"):
        p.mark("A B", "10")
    events = p.apply_fill("s" * 47, "AAPL", "buy", 1, "10")
    assert events[-1].strategy_id == "s" * 47


class BuyOnce(Strategy):
    warmup = True

    def on_bar(self, bar: Bar) -> None:
        if self.is_flat() and not self.open_orders():
            self.buy(Decimal(1))


def run_with_id(strategy_id: str) -> list[str]:
    runner = BacktestRunner(venue=no_cost_venue(), risk=None)
    runner.add_bars("SIM", BarFrame.from_columns(random_walk_bars(20, seed=2), "gen"))
    runner.add_strategy(BuyOnce(strategy_id=strategy_id))
    result = runner.run()
    return [t.client_order_id for t in result.fills]


def test_backtest_strategy_id_too_long_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match=r"invalid strategy_id:.*1 to 47 characters"):
        run_with_id("x" * 48)
    with pytest.raises(InvalidInputError, match=r"invalid strategy_id:.*without spaces"):
        run_with_id("buy once")


def test_longest_strategy_id_still_makes_order_ids() -> None:
    sid = "x" * 47
    assert run_with_id(sid) == [f"{sid}-1"]
