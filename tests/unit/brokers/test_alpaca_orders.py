"""The Alpaca client's REST side against the stand-in paper broker, failures included."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from pi5trading.brokers.alpaca import AlpacaClient
from pi5trading.brokers.alpaca_wire import order_body
from pi5trading.brokers.execution import (
    BrokerAuthError,
    BrokerRateLimitError,
    BrokerUnavailableError,
    OrderNotFoundError,
    OrderRejectedError,
    OrderRequest,
    StopLoss,
    TakeProfit,
)
from tests.standins.alpaca_trading import AlpacaPaperBroker, Fault

pytestmark = pytest.mark.anyio
D = Decimal


def market(coid: str = "sma-1", qty: str = "10", side: str = "buy") -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        instrument="AAPL",
        side=side,  # type: ignore[arg-type]
        order_type="market",
        quantity=D(qty),
    )


def limit(coid: str = "sma-2", qty: str = "5", price: str = "99.50") -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        instrument="AAPL",
        side="buy",
        order_type="limit",
        quantity=D(qty),
        limit_price=D(price),
        time_in_force="gtc",
    )


async def test_a_market_order_fills_and_the_account_follows(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    broker.prices["AAPL"] = D("187.13")
    order = await client.submit(market(qty="10"))
    assert (order.client_order_id, order.status, order.filled_qty) == ("sma-1", "filled", D(10))
    assert order.avg_px == D("187.13")
    [position] = await client.positions()
    assert (position.instrument, position.quantity, position.avg_px) == ("AAPL", 10, D("187.13"))
    account = await client.account()
    assert account.cash == D(100000) - D("1871.30")
    [fill] = await client.fills_since(0)
    assert (fill.client_order_id, fill.quantity, fill.price, fill.cum_qty) == (
        "sma-1",
        D(10),
        D("187.13"),
        D(10),
    )
    assert fill.commission == 0
    assert await client.fills_since(fill.ts + 1) == []


async def test_a_short_position_is_negative(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    await client.submit(market("s-1", qty="3", side="sell"))
    [position] = await client.positions()
    assert position.quantity == D(-3)


async def test_fills_are_paged_through(client: AlpacaClient, broker: AlpacaPaperBroker) -> None:
    order = await client.submit(limit(qty="250"))
    for i in range(250):
        broker.fill(order.broker_order_id, D(1), D("99") + D(i) / 100)
    fills = await client.fills_since(0)
    assert [f.cum_qty for f in fills] == [D(i + 1) for i in range(250)]
    assert sum(f.quantity * f.price for f in fills) == sum(D("99") + D(i) / 100 for i in range(250))
    assert broker.requests.count("GET /v2/account/activities/FILL") == 3


async def test_resting_orders_are_listed_open_and_found_by_client_order_id(
    client: AlpacaClient,
) -> None:
    placed = await client.submit(limit())
    assert placed.status == "accepted"
    assert placed.broker_status == "new"
    [open_order] = await client.open_orders()
    assert open_order.client_order_id == "sma-2"
    assert open_order.limit_price == D("99.50")
    found = await client.order("sma-2")
    assert found is not None
    assert found.broker_order_id == placed.broker_order_id
    assert await client.order("nobody") is None


async def test_a_bracket_is_one_order_with_its_exits_held(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    request = OrderRequest(
        client_order_id="br-1",
        instrument="AAPL",
        side="buy",
        order_type="limit",
        quantity=D(10),
        limit_price=D("100"),
        order_class="bracket",
        take_profit=TakeProfit(limit_price=D("110")),
        stop_loss=StopLoss(stop_price=D("95"), limit_price=D("94.5")),
    )
    order = await client.submit(request)
    assert order.order_class == "bracket"
    assert [(leg.order_type, leg.status) for leg in order.legs] == [
        ("limit", "submitted"),
        ("stop_limit", "submitted"),
    ]
    broker.fill(order.broker_order_id, D(10), D(100))
    legs = [broker.orders[leg.broker_order_id]["status"] for leg in order.legs]
    assert legs == ["new", "new"]


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (market(), {"type": "market", "qty": "10", "time_in_force": "day"}),
        (limit(price="99.50"), {"type": "limit", "limit_price": "99.50"}),
        (
            OrderRequest(
                client_order_id="x",
                instrument="AAPL",
                side="sell",
                order_type="stop_market",
                quantity=D(1),
                stop_price=D("90"),
                time_in_force="gtc",
            ),
            {"type": "stop", "stop_price": "90", "time_in_force": "gtc"},
        ),
        (
            OrderRequest(
                client_order_id="x",
                instrument="AAPL",
                side="sell",
                order_type="stop_limit",
                quantity=D(1),
                stop_price=D("90"),
                limit_price=D("89.9"),
            ),
            {"type": "stop_limit", "stop_price": "90", "limit_price": "89.9"},
        ),
        (
            OrderRequest(
                client_order_id="x",
                instrument="AAPL",
                side="sell",
                order_type="trailing_stop_market",
                quantity=D(1),
                trail_percent=D("1.5"),
            ),
            {"type": "trailing_stop", "trail_percent": "1.5"},
        ),
        (
            OrderRequest(
                client_order_id="x",
                instrument="AAPL",
                side="sell",
                order_type="trailing_stop_market",
                quantity=D("1E+1"),
                trail_price=D("2.00"),
                time_in_force="cls",
            ),
            {"type": "trailing_stop", "trail_price": "2.00", "qty": "10", "time_in_force": "cls"},
        ),
        (
            OrderRequest(
                client_order_id="x",
                instrument="AAPL",
                side="sell",
                order_type="limit",
                quantity=D(1),
                limit_price=D("110"),
                order_class="oco",
                take_profit=TakeProfit(limit_price=D("110")),
                stop_loss=StopLoss(stop_price=D("95")),
                time_in_force="opg",
            ),
            {
                "order_class": "oco",
                "take_profit": {"limit_price": "110"},
                "stop_loss": {"stop_price": "95"},
                "time_in_force": "opg",
            },
        ),
        (
            OrderRequest(
                client_order_id="x",
                instrument="AAPL",
                side="buy",
                order_type="market",
                quantity=D(1),
                order_class="oto",
                stop_loss=StopLoss(stop_price=D("95")),
                time_in_force="ioc",
            ),
            {"order_class": "oto", "stop_loss": {"stop_price": "95"}, "time_in_force": "ioc"},
        ),
    ],
)
def test_order_bodies_follow_alpacas_fields(
    request_: OrderRequest, expected: dict[str, object]
) -> None:
    body = order_body(request_)
    assert {k: body[k] for k in expected} == expected
    assert body["client_order_id"] == request_.client_order_id


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (
            OrderRequest(
                client_order_id="mit-1",
                instrument="AAPL",
                side="buy",
                order_type="market_if_touched",
                quantity=D(1),
                stop_price=D(1),
            ),
            "order 'mit-1': Alpaca has no market_if_touched orders",
        ),
        (
            OrderRequest(
                client_order_id="gtd-1",
                instrument="AAPL",
                side="buy",
                order_type="market",
                quantity=D(1),
                time_in_force="gtd",
                expire_time=1,
            ),
            "order 'gtd-1': Alpaca has no time in force 'gtd'",
        ),
    ],
)
async def test_what_alpaca_cannot_take_is_refused_before_sending(
    client: AlpacaClient, broker: AlpacaPaperBroker, request_: OrderRequest, message: str
) -> None:
    with pytest.raises(OrderRejectedError, match=message):
        await client.submit(request_)
    assert broker.posts == 0


async def test_insufficient_buying_power_is_a_rejection_not_an_auth_failure(
    client: AlpacaClient,
) -> None:
    with pytest.raises(OrderRejectedError, match="insufficient buying power") as err:
        await client.submit(market(qty="100000"))
    assert err.value.code == 40310000


async def test_alpaca_validation_errors_come_back_with_their_code(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    broker.fault(
        "POST /v2/orders",
        status=422,
        body=b'{"code":40010001,"message":"qty must be > 0"}',
    )
    with pytest.raises(OrderRejectedError, match=r"422: qty must be > 0 \(code 40010001\)") as err:
        await client.submit(market())
    assert err.value.code == 40010001


async def test_the_stand_in_refuses_invalid_orders_as_alpaca_does(
    broker: AlpacaPaperBroker, base_url: str
) -> None:
    headers = {"APCA-API-KEY-ID": broker.key_id, "APCA-API-SECRET-KEY": broker.secret_key}
    base = {"symbol": "AAPL", "side": "buy", "type": "market", "time_in_force": "day"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers) as http:
        zero = await http.post("/v2/orders", json={**base, "qty": "0"})
        tif = await http.post("/v2/orders", json={**base, "qty": "1", "time_in_force": "gtd"})
    assert (zero.status_code, zero.json()) == (
        422,
        {"code": 40010001, "message": "qty must be > 0"},
    )
    assert tif.status_code == 422
    assert tif.json()["message"] == "invalid time_in_force"


async def test_wrong_keys_are_an_auth_error_that_names_no_key(
    broker: AlpacaPaperBroker, base_url: str
) -> None:
    client = AlpacaClient(key_id="PKWRONG", secret_key="wrong-secret-xyz", base_url=base_url)
    try:
        with pytest.raises(BrokerAuthError, match="401: request is not authorized") as err:
            await client.account()
        with pytest.raises(BrokerAuthError):
            await client.submit(market())
    finally:
        await client.close()
    assert "wrong-secret-xyz" not in str(err.value)
    assert "PKWRONG" not in str(err.value)
    assert broker.posts == 0


async def test_a_403_forbidden_is_an_auth_error(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    broker.fault("GET /v2/positions", status=403, body=b'{"message":"forbidden."}')
    with pytest.raises(BrokerAuthError, match="403: forbidden"):
        await client.positions()


async def test_submitting_the_same_order_twice_makes_one_order(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    first = await client.submit(limit())
    again = await client.submit(limit())  # Alpaca answers 422 duplicate: looked up
    assert again.broker_order_id == first.broker_order_id
    assert len(broker.orders) == 1
    assert broker.posts == 2


async def test_a_client_order_id_reused_for_another_order_is_refused(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    await client.submit(limit(qty="5"))
    with pytest.raises(OrderRejectedError, match="already used at Alpaca by a different order"):
        await client.submit(limit(qty="6"))
    assert len(broker.orders) == 1


@pytest.mark.parametrize(
    "fault",
    [
        Fault(after=True, delay_s=1.5),  # the order is made, the answer comes too late
        Fault(after=True, status=500),  # made, then a 5xx
        Fault(after=True, status=503, body=b"<html>Service Unavailable</html>"),
        Fault(truncate=True),  # made, the answer cut in half
    ],
    ids=["timeout-after-create", "500-after-create", "503-html", "truncated-json"],
)
async def test_an_order_in_doubt_is_looked_up_never_sent_twice(
    client: AlpacaClient, broker: AlpacaPaperBroker, fault: Fault
) -> None:
    broker.fault("POST /v2/orders", fault)
    order = await client.submit(limit())
    assert order.client_order_id == "sma-2"
    assert order.status == "accepted"
    assert len(broker.orders) == 1
    assert broker.posts == 1
    assert "GET /v2/orders:by_client_order_id" in broker.requests


async def test_an_order_that_never_arrived_is_sent_again(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    broker.fault("POST /v2/orders", status=502)  # refused before doing anything
    broker.fault("POST /v2/orders", delay_s=1.5)  # slow, then... made after we gave up
    order = await client.submit(limit())
    assert len(broker.orders) == 1
    assert order.broker_order_id in broker.orders


async def test_a_429_waits_for_the_reset_and_retries(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    broker.rate_limit("POST /v2/orders", reset_in_s=0.3)
    order = await client.submit(market())
    assert order.status == "filled"
    assert len(broker.orders) == 1
    assert broker.requests.count("POST /v2/orders") == 2


async def test_rate_limited_beyond_the_retries_gives_up_clearly(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    for _ in range(4):
        broker.rate_limit("GET /v2/account", reset_in_s=0.05)
    with pytest.raises(BrokerRateLimitError, match="GET /v2/account: still rate limited"):
        await client.account()


@pytest.mark.parametrize(
    "fault",
    [Fault(status=500), Fault(status=504), Fault(truncate=True), Fault(delay_s=1.5)],
    ids=["500", "504", "truncated", "timeout"],
)
async def test_reads_are_retried_through_failures(
    client: AlpacaClient, broker: AlpacaPaperBroker, fault: Fault
) -> None:
    await client.submit(market())
    broker.fault("GET /v2/positions", fault)
    broker.fault("GET /v2/positions", fault)
    [position] = await client.positions()
    assert position.quantity == 10
    assert broker.requests.count("GET /v2/positions") == 3


async def test_a_read_failing_every_time_ends_in_a_clear_error(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    for _ in range(4):
        broker.fault("GET /v2/orders", status=500)
    with pytest.raises(BrokerUnavailableError, match=r"GET /v2/orders: Alpaca answered 500"):
        await client.open_orders()


@pytest.mark.parametrize("retries", [0, 2])
async def test_the_log_says_when_it_retries_and_when_it_does_not(
    broker: AlpacaPaperBroker, base_url: str, retries: int, caplog: pytest.LogCaptureFixture
) -> None:
    # With PI5_BROKER__MAX_RETRIES=0 the log said "retrying (1/0)"; with 2, the last
    # attempt's line said "retrying (3/2)" before giving up.
    c = AlpacaClient(
        key_id=broker.key_id, secret_key=broker.secret_key, base_url=base_url, timeout_s=1.0,
        max_retries=retries, backoff_s=0.01, max_backoff_s=0.05,
    )  # fmt: skip
    broker.outage(Fault(status=503))
    try:
        with pytest.raises(BrokerUnavailableError) as read:
            await c.open_orders()
        with pytest.raises(BrokerUnavailableError) as submit:
            await c.submit(market())
    finally:
        await c.close()
    lines = [r.getMessage() for r in caplog.records if "Alpaca answered 503" in r.getMessage()]
    steps = [m.rpartition("; ")[2] for m in lines]
    if retries == 0:
        # The read once; the submit once and its look-up once.
        assert steps == ["not retrying (PI5_BROKER__MAX_RETRIES is 0)", *[
            "looking the order up by client order id",
            "not retrying (PI5_BROKER__MAX_RETRIES is 0)"]]  # fmt: skip
        assert "(not retried: PI5_BROKER__MAX_RETRIES is 0)" in str(read.value)
        assert "(not retried: PI5_BROKER__MAX_RETRIES is 0)" in str(submit.value)
    else:
        assert steps[:3] == ["retrying (1/2)", "retrying (2/2)",
                             "not retrying again (2/2 retries used)"]  # fmt: skip
        assert not any("(3/2)" in m for m in lines)
        assert "(gave up after 2 retries)" in str(read.value)
    assert broker.requests.count("POST /v2/orders") == 1  # a submit in doubt: never resent


async def test_cancel_by_our_id(client: AlpacaClient, broker: AlpacaPaperBroker) -> None:
    order = await client.submit(limit())
    await client.cancel("sma-2")
    assert broker.orders[order.broker_order_id]["status"] == "canceled"
    assert await client.open_orders() == []


async def test_a_cancel_whose_answer_was_lost_is_not_an_error(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    await client.submit(limit())
    broker.fault("DELETE /v2/orders/{id}", after=True, status=500)
    await client.cancel("sma-2")  # retried: 422 "not cancelable" since it is cancelled
    assert broker.requests.count("DELETE /v2/orders/{id}") == 2


async def test_cancelling_a_filled_or_unknown_order_is_refused(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    await client.submit(market())
    with pytest.raises(OrderRejectedError, match="order is not cancelable"):
        await client.cancel("sma-1")
    with pytest.raises(OrderNotFoundError, match="'ghost': Alpaca has no such order"):
        await client.cancel("ghost")


async def test_replace_keeps_our_client_order_id(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    old = await client.submit(limit(price="99.50"))
    new = await client.replace("sma-2", limit_price=D("99.75"), quantity=D(7))
    assert new.client_order_id == "sma-2"
    assert new.broker_order_id != old.broker_order_id
    assert (new.limit_price, new.quantity, new.replaces) == (D("99.75"), 7, old.broker_order_id)
    assert broker.orders[old.broker_order_id]["status"] == "replaced"
    again = await client.replace("sma-2", limit_price=D("99.80"))  # follows the chain
    assert again.replaces == new.broker_order_id
    found = await client.order("sma-2")
    assert found is not None
    assert found.broker_order_id == again.broker_order_id
    await client.cancel("sma-2")
    assert broker.orders[again.broker_order_id]["status"] == "canceled"


async def test_a_replace_in_doubt_is_resolved_without_a_second_replace(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    await client.submit(limit())
    broker.fault("PATCH /v2/orders/{id}", after=True, delay_s=1.5)
    new = await client.replace("sma-2", limit_price=D("99.60"))
    assert new.limit_price == D("99.60")
    assert broker.requests.count("PATCH /v2/orders/{id}") == 1
    assert len(broker.orders) == 2  # the original (replaced) and its one successor


async def test_replacing_a_filled_order_is_refused(client: AlpacaClient) -> None:
    await client.submit(market())
    with pytest.raises(OrderRejectedError, match="order is not replaceable"):
        await client.replace("sma-1", quantity=D(20))
    with pytest.raises(OrderRejectedError, match="nothing to change"):
        await client.replace("sma-1")


async def test_an_order_still_in_doubt_says_how_to_find_out(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    broker.fault("POST /v2/orders", status=500)
    for _ in range(4):
        broker.fault("GET /v2/orders:by_client_order_id", status=503)
    with pytest.raises(
        BrokerUnavailableError, match="submit it again with the same client order id"
    ):
        await client.submit(limit())
    assert broker.requests.count("POST /v2/orders") == 1  # never re-sent while in doubt


async def test_a_422_about_the_client_order_id_itself_is_alpacas_refusal(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    broker.fault(
        "POST /v2/orders",
        status=422,
        body=b'{"code":40010001,"message":"client_order_id must be no more than 128 characters"}',
    )
    with pytest.raises(OrderRejectedError, match="no more than 128 characters"):
        await client.submit(limit())


async def test_a_coded_403_is_a_refused_trade(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    broker.fault(
        "POST /v2/orders",
        status=403,
        body=b'{"code":40310000,"message":"insufficient qty available for order"}',
    )
    with pytest.raises(OrderRejectedError, match="insufficient qty available") as err:
        await client.submit(market(side="sell"))
    assert err.value.code == 40310000


async def test_open_orders_are_paged_through(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    placed = {broker.add_foreign_order("AAPL", D(1), D("50"))["id"] for _ in range(1200)}
    listed = await client.open_orders()
    assert {o.broker_order_id for o in listed} == placed
    assert len(listed) == 1200
    assert broker.requests.count("GET /v2/orders") == 3


async def test_cancel_all_open_orders_in_one_call(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    await client.submit(market())
    await client.submit(limit("a"))
    await client.submit(limit("b"))
    broker.fault("DELETE /v2/orders", after=True, status=502)  # done, answer lost: again
    asked = await client.cancel_all()
    assert asked == []  # the second call found nothing left open
    assert await client.open_orders() == []
    await client.submit(limit("c"))
    assert await client.cancel_all() == ["c"]
