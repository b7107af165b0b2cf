"""The simulated venue behind the execution-client interface."""

from __future__ import annotations

from decimal import Decimal

import anyio
import pytest

from pi5trading.brokers.execution import (
    BrokerOrderUpdate,
    OrderNotFoundError,
    OrderRejectedError,
    OrderRequest,
    StopLoss,
    TakeProfit,
)
from pi5trading.brokers.reconcile import LocalFill, LocalOrder, LocalState, reconcile
from pi5trading.brokers.simulated import SimulatedExecutionClient
from pi5trading.model import Bar
from pi5trading.venue import SimulatedVenue

pytestmark = pytest.mark.anyio
D = Decimal
MIN = 60_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 1_000

    def __call__(self) -> int:
        return self.now


def make() -> tuple[SimulatedExecutionClient, Clock]:
    venue = SimulatedVenue(starting_cash=D(100000))
    venue.add_instrument("AAPL")
    clock = Clock()
    return SimulatedExecutionClient(venue, clock=clock), clock


def bar(close_ts: int, o: str, h: str, low: str, c: str) -> Bar:
    return Bar("AAPL-1m", o, h, low, c, 100_000, close_ts)


async def drain(client: SimulatedExecutionClient) -> list[BrokerOrderUpdate]:
    out: list[BrokerOrderUpdate] = []
    with anyio.move_on_after(0.05):
        async for update in client.updates():
            out.append(update)
    return out


async def test_a_market_order_fills_on_the_next_bar_with_its_commission() -> None:
    client, _clock = make()
    order = await client.submit(
        OrderRequest(
            client_order_id="m-1",
            instrument="AAPL",
            side="buy",
            order_type="market",
            quantity=D(10),
            time_in_force="gtc",
        )
    )
    assert order.status == "accepted"
    client.process(bar(MIN, "100", "101", "99", "100.5"))
    updates = await drain(client)
    assert [(u.kind, u.status) for u in updates] == [
        ("submitted", "submitted"),
        ("accepted", "accepted"),
        ("filled", "filled"),
    ]
    fill = updates[-1]
    assert (fill.fill_qty, fill.fill_price, fill.commission) == (D(10), D("100.01"), D(1))
    [position] = await client.positions()
    assert (position.quantity, position.avg_px) == (D(10), D("100.01"))
    account = await client.account()
    assert account.cash == D(100000) - D("1000.10") - D(1)
    [booked] = await client.fills_since(0)
    assert (booked.client_order_id, booked.cum_qty, booked.commission) == ("m-1", D(10), D(1))
    again = await client.submit(
        OrderRequest(
            client_order_id="m-1",
            instrument="AAPL",
            side="buy",
            order_type="market",
            quantity=D(10),
        )
    )
    assert again.status == "filled"  # the same order, not a second one
    assert len(await client.fills_since(0)) == 1


async def test_cancel_replace_and_their_refusals() -> None:
    client, _ = make()
    await client.submit(
        OrderRequest(
            client_order_id="l-1",
            instrument="AAPL",
            side="buy",
            order_type="limit",
            quantity=D(5),
            limit_price=D("90"),
            time_in_force="gtc",
        )
    )
    changed = await client.replace("l-1", limit_price=D("91"), quantity=D(6))
    assert (changed.limit_price, changed.quantity) == (D(91), D(6))
    [open_order] = await client.open_orders()
    assert open_order.client_order_id == "l-1"
    await client.cancel("l-1")
    await client.cancel("l-1")
    updates = await drain(client)
    assert [u.kind for u in updates] == [
        "submitted",
        "accepted",
        "modify_accepted",
        "cancelled",
        "cancel_rejected",
    ]
    assert updates[-1].reason == "order already cancelled"
    with pytest.raises(OrderNotFoundError):
        await client.cancel("nope")
    with pytest.raises(OrderRejectedError, match="quantity, limit and stop prices only"):
        await client.replace("l-1", trail=D(1))


async def test_a_bracket_exits_at_the_take_profit() -> None:
    client, _ = make()
    await client.submit(
        OrderRequest(
            client_order_id="br",
            instrument="AAPL",
            side="buy",
            order_type="limit",
            quantity=D(10),
            limit_price=D("100"),
            time_in_force="gtc",
            order_class="bracket",
            take_profit=TakeProfit(limit_price=D("105")),
            stop_loss=StopLoss(stop_price=D("95")),
        )
    )
    client.process(bar(MIN, "100", "100", "99.5", "100"))
    client.process(bar(2 * MIN, "101", "106", "100.5", "105.5"))
    updates = await drain(client)
    filled = [(u.client_order_id, u.status) for u in updates if u.kind == "filled"]
    assert filled == [("br", "filled"), ("br-tp", "filled")]
    cancelled = [u.client_order_id for u in updates if u.kind == "cancelled"]
    assert cancelled == ["br-sl"]
    assert await client.positions() == []


async def test_auctions_are_refused() -> None:
    client, _ = make()
    with pytest.raises(OrderRejectedError, match="no auctions"):
        await client.submit(
            OrderRequest(
                client_order_id="o",
                instrument="AAPL",
                side="buy",
                order_type="market",
                quantity=D(1),
                time_in_force="opg",
            )
        )


async def test_reconciles_clean_against_books_kept_from_its_updates() -> None:
    client, _ = make()
    for coid, kind in (("m-1", "market"), ("l-1", "limit")):
        await client.submit(
            OrderRequest(
                client_order_id=coid,
                instrument="AAPL",
                side="buy",
                order_type=kind,  # type: ignore[arg-type]
                quantity=D(4),
                limit_price=D("50") if kind == "limit" else None,
                time_in_force="gtc",
            )
        )
    client.process(bar(MIN, "100", "101", "99", "100.5"))
    updates = await drain(client)
    fills = [
        LocalFill(
            client_order_id=u.client_order_id,
            instrument=u.instrument,
            side="buy",
            quantity=u.fill_qty or D(0),
            price=u.fill_price or D(0),
            ts=u.ts,
        )
        for u in updates
        if u.kind == "filled"
    ]
    local = LocalState(
        open_orders=[
            LocalOrder(client_order_id="l-1", instrument="AAPL", side="buy", quantity=D(4))
        ],
        fills=fills,
        positions={"AAPL": D(4)},
    )
    assert (await reconcile(client, local)).clean
    report = await reconcile(client, LocalState(positions={"AAPL": D(3)}))
    assert sorted(d.kind for d in report.differences) == [
        "missing_fill",
        "position_mismatch",
        "unknown_order",
    ]


async def test_the_configured_client() -> None:
    from pi5trading.brokers import execution_client
    from pi5trading.brokers.alpaca import AlpacaClient
    from pi5trading.config import BrokerSettings
    from pi5trading.exceptions import ConfigurationError

    assert isinstance(execution_client(BrokerSettings()), SimulatedExecutionClient)
    alpaca = execution_client(BrokerSettings(provider="alpaca", key_id="k", secret_key="s"))
    assert isinstance(alpaca, AlpacaClient)
    assert alpaca.base_url == "https://paper-api.alpaca.markets"
    await alpaca.close()
    with pytest.raises(ConfigurationError, match="I_UNDERSTAND_LIVE_TRADING"):
        execution_client(BrokerSettings(provider="alpaca", key_id="k", secret_key="s", live=True))


async def test_an_oco_from_engine_orders_keeps_their_ids() -> None:
    from pi5trading.orders import Order

    client, _ = make()
    await client.submit(
        OrderRequest(
            client_order_id="in",
            instrument="AAPL",
            side="buy",
            order_type="market",
            quantity=D(10),
        )
    )
    client.process(bar(MIN, "100", "100", "100", "100"))
    tp = Order("x-tp", "s", "AAPL", "sell", "limit", 10, price="104")
    sl = Order("x-sl", "s", "AAPL", "sell", "stop_market", 10, trigger_price="97")
    await client.submit(OrderRequest.from_oco(tp, sl))
    client.process(bar(2 * MIN, "100", "100.5", "96", "96.5"))
    updates = await drain(client)
    assert [(u.client_order_id, u.kind) for u in updates if u.kind in ("filled", "cancelled")] == [
        ("in", "filled"),
        ("x-sl", "filled"),
        ("x-tp", "cancelled"),
    ]
    assert await client.positions() == []


async def test_cancel_all_through_the_interface() -> None:
    client, _ = make()
    for coid in ("a", "b"):
        await client.submit(
            OrderRequest(
                client_order_id=coid,
                instrument="AAPL",
                side="buy",
                order_type="limit",
                quantity=D(1),
                limit_price=D(50),
                time_in_force="gtc",
            )
        )
    assert sorted(await client.cancel_all()) == ["a", "b"]
    assert await client.open_orders() == []
