"""Run an ASGI stand-in on a free loopback port for the length of a test.

    from tests.standins.server import serve

    with serve(app) as base:            # "http://127.0.0.1:<port>"
        client = YahooClient(base_url=base)
        ...

The server runs uvicorn in a background thread with its own event loop, so the code under
test (sync or async, in the test's loop) talks to it over a real socket: HTTP and
WebSocket framing, timeouts and disconnects behave as they do against the vendor.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tests.services import free_port


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test process owns the signals
        return None


@contextmanager
def serve(app: Any, *, startup_timeout: float = 10.0, lifespan: str = "off") -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 and yield its base URL (``http://127.0.0.1:PORT``);
    ``lifespan="on"`` runs the app's startup and shutdown (our own API's storage and node)."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan=lifespan,  # type: ignore[arg-type]
        ws="websockets-sansio",
        ws_ping_interval=None,
    )
    server = _Server(config)
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve()), name=f"standin:{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"stand-in server on port {port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
