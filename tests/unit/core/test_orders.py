"""Orders through the Python API: construction, validation, lifecycle errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pi5trading.exceptions import InvalidInputError, InvalidStateError
from pi5trading.orders import Order


def test_order_fields_round_trip_as_decimals() -> None:
    o = Order(
        "c-1",
        "sma",
        "AAPL",
        "buy",
        "stop_limit",
        Decimal("10"),
        price="101.25",
        trigger_price=Decimal("101.00"),
        time_in_force="gtd",
        expire_time=123,
        tags=["entry"],
    )
    assert o.client_order_id == "c-1"
    assert o.strategy_id == "sma"
    assert (o.side, o.order_type, o.time_in_force) == ("buy", "stop_limit", "gtd")
    assert o.quantity == Decimal(10)
    assert o.price == Decimal("101.25")
    assert o.trigger_price == Decimal("101")
    assert o.expire_time == 123
    assert o.tags == ["entry"]
    assert o.status == "initialized"
    assert o.filled_qty == 0
    assert o.leaves_qty == 10
    assert o.avg_px is None
    assert o.venue_order_id is None
    assert not o.is_open
    assert not o.is_terminal


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"order_type": "limit"}, "price"),
        ({"order_type": "stop_market"}, "trigger_price"),
        ({"order_type": "market", "price": "1"}, "price"),
        ({"order_type": "trailing_stop_market"}, "trailing_offset"),
        ({"order_type": "market", "time_in_force": "gtd"}, "expire_time"),
        ({"order_type": "market", "post_only": True}, "post_only"),
        ({"order_type": "market", "quantity": 0}, "quantity"),
        ({"order_type": "market", "side": "hold"}, "side"),
        ({"order_type": "iceberg"}, "order_type"),
    ],
)
def test_invalid_orders_name_the_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"side": "buy", "quantity": 1, **kwargs}
    with pytest.raises(InvalidInputError, match=field):
        Order("c", "s", "X", **args)  # type: ignore[arg-type]


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError, match="quantity"):
        Order("c", "s", "X", "buy", "market", 1.5)  # type: ignore[arg-type]


def test_trailing_offsets() -> None:
    o = Order(
        "t",
        "s",
        "X",
        "sell",
        "trailing_stop_market",
        1,
        trailing_offset=50,
        trailing_offset_type="basis_points",
    )
    assert o.trigger_price is None
    with pytest.raises(InvalidInputError, match="whole number"):
        Order(
            "t",
            "s",
            "X",
            "sell",
            "trailing_stop_market",
            1,
            trailing_offset="0.5",
            trailing_offset_type="basis_points",
        )


def test_deny_is_a_lifecycle_event_and_only_once() -> None:
    o = Order("c", "s", "X", "buy", "market", 1)
    ev = o.deny(5, "max position exceeded")
    assert (ev.kind, ev.status, ev.ts, ev.reason) == (
        "denied",
        "denied",
        5,
        "max position exceeded",
    )
    assert ev.strategy_id == "s"
    assert o.status == "denied"
    assert o.is_terminal
    with pytest.raises(InvalidStateError):
        o.deny(6, "again")
