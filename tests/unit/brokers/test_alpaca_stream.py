"""``trade_updates``: the lifecycle mapping, reconnects with nothing lost, the keys kept secret."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal

import anyio
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pi5trading.brokers.alpaca import AlpacaClient, alpaca_endpoints
from pi5trading.brokers.alpaca_wire import EVENT_KINDS, TradeUpdate, iso, parse_ts
from pi5trading.brokers.execution import BrokerAuthError, BrokerOrderUpdate, OrderRequest
from pi5trading.config import BrokerSettings, load_settings
from pi5trading.exceptions import ConfigurationError
from tests.standins.alpaca_trading import AlpacaPaperBroker

D = Decimal


def limit(coid: str, qty: str = "10", price: str = "99.50") -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        instrument="AAPL",
        side="buy",
        order_type="limit",
        quantity=D(qty),
        limit_price=D(price),
        time_in_force="gtc",
    )


async def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    """Wait until ``check()`` holds (the stand-in and the stream run concurrently)."""
    with anyio.fail_after(within):
        while True:
            if check():
                return
            await anyio.sleep(0.01)


class Collector:
    def __init__(self) -> None:
        self.updates: list[BrokerOrderUpdate] = []
        self.error: BaseException | None = None

    async def until(self, done: Callable[[list[BrokerOrderUpdate]], bool]) -> None:
        def check() -> bool:
            if self.error is not None:
                raise self.error
            return done(self.updates)

        await eventually(check)

    def of(self, coid: str) -> list[tuple[str, str]]:
        return [(u.kind, u.status) for u in self.updates if u.client_order_id == coid]


@asynccontextmanager
async def listening(client: AlpacaClient, broker: AlpacaPaperBroker) -> AsyncIterator[Collector]:
    seen = Collector()
    connections = broker.stream_connections

    finished = anyio.Event()

    async def run() -> None:
        try:
            async for update in client.updates():
                seen.updates.append(update)
        except Exception as exc:  # handed to the test through the collector
            seen.error = exc
        finally:
            finished.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await eventually(lambda: broker.stream_connections > connections or bool(seen.error))
        await anyio.sleep(0.05)  # the listen acknowledgement and the first recovery
        yield seen
        await client.close()  # ends the stream's iterator
        with anyio.fail_after(10):
            await finished.wait()
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_limit_orders_life_arrives_as_our_lifecycle(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    async with listening(client, broker) as seen:
        order = await client.submit(limit("sma-1"))
        broker.fill(order.broker_order_id, D(4), D("99.50"))
        broker.fill(order.broker_order_id, D(6), D("99.40"))
        await seen.until(lambda u: len(u) == 3)
    assert seen.of("sma-1") == [
        ("accepted", "accepted"),
        ("filled", "partially_filled"),
        ("filled", "filled"),
    ]
    fills = [u for u in seen.updates if u.kind == "filled"]
    assert [(u.fill_qty, u.fill_price) for u in fills] == [(D(4), D("99.50")), (D(6), D("99.40"))]
    assert fills[-1].filled_qty == 10
    assert fills[-1].avg_px == D("99.44")
    assert all(u.broker_order_id == order.broker_order_id for u in seen.updates)
    assert not any(u.recovered for u in seen.updates)


@pytest.mark.anyio
async def test_cancel_expire_and_replace_arrive_mapped(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    async with listening(client, broker) as seen:
        await client.submit(limit("a"))
        b = await client.submit(limit("b"))
        await client.submit(limit("c"))
        await client.cancel("a")
        broker.expire(b.broker_order_id)
        new_c = await client.replace("c", limit_price=D("99.90"))
        broker.fill(new_c.broker_order_id, D(10), D("99.90"))
        await seen.until(lambda u: len(u) == 8)
    assert seen.of("a") == [("accepted", "accepted"), ("cancelled", "cancelled")]
    assert seen.of("b") == [("accepted", "accepted"), ("expired", "expired")]
    assert seen.of("c") == [
        ("accepted", "accepted"),
        ("modify_accepted", "accepted"),
        ("notice", "accepted"),  # the replacement's own "new"
        ("filled", "filled"),
    ]
    modified = next(u for u in seen.updates if u.kind == "modify_accepted")
    assert modified.broker_order_id == new_c.broker_order_id


@pytest.mark.anyio
async def test_a_dropped_stream_loses_nothing(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    async with listening(client, broker) as seen:
        order = await client.submit(limit("sma-1", qty="10"))
        other = await client.submit(limit("sma-2", qty="5"))
        await seen.until(lambda u: len(u) == 2)
        broker.drop_stream_after(1)  # one more update, then the connection dies
        broker.fill(order.broker_order_id, D(3), D("99.50"))  # delivered
        broker.fill(order.broker_order_id, D(3), D("99.45"))  # lost with the connection
        broker.fill(order.broker_order_id, D(4), D("99.40"))  # no listener: lost
        broker.cancel_by_broker(other.broker_order_id)  # lost
        await seen.until(lambda u: len(u) == 6)
        assert broker.stream_connections == 2
        # The live stream goes on after the recovery, without repeats.
        third = await client.submit(limit("sma-3", qty="1"))
        broker.fill(third.broker_order_id, D(1), D(99))
        await seen.until(lambda u: len(u) == 8)
    fills = [u for u in seen.updates if u.client_order_id == "sma-1" and u.kind == "filled"]
    assert [(u.fill_qty, u.fill_price, u.filled_qty) for u in fills] == [
        (D(3), D("99.50"), D(3)),
        (D(3), D("99.45"), D(6)),
        (D(4), D("99.40"), D(10)),
    ]
    assert [u.recovered for u in fills] == [False, True, True]
    assert fills[-1].status == "filled"
    assert seen.of("sma-2") == [("accepted", "accepted"), ("cancelled", "cancelled")]
    assert seen.of("sma-3") == [("accepted", "accepted"), ("filled", "filled")]


@pytest.mark.anyio
async def test_a_malformed_frame_reconnects_instead_of_failing(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    async with listening(client, broker) as seen:
        order = await client.submit(limit("sma-1"))
        await seen.until(lambda u: len(u) == 1)
        broker.publish_raw(b'{"stream":"trade_updates","data":{"event":"fill","ord')
        await eventually(lambda: broker.stream_connections >= 2)
        await anyio.sleep(0.1)
        broker.fill(order.broker_order_id, D(10), D(99))
        await seen.until(lambda u: len(u) == 2)
    assert seen.of("sma-1") == [("accepted", "accepted"), ("filled", "filled")]


@pytest.mark.anyio
async def test_the_stream_refuses_wrong_keys(broker: AlpacaPaperBroker, base_url: str) -> None:
    client = AlpacaClient(key_id="PKNOPE", secret_key="not-the-secret", base_url=base_url)
    try:
        with pytest.raises(BrokerAuthError, match="trade_updates refused the API keys"):
            async for _ in client.updates():
                pass
    finally:
        await client.close()


@pytest.mark.anyio
async def test_the_keys_never_reach_logs_reprs_or_errors(
    client: AlpacaClient, broker: AlpacaPaperBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # quiet above DEBUG once a server ran
    secrets = (broker.key_id, broker.secret_key)
    async with listening(client, broker) as seen:
        broker.drop_stream_after(0)
        order = await client.submit(limit("sma-1"))
        broker.fault("GET /v2/positions", status=500)
        await client.positions()
        broker.fill(order.broker_order_id, D(10), D(99))
        await seen.until(lambda u: len(u) == 2)
    texts = [repr(client), repr(BrokerSettings(key_id=secrets[0], secret_key=secrets[1]))]
    texts += [r.getMessage() for r in caplog.records]
    assert any("websockets" in r.name or "httpx" in r.name for r in caplog.records)
    assert any("reconnecting" in t for t in texts)
    for secret in secrets:
        assert not [t for t in texts if secret in t]
    with pytest.raises(ConfigurationError) as err:
        load_settings(env={"PI5_BROKER__SECRET_KEY": "my secret"}, dotenv_path=None)
    assert "my secret" not in str(err.value)


def test_every_trade_update_event_maps_to_our_lifecycle() -> None:
    client = AlpacaClient(key_id="k", secret_key="s")
    base = {
        "id": "b-1",
        "client_order_id": "ours-1",
        "symbol": "AAPL",
        "side": "buy",
        "type": "limit",
        "time_in_force": "day",
        "qty": "10",
        "filled_qty": "0",
        "status": "new",
        "updated_at": "2026-12-03T14:30:00.000000001Z",
    }
    documented = {
        "new": ("accepted", "accepted"),
        "fill": ("filled", "filled"),
        "partial_fill": ("filled", "partially_filled"),
        "canceled": ("cancelled", "cancelled"),
        "expired": ("expired", "expired"),
        "done_for_day": ("notice", "accepted"),
        "replaced": ("modify_accepted", "accepted"),
        "rejected": ("rejected", "rejected"),
        "pending_new": ("submitted", "submitted"),
        "stopped": ("notice", "accepted"),
        "pending_cancel": ("notice", "accepted"),
        "pending_replace": ("notice", "accepted"),
        "calculated": ("notice", "accepted"),
        "suspended": ("notice", "accepted"),
        "order_replace_rejected": ("modify_rejected", "accepted"),
        "order_cancel_rejected": ("cancel_rejected", "accepted"),
    }
    assert set(documented) == set(EVENT_KINDS)
    status_for = {
        "fill": ("filled", "10"),
        "partial_fill": ("partially_filled", "4"),
        "canceled": ("canceled", "0"),
        "expired": ("expired", "0"),
        "rejected": ("rejected", "0"),
        "pending_new": ("pending_new", "0"),
        "replaced": ("replaced", "0"),
    }
    for event, expected in documented.items():
        status, filled = status_for.get(event, (event if event != "new" else "new", "0"))
        raw = {**base, "id": f"b-{event}", "status": status, "filled_qty": filled}
        extra = {"qty": filled, "price": "99.5"} if filled != "0" else {}
        update = client.map_update(
            msgspec.convert({"event": event, "order": raw, **extra}, TradeUpdate)
        )
        assert update is not None
        assert (update.kind, update.status) == expected, event
        assert update.client_order_id == "ours-1"
        assert update.ts == parse_ts(base["updated_at"])
        if update.kind == "filled":
            assert update.fill_qty == D(filled)
            assert update.fill_price == D("99.5")


def test_an_unknown_event_is_a_logged_notice(caplog: pytest.LogCaptureFixture) -> None:
    client = AlpacaClient(key_id="k", secret_key="s")
    raw = {
        "id": "b-1",
        "client_order_id": "o",
        "symbol": "AAPL",
        "side": "buy",
        "type": "market",
        "time_in_force": "day",
        "qty": "1",
        "status": "new",
    }
    update = client.map_update(msgspec.convert({"event": "trade_bust", "order": raw}, TradeUpdate))
    assert update is not None
    assert update.kind == "notice"
    assert "unknown event 'trade_bust'" in caplog.text


@given(st.integers(min_value=0, max_value=4_102_444_800 * 10**9))
def test_timestamps_round_trip_to_the_nanosecond(ts: int) -> None:
    assert parse_ts(iso(ts)) == ts


def test_timestamps_with_offsets_and_fewer_digits() -> None:
    assert parse_ts("2024-03-01T09:30:00.5-05:00") == parse_ts("2024-03-01T14:30:00.500000000Z")
    assert parse_ts("2024-03-01T14:30:00Z") % 10**9 == 0
    assert parse_ts(None) == 0


def test_paper_by_default_and_live_only_when_confirmed() -> None:
    assert alpaca_endpoints(BrokerSettings()) == (
        "https://paper-api.alpaca.markets",
        "wss://paper-api.alpaca.markets/stream",
    )
    with pytest.raises(ConfigurationError, match="I_UNDERSTAND_LIVE_TRADING=yes to confirm"):
        alpaca_endpoints(BrokerSettings(live=True))
    live = load_settings(
        env={"PI5_BROKER__LIVE": "true", "PI5_BROKER__I_UNDERSTAND_LIVE_TRADING": "yes"},
        dotenv_path=None,
    ).broker
    assert alpaca_endpoints(live) == (
        "https://api.alpaca.markets",
        "wss://api.alpaca.markets/stream",
    )
    stand_in = BrokerSettings(paper_url="http://127.0.0.1:8000", key_id="k", secret_key="s")
    client = AlpacaClient.from_settings(stand_in)
    assert (client.base_url, client.stream_url) == (
        "http://127.0.0.1:8000",
        "ws://127.0.0.1:8000/stream",
    )
    assert client.paper


def test_no_keys_no_client() -> None:
    with pytest.raises(
        ConfigurationError, match="needs PI5_BROKER__KEY_ID and PI5_BROKER__SECRET_KEY"
    ):
        AlpacaClient.from_settings(BrokerSettings(provider="alpaca"))


@pytest.mark.anyio
async def test_in_between_events_and_refusals_over_the_wire(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    async with listening(client, broker) as seen:
        a = await client.submit(limit("a"))
        b = await client.submit(limit("b"))
        broker.emit("pending_cancel", a.broker_order_id, status="pending_cancel")
        broker.emit("order_cancel_rejected", a.broker_order_id, status="new")
        broker.emit("done_for_day", a.broker_order_id, status="done_for_day")
        broker.emit("rejected", b.broker_order_id, status="rejected")
        broker.emit("canceled", b.broker_order_id, status="canceled")  # after its end: dropped
        await seen.until(lambda u: len(u) == 6)
        await anyio.sleep(0.1)
    assert seen.of("a") == [
        ("accepted", "accepted"),
        ("notice", "accepted"),
        ("cancel_rejected", "accepted"),
        ("notice", "accepted"),
    ]
    assert seen.of("b") == [("accepted", "accepted"), ("rejected", "rejected")]
    assert [u.broker_event for u in seen.updates if u.client_order_id == "a"][1:] == [
        "pending_cancel",
        "order_cancel_rejected",
        "done_for_day",
    ]


@pytest.mark.anyio
async def test_a_replace_and_fills_during_a_gap_are_recovered_in_order(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    async with listening(client, broker) as seen:
        await client.submit(limit("r-1", qty="10"))
        await seen.until(lambda u: len(u) == 1)
        broker.drop_stream_after(0)
        new = await client.replace("r-1", limit_price=D("99.70"))  # its updates are lost
        broker.fill(new.broker_order_id, D(4), D("99.70"))
        broker.fill(new.broker_order_id, D(6), D("99.65"))
        await seen.until(lambda u: len(u) == 4)
        await anyio.sleep(0.1)
    assert seen.of("r-1") == [
        ("accepted", "accepted"),
        ("modify_accepted", "accepted"),
        ("filled", "partially_filled"),
        ("filled", "filled"),
    ]
    recovered = seen.updates[1:]
    assert recovered[0].recovered  # the fills may come live or recovered: the same either way
    assert recovered[0].broker_order_id == new.broker_order_id
    assert [(u.fill_qty, u.fill_price) for u in recovered[1:]] == [
        (D(4), D("99.70")),
        (D(6), D("99.65")),
    ]


def test_memory_follows_the_open_orders() -> None:
    from pi5trading.brokers.alpaca import _FINISHED_KEPT
    from pi5trading.brokers.execution import BrokerOrder

    client = AlpacaClient(key_id="k", secret_key="s")
    for i in range(_FINISHED_KEPT + 500):
        client._track(
            BrokerOrder(
                client_order_id=f"o-{i}",
                broker_order_id=f"b-{i}",
                instrument="AAPL",
                side="buy",
                order_type="market",
                quantity=D(1),
                filled_qty=D(0),
                status="accepted",
                time_in_force="day",
            )
        )
        raw = {
            "id": f"b-{i}",
            "client_order_id": f"o-{i}",
            "symbol": "AAPL",
            "side": "buy",
            "type": "market",
            "time_in_force": "day",
            "qty": "1",
            "filled_qty": "1",
            "filled_avg_price": "10",
            "status": "filled",
        }
        fill = {"event": "fill", "order": raw, "qty": "1", "price": "10"}
        update = client.map_update(msgspec.convert(fill, TradeUpdate))
        assert update is not None
        assert update.kind == "filled"
        assert client.map_update(msgspec.convert(fill, TradeUpdate)) is None  # told once
    assert client._tracked == {}
    assert client._broker_ids == {}
    assert len(client._finished) == _FINISHED_KEPT


@pytest.mark.anyio
async def test_a_brackets_legs_carry_the_engines_child_order_ids(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    from pi5trading.orders import Order

    entry = Order("br-1", "sma", "AAPL", "buy", "limit", 10, price="100", time_in_force="gtc")
    tp = Order("br-1-tp", "sma", "AAPL", "sell", "limit", 10, price="110", time_in_force="gtc")
    sl = Order(
        "br-1-sl", "sma", "AAPL", "sell", "stop_market", 10, trigger_price="95", time_in_force="gtc"
    )
    async with listening(client, broker) as seen:
        placed = await client.submit(OrderRequest.from_bracket(entry, tp, sl))
        assert [leg.client_order_id for leg in placed.legs] == ["br-1-tp", "br-1-sl"]
        broker.fill(placed.broker_order_id, D(10), D(100))
        take_profit = placed.legs[0].broker_order_id
        await seen.until(lambda u: len(u) == 4)
        broker.fill(take_profit, D(10), D(110))
        await seen.until(lambda u: len(u) == 6)
    assert seen.of("br-1") == [("accepted", "accepted"), ("filled", "filled")]
    assert seen.of("br-1-tp") == [("accepted", "accepted"), ("filled", "filled")]
    assert seen.of("br-1-sl") == [("accepted", "accepted"), ("cancelled", "cancelled")]


@pytest.mark.anyio
async def test_a_gap_costs_one_listing_and_a_call_per_ended_order(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    async with listening(client, broker) as seen:
        orders = [await client.submit(limit(f"o-{i}", qty="1")) for i in range(20)]
        await seen.until(lambda u: len(u) == 20)
        broker.drop_stream_after(0)
        broker.cancel_by_broker(orders[3].broker_order_id)
        await seen.until(lambda u: len(u) == 21)
    assert seen.updates[-1].client_order_id == "o-3"
    assert seen.updates[-1].kind == "cancelled"
    assert broker.requests.count("GET /v2/orders/{id}") == 1


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.anyio
async def test_random_fills_and_drops_tell_each_fill_exactly_once(
    client: AlpacaClient, broker: AlpacaPaperBroker, seed: int
) -> None:
    import random

    rnd = random.Random(seed)
    async with listening(client, broker) as seen:
        orders = [await client.submit(limit(f"r-{i}", qty="10")) for i in range(3)]
        left = {o.broker_order_id: D(10) for o in orders}
        drops = set(rnd.sample(range(1, 6), 2))  # early: at least 8 fills follow
        step = 0
        while left:
            step += 1
            if step in drops:
                broker.drop_stream_after(rnd.randint(0, 2))
            order_id = rnd.choice(sorted(left))
            qty = min(left[order_id], D(rnd.randint(1, 4)))
            broker.fill(order_id, qty, D("99") + D(rnd.randint(0, 99)) / 100)
            left[order_id] -= qty
            if left[order_id] == 0:
                del left[order_id]
            await anyio.sleep(rnd.choice([0, 0, 0.01, 0.05]))

        def done(updates: list[BrokerOrderUpdate]) -> bool:
            ended = {u.client_order_id for u in updates if u.status == "filled"}
            return ended == {"r-0", "r-1", "r-2"}

        await seen.until(done)
        await anyio.sleep(0.1)  # anything late would be a repeat
    assert broker.stream_connections >= 2  # the stream did drop
    for order in orders:
        fills = [
            u
            for u in seen.updates
            if u.client_order_id == order.client_order_id and u.kind == "filled"
        ]
        at_broker = [
            (D(a["qty"]), D(a["price"]))
            for a in broker.activities
            if a["order_id"] == order.broker_order_id
        ]
        assert [(u.fill_qty, u.fill_price) for u in fills] == at_broker
        assert [u.filled_qty for u in fills] == sorted({u.filled_qty for u in fills})
        assert fills[-1].filled_qty == 10
