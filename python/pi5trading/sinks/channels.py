"""Channels: the node's events fanned out to WebSocket clients, a slow client dropped.

Each client subscribes with topic patterns (the bus's rules: ``orders.>``,
``data.quotes.*``) and gets JSON messages (``pi5trading.sinks.messages``: money as strings,
times ISO-8601 UTC) through its own bounded queue. A client that lets its queue fill is
dropped — its subscription ends with ``ChannelClosedError`` and the reason — rather than
slowing the node or holding memory: the node never waits for a client.

- ``Channels`` (the default) fans out in the node's process.
- ``RedisChannels`` (when ``PI5_REDIS__URL`` is set) publishes each message on the Redis
  channel ``<prefix>:<topic>`` (one write per batch, from a task; ``redis_wire``); each process with
  clients reads them through one Redis pattern subscription (while it has clients) and
  fans them out to its clients as in process, so the API may run in another process.
  Messages are live only: while Redis is down they are counted as lost, not queued.
  The node publishes only while some client is subscribed (``PUBSUB NUMPAT``, asked before
  each batch while nobody is, every ``listeners_every_s`` while somebody is): with nobody
  listening, nothing is encoded or sent.

Both are fed by the bus (``subscribe_bus``): the handler, on the node's engine thread, only
queues the payloads; a task on the event loop converts, encodes (once per message) and
fans out — call ``start()`` on the loop. Subscriptions are made and read on the loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

from pi5trading import _core
from pi5trading import events as ev
from pi5trading.sinks.handoff import Handoff
from pi5trading.sinks.messages import ENCODER, check_pattern, to_message, topic_matches
from pi5trading.sinks.redis_wire import RespStream, direct_supported

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = logging.getLogger(__name__)

PUBLISHED_TOPICS: Final = (
    f"{ev.BARS}.>",
    f"{ev.QUOTES}.>",
    f"{ev.TRADES}.>",
    f"{ev.ORDERS}.>",
    f"{ev.POSITIONS}.>",
    ev.EQUITY,
    ev.RISK_STATE,
    ev.STRATEGY_STATUS,
    ev.FEED_STATUS,
)
"""What the node publishes to clients by default: everything it makes."""


class ChannelClosedError(Exception):
    """The subscription ended; ``reason`` says why (a slow client, or it was closed)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_CORE_MESSAGES: Final[dict[type, Callable[[Any], tuple[str, bytes]]]] = {
    _core.OrderEvent: _core.order_message,
    _core.PositionEvent: _core.position_message,
}
"""Payload types whose channel message (topic, JSON) the core makes: the bytes
``to_message`` + msgspec give (``tests/unit/sinks/test_core_fast_paths.py``)."""


class Subscription:
    """One client's view: ``async for data in sub`` yields JSON bytes, in publish order."""

    _ids = itertools.count(1)

    def __init__(
        self, patterns: Sequence[str], max_queue: int, on_close: Callable[[Subscription], None]
    ) -> None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, not {max_queue}")
        self.id = next(self._ids)
        self.patterns = tuple(check_pattern(p) for p in patterns)
        if not self.patterns:
            raise ValueError("a subscription needs at least one topic pattern")
        self.max_queue = max_queue
        # A deque and a wake-up flag, not an asyncio.Queue: a put and a get per message and
        # client was most of the fan-out's cost; a reader with messages waiting takes them
        # without suspending.
        self._queue: collections.deque[bytes] = collections.deque()
        self._wake = asyncio.Event()
        self._on_close = on_close
        self.reason: str | None = None
        self.delivered = 0
        self.ready = asyncio.Event()
        """Set once messages published from now on reach this subscription (at once in
        process; after the pattern subscription is confirmed through Redis)."""

    def matches(self, topic: str) -> bool:
        return any(topic_matches(p, topic) for p in self.patterns)

    @property
    def pending(self) -> int:
        return len(self._queue)

    def offer(self, data: bytes) -> bool:
        """Queue ``data``; False (and the subscription dropped) when the client is too slow."""
        if self.reason is not None:
            return False
        queue = self._queue
        if len(queue) >= self.max_queue:
            self._end(f"slow client: {self.max_queue} messages waiting unread")
            return False
        queue.append(data)
        if len(queue) == 1:
            self._wake.set()  # the reader may be waiting: it only waits on an empty queue
        return True

    def close(self, reason: str = "closed") -> None:
        self._end(reason)

    def _end(self, reason: str) -> None:
        if self.reason is not None:
            return
        self.reason = reason
        # What was queued is dropped: the client is told at once, not after a backlog.
        self._queue.clear()
        self._wake.set()
        self._on_close(self)

    async def get(self) -> bytes:
        queue = self._queue
        while not queue:
            if self.reason is not None:
                raise ChannelClosedError(self.reason)  # later calls end too
            self._wake.clear()
            await self._wake.wait()
        self.delivered += 1
        return queue.popleft()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while True:
            try:
                yield await self.get()
            except ChannelClosedError:
                return


class Channels:
    """In-process fan-out (see the module doc)."""

    def __init__(self, *, max_queue: int = 1000, max_outbox: int = 100_000) -> None:
        self.max_queue = max_queue
        self.max_outbox = max_outbox
        self._subs: dict[int, Subscription] = {}
        self._by_topic: dict[str, list[Subscription]] = {}
        self._outbox = Handoff()
        self._flushing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._in_flight = 0
        """Messages of the batch being fanned out, not yet offered to the clients."""
        self.published = 0
        self.lost = 0
        """Events not published: the fan-out fell ``max_outbox`` behind, or Redis was down."""
        self.dropped_clients = 0
        self.drop_reasons: list[str] = []
        self.on_drop: Callable[[Subscription], None] | None = None
        """Called for each client dropped for slowness (metrics hook)."""

    # -- clients --

    def subscribe(self, patterns: Iterable[str], *, max_queue: int | None = None) -> Subscription:
        sub = Subscription(list(patterns), max_queue or self.max_queue, self._closed)
        self._subs[sub.id] = sub
        self._by_topic.clear()
        sub.ready.set()
        return sub

    @property
    def clients(self) -> int:
        return len(self._subs)

    @property
    def outbox(self) -> int:
        """Messages from the node not yet fanned out (queued, or in the batch being sent):
        where delivery lags when the event loop cannot keep up."""
        return len(self._outbox) + self._in_flight

    def queued(self) -> tuple[int, int]:
        """Messages waiting in the clients' queues: in all, and the most in one."""
        sizes = [s.pending for s in list(self._subs.values())]
        return sum(sizes), max(sizes, default=0)

    def _closed(self, sub: Subscription) -> None:
        if self._subs.pop(sub.id, None) is not None:
            self._by_topic.clear()
            if sub.reason is not None and sub.reason.startswith("slow client"):
                self.dropped_clients += 1
                self.drop_reasons.append(sub.reason)
                del self.drop_reasons[:-100]  # the recent ones are enough
                log.warning("channel client %d dropped: %s", sub.id, sub.reason)
                if self.on_drop is not None:
                    self.on_drop(sub)

    def _targets(self, topic: str) -> list[Subscription]:
        subs = self._by_topic.get(topic)
        if subs is None:
            if len(self._by_topic) > 100_000:
                self._by_topic.clear()
            subs = self._by_topic[topic] = [s for s in self._subs.values() if s.matches(topic)]
        return subs

    # -- the node's side --

    def subscribe_bus(
        self, bus: _core.Bus, patterns: Iterable[str] = PUBLISHED_TOPICS
    ) -> list[int]:
        return [bus.subscribe(p, self.on_messages, -100, batch=True) for p in patterns]

    def _listening(self) -> bool:
        return bool(self._subs)

    def on_messages(self, messages: Sequence[object]) -> None:
        """Queue the payloads for the fan-out task: O(1) on the node's thread. Converting
        and encoding happen between the node's steps, once per message however many
        clients get it."""
        if not self._listening():
            return  # nobody listens: nothing is kept, nothing encoded
        if len(self._outbox) >= self.max_outbox:
            self.lost += len(messages)
            return
        self._outbox.put(messages)

    async def start(self) -> None:
        if self._task is None:
            self._outbox.bind()
            self._task = asyncio.create_task(self._run(), name="pi5trading-channels")

    async def _run(self) -> None:
        while not self._closing:
            await self._outbox.wait()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("channels: fan-out failed")

    async def flush(self) -> None:
        """Fan out everything queued so far, in order (one flush at a time)."""
        async with self._flushing:
            while batch := self._outbox.take():
                self._in_flight = len(batch)
                try:
                    await self._send(batch)
                finally:
                    self._in_flight = 0

    async def _send(self, batch: list[object]) -> None:
        bar = _core.Bar
        for i, m in enumerate(batch):
            self._in_flight = len(batch) - i
            if type(m) is bar:
                # Most of the traffic: topic and JSON made in the core, and the JSON only
                # when somebody subscribed to the topic.
                targets = self._targets(m.topic)
                if targets:
                    self.deliver(m.topic, _core.bar_message(m), targets)
            elif (make := _CORE_MESSAGES.get(type(m))) is not None:
                # Order and position events: topic and JSON from the core as well.
                topic, data = make(m)
                targets = self._targets(topic)
                if targets:
                    self.deliver(topic, data, targets)
            elif (msg := to_message(m)) is not None:
                targets = self._targets(msg.topic)
                if targets:
                    self.deliver(msg.topic, ENCODER.encode(msg), targets)
            if i % 1000 == 999:
                await asyncio.sleep(0)  # let the node and the clients run

    def deliver(self, topic: str, data: bytes, targets: list[Subscription] | None = None) -> None:
        self.published += 1
        for sub in list(targets if targets is not None else self._targets(topic)):
            sub.offer(data)

    async def _stop_task(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def close(self) -> None:
        """Fan out what is queued, then end every subscription."""
        await self.flush()
        await self._stop_task()
        for sub in list(self._subs.values()):
            sub.close("the node is shutting down")


class RedisChannels(Channels):
    """Fan-out through Redis pub/sub (see the module doc)."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "pi5",
        max_queue: int = 1000,
        listeners_every_s: float = 0.5,
    ) -> None:
        super().__init__(max_queue=max_queue)
        self.client = client
        self.prefix = prefix
        self._reader: asyncio.Task[None] | None = None
        self._confirmed = False
        """The process's one Redis subscription is confirmed: a new client is ready at once."""
        self._losing = 0
        """Messages lost since Redis went away (0 while it answers)."""
        self.listeners_every_s = listeners_every_s
        """How long a "somebody listens" answer of Redis (``PUBSUB NUMPAT``) is trusted.
        While nobody listens, nothing is encoded or published, and Redis is asked again
        before each batch: a client in another process gets every message published
        after its subscription was confirmed."""
        self._anyone = True
        self._asked = -float("inf")
        self.unheard = 0
        """Events not published because no client was subscribed to anything."""
        pool = client.connection_pool
        self._address: dict[str, Any] = dict(pool.connection_kwargs)
        self._direct = direct_supported(self._address, pool.connection_class)
        """Publish and subscribe on our own streams (``redis_wire``), not redis-py's."""
        self._publisher: RespStream | None = None
        self._prefix_bytes = f"{prefix}:".encode()

    def channel(self, topic: str) -> str:
        return f"{self.prefix}:{topic}"

    # -- the node's side: publish --

    def _listening(self) -> bool:
        return True  # clients in other processes: always publish

    async def _anyone_listening(self) -> bool:
        # Clients subscribe with patterns (``_read``), so the server's count of pattern
        # subscriptions is zero exactly when none of ours (nor anybody's) is there.
        if self._subs:
            return True
        now = time.monotonic()
        # "Nobody" is never cached: a subscription confirmed just before this batch must
        # get it. "Somebody" is, for listeners_every_s.
        if not self._anyone or now - self._asked >= self.listeners_every_s:
            self._asked = now
            try:
                self._anyone = int(await self.client.pubsub_numpat()) > 0
            except Exception:
                self._anyone = True  # unknown: publish (and count the losses) as before
        return self._anyone

    async def _send(self, batch: list[object]) -> None:
        if not await self._anyone_listening():
            self.unheard += len(batch)
            return
        payloads = []
        bar = _core.Bar
        for m in batch:
            if type(m) is bar:
                payloads.append((m.topic, _core.bar_message(m)))
            elif (make := _CORE_MESSAGES.get(type(m))) is not None:
                payloads.append(make(m))
            elif (msg := to_message(m)) is not None:
                payloads.append((msg.topic, ENCODER.encode(msg)))
        if not payloads:
            return
        try:
            if self._direct:
                stream = self._publisher
                if stream is None:
                    stream = self._publisher = await RespStream.open(self._address)
                prefix = self._prefix_bytes
                try:
                    await stream.publish_many([(prefix + t.encode(), d) for t, d in payloads])
                except BaseException:
                    self._publisher = None  # a half-read reply stream is not reusable
                    stream.close()
                    raise
            else:
                pipe = self.client.pipeline(transaction=False)
                for topic, data in payloads:
                    pipe.publish(self.channel(topic), data)
                await pipe.execute()
            self.published += len(payloads)
        except Exception as exc:
            # One line when the losses start and one when Redis is back, not one per batch.
            if not self._losing:
                log.warning("channel messages lost: Redis unreachable (%s)", exc)
            self._losing += len(payloads)
            self.lost += len(payloads)
        else:
            if self._losing:
                log.warning(
                    "channel messages published again; %d lost while Redis was away",
                    self._losing,
                )
                self._losing = 0

    # -- clients: through Redis --

    def subscribe(self, patterns: Iterable[str], *, max_queue: int | None = None) -> Subscription:
        sub = super().subscribe(patterns, max_queue=max_queue)
        if not self._confirmed:
            sub.ready.clear()  # set when the process's one Redis subscription is confirmed
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name="pi5trading-channels-redis")
        return sub

    def _closed(self, sub: Subscription) -> None:
        super()._closed(sub)
        reader = self._reader
        if not self._subs and reader is not None and reader is not asyncio.current_task():
            # Nobody listens in this process: no reason to read (and parse) every message.
            reader.cancel()
            self._reader = None
            self._confirmed = False

    async def _read(self) -> None:
        # One pattern subscription for the whole process, fanned out here to the clients
        # whose patterns match (the same rule and per-client queues as in process): each
        # message is read and parsed once, not once per client (a Redis connection per
        # WebSocket client made the process parse every message ~100 times; issue 17).
        if self._direct:
            await self._read_direct()
            return
        skip = len(self.prefix) + 1
        pubsub = self.client.pubsub()
        try:
            await pubsub.psubscribe(self.channel("*"))
            async for item in pubsub.listen():
                kind = item.get("type")
                if kind == "psubscribe":
                    self._subscribed()
                    continue
                if kind != "pmessage":
                    continue
                channel = item["channel"]
                topic = (channel.decode() if isinstance(channel, bytes) else channel)[skip:]
                data = item["data"]
                for sub in list(self._targets(topic)):
                    sub.offer(data)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._subscription_failed(exc)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _read_direct(self) -> None:
        skip = len(self.prefix) + 1
        stream = None
        try:
            stream = await RespStream.open(self._address)
            await stream.psubscribe(self.channel("*"))
            targets = self._targets
            async for item in stream.messages():
                kind = item[0]
                if kind == b"pmessage":
                    data = item[3]
                    for sub in list(targets(item[2][skip:].decode())):
                        sub.offer(data)
                elif kind == b"psubscribe":
                    self._subscribed()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._subscription_failed(exc)
        finally:
            if stream is not None:
                stream.close()

    def _subscribed(self) -> None:
        self._confirmed = True
        for sub in list(self._subs.values()):
            sub.ready.set()

    def _subscription_failed(self, exc: Exception) -> None:
        self._confirmed = False
        self._reader = None  # the next subscription starts another
        for sub in list(self._subs.values()):
            sub.close(f"Redis subscription failed: {exc}")

    async def close(self) -> None:
        reader = self._reader
        await super().close()
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


__all__ = [
    "PUBLISHED_TOPICS",
    "ChannelClosedError",
    "Channels",
    "RedisChannels",
    "Subscription",
]
