"""Payloads from the node's engine thread to a sink's task on the event loop.

The node calls bus handlers on its engine thread; a sink's slow work (converting, writing,
encoding) runs in an asyncio task. ``Handoff.put`` is what a handler does: append under a
lock (a swap by the task between two bytecodes must not lose a payload) and wake the task —
thread-safely when called off the loop's thread, and once per cycle of the task, however
many batches arrive meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable


class Handoff:
    def __init__(self) -> None:
        self._items: list[object] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._wake = asyncio.Event()
        # At most one wake-up in flight per cycle of the task: waking a loop from another
        # thread is a system call, which a busy node should not pay per batch.
        self._signalled = False

    def bind(self) -> None:
        """Called by the task's owner on the event loop (``start``)."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()

    def put(self, messages: Iterable[object]) -> None:
        with self._lock:
            self._items.extend(messages)
            signal = not self._signalled
            self._signalled = True
        if signal:
            self.notify()

    def take(self) -> list[object]:
        with self._lock:
            items, self._items = self._items, []
        return items

    def __len__(self) -> int:
        return len(self._items)

    def notify(self) -> None:
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread:
            self._wake.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
                loop.call_soon_threadsafe(self._wake.set)

    async def wait(self, at_most_s: float | None = None) -> None:
        """Until something is put (or ``notify``), at most ``at_most_s`` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), at_most_s)
        self._wake.clear()
        with self._lock:
            self._signalled = False


__all__ = ["Handoff"]
