"""Redis channels' two busy paths, redis-py against ``sinks/redis_wire.py``: 100,000 bar
messages published in batches of 1,000 (a pipeline of ``PUBLISH`` / one write of all the
frames), with nobody reading, with redis-py's ``PubSub`` reading them, and with one
``RespStream`` pattern subscription reading them (in the same process, as the node's API
does). A private redis-server on a free port. See docs/PERFORMANCE.md "Issue 12: session 10".

    PYTHONPATH=python:. .venv/bin/python benches/redis_publish.py
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis.asyncio as aioredis
from tests.services import RedisServer

from pi5trading.sinks.redis_wire import RespStream

N = 100_000
BATCH = 1_000
DATA = (
    b'{"type":"bar","topic":"data.bars.S01.1m","ts":"2026-12-03T14:30:00.000000000Z",'
    b'"open":"101.25","high":"101.5","low":"100.75","close":"101.125","volume":"1234.5"}'
)
MESSAGES = [(f"pi5:data.bars.S{i % 50:02d}.1m".encode(), DATA) for i in range(N)]


async def publish_pipeline(client: aioredis.Redis, kwargs: dict[str, Any]) -> None:
    for k in range(0, N, BATCH):
        pipe = client.pipeline(transaction=False)
        for channel, data in MESSAGES[k : k + BATCH]:
            pipe.publish(channel, data)
        await pipe.execute()


async def publish_direct(client: aioredis.Redis, kwargs: dict[str, Any]) -> None:
    stream = await RespStream.open(kwargs)
    try:
        for k in range(0, N, BATCH):
            await stream.publish_many(MESSAGES[k : k + BATCH])
    finally:
        stream.close()


async def read_pubsub(client: aioredis.Redis, kwargs: dict[str, Any], got: list[int]) -> None:
    pubsub = client.pubsub()
    await pubsub.psubscribe("pi5:*")
    async for item in pubsub.listen():
        if item["type"] == "pmessage":
            got[0] += 1
            if got[0] >= N:
                break
    await pubsub.aclose()  # type: ignore[no-untyped-call]


async def read_direct(client: aioredis.Redis, kwargs: dict[str, Any], got: list[int]) -> None:
    stream = await RespStream.open(kwargs)
    try:
        await stream.psubscribe("pi5:*")
        async for item in stream.messages():
            if item[0] == b"pmessage":
                got[0] += 1
                if got[0] >= N:
                    break
    finally:
        stream.close()


async def main(url: str) -> None:
    client = aioredis.from_url(url)
    kwargs = dict(client.connection_pool.connection_kwargs)
    for pub_name, pub in (("redis-py pipeline", publish_pipeline), ("redis_wire", publish_direct)):
        for read_name, read in (("nobody", None), ("redis-py PubSub", read_pubsub),
                                ("redis_wire", read_direct)):  # fmt: skip
            got = [0]
            task = None
            if read is not None:
                task = asyncio.create_task(read(client, kwargs, got))
                await asyncio.sleep(0.2)  # subscribed
            t0, c0 = time.perf_counter(), time.process_time()
            await pub(client, kwargs)
            if task is not None:
                await asyncio.wait_for(task, 60)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(
                f"publish {pub_name:<18} read by {read_name:<16} {wall / N * 1e6:5.2f} "
                f"µs/message wall, {cpu / N * 1e6:5.2f} CPU (this process; got {got[0]:,})"
            )
    await client.aclose()


if __name__ == "__main__":
    server = RedisServer()
    server.start()
    try:
        asyncio.run(main(server.url))
    finally:
        server.close()
