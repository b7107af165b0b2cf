"""``/ws``: the node's events live over a WebSocket.

The protocol, one JSON object per message, each with a ``type``:

1. The client signs in with its first message (never a token in the URL):
   ``{"type": "auth", "token": "<access token>"}`` → ``{"type": "welcome", ...}``. No sign-in
   within 10 s, a bad or expired token: the server closes with code 4401 and the reason.
2. ``{"type": "subscribe", "topics": ["data.quotes.*", "orders.>", "positions.>"]}`` (bus
   topic patterns: ``*`` one segment, ``>`` the rest) → ``{"type": "subscribed"}``, then a
   snapshot of the latest state (``{"type": "snapshot", "prices": ..., "positions": ...,
   "portfolio": ..., "strategies": ...}``), then every event as it happens (the channel
   messages: ``quote``, ``bar``, ``order``, ``position``, ``equity``, ``risk``, ...). A new
   ``subscribe`` replaces the topics.
3. ``{"type": "ping"}`` → ``{"type": "pong"}``; the server sends ``{"type": "ping"}`` every
   20 s of quiet.

A client that does not read keeps at most ``PI5_SINKS__CHANNEL_QUEUE`` messages queued; then
it is dropped (close code 4008, "slow client: ..."; each connection's kernel send buffer
is bounded, ``pi5trading.api.ws_protocol``, so this comes within seconds): it never slows
the node. Redis gone under the channels closes with 1013 (come back later), the node
stopping with 1001. The socket is
closed (4401) when the access token expires: sign in again with a fresh one.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Final

import anyio
import msgspec
import redis.exceptions
from litestar import WebSocket, websocket
from litestar.exceptions import SerializationException, WebSocketDisconnect

from pi5trading.api.errors import Problem
from pi5trading.api.security.tokens import Identity, TokenError, decode_access
from pi5trading.sinks.channels import ChannelClosedError, Subscription
from pi5trading.sinks.messages import check_pattern

AUTH_TIMEOUT_S: Final = 10.0
HEARTBEAT_S: Final = 20.0
UNAUTHORIZED: Final = 4401
SLOW: Final = 4008
UNAVAILABLE: Final = 1013
TOPICS: Final = (
    "data.quotes.<symbol>", "data.trades.<symbol>", "data.bars.<interval>.<symbol>",
    "orders.<kind>", "positions.<kind>", "account.equity", "risk.state",
    "strategies.status", "feeds.status", "backtests",
)  # fmt: skip
_ENCODE: Final = msgspec.json.Encoder()


async def _send(socket: WebSocket[Any, Any, Any], message: dict[str, Any]) -> None:
    await socket.send_text(_ENCODE.encode(message).decode())


async def _close(socket: WebSocket[Any, Any, Any], code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await socket.close(code=code, reason=reason[:120])


async def _sign_in(socket: WebSocket[Any, Any, Any]) -> Identity | None:
    ctx = socket.app.state.auth
    try:
        with anyio.fail_after(AUTH_TIMEOUT_S):
            first = await socket.receive_json()
    except TimeoutError:
        await _close(socket, UNAUTHORIZED, "sign in first: {type: auth, token}")
        return None
    # Not JSON (Litestar's SerializationException is no ValueError: the socket was closed
    # 4500, an internal error, before issue 17), or nested too deeply.
    except (ValueError, SerializationException, RecursionError, WebSocketDisconnect):
        await _close(socket, UNAUTHORIZED, "the first message must be {type: auth, token}")
        return None
    token = first.get("token") if isinstance(first, dict) and first.get("type") == "auth" else None
    if not isinstance(token, str):
        await _close(socket, UNAUTHORIZED, "the first message must be {type: auth, token}")
        return None
    try:
        identity = decode_access(token, ctx.keys, ctx.settings)
    except TokenError as exc:
        await _close(socket, UNAUTHORIZED, str(exc))
        return None
    try:
        revoked = await ctx.is_revoked(identity)
    except Problem as exc:  # the revocations are unreadable (Redis away): try again later
        await _close(socket, UNAVAILABLE, exc.detail)
        return None
    if revoked:
        await _close(socket, UNAUTHORIZED, "token revoked (signed out)")
        return None
    return identity


def _close_code(reason: str) -> int:
    """Why the channel ended, as a close code: too slow (4008), the channel's Redis gone
    (1013, try again later: a client reconnects), the node stopping (1001), else 1000."""
    if reason.startswith("slow"):
        return SLOW
    if reason.startswith("Redis"):
        return UNAVAILABLE
    if "shutting down" in reason:
        return 1001
    return 1000


async def _snapshot(cache: Any) -> dict[str, Any]:
    if cache is None:
        return {"type": "snapshot"}
    return {
        "type": "snapshot",
        "prices": msgspec.to_builtins(list((await cache.prices()).values())),
        "positions": msgspec.to_builtins(await cache.positions()),
        "portfolio": msgspec.to_builtins(await cache.portfolio()),
        "strategies": msgspec.to_builtins(list((await cache.strategies()).values())),
    }


@websocket("/ws", opt={"exclude_from_auth": True})
async def live(socket: WebSocket[Any, Any, Any]) -> None:
    """Live events (see the module doc for the protocol)."""
    await socket.accept()
    identity = await _sign_in(socket)
    if identity is None:
        return
    node = getattr(socket.app.state, "node", None)
    sinks = getattr(node, "sinks", None)
    # In the node's process its sinks; in an API-only worker, Redis (app.state).
    channels = getattr(sinks, "channels", None) or getattr(socket.app.state, "channels", None)
    cache = getattr(sinks, "cache", None) or getattr(socket.app.state, "cache", None)
    if channels is None:
        await _close(socket, UNAVAILABLE, "no trading node in this process: no live events")
        return
    await _send(
        socket,
        {
            "type": "welcome",
            "user": identity.username,
            "role": identity.role,
            "topics": list(TOPICS),
        },
    )
    state: dict[str, Subscription | None] = {"sub": None}
    quiet = {"since": time.monotonic()}

    async def forward(sub: Subscription) -> None:
        try:
            while True:
                data = await sub.get()
                await socket.send_text(data.decode())
                quiet["since"] = time.monotonic()
        except ChannelClosedError as exc:
            if state["sub"] is sub:  # dropped by the channel, not replaced by the client
                await _close(socket, _close_code(exc.reason), exc.reason)
                tg.cancel_scope.cancel()

    async def heartbeat() -> None:
        while True:
            await anyio.sleep(1.0)
            if time.time() >= identity.expires:
                await _close(socket, UNAUTHORIZED, "token expired: sign in again")
                tg.cancel_scope.cancel()
                return
            if time.monotonic() - quiet["since"] >= HEARTBEAT_S:
                await _send(socket, {"type": "ping"})
                quiet["since"] = time.monotonic()

    async def receive() -> None:
        try:
            while True:
                try:
                    msg = await socket.receive_json()
                except (ValueError, SerializationException, RecursionError):
                    await _send(socket, {"type": "error", "detail": "messages are JSON objects"})
                    continue
                kind = msg.get("type") if isinstance(msg, dict) else None
                if kind == "ping":
                    await _send(socket, {"type": "pong"})
                elif kind == "subscribe":
                    await subscribe(msg.get("topics"))
                else:
                    await _send(
                        socket, {"type": "error", "detail": f"unknown message type {kind!r}"}
                    )
        except WebSocketDisconnect:
            tg.cancel_scope.cancel()

    async def subscribe(topics: Any) -> None:
        if not isinstance(topics, list) or not topics or len(topics) > 50:
            await _send(socket, {"type": "error", "detail": "topics: a list of 1-50 patterns"})
            return
        try:
            patterns = [check_pattern(str(t)) for t in topics]
        except ValueError as exc:
            await _send(socket, {"type": "error", "detail": str(exc)})
            return
        old, state["sub"] = state["sub"], channels.subscribe(patterns)
        if old is not None:
            old.close("replaced")
        sub = state["sub"]
        assert sub is not None
        await sub.ready.wait()
        await _send(socket, {"type": "subscribed", "topics": patterns})
        try:
            snapshot = await _snapshot(cache)
        except redis.exceptions.RedisError as exc:
            # The latest state lives in Redis: away, the client is told to come back (1013)
            # as when its channel ends with Redis, not closed with an internal error.
            sub.close(f"Redis is unreachable: {exc}")
            await _close(socket, UNAVAILABLE, f"Redis is unreachable: {exc}")
            tg.cancel_scope.cancel()
            return
        await _send(socket, snapshot)
        tg.start_soon(forward, sub)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(receive)
            tg.start_soon(heartbeat)
    finally:
        if state["sub"] is not None:
            state["sub"].close("client gone")


ROUTES: Final = [live]

__all__ = ["ROUTES"]
