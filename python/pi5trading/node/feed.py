"""What the node needs of a market data feed: start sending into its queue, stop.

A feed sends ``(topic, ts_event, payload)`` into the node's ``IngestQueue`` with the
topics of ``pi5trading.events``: ``data.bars.SYMBOL.INTERVAL`` with a ``Bar``,
``data.quotes.SYMBOL`` with a ``QuoteTick``, ``data.trades.SYMBOL`` with a ``TradeTick``,
``feeds.status`` with a ``FeedStatus``. The engine steps the market data in
``(ts_event, arrival)`` order and passes everything on to the bus.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pi5trading.bus import IngestQueue


@runtime_checkable
class MarketFeed(Protocol):
    """A source of market data for the node (simulated, replay, a vendor's stream)."""

    @property
    def name(self) -> str:
        """Shown in logs and in ``FeedStatus`` events."""
        ...

    async def start(self, queue: IngestQueue) -> None:
        """Begin sending into ``queue``; returns once the feed runs (its own tasks or
        threads keep sending)."""
        ...

    async def stop(self) -> None:
        """Stop sending and release connections; the node calls it once at shutdown."""
        ...


__all__ = ["MarketFeed"]
