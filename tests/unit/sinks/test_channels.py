"""Channels in process, and the client messages they carry, fed by a real Bus."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pi5trading.bus import Bus
from pi5trading.orders import Order, OrderEvent
from pi5trading.sinks.channels import ChannelClosedError, Channels
from pi5trading.sinks.messages import (
    DECODER,
    OrderMessage,
    QuoteMessage,
    check_pattern,
    iso_ns,
    to_message,
    topic_matches,
)
from tests.unit.sinks.engine_events import record_run
from tests.unit.sinks.market_data import market_data


def test_iso_ns_keeps_nanoseconds_in_utc() -> None:
    assert iso_ns(0) == "1970-01-01T00:00:00.000000000Z"
    assert iso_ns(1_767_225_600_000_000_001) == "2026-01-01T00:00:00.000000001Z"


def test_messages_carry_money_as_strings_and_decode_back() -> None:
    run = record_run(120)
    fills = [m for m in run.payloads(OrderEvent) if m.fill is not None]  # type: ignore[attr-defined]
    msg = to_message(fills[0])
    assert isinstance(msg, OrderMessage)
    assert msg.fill is not None
    raw = msgspec.json.decode(msgspec.json.encode(msg))
    assert raw["type"] == "order"
    assert raw["topic"] == "orders.filled"
    assert isinstance(raw["fill"]["price"], str)
    assert Decimal(raw["fill"]["price"]) == fills[0].fill.price  # type: ignore[attr-defined]
    assert DECODER.decode(msgspec.json.encode(msg)) == msg
    for topic, payload in run.messages + list(market_data(200)):
        if isinstance(payload, Order):
            continue  # an order's terms go to storage, not to clients
        m = to_message(payload)
        assert m is not None
        assert m.topic == topic  # the topic is rebuilt exactly as the node publishes it
    assert to_message(object()) is None


segment = st.sampled_from(["a", "b", "AAPL", "1m", "x1"])


@settings(max_examples=300, deadline=None)
@given(
    pattern=st.lists(st.one_of(segment, st.just("*")), min_size=1, max_size=4).flatmap(
        lambda segs: st.sampled_from([segs, [*segs, ">"]])
    ),
    topic=st.lists(segment, min_size=1, max_size=5),
)
def test_pattern_matching_is_the_bus_rule(pattern: list[str], topic: list[str]) -> None:
    p, t = ".".join(pattern), ".".join(topic)
    bus = Bus()
    bus.subscribe(p, lambda m: None)
    assert topic_matches(p, t) == bool(bus.dispatch_order(t))


@pytest.mark.parametrize("bad", ["", "a..b", "a.>.b", "a*.b", "a.b>"])
def test_bad_patterns_are_refused_with_the_pattern_named(bad: str) -> None:
    with pytest.raises(ValueError, match="topic pattern"):
        check_pattern(bad)


@pytest.mark.anyio
async def test_many_subscribers_get_their_topics_and_a_slow_one_is_dropped() -> None:
    channels = Channels(max_queue=50)
    bus = Bus()
    channels.subscribe_bus(bus)
    await channels.start()
    quotes = [channels.subscribe(["data.quotes.*"]) for _ in range(20)]
    s01 = channels.subscribe(["data.quotes.S01", "data.bars.S01.>"])
    orders = channels.subscribe(["orders.>"])
    slow = channels.subscribe(["data.>"], max_queue=10)
    dropped: list[int] = []
    channels.on_drop = lambda sub: dropped.append(sub.id)
    got: dict[int, list[bytes]] = {s.id: [] for s in [*quotes, s01, orders]}

    async def consume(sub: object) -> None:
        async for data in sub:  # type: ignore[attr-defined]
            got[sub.id].append(data)  # type: ignore[attr-defined]

    readers = [asyncio.create_task(consume(s)) for s in [*quotes, s01, orders]]
    messages = list(market_data(2000))
    run = record_run(120)
    for i, (topic, payload) in enumerate(messages + run.messages):
        bus.publish(topic, payload)
        if i % 20 == 0:
            await asyncio.sleep(0)  # the node's loop runs the clients between steps
    await asyncio.sleep(0.01)
    await channels.close()
    await asyncio.gather(*readers)

    want_quotes = [t for t, _ in messages if t.startswith("data.quotes.")]
    for s in quotes:
        decoded = [DECODER.decode(d) for d in got[s.id]]
        assert [m.topic for m in decoded] == want_quotes
        assert all(isinstance(m, QuoteMessage) for m in decoded)
    assert [DECODER.decode(d).topic for d in got[s01.id]] == [
        t for t, _ in messages if t in ("data.quotes.S01", "data.bars.S01.1m")
    ]
    assert len(got[orders.id]) == len(run.payloads(OrderEvent))
    # The slow client (never read) was dropped with its reason, nobody else was.
    assert slow.reason == "slow client: 10 messages waiting unread"
    assert dropped == [slow.id]
    assert channels.dropped_clients == 1
    with pytest.raises(ChannelClosedError, match="slow client"):
        await slow.get()
    assert quotes[0].reason == "the node is shutting down"


@pytest.mark.anyio
async def test_without_clients_nothing_is_encoded() -> None:
    channels = Channels()
    channels.on_messages([p for _, p in market_data(100)])
    await channels.flush()
    assert channels.published == 0


def test_risk_strategy_and_feed_messages() -> None:
    from pi5trading.events import EquitySample, FeedStatus, StrategyStatus
    from pi5trading.portfolio import Portfolio
    from pi5trading.risk import RiskEngine
    from pi5trading.sinks.messages import EquityMessage, FeedMessage, RiskMessage, StrategyMessage

    risk = RiskEngine("default")
    risk.set_state("halted", "operator stop", Portfolio("100000"), ts=6)
    (event,) = risk.drain_events()
    msg = to_message(event)
    assert msg == RiskMessage(
        topic="risk.state",
        ts=iso_ns(6),
        kind="state_changed",
        strategy_id=None,
        from_state="active",
        to_state="halted",
        cause="admin",
        message="operator stop",
    )
    assert to_message(StrategyStatus(1, "s", "failed", "tb")) == StrategyMessage(
        topic="strategies.status", ts=iso_ns(1), strategy_id="s", status="failed", error="tb"
    )
    assert to_message(FeedStatus(2, "sim", "live")) == FeedMessage(
        topic="feeds.status", ts=iso_ns(2), feed="sim", status="live"
    )
    eq = to_message(EquitySample(3, Decimal("1.10"), Decimal("2.20")))
    assert isinstance(eq, EquityMessage)
    assert b'"cash":"1.10"' in msgspec.json.encode(eq)


@pytest.mark.anyio
async def test_redis_down_loses_live_messages_and_counts_them() -> None:
    import redis.asyncio as aioredis

    from pi5trading.sinks.channels import RedisChannels
    from tests.services import free_port

    client = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens
    channels = RedisChannels(client)
    bus = Bus()
    channels.subscribe_bus(bus)
    for topic, payload in market_data(50):
        bus.publish(topic, payload)
    await channels.flush()
    assert (channels.lost, channels.published) == (50, 0)
    sub = channels.subscribe(["data.>"])
    with pytest.raises(ChannelClosedError, match="Redis subscription failed"):
        await asyncio.wait_for(sub.get(), 10)
    await channels.close()
    await client.aclose()


@pytest.mark.anyio
async def test_a_subscription_queues_in_order_wakes_its_reader_and_ends_it() -> None:
    channels = Channels()
    sub = channels.subscribe([">"], max_queue=3)
    for k in range(3):
        assert sub.offer(b"%d" % k)
    assert sub.pending == 3
    assert [await sub.get() for _ in range(3)] == [b"0", b"1", b"2"]
    # A reader waiting on an empty queue wakes for the next message, and for the end.
    waiting = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    assert sub.offer(b"3")
    assert await waiting == b"3"
    waiting = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    sub.close("bye")
    with pytest.raises(ChannelClosedError, match="bye"):
        await waiting
    with pytest.raises(ChannelClosedError, match="bye"):
        await sub.get()  # later calls end too
    assert not sub.offer(b"4")
    assert sub.delivered == 4
