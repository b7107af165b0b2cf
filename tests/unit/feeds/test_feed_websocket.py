"""A live stream over a real WebSocket (loopback) wrapped by ``StreamFeed`` in a few lines:
the server drops the connection mid-stream and refuses one reconnect; the feed reconnects,
resubscribes and backfills nothing it does not need to."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Sequence

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from pi5trading.bus import IngestQueue
from pi5trading.feeds.feed import Backoff, FeedMessage, StreamFeed, Subscription
from pi5trading.model import Bar
from tests.unit.feeds.collect import drain

MIN = 60 * 10**9
T0 = 1_767_364_200 * 10**9


@pytest.mark.anyio
async def test_a_websocket_stream_that_drops_mid_stream() -> None:
    connections = 0
    subscribed: list[list[str]] = []

    async def vendor(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        request = json.loads(await ws.recv())
        subscribed.append(request["bars"])
        if connections == 2:
            await ws.close(code=1013, reason="try again later")
            return
        first = 1 if connections == 1 else 4
        for i in range(first, first + 3):
            await ws.send(json.dumps({"S": "AAPL", "t": T0 + i * MIN, "c": f"{100 + i}.25"}))
        if connections == 1:
            await ws.send('{"S": "AAPL", "t": ')  # truncated, then the line drops
            return
        await ws.wait_closed()  # stays open, quiet, until the client leaves

    async with serve(vendor, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]

        # The whole vendor adapter: open, subscribe, yield model objects.
        async def stream(subs: Sequence[Subscription]) -> AsyncIterator[FeedMessage]:
            async with connect(f"ws://127.0.0.1:{port}") as ws:
                await ws.send(json.dumps({"bars": [s.symbol for s in subs]}))
                async for raw in ws:
                    m = json.loads(raw)
                    yield Bar(f"{m['S']}-1m", m["c"], m["c"], m["c"], m["c"], 1, m["t"])

        feed = StreamFeed(
            "ws",
            stream,
            backoff=Backoff(initial_s=0.01, max_s=0.05),
            rng=random.Random(1),
        )
        feed.subscribe(["AAPL"])
        queue = IngestQueue()
        await feed.start(queue)
        async with asyncio.timeout(10):
            while feed.stats.bars < 6:  # noqa: ASYNC110 (polls the feed's counters)
                await asyncio.sleep(0.01)
        await feed.stop()

    got = drain(queue)
    assert [b.ts_event for b in got.bars] == [T0 + i * MIN for i in range(1, 7)]
    assert str(got.bars[0].close) == "101.25"
    assert subscribed == [["AAPL"]] * 3
    statuses = [(s.status, s.message.split(":")[0]) for s in got.statuses]
    assert statuses[:2] == [("connecting", ""), ("live", "")]
    assert statuses[2] == ("reconnecting", "JSONDecodeError")  # the truncated message
    assert statuses[3][0] == "reconnecting"  # the refused connection
    assert statuses[4:] == [("live", ""), ("closed", "")]
    assert feed.stats.reconnects == 2
    assert feed.stats.gaps == 0
