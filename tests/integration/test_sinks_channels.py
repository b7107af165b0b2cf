"""Channels through the real Redis pub/sub: a round trip from the node's bus to a client
subscribed through another connection, exact topics, a slow client dropped."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from pi5trading.bus import Bus
from pi5trading.orders import Order, OrderEvent
from pi5trading.sinks.channels import ChannelClosedError, RedisChannels
from pi5trading.sinks.messages import DECODER, OrderMessage, to_message
from tests.services import RedisServer
from tests.unit.sinks.engine_events import record_run
from tests.unit.sinks.market_data import market_data

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_redis_pubsub_round_trip(redis_server: RedisServer) -> None:
    node_client = aioredis.from_url(redis_server.url)
    api_client = aioredis.from_url(redis_server.url)
    node = RedisChannels(node_client, prefix="rt")
    api = RedisChannels(api_client, prefix="rt", max_queue=100_000)
    bus = Bus()
    node.subscribe_bus(bus)
    await node.start()
    orders = api.subscribe(["orders.>"])
    s01 = api.subscribe(["data.quotes.S01", "data.bars.*.1m"])
    slow = api.subscribe(["data.>"], max_queue=5)
    for sub in (orders, s01, slow):
        await asyncio.wait_for(sub.ready.wait(), 10)
    run = record_run(120)
    messages = list(market_data(1000)) + run.messages
    try:
        for topic, payload in messages:
            bus.publish(topic, payload)
        await node.flush()
        want_orders = list(run.payloads(OrderEvent))
        got_orders = [DECODER.decode(await asyncio.wait_for(orders.get(), 10))
                      for _ in want_orders]  # fmt: skip
        assert got_orders == [to_message(m) for m in want_orders]
        assert all(isinstance(m, OrderMessage) for m in got_orders)
        want_s01 = [t for t, p in messages
                    if t == "data.quotes.S01" or ((t.startswith("data.bars.") and t.endswith(".1m"))
                    and not isinstance(p, Order))]  # fmt: skip
        got_s01 = [DECODER.decode(await asyncio.wait_for(s01.get(), 10)).topic for _ in want_s01]
        assert got_s01 == want_s01
        # The slow client (never read) was dropped with its reason.
        for _ in range(200):
            if slow.reason is not None:
                break
            await asyncio.sleep(0.01)
        assert slow.reason == "slow client: 5 messages waiting unread"
        with pytest.raises(ChannelClosedError):
            await slow.get()
        assert api.dropped_clients == 1
        assert node.lost == 0
    finally:
        await node.close()
        await api.close()
        await node_client.aclose()
        await api_client.aclose()


async def test_redis_publishes_nothing_while_nobody_listens(redis_server: RedisServer) -> None:
    node_client = aioredis.from_url(redis_server.url)
    api_client = aioredis.from_url(redis_server.url)
    # Trusting "somebody listens" for an hour: "nobody" is asked again before each batch.
    node = RedisChannels(node_client, prefix="quiet", listeners_every_s=3600.0)
    api = RedisChannels(api_client, prefix="quiet", max_queue=100_000)
    bus = Bus()
    node.subscribe_bus(bus)
    await node.start()
    messages = list(market_data(200))
    try:
        for topic, payload in messages:
            bus.publish(topic, payload)
        await node.flush()
        assert node.published == 0
        assert node.unheard == len(messages)
        # A client subscribes (in another process, as far as the node knows): the very
        # next batch is published, and it gets it.
        sub = api.subscribe(["data.>"])
        await asyncio.wait_for(sub.ready.wait(), 10)
        for topic, payload in messages:
            bus.publish(topic, payload)
        await node.flush()
        assert node.published == len(messages)
        got = [DECODER.decode(await asyncio.wait_for(sub.get(), 10)).topic for _ in messages]
        assert got == [t for t, _ in messages]
        assert node.unheard == len(messages)
        assert node.lost == 0
    finally:
        await node.close()
        await api.close()
        await node_client.aclose()
        await api_client.aclose()


async def test_one_redis_subscription_per_process_however_many_clients(
    redis_server: RedisServer,
) -> None:
    # Each message read and parsed once per process, not once per client (issue 17: with
    # a Redis connection per WebSocket client the node parsed every message ~100 times).
    client = aioredis.from_url(redis_server.url)
    api = RedisChannels(client, prefix="one", max_queue=10_000)
    node = RedisChannels(client, prefix="one")
    bus = Bus()
    node.subscribe_bus(bus)
    await node.start()
    try:
        subs = [api.subscribe(["data.quotes.>"]) for _ in range(20)]
        for sub in subs:
            await asyncio.wait_for(sub.ready.wait(), 10)
        listing = await client.client_list()
        assert sum(1 for c in listing if int(c.get("psub", 0)) > 0) == 1
        for topic, payload in market_data(200):
            bus.publish(topic, payload)
        await node.flush()
        quotes = sum(1 for topic, _ in market_data(200) if topic.startswith("data.quotes."))
        for sub in subs:
            got = [await asyncio.wait_for(sub.get(), 10) for _ in range(quotes)]
            assert len(got) == quotes
        late = api.subscribe(["data.quotes.>"])  # the subscription stands: ready at once
        assert late.ready.is_set()
        for sub in [*subs, late]:
            sub.close()
        # No client left: the process stops reading.
        for _ in range(100):
            listing = await client.client_list()
            if not any(int(c.get("psub", 0)) for c in listing):
                break
            await asyncio.sleep(0.02)
        assert not any(int(c.get("psub", 0)) for c in listing)
    finally:
        await node.close()
        await api.close()
        await client.aclose()


async def _round_trip(node: RedisChannels, api: RedisChannels, n: int = 300) -> list[str]:
    """Publish ``n`` market-data messages through ``node``; the topics ``api``'s client got."""
    bus = Bus()
    node.subscribe_bus(bus)
    await node.start()
    sub = api.subscribe(["data.>"])
    await asyncio.wait_for(sub.ready.wait(), 10)
    messages = list(market_data(n))
    for topic, payload in messages:
        bus.publish(topic, payload)
    await node.flush()
    got = [DECODER.decode(await asyncio.wait_for(sub.get(), 10)).topic for _ in messages]
    assert got == [t for t, _ in messages]
    sub.close()
    return got


async def test_redis_with_a_password_and_over_a_unix_socket() -> None:
    # The channels speak to Redis on their own streams (sinks/redis_wire.py) with the
    # address and credentials of the client's URL.
    server = RedisServer(args=["--requirepass", "s3cret pass", "--unixsocket", "SOCK"])
    server.start()
    sock = server.root / "SOCK"
    try:
        for url in (
            f"redis://:s3cret%20pass@127.0.0.1:{server.port}/0",
            f"redis://default:s3cret%20pass@127.0.0.1:{server.port}/3",
            f"unix://:s3cret%20pass@{sock}?db=0",
        ):
            client = aioredis.from_url(url)
            node = RedisChannels(client, prefix="pw")
            api = RedisChannels(client, prefix="pw", max_queue=10_000)
            try:
                assert node._direct
                await _round_trip(node, api)
                assert node.lost == 0
            finally:
                await node.close()
                await api.close()
                await client.aclose()
        # A wrong password: the subscription ends with Redis's reason (and not the
        # password), nothing hangs, and the node counts its messages as lost.
        client = aioredis.from_url(f"redis://:wrong-one@127.0.0.1:{server.port}/0")
        api = RedisChannels(client, prefix="pw")
        node = RedisChannels(client, prefix="pw", listeners_every_s=0.0)
        node._anyone_listening = _always  # type: ignore[method-assign]
        try:
            sub = api.subscribe(["data.>"])
            with pytest.raises(ChannelClosedError) as err:
                await asyncio.wait_for(sub.get(), 10)
            assert "WRONGPASS" in str(err.value)
            assert "wrong-one" not in str(err.value)
            bus = Bus()
            node.subscribe_bus(bus)
            await node.start()
            for topic, payload in market_data(50):
                bus.publish(topic, payload)
            await node.flush()
            assert node.lost == 50
            assert node.published == 0
        finally:
            await node.close()
            await api.close()
            await client.aclose()
    finally:
        server.close()


async def _always() -> bool:
    return True


async def test_redis_restarted_the_node_publishes_again_and_clients_resubscribe() -> None:
    server = RedisServer()
    server.start()
    client = aioredis.from_url(server.url)
    node = RedisChannels(client, prefix="rs")
    api = RedisChannels(client, prefix="rs", max_queue=10_000)
    try:
        await _round_trip(node, api)
        sub = api.subscribe(["data.>"])
        await asyncio.wait_for(sub.ready.wait(), 10)
        await asyncio.to_thread(server.stop)
        # The process's subscription ends and says why; nothing hangs.
        with pytest.raises(ChannelClosedError) as err:
            await asyncio.wait_for(sub.get(), 10)
        assert "Redis subscription failed" in str(err.value)
        bus = Bus()
        node.subscribe_bus(bus)
        for topic, payload in market_data(40):
            bus.publish(topic, payload)
        await node.flush()
        assert node.lost == 40
        await asyncio.to_thread(server.start)
        # Back: a new client subscribes, and the node's next batches reach it.
        got = await _round_trip(node, api, 100)
        assert len(got) == 100
        assert node.lost == 40
    finally:
        await node.close()
        await api.close()
        await client.aclose()
        server.close()
