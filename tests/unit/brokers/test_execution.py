"""Order requests (checked on construction, made from engine orders) and the token bucket."""

from __future__ import annotations

import time
from decimal import Decimal

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pi5trading.brokers.execution import OrderRequest, StopLoss, TakeProfit
from pi5trading.brokers.rate_limit import TokenBucket
from pi5trading.exceptions import InvalidInputError
from pi5trading.orders import Order

D = Decimal


def request(**changes: object) -> OrderRequest:
    fields: dict[str, object] = {
        "client_order_id": "sma-1",
        "instrument": "AAPL",
        "side": "buy",
        "order_type": "limit",
        "quantity": D(10),
        "limit_price": D("99.5"),
    }
    fields.update(changes)
    return OrderRequest(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"quantity": D(0)}, "order 'sma-1': quantity must be a finite number > 0, got 0"),
        ({"quantity": D("NaN")}, "quantity must be a finite number > 0"),
        ({"limit_price": D("-1")}, "limit_price must be a finite number > 0, got -1"),
        ({"limit_price": None}, "a limit order needs limit_price"),
        (
            {"order_type": "stop_market", "limit_price": None},
            "a stop_market order needs stop_price",
        ),
        (
            {"order_type": "trailing_stop_market", "limit_price": None},
            "a trailing stop needs exactly one of trail_price, trail_percent",
        ),
        (
            {
                "order_type": "trailing_stop_market",
                "limit_price": None,
                "trail_price": D(1),
                "trail_percent": D(1),
            },
            "exactly one of trail_price, trail_percent",
        ),
        ({"time_in_force": "gtd"}, "expire_time goes with time_in_force 'gtd' only"),
        ({"order_class": "bracket"}, "a bracket order takes both of take_profit, stop_loss"),
        (
            {"take_profit": TakeProfit(limit_price=D(110))},
            "a simple order takes no of take_profit, stop_loss",
        ),
        (
            {
                "order_class": "oto",
                "take_profit": TakeProfit(limit_price=D(110)),
                "stop_loss": StopLoss(stop_price=D(90)),
            },
            "an? oto order takes one of take_profit, stop_loss",
        ),
        (
            {"order_class": "oto", "stop_loss": StopLoss(stop_price=D(0))},
            "StopLoss.stop_price must be a finite number > 0",
        ),
        ({"client_order_id": ""}, "invalid client_order_id ''"),
        ({"client_order_id": "x" * 129}, "1 to 128 printable characters"),
        ({"instrument": ""}, "order 'sma-1': invalid instrument ''"),
    ],
)
def test_a_bad_request_is_refused_naming_the_field(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        request(**changes)


def test_requests_from_engine_orders() -> None:
    stop_limit = Order(
        "sma-7",
        "sma",
        "AAPL",
        "sell",
        "stop_limit",
        3,
        price="95.10",
        trigger_price="95.25",
        time_in_force="day",
    )
    got = OrderRequest.from_order(stop_limit, extended_hours=True)
    assert got == OrderRequest(
        client_order_id="sma-7",
        instrument="AAPL",
        side="sell",
        order_type="stop_limit",
        quantity=D(3),
        limit_price=D("95.10"),
        stop_price=D("95.25"),
        time_in_force="day",
        extended_hours=True,
        strategy_id="sma",
    )
    market = OrderRequest.from_order(Order("m-1", "sma", "AAPL", "buy", "market", 1))
    assert (market.limit_price, market.stop_price, market.time_in_force) == (None, None, "gtc")
    trailing = Order("t-1", "sma", "AAPL", "sell", "trailing_stop_market", 1, trailing_offset="2")
    with pytest.raises(InvalidInputError, match="build an OrderRequest with trail_price"):
        OrderRequest.from_order(trailing)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_allows_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(200, clock=clock)
    assert [bucket.try_acquire() for _ in range(200)] == [0.0] * 200
    assert bucket.try_acquire() == pytest.approx(0.3)  # one token every 60/200 s
    clock.now += 0.3
    assert bucket.try_acquire() == 0.0
    clock.now += 600  # refills up to the burst, no further
    assert bucket.available == pytest.approx(200)


def test_a_429_drains_the_bucket_for_the_reset_time() -> None:
    clock = FakeClock()
    bucket = TokenBucket(60, clock=clock)
    bucket.drain(2.0)
    assert bucket.try_acquire() == pytest.approx(2.0)  # the next call goes at the reset
    clock.now += 1.0
    assert bucket.try_acquire() == pytest.approx(1.0)
    clock.now += 1.0
    assert bucket.try_acquire() == 0.0


@given(st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=300), st.integers(1, 300))
def test_never_more_calls_than_the_limit_allows(gaps: list[float], per_minute: int) -> None:
    clock = FakeClock()
    bucket = TokenBucket(per_minute, clock=clock)
    start = clock.now
    taken = 0
    for gap in gaps:
        clock.now += gap
        if bucket.try_acquire() == 0.0:
            taken += 1
    elapsed = clock.now - start
    assert taken <= per_minute + elapsed * per_minute / 60 + 1e-9


@pytest.mark.anyio
async def test_acquire_waits_for_a_token() -> None:
    bucket = TokenBucket(600)  # 10 a second
    for _ in range(600):
        await bucket.acquire()
    started = time.monotonic()
    for _ in range(3):
        await bucket.acquire()
    assert 0.25 <= time.monotonic() - started < 2.0  # ~0.3 s; slack for a busy machine
    with anyio.fail_after(1):
        await bucket.acquire()


def test_a_bucket_needs_a_rate() -> None:
    with pytest.raises(ValueError, match="per_minute must be >= 1"):
        TokenBucket(0)


def test_contingent_requests_from_engine_orders() -> None:
    entry = Order("e", "s", "AAPL", "buy", "limit", 10, price="100")
    tp = Order("e-tp", "s", "AAPL", "sell", "limit", 10, price="110")
    sl = Order("e-sl", "s", "AAPL", "sell", "stop_limit", 10, price="94", trigger_price="95")
    bracket = OrderRequest.from_bracket(entry, tp, sl)
    assert (bracket.client_order_id, bracket.order_class) == ("e", "bracket")
    assert bracket.take_profit == TakeProfit(limit_price=D(110), client_order_id="e-tp")
    assert bracket.stop_loss == StopLoss(
        stop_price=D(95), limit_price=D(94), client_order_id="e-sl"
    )
    oco = OrderRequest.from_oco(tp, sl)
    assert (oco.client_order_id, oco.order_type, oco.limit_price, oco.order_class) == (
        "e-tp",
        "limit",
        D(110),
        "oco",
    )
    oto = OrderRequest.from_oto(entry, sl)
    assert (oto.order_class, oto.take_profit, oto.stop_loss) == ("oto", None, bracket.stop_loss)
    with pytest.raises(InvalidInputError, match="'e-sl': a take-profit is a limit order"):
        OrderRequest.from_bracket(entry, sl, tp)
    with pytest.raises(InvalidInputError, match="'e': a stop-loss is a stop or stop-limit"):
        OrderRequest.from_oco(tp, entry)
