"""Drains an ``IngestQueue`` through a real ``Bus`` and keeps what each topic family got."""

from __future__ import annotations

from typing import Any

from pi5trading.bus import Bus, IngestQueue
from pi5trading.events import FeedStatus
from pi5trading.model import Bar, QuoteTick, TradeTick


class Collected:
    def __init__(self) -> None:
        self.all: list[Any] = []

    @property
    def bars(self) -> list[Bar]:
        return [m for m in self.all if isinstance(m, Bar)]

    @property
    def quotes(self) -> list[QuoteTick]:
        return [m for m in self.all if isinstance(m, QuoteTick)]

    @property
    def trades(self) -> list[TradeTick]:
        return [m for m in self.all if isinstance(m, TradeTick)]

    @property
    def statuses(self) -> list[FeedStatus]:
        return [m for m in self.all if isinstance(m, FeedStatus)]


def drain(queue: IngestQueue, into: Collected | None = None) -> Collected:
    """Everything queued so far, in the order the node would publish it."""
    out = into or Collected()
    bus = Bus()
    for pattern in ("data.>", "feeds.status"):
        bus.subscribe(pattern, out.all.append)
    while bus.drain(queue, timeout=0):
        pass
    return out
