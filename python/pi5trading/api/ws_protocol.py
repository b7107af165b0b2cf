"""uvicorn's WebSocket protocol with a bounded kernel send buffer for each connection.

A client that stops reading is found slow — its channel queue of
``PI5_SINKS__CHANNEL_QUEUE`` messages fills and it is dropped, close code 4008 — once the
kernel's send buffer and the transport's (64 KiB) are full. Left to autotuning, the kernel
grows a socket's send buffer to ``net.ipv4.tcp_wmem``'s maximum (4 MiB on Debian): a
client subscribed to a quiet topic was then dropped only after minutes, each such socket
holding megabytes (found by the live load run, issue 17). 64 KiB (the kernel doubles it)
still carries far more than the node publishes to any client.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Final

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

SEND_BUFFER_BYTES: Final = 64 * 1024


class BoundedWebSocketProtocol(WebSocketsSansIOProtocol):
    """``uvicorn.run(..., ws=BoundedWebSocketProtocol)``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        super().connection_made(transport)


__all__ = ["SEND_BUFFER_BYTES", "BoundedWebSocketProtocol"]
