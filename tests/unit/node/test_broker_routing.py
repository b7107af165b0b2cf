"""The node trading through a broker: the engine's orders go to the Alpaca stand-in and
its ``trade_updates`` come back as the engine's order, fill and position events (and
storage rows); refusals, cancels, replaces, a dropped stream caught by the
reconciliation, a rate limit on submit."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pi5trading import _core
from pi5trading.brokers.alpaca import AlpacaClient
from pi5trading.brokers.execution import BrokerOrderUpdate, OrderRequest
from pi5trading.config import BrokerSettings, NodeSettings, load_settings
from pi5trading.exceptions import ConfigurationError
from pi5trading.model import Bar
from pi5trading.node import TradingNode
from pi5trading.sinks.alerts import GotifyAlerts
from pi5trading.sinks.wiring import open_sinks
from pi5trading.strategies.base import Strategy
from tests.standins.alpaca_trading import AlpacaPaperBroker, Fault
from tests.standins.gotify import GotifyStandIn
from tests.standins.server import serve

from .replay import ReplayFeed

pytestmark = pytest.mark.anyio

T0 = 1_704_898_800_000_000_000  # 2024-01-10 15:00 UTC
MIN = 60_000_000_000


class Trader(Strategy):
    """Buys 10 at market on its first bar (with ``auto``); records every callback."""

    warmup = True
    auto = True

    def on_start(self) -> None:
        self.bars = 0
        self.fills: list[_core.OrderEvent] = []
        self.orders: list[tuple[str, str, str]] = []
        self.positions: list[_core.PositionEvent] = []

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        if self.bars == 1 and self.auto:
            self.buy(10, symbol=bar.symbol)

    def on_order(self, event: _core.OrderEvent) -> None:
        self.orders.append((event.client_order_id, event.kind, event.reason))

    def on_fill(self, event: _core.OrderEvent) -> None:
        self.fills.append(event)

    def on_position(self, event: _core.PositionEvent) -> None:
        self.positions.append(event)


@pytest.fixture
def broker() -> AlpacaPaperBroker:
    b = AlpacaPaperBroker()
    b.prices["AAA"] = Decimal("101.37")
    return b


@pytest.fixture
def base_url(broker: AlpacaPaperBroker) -> Iterator[str]:
    with serve(broker.app) as base:
        yield base


def make_client(broker: AlpacaPaperBroker, base_url: str) -> AlpacaClient:
    return AlpacaClient(
        key_id=broker.key_id,
        secret_key=broker.secret_key,
        base_url=base_url,
        timeout_s=2.0,
        max_retries=3,
        backoff_s=0.01,
        max_backoff_s=0.05,
    )


@pytest.fixture
async def node(broker: AlpacaPaperBroker, base_url: str) -> AsyncIterator[TradingNode]:
    n = TradingNode(
        settings=NodeSettings(),
        clock="replay",
        risk="unlimited",
        execution=make_client(broker, base_url),
    )
    n.add_instrument("AAA")
    try:
        yield n
    finally:
        await n.stop()


async def until(check: Callable[[], Awaitable[bool]], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


def bar(n: int, close: str = "100") -> tuple[str, int, Bar]:
    c = Decimal(close)
    ts = T0 + n * MIN
    return ("data.bars.AAA.1m", ts, Bar("AAA-1m", c, c, c, c, Decimal(1000), ts))


async def start(node: TradingNode, strategy: Trader) -> Trader:
    """Start with the strategy, and one bar so market orders have a price for risk."""
    strategy.auto = False
    await node.add_strategy(strategy)
    await node.start(start_ts=T0)
    feed = ReplayFeed([bar(1)])
    await feed.start(node.queue)
    await feed.finished()
    await node.drain()
    return strategy


def broker_id(broker: AlpacaPaperBroker, oid: str) -> str:
    """The stand-in's live order for our id (a replace makes a new one)."""
    order = broker.by_client_id(oid)
    while order["replaced_by"]:
        order = broker.orders[order["replaced_by"]]
    return str(order["id"])


async def order_of(node: TradingNode, oid: str) -> _core.Order:
    o = await node.call(lambda e: e.order(oid))
    assert o is not None
    return o


async def test_a_market_order_goes_to_the_broker_and_its_fill_comes_back(
    node: TradingNode, broker: AlpacaPaperBroker, tmp_path: Path
) -> None:
    settings = load_settings(env={"PI5_DATA_DIR": str(tmp_path)}, dotenv_path=None)
    sinks = await open_sinks(settings, node.bus, order_lookup=node.engine.order)
    node.on_shutdown(sinks.close, "sinks")
    published: list[tuple[str, Any]] = []
    node.bus.subscribe("orders.*", lambda e: published.append(("order", e.kind)))
    s = Trader(strategy_id="t")
    await node.add_strategy(s)
    await node.start(start_ts=T0)
    feed = ReplayFeed([bar(1), bar(2)])
    await feed.start(node.queue)
    await feed.finished()
    await node.drain()

    async def filled() -> bool:
        return len(s.fills) == 1

    await until(filled)
    fill = s.fills[0]
    assert fill.client_order_id == "t-1"
    assert fill.fill is not None
    assert (fill.fill.quantity, fill.fill.price) == (Decimal(10), Decimal("101.37"))
    # The stand-in got exactly one order, with our client order id.
    assert [o["client_order_id"] for o in broker.orders.values()] == ["t-1"]
    # The lifecycle as a simulated venue makes it: submitted, accepted, filled.
    kinds = [k for oid, k, _ in s.orders if oid == "t-1"]
    assert kinds == ["submitted", "accepted", "filled"]
    assert [p.kind for p in s.positions] == ["opened"]
    portfolio = await node.call(lambda e: e.portfolio)
    assert portfolio.cash == Decimal(100_000) - Decimal("1013.70")
    pos = portfolio.position("AAA")
    assert pos is not None
    assert (pos.quantity, pos.avg_px) == (Decimal(10), Decimal("101.37"))
    assert portfolio.identity_residual == 0
    assert ("order", "filled") in published
    await node.stop()
    with sqlite3.connect(tmp_path / "pi5trading.db") as db:
        rows = db.execute("select order_id, quantity, price from fills").fetchall()
        status = db.execute("select status from orders where order_id='t-1'").fetchall()
    assert [(r[0], Decimal(str(r[1])), Decimal(str(r[2]))) for r in rows] == [
        ("t-1", Decimal(10), Decimal("101.37"))
    ]
    assert status == [("filled",)]


async def test_limit_orders_fill_in_parts_and_are_replaced_and_cancelled(
    node: TradingNode, broker: AlpacaPaperBroker
) -> None:
    s = await start(node, Trader(strategy_id="t"))
    oid = await node.call(lambda e: s.buy(10, symbol="AAA", limit=Decimal("99.50")))
    await node.router.flush()  # type: ignore[union-attr]
    assert broker.by_client_id(oid)["limit_price"] == "99.5"

    async def accepted() -> bool:
        return (await order_of(node, oid)).status == "accepted"

    await until(accepted)
    # Two partial fills at exact prices.
    broker.fill(broker_id(broker, oid), Decimal(4), Decimal("99.50"))

    async def partly() -> bool:
        return (await order_of(node, oid)).filled_qty == 4

    await until(partly)
    assert (await order_of(node, oid)).status == "partially_filled"
    # A replace: the broker makes a new order; ours keeps its id and takes the new values.
    await node.call(lambda e: s.modify(oid, quantity=Decimal(20), price=Decimal("99.40")))
    await node.router.flush()  # type: ignore[union-attr]

    async def replaced() -> bool:
        o = await order_of(node, oid)
        return o.quantity == 20

    await until(replaced)
    o = await order_of(node, oid)
    assert (o.price, o.filled_qty) == (Decimal("99.40"), Decimal(4))
    broker.fill(broker_id(broker, oid), Decimal(6), Decimal("99.40"))

    async def ten() -> bool:
        return (await order_of(node, oid)).filled_qty == 10

    await until(ten)
    await node.call(lambda e: s.cancel(oid))

    async def cancelled() -> bool:
        return (await order_of(node, oid)).status == "cancelled"

    await until(cancelled)
    kinds = [k for i, k, _ in s.orders if i == oid]
    assert kinds == [
        "submitted",
        "accepted",
        "filled",
        "modify_accepted",
        "filled",
        "cancelled",
    ]
    portfolio = await node.call(lambda e: e.portfolio)
    spent = Decimal(4) * Decimal("99.50") + Decimal(6) * Decimal("99.40")
    assert portfolio.cash == Decimal(100_000) - spent
    assert portfolio.position("AAA").quantity == 10  # type: ignore[union-attr]
    assert node.router.stats.updates_refused == 0  # type: ignore[union-attr]


async def test_a_refused_submit_is_rejected_with_the_brokers_reason(
    node: TradingNode, broker: AlpacaPaperBroker
) -> None:
    s = await start(node, Trader(strategy_id="t"))
    # More than the stand-in's buying power: Alpaca answers 403.
    oid = await node.call(lambda e: s.buy(5000, symbol="AAA", limit=Decimal(100)))

    async def rejected() -> bool:
        return (await order_of(node, oid)).status == "rejected"

    await until(rejected)
    reasons = [r for i, k, r in s.orders if i == oid and k == "rejected"]
    assert len(reasons) == 1
    assert "insufficient buying power" in reasons[0]
    portfolio = await node.call(lambda e: e.portfolio)
    assert portfolio.cash == Decimal(100_000)


async def test_a_rate_limited_submit_is_retried_and_sent_once(
    node: TradingNode, broker: AlpacaPaperBroker
) -> None:
    s = await start(node, Trader(strategy_id="t"))
    broker.rate_limit("POST /v2/orders", reset_in_s=0.2)
    oid = await node.call(lambda e: s.buy(3, symbol="AAA"))

    async def filled() -> bool:
        return (await order_of(node, oid)).status == "filled"

    await until(filled)
    assert [o["client_order_id"] for o in broker.orders.values()] == [oid]
    assert len(s.fills) == 1


async def test_an_order_queued_too_long_behind_a_slow_broker_is_rejected_not_sent_late(
    broker: AlpacaPaperBroker, base_url: str
) -> None:
    # The broker takes 1 s to answer the first submit (and loses the answer); the second
    # order waits behind it longer than PI5_BROKER__SEND_WITHIN_S: sent then, it would
    # meet a market its strategy never saw. It is rejected here, saying why.
    node = TradingNode(
        settings=NodeSettings(),
        clock="replay",
        risk="unlimited",
        execution=make_client(broker, base_url),
        broker=BrokerSettings(send_within_s=0.3),
    )
    node.add_instrument("AAA")
    try:
        s = await start(node, Trader(strategy_id="t"))
        broker.fault("POST /v2/orders", Fault(status=500, after=True, delay_s=1.0))
        first = await node.call(lambda e: s.buy(2, symbol="AAA"))
        second = await node.call(lambda e: s.buy(3, symbol="AAA"))
        router = node.router
        assert router is not None
        await router.flush()

        async def settled() -> bool:
            return (await order_of(node, first)).status == "filled" and (
                await order_of(node, second)
            ).status == "rejected"

        await until(settled)
        reasons = [r for i, k, r in s.orders if i == second and k == "rejected"]
        assert len(reasons) == 1
        assert re.fullmatch(
            r"not sent: waited \d+\.\d s for the broker "
            r"\(PI5_BROKER__SEND_WITHIN_S=0\.3\)",
            reasons[0],
        ), reasons
        assert [o["client_order_id"] for o in broker.orders.values()] == [first]
        assert router.stats.too_late == 1
        portfolio = await node.call(lambda e: e.portfolio)
        assert portfolio.position("AAA").quantity == 2  # type: ignore[union-attr]
    finally:
        await node.stop()


async def test_a_fill_missed_while_the_stream_was_down_is_booked_once(
    node: TradingNode, broker: AlpacaPaperBroker
) -> None:
    s = await start(node, Trader(strategy_id="t"))
    router = node.router
    assert router is not None
    oid = await node.call(lambda e: s.buy(10, symbol="AAA", limit=Decimal("99")))

    async def accepted() -> bool:
        return (await order_of(node, oid)).status == "accepted"

    await until(accepted)
    # The stream drops right away and the fill happens before it is back.
    broker.drop_stream_after(0)
    broker.fill(broker_id(broker, oid), Decimal(10), Decimal("98.75"))
    report = await router.reconcile()
    assert [d.kind for d in report.differences if d.kind == "missing_fill"] in (
        [],
        ["missing_fill"],
    )

    async def filled() -> bool:
        return (await order_of(node, oid)).status == "filled"

    await until(filled)
    # Whichever came first (the reconciliation or the recovered stream), booked once.
    await asyncio.sleep(0.5)
    await router.reconcile()
    assert len(s.fills) == 1
    portfolio = await node.call(lambda e: e.portfolio)
    assert portfolio.cash == Decimal(100_000) - Decimal("987.50")
    assert portfolio.position("AAA").quantity == 10  # type: ignore[union-attr]
    assert router.reports[-1].clean, router.reports[-1].differences


async def test_reconciliation_books_a_fill_the_stream_never_told(
    broker: AlpacaPaperBroker, base_url: str
) -> None:
    """The stream is silent (its updates go nowhere): only the reconciliation sees the
    fill; it books it once, through the order's lifecycle."""
    client = make_client(broker, base_url)

    async def silent() -> AsyncIterator[Any]:
        await asyncio.Event().wait()
        yield  # pragma: no cover

    client.updates = silent  # type: ignore[method-assign]
    node = TradingNode(settings=NodeSettings(), clock="replay", risk="unlimited", execution=client)
    node.add_instrument("AAA")
    try:
        s = await start(node, Trader(strategy_id="t"))
        oid = await node.call(lambda e: s.buy(7, symbol="AAA"))
        await node.router.flush()  # type: ignore[union-attr]
        assert (await order_of(node, oid)).status == "submitted"
        report = await node.router.reconcile()  # type: ignore[union-attr]
        assert [d.kind for d in report.differences] == [
            "missing_fill",
            "closed_at_broker",
            "position_mismatch",
        ]
        o = await order_of(node, oid)
        assert (o.status, o.filled_qty) == ("filled", Decimal(7))
        assert len(s.fills) == 1
        # The stream, back, tells the same fill late: a repeat, not booked again.
        late = BrokerOrderUpdate(
            client_order_id=oid,
            broker_order_id=broker_id(broker, oid),
            instrument="AAA",
            kind="filled",
            status="filled",
            ts=time.time_ns(),
            broker_event="fill",
            filled_qty=Decimal(7),
            fill_qty=Decimal(7),
            fill_price=Decimal("101.37"),
        )
        assert not await node.call(lambda e: node.router.apply(late))  # type: ignore[union-attr]
        assert len(s.fills) == 1
        portfolio = await node.call(lambda e: e.portfolio)
        assert portfolio.cash == Decimal(100_000) - Decimal(7) * Decimal("101.37")
        # Next time the books agree.
        assert (await node.router.reconcile()).clean  # type: ignore[union-attr]
        assert node.router.stats.fills_from_reconciliation == 1  # type: ignore[union-attr]
    finally:
        await node.stop()


async def test_an_order_the_broker_never_got_is_rejected_by_the_reconciliation(
    node: TradingNode, broker: AlpacaPaperBroker
) -> None:
    s = await start(node, Trader(strategy_id="t"))
    # Alpaca down for every try: the submit is left submitted.
    for _ in range(4):
        broker.fault("POST /v2/orders", status=503)
    for _ in range(4):
        broker.fault("GET /v2/orders:by_client_order_id", status=503)
    oid = await node.call(lambda e: s.buy(1, symbol="AAA"))
    await node.router.flush()  # type: ignore[union-attr]
    assert (await order_of(node, oid)).status == "submitted"
    report = await node.router.reconcile()  # type: ignore[union-attr]
    assert [d.kind for d in report.differences] == ["missing_at_broker"]
    o = await order_of(node, oid)
    assert o.status == "rejected"
    assert not broker.orders


async def test_an_external_node_needs_an_external_venue(
    broker: AlpacaPaperBroker, base_url: str
) -> None:
    client = make_client(broker, base_url)
    try:
        with pytest.raises(ConfigurationError, match="external venue"):
            TradingNode(venue=_core.SimulatedVenue(), execution=client)
    finally:
        await client.close()


async def test_paper_node_routes_to_alpaca_when_configured(
    broker: AlpacaPaperBroker, base_url: str, tmp_path: Path
) -> None:
    from pi5trading.node.runtime import paper_node

    env = {
        "PI5_DATA_DIR": str(tmp_path),
        "PI5_FEED__SPEED": "0",
        "PI5_FEED__SYMBOLS": "AAPL,SPY",
        "PI5_BROKER__PROVIDER": "alpaca",
        "PI5_BROKER__KEY_ID": broker.key_id,
        "PI5_BROKER__SECRET_KEY": broker.secret_key,
        "PI5_BROKER__PAPER_URL": base_url,
        "PI5_BROKER__RECONCILE_INTERVAL_S": "0.2",
        "PI5_BROKER__RATE_LIMIT_PER_MINUTE": "6000",
        "PI5_NODE__SHUTDOWN_TIMEOUT_S": "2",
    }
    settings = load_settings(env=env, dotenv_path=None)
    async with paper_node(settings) as node:
        assert node.router is not None
        for _ in range(300):
            await asyncio.sleep(0.05)
            if len(await node.call(lambda e: e.fills())) >= 2:
                break
        fills = list(await node.call(lambda e: e.fills()))
        assert len(fills) >= 2
        # Every fill came from the broker: its orders, at its price.
        ours = {f.client_order_id for f in fills}
        assert ours <= {o["client_order_id"] for o in broker.orders.values()}
        assert all(f.price_raw == 100 * 10**9 for f in fills)
        router = node.router

        async def reconciled_again() -> bool:
            return router.stats.reconciliations >= 2

        await until(reconciled_again, 20)
    db = tmp_path / "pi5trading.db"
    with sqlite3.connect(db) as c:
        stored = c.execute("select count(*) from fills").fetchone()[0]
        audits = c.execute(
            "select count(*) from audit_log where action = 'broker.reconcile'"
        ).fetchone()[0]
    assert stored == len(node.engine.fills())
    assert audits >= 2


async def test_paper_node_uses_broker_keys_entered_through_the_api(
    broker: AlpacaPaperBroker, base_url: str, tmp_path: Path
) -> None:
    # No PI5_BROKER__KEY_ID / SECRET_KEY: the keys stored (encrypted) by
    # PUT /api/v1/credentials/alpaca_broker are the ones the node's broker signs in with.
    import base64

    from pi5trading.node.runtime import paper_node
    from pi5trading.storage.connect import open_repository, prepare_database
    from pi5trading.storage.credentials import PROVIDERS, store, vault_for

    env = {
        "PI5_DATA_DIR": str(tmp_path),
        "PI5_FEED__SPEED": "0",
        "PI5_FEED__SYMBOLS": "AAPL",
        "PI5_NODE__DEMO_STRATEGIES": "false",
        "PI5_BROKER__PROVIDER": "alpaca",
        "PI5_BROKER__PAPER_URL": base_url,
        "PI5_BROKER__RECONCILE_INTERVAL_S": "0.2",
        "PI5_NODE__SHUTDOWN_TIMEOUT_S": "2",
        "PI5_SECURITY__CREDENTIALS_KEY": base64.b64encode(b"n" * 32).decode(),
    }
    settings = load_settings(env=env, dotenv_path=None)
    repository = await open_repository(settings)
    try:
        await prepare_database(settings, repository.driver)
        keys = {"key_id": broker.key_id, "secret_key": broker.secret_key}
        await store(repository, vault_for(settings), PROVIDERS["alpaca_broker"], keys, by="root")
    finally:
        await repository.close()
    async with paper_node(settings) as node:
        router = node.router
        assert router is not None

        async def reconciled() -> bool:
            return router.stats.reconciliations >= 1

        await until(reconciled, 20)  # signed in at the broker with the stored keys


async def test_an_order_of_ours_the_node_lost_is_adopted(
    broker: AlpacaPaperBroker, base_url: str
) -> None:
    """A limit order sent before a crash that lost its record (``t-5``) is open at the
    broker: with ``unknown_orders=adopt`` it becomes the strategy's working order again,
    with what it has filled, and its later fills reach the strategy; an order someone
    else placed is only flagged."""
    client = make_client(broker, base_url)
    await client.submit(
        OrderRequest(
            client_order_id="t-5",
            instrument="AAA",
            side="buy",
            order_type="limit",
            quantity=Decimal(10),
            limit_price=Decimal("98.00"),
            time_in_force="gtc",
        )
    )
    broker.fill(broker_id(broker, "t-5"), Decimal(3), Decimal("98.00"))
    foreign = broker.add_foreign_order("AAA", Decimal(1), Decimal(50))
    node = TradingNode(
        settings=NodeSettings(),
        clock="replay",
        risk="unlimited",
        execution=client,
        broker=BrokerSettings(unknown_orders="adopt"),
    )
    node.add_instrument("AAA")
    try:
        s = await start(node, Trader(strategy_id="t"))
        o = await order_of(node, "t-5")
        # Its 3 filled before the node started are booked at the broker's price.
        assert (o.status, o.quantity, o.filled_qty) == ("partially_filled", 10, 3)
        first = node.router.reports[0]  # type: ignore[union-attr]
        unknown = {d.client_order_id for d in first.of_kind("unknown_order")}
        assert unknown == {"t-5", foreign["client_order_id"]}
        assert await node.call(lambda e: e.order(foreign["client_order_id"])) is None
        broker.fill(broker_id(broker, "t-5"), Decimal(7), Decimal("97.50"))

        async def filled() -> bool:
            return (await order_of(node, "t-5")).status == "filled"

        await until(filled)
        assert [(f.fill.quantity, f.fill.price) for f in s.fills if f.fill] == [
            (Decimal(3), Decimal(98)),
            (Decimal(7), Decimal("97.50")),
        ]
        portfolio = await node.call(lambda e: e.portfolio)
        assert portfolio.cash == Decimal(100_000) - Decimal(294) - Decimal("682.50")
        assert portfolio.position("AAA").quantity == 10  # type: ignore[union-attr]
        assert "t-5" not in await node.call(lambda e: e.open_orders(s._k))
    finally:
        await node.stop()


LIMIT_BUYER = '''
from decimal import Decimal

from pi5trading.strategies.base import Strategy


class LimitBuyer(Strategy):
    """On its first AAPL bar: 1 at market, and 10 at a limit 1 % below."""

    warmup = True

    def on_start(self):
        self.sent = getattr(self, "sent", False)

    def on_bar(self, bar):
        if not self.sent and bar.symbol == "AAPL":
            self.sent = True
            self.buy(1, symbol="AAPL")
            limit = (Decimal(str(bar.close)) * Decimal("0.99")).quantize(Decimal("0.01"))
            self.buy(10, symbol="AAPL", limit=limit)

    def on_save(self):
        return {"sent": self.sent}

    def on_load(self, state):
        self.sent = state.get("sent", False)
'''


async def test_a_restarted_node_books_the_fills_made_while_it_was_down(
    broker: AlpacaPaperBroker, base_url: str, tmp_path: Path
) -> None:
    from pi5trading.node.runtime import paper_node
    from pi5trading.sinks.storage import record_strategy
    from pi5trading.storage.connect import open_repository, prepare_database

    (tmp_path / "limit_buyer.py").write_text(LIMIT_BUYER)
    env = {
        "PI5_DATA_DIR": str(tmp_path),
        "PI5_FEED__SPEED": "60",
        "PI5_FEED__SYMBOLS": "AAPL",
        "PI5_NODE__DEMO_STRATEGIES": "false",
        "PI5_NODE__SHUTDOWN_ORDERS": "keep",
        "PI5_BROKER__PROVIDER": "alpaca",
        "PI5_BROKER__KEY_ID": broker.key_id,
        "PI5_BROKER__SECRET_KEY": broker.secret_key,
        "PI5_BROKER__PAPER_URL": base_url,
    }
    settings = load_settings(env=env, dotenv_path=None)
    repo = await open_repository(settings)
    await prepare_database(settings, repo.driver)
    await record_strategy(
        repo,
        "lim",
        name="LimitBuyer",
        class_path=f"{tmp_path / 'limit_buyer.py'}:LimitBuyer",
        config={},
    )
    await repo.save_strategy_status("lim", "running", time.time_ns())
    await repo.close()

    async with paper_node(settings) as first:
        assert set(first.strategies()) == {"lim", "manual"}  # manual: the API's orders

        async def working() -> bool:
            o = await first.call(lambda e: e.order("lim-2"))
            return o is not None and o.status == "accepted"

        await until(working, 20)
        assert (await first.call(lambda e: e.order("lim-1"))).status == "filled"  # type: ignore[union-attr]
    limit = Decimal(broker.by_client_id("lim-2")["limit_price"])
    # While the node is down, the broker fills 4 of the working order.
    broker.fill(broker_id(broker, "lim-2"), Decimal(4), limit)

    async with paper_node(settings) as second:
        o = await second.call(lambda e: e.order("lim-2"))
        assert o is not None
        assert (o.status, o.filled_qty) == ("partially_filled", Decimal(4))
        portfolio = await second.call(lambda e: e.portfolio)
        pos = portfolio.position("AAPL")
        assert pos is not None
        assert pos.quantity == 5
        assert portfolio.cash == Decimal(100_000) - Decimal(100) - 4 * limit
        assert second.router is not None
        assert second.router.stats.fills_from_reconciliation == 1
        # Booked once: the next reconciliation finds nothing.
        assert (await second.router.reconcile()).clean
    with sqlite3.connect(tmp_path / "pi5trading.db") as db:
        fills = db.execute("select order_id, quantity from fills order by ts_ns").fetchall()
        state = db.execute("select status from orders where order_id = 'lim-2'").fetchall()
    assert [(o, Decimal(str(q))) for o, q in fills] == [("lim-1", 1), ("lim-2", 4)]
    assert state == [("partially_filled",)]


async def test_shutdown_cancels_are_answered_before_the_engine_stops(
    node: TradingNode, broker: AlpacaPaperBroker
) -> None:
    s = await start(node, Trader(strategy_id="t"))
    oid = await node.call(lambda e: s.buy(10, symbol="AAA", limit=Decimal("90")))

    async def accepted() -> bool:
        return (await order_of(node, oid)).status == "accepted"

    await until(accepted)
    cancelled: list[str] = []
    node.bus.subscribe("orders.cancelled", lambda e: cancelled.append(e.client_order_id))
    await node.stop()  # PI5_NODE__SHUTDOWN_ORDERS=cancel (the default)
    assert broker.by_client_id(oid)["status"] == "canceled"
    o = node.engine.order(oid)
    assert o is not None
    assert o.status == "cancelled"
    # Published (for storage) before the engine stopped; the stopped strategy gets no
    # callback, as with the simulated venue.
    assert cancelled == [oid]


async def test_trailing_stops_go_with_their_offset(
    node: TradingNode, broker: AlpacaPaperBroker
) -> None:
    s = await start(node, Trader(strategy_id="t"))
    by_price = await node.call(
        lambda e: s.submit_order(
            "buy", 5, "trailing_stop_market", "AAA", trailing_offset=Decimal("1.50")
        )
    )
    by_percent = await node.call(
        lambda e: s.submit_order(
            "buy",
            5,
            "trailing_stop_market",
            "AAA",
            trailing_offset=150,
            trailing_offset_type="basis_points",
        )
    )
    await node.router.flush()  # type: ignore[union-attr]
    a, b = broker.by_client_id(by_price), broker.by_client_id(by_percent)
    assert (a["type"], Decimal(a["trail_price"]), a["trail_percent"]) == (
        "trailing_stop",
        Decimal("1.5"),
        None,
    )
    assert (b["type"], b["trail_price"], Decimal(b["trail_percent"])) == (
        "trailing_stop",
        None,
        Decimal("1.5"),
    )


async def test_the_fill_window_moves_after_the_first_reconciliation(node: TradingNode) -> None:
    from pi5trading.brokers.reconcile import LocalFill
    from pi5trading.node.broker import FILL_WINDOW_NS

    router = node.router
    assert router is not None
    now = time.time_ns()
    router.since_ns = now - 10 * FILL_WINDOW_NS  # a restart after a long time down
    await start(node, Trader(strategy_id="t"))
    # The first reconciliation (at start) looked back that far.
    assert router.reports[0].since == now - 10 * FILL_WINDOW_NS
    old, new = (
        LocalFill(
            client_order_id=f"t-{k}",
            instrument="AAA",
            side="buy",
            quantity=Decimal(1),
            price=Decimal(1),
            ts=ts,
        )
        for k, ts in ((1, now - 2 * FILL_WINDOW_NS), (2, now))
    )
    router._fills = [old, new]
    report = await router.reconcile()
    assert now - FILL_WINDOW_NS <= report.since <= time.time_ns() - FILL_WINDOW_NS
    assert router._fills == [new]


async def test_the_broker_breaker_opens_while_alpaca_is_down_and_closes_when_it_answers(
    node: TradingNode, broker: AlpacaPaperBroker
) -> None:
    # Nothing refuses orders while it is open (they still go to the broker); /ready reads
    # it (tests/unit/api/test_system.py), and its changes reach a Gotify stand-in.
    s = await start(node, Trader(strategy_id="t"))
    router = node.router
    assert router is not None
    gotify = GotifyStandIn()
    with serve(gotify.app()) as gotify_url:
        alerts = GotifyAlerts(gotify_url, gotify.token, repeat_s=0)
        alerts.watch_breaker(router.health, "broker")
        await alerts.start()
        try:
            # A refusal is an answer: the breaker stays closed.
            await node.call(lambda e: s.buy(5000, symbol="AAA", limit=Decimal(100)))
            await router.flush()
            assert router.health.state == "closed"
            # Three submits that find Alpaca down after every retry: open, with the reason.
            for _ in range(12):
                broker.fault("POST /v2/orders", status=503)
                broker.fault("GET /v2/orders:by_client_order_id", status=503)
            for _ in range(3):
                oid = await node.call(lambda e: s.buy(1, symbol="AAA"))
                await router.flush()
                assert (await order_of(node, oid)).status == "submitted"
            snap = router.health.snapshot()
            assert snap.state == "open"
            assert snap.consecutive_failures == 3
            assert "503" in snap.last_error
            # Alpaca back: the next reconciliation answers and closes it.
            broker.faults.clear()
            await router.reconcile()
            assert router.health.state == "closed"
            await alerts.flush()
            assert [(m["title"], m["priority"]) for m in gotify.received] == [
                ("broker: circuit open", 8),
                ("broker: circuit closed", 2),
            ]
        finally:
            await alerts.close()
