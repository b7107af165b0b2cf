"""The event bus and the ingest queue from feed threads.

Topics are dot-separated (``data.bars.AAPL.1m``, ``orders.filled``). Patterns may use
``*`` for exactly one segment and, as the last segment, ``>`` for one or more::

    from pi5trading.bus import Bus, IngestQueue

    bus = Bus()
    bus.subscribe("data.bars.*.1m", strategy.on_bar, priority=10)  # higher runs first
    bus.subscribe("orders.>", audit.record)
    bus.subscribe("data.>", writer.write_many, batch=True)   # one call per batch, a list
    bus.publish("data.bars.AAPL.1m", bar)
    bus.publish_many("data.bars.AAPL.1m", bars)              # the fast path

    queue = IngestQueue(capacity=65_536, policy="block")    # or drop_newest / drop_oldest
    # feed thread:   queue.send("data.quotes.AAPL", quote.ts_event, quote)
    # engine thread: bus.drain(queue, timeout=0.1)           # in (ts_event, arrival) order

See ``docs/core.md`` for the ordering rules.
"""

from __future__ import annotations

from pi5trading._core import Bus, IngestQueue

__all__ = ["Bus", "IngestQueue"]
