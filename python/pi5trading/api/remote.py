"""Commands from API-only workers to the trading node, over a Redis stream.

``pi5trading api --workers N`` runs API processes without an engine: they read from the
database and the Redis cache, stream events from Redis channels, and send the commands
that need the node (placing, cancelling and changing orders) to it:

- a worker ``XADD``s ``{"op", "args", "reply_to"}`` to ``<prefix>:commands`` and waits
  (``BLPOP``, at most ``PI5_REDIS__COMMAND_TIMEOUT_S``) for the answer on its own list;
- the node's process (``pi5trading serve`` with ``PI5_REDIS__URL``) reads the stream in the
  consumer group ``node`` (``XREADGROUP``), runs the command on the engine, pushes the
  answer and acknowledges the entry (``XACK``).

No answer in time is a 503 ("the trading node did not answer"): the node is down or busy;
the command may still run when it comes back, which is why order commands carry their
client's intent only (a new order gets a fresh id on the node, never a duplicate).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from pi5trading.api.errors import Problem

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = logging.getLogger("pi5trading.api")

GROUP: Final = "node"
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def stream_key(prefix: str) -> str:
    return f"{prefix}:commands"


class CommandServer:
    """In the node's process: runs the workers' commands (see the module doc)."""

    def __init__(self, client: aioredis.Redis, prefix: str, handlers: dict[str, Handler]) -> None:
        self.client = client
        self.stream = stream_key(prefix)
        self.handlers = handlers
        self.consumer = f"node-{uuid.uuid4().hex[:8]}"
        self._task: asyncio.Task[None] | None = None
        self.handled = 0

    async def start(self) -> None:
        with contextlib.suppress(Exception):  # BUSYGROUP: the group exists already
            await self.client.xgroup_create(self.stream, GROUP, id="$", mkstream=True)
        self._task = asyncio.create_task(self._run(), name="pi5-command-server")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        failing = False
        while True:
            try:
                batches = await self.client.xreadgroup(
                    GROUP, self.consumer, {self.stream: ">"}, count=32, block=1000
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: retry, the workers time out meanwhile
                if str(exc).startswith("NOGROUP"):
                    # Redis came back without its data (no persistence): the stream and
                    # the group are gone, and a worker's XADD may have made the stream
                    # again. The group is made again from the stream's start: what is in
                    # it was sent since the restart, by workers still waiting.
                    with contextlib.suppress(Exception):
                        await self.client.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
                    log.info("command stream: consumer group made again (Redis lost it)")
                    continue
                if not failing:  # one line, not one a second
                    log.warning("command stream unreadable (%s); retrying every second", exc)
                    failing = True
                await asyncio.sleep(1.0)
                continue
            if failing:
                log.info("command stream readable again")
                failing = False
            stream_batches: list[Any] = list(batches or [])
            for _, entries in stream_batches:
                for entry_id, fields in entries:
                    await self._handle(entry_id, fields)

    async def _handle(self, entry_id: Any, fields: dict[Any, Any]) -> None:
        raw = fields.get(b"body") or fields.get("body") or b"{}"
        try:
            msg = json.loads(raw)
            op, args, reply_to = msg["op"], msg.get("args", {}), msg["reply_to"]
        except (ValueError, KeyError, TypeError):
            log.warning("command %s is malformed; dropped", entry_id)
            await self.client.xack(self.stream, GROUP, entry_id)
            return
        handler = self.handlers.get(op)
        try:
            if handler is None:
                raise Problem(400, "Unknown command", f"the node has no command {op!r}")
            answer: dict[str, Any] = {"ok": await handler(args)}
        except Problem as exc:
            answer = {"error": {"status": exc.status_code, "title": exc.title,
                                "detail": exc.detail, "code": exc.code, **exc.fields}}  # fmt: skip
            if exc.headers:  # Retry-After of a 429 or 503 goes back with it
                answer["error"]["headers"] = dict(exc.headers)
        except Exception as exc:  # a failed command is answered, never kills the server
            log.exception("command %s failed", op)
            answer = {"error": {"status": 500, "title": "Internal error", "detail": str(exc)}}
        pipe = self.client.pipeline(transaction=False)
        pipe.lpush(reply_to, json.dumps(answer, default=str))
        pipe.expire(reply_to, 60)
        pipe.xack(self.stream, GROUP, entry_id)
        await pipe.execute()
        self.handled += 1


class RemoteCommands:
    """In an API-only worker: send a command to the node and wait for its answer."""

    def __init__(self, client: aioredis.Redis, prefix: str, timeout_s: float) -> None:
        self.client = client
        self.stream = stream_key(prefix)
        self.prefix = prefix
        self.timeout_s = timeout_s

    async def call(
        self, op: str, args: dict[str, Any], *, timeout_s: float | None = None
    ) -> dict[str, Any]:
        """The node's answer; a ``Problem`` for its refusal, 503 when it does not answer
        within ``timeout_s`` (default: ``PI5_REDIS__COMMAND_TIMEOUT_S``)."""
        wait = self.timeout_s if timeout_s is None else min(timeout_s, self.timeout_s)
        reply_to = f"{self.prefix}:reply:{uuid.uuid4().hex}"
        body = json.dumps({"op": op, "args": args, "reply_to": reply_to}, default=str)
        from redis.exceptions import TimeoutError as RedisTimeout

        try:
            await self.client.xadd(self.stream, {"body": body}, maxlen=10_000, approximate=True)
            got = await self.client.blpop([reply_to], timeout=wait)
        except RedisTimeout:
            got = None  # the read timed out with the wait: the same as no answer
        except Exception as exc:
            raise Problem(503, "Trading node unavailable", f"Redis unreachable: {exc}",
                          headers={"Retry-After": "5"}) from None  # fmt: skip
        if got is None:
            raise Problem(
                503, "Trading node unavailable",
                f"the trading node did not answer within {wait:g} s",
                headers={"Retry-After": "5"},
            )  # fmt: skip
        answer: dict[str, Any] = json.loads(got[1])
        error = answer.get("error")
        if error is not None:
            own = ("status", "title", "detail", "code", "headers")
            extra = {k: v for k, v in error.items() if k not in own}
            raise Problem(int(error["status"]), str(error["title"]), str(error["detail"]),
                          code=error.get("code"), headers=error.get("headers"),
                          **extra)  # fmt: skip
        result: dict[str, Any] = answer["ok"]
        return result


__all__ = ["CommandServer", "RemoteCommands", "stream_key"]
