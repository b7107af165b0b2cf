"""The channels' two busy Redis paths spoken directly: PUBLISH in bulk, one PSUBSCRIBE.

redis-py costs ~8 µs a message to publish through a pipeline (a command object, an
encoder pass and a parsed reply per message) and ~5 µs to read one through ``PubSub``
(a dict per message); at tens of thousands of messages a second that was most of the
node's CPU with Redis and one client (issue 12). Here the frames are built in one pass
and written at once, and replies are parsed by hiredis (already a dependency) straight
from the socket: ~1 µs a message each way, measured in docs/PERFORMANCE.md.

Only the connection's address and credentials come from the redis-py client's pool (the
same URL, so the same server, user and password); TLS (``rediss://``) is left to
redis-py, whose pipeline the channels keep using then. Everything else (caches, the
latest state, ``PUBSUB NUMPAT``) stays on redis-py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import hiredis

_PUBLISH_HEAD = b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n"


class RedisWireError(ConnectionError):
    """The connection failed, was closed, timed out or Redis answered with an error."""


def _command(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for p in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(p), p))
    return b"".join(out)


def direct_supported(connection_kwargs: dict[str, Any], connection_class: type) -> bool:
    """Whether a plain stream reaches the server the redis-py pool connects to."""
    return "ssl" not in connection_class.__name__.lower() and (
        "path" in connection_kwargs or "host" in connection_kwargs
    )


class RespStream:
    """One connection to Redis: bulk PUBLISH, or a pattern subscription. Not shared
    between tasks; open with ``await RespStream.open(pool.connection_kwargs)``."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = hiredis.Reader()
        self._timeout = timeout

    @classmethod
    async def open(cls, kwargs: dict[str, Any], *, wait_s: float = 5.0) -> RespStream:
        connect_timeout = kwargs.get("socket_connect_timeout") or wait_s
        try:
            async with asyncio.timeout(connect_timeout):
                if kwargs.get("path"):
                    reader, writer = await asyncio.open_unix_connection(kwargs["path"])
                else:
                    reader, writer = await asyncio.open_connection(
                        kwargs.get("host", "localhost"), int(kwargs.get("port", 6379))
                    )
        except (OSError, TimeoutError) as exc:
            raise RedisWireError(f"cannot connect to Redis: {exc}") from exc
        stream = cls(reader, writer, kwargs.get("socket_timeout") or wait_s)
        try:
            password = kwargs.get("password")
            if password:
                user = kwargs.get("username")
                auth = [b"AUTH", *([str(user).encode()] if user else []), str(password).encode()]
                await stream.call(_command(*auth), 1)
        except BaseException:
            stream.close()
            raise
        return stream

    async def _replies(self, n: int) -> list[Any]:
        """The next ``n`` replies; a Redis error reply raises."""
        out: list[Any] = []
        parser = self._parser
        try:
            async with asyncio.timeout(self._timeout):
                while True:
                    while len(out) < n:
                        reply = parser.gets()
                        if reply is False:
                            break
                        if isinstance(reply, hiredis.ReplyError):
                            raise RedisWireError(f"Redis refused: {reply}")
                        out.append(reply)
                    if len(out) == n:
                        return out
                    data = await self._reader.read(1 << 16)
                    if not data:
                        raise RedisWireError("Redis closed the connection")
                    parser.feed(data)
        except (OSError, TimeoutError) as exc:
            raise RedisWireError(f"Redis did not answer: {exc!r}") from exc

    async def call(self, frame: bytes, replies: int) -> list[Any]:
        try:
            self._writer.write(frame)
            async with asyncio.timeout(self._timeout):
                await self._writer.drain()
        except (OSError, TimeoutError) as exc:
            raise RedisWireError(f"cannot write to Redis: {exc!r}") from exc
        return await self._replies(replies)

    async def publish_many(self, messages: Sequence[tuple[bytes, bytes]]) -> int:
        """PUBLISH every ``(channel, data)`` in one write; the receivers counted by Redis."""
        head = _PUBLISH_HEAD
        frame = b"".join(
            [head % (len(ch), ch, len(data)) + data + b"\r\n" for ch, data in messages]
        )
        return sum(await self.call(frame, len(messages)))

    async def psubscribe(self, pattern: str) -> None:
        """Subscribe; the confirmation comes as the first item of ``messages``."""
        try:
            self._writer.write(_command(b"PSUBSCRIBE", pattern.encode()))
            await self._writer.drain()
        except OSError as exc:
            raise RedisWireError(f"cannot write to Redis: {exc!r}") from exc

    async def messages(self) -> AsyncIterator[list[Any]]:
        """Every push of a subscription (``[b"pmessage", pattern, channel, data]`` …), as
        they come: no timeout, a quiet channel is normal."""
        parser = self._parser
        while True:
            while (reply := parser.gets()) is not False:
                if isinstance(reply, hiredis.ReplyError):
                    raise RedisWireError(f"Redis refused: {reply}")
                yield reply
            try:
                data = await self._reader.read(1 << 18)
            except OSError as exc:
                raise RedisWireError(f"Redis connection lost: {exc!r}") from exc
            if not data:
                raise RedisWireError("Redis closed the connection")
            parser.feed(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()


__all__ = ["RedisWireError", "RespStream", "direct_supported"]
