"""Prometheus metrics of the node: events by topic, orders, fills, denials, the writer,
channel clients, feeds.

``NodeMetrics`` owns its ``CollectorRegistry`` (so two nodes in one process, or tests, do not
collide); the API serves ``metrics.render()`` at ``/metrics``. The bus handler counts a batch
in a local dict and touches each Prometheus counter once per batch, so the per-event cost is
a dictionary increment.

=========================================  ==========  ======================================
metric                                     type        labels
=========================================  ==========  ======================================
pi5_events_total                           counter     topic (bars, quotes, trades, orders,
                                                       positions, equity, risk, strategies,
                                                       feeds)
pi5_orders_total                           counter     kind (submitted, accepted, filled, …)
pi5_fills_total                            counter     side
pi5_denials_total                          counter     code (the risk engine's denial code)
pi5_risk_state_changes_total               counter     to_state
pi5_strategy_status_total                  counter     status
pi5_writer_buffered                        gauge       —   (events waiting in the writer)
pi5_writer_journal_pending                 gauge       —   (events in the outage journal)
pi5_writer_written_total                   counter     —
pi5_writer_journaled_total                 counter     —
pi5_writer_rejected_total                  counter     —
pi5_writer_batch_seconds                   histogram   —   (one database write of a batch)
pi5_storage_backlog                        gauge       —   (events not yet handed to the writer)
pi5_channel_clients                        gauge       —
pi5_channel_clients_dropped_total          counter     —   (slow clients)
pi5_feed_messages_total                    counter     feed
pi5_feed_status                            gauge       feed, status (1 for the current one)
pi5_feed_stat                              gauge       feed, name   (whatever a feed reports)
=========================================  ==========  ======================================
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from pi5trading import _core
from pi5trading import events as ev
from pi5trading.events import EquitySample, FeedState, FeedStatus, StrategyStatus
from pi5trading.storage.records import Record
from pi5trading.storage.repository import SqlRepository
from pi5trading.storage.writer import EventWriter

_FEED_STATES: Final[tuple[FeedState, ...]] = (
    "connecting",
    "live",
    "stale",
    "reconnecting",
    "closed",
    "failed",
)

COUNTED_TOPICS: Final = (
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


class NodeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.events = Counter("pi5_events", "Events the node published", ["topic"], registry=r)
        self.orders = Counter("pi5_orders", "Order lifecycle events", ["kind"], registry=r)
        self.fills = Counter("pi5_fills", "Fills", ["side"], registry=r)
        self.denials = Counter("pi5_denials", "Orders denied by risk", ["code"], registry=r)
        self.risk_changes = Counter(
            "pi5_risk_state_changes", "Trading state changes", ["to_state"], registry=r
        )
        self.strategy_status = Counter(
            "pi5_strategy_status", "Strategy status changes", ["status"], registry=r
        )
        self.batch_seconds = Histogram(
            "pi5_writer_batch_seconds",
            "One database write of a batch of events",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.channel_clients_dropped = Counter(
            "pi5_channel_clients_dropped", "Channel clients dropped for being slow", registry=r
        )
        self.feed_messages = Counter(
            "pi5_feed_messages", "Messages received from a feed", ["feed"], registry=r
        )
        self.feed_status = Gauge(
            "pi5_feed_status", "A feed's state (1 = current)", ["feed", "status"], registry=r
        )
        self.feed_stat = Gauge(
            "pi5_feed_stat", "A statistic a feed reports", ["feed", "name"], registry=r
        )
        self._sources = _Sources()
        r.register(self._sources)

    # -- the bus --

    def subscribe(self, bus: _core.Bus) -> list[int]:
        # Highest priority: counted even if a later handler raises.
        return [bus.subscribe(p, self.on_messages, 1000, batch=True) for p in COUNTED_TOPICS]

    def on_messages(self, messages: Sequence[object]) -> None:
        topics: dict[str, int] = {}
        kinds: dict[str, int] = {}
        sides: dict[str, int] = {}
        for m in messages:
            if isinstance(m, _core.QuoteTick):
                t = "quotes"
            elif isinstance(m, _core.Bar):
                t = "bars"
            elif isinstance(m, _core.TradeTick):
                t = "trades"
            elif isinstance(m, _core.OrderEvent):
                t = "orders"
                kinds[m.kind] = kinds.get(m.kind, 0) + 1
                f = m.fill
                if f is not None:
                    sides[f.side] = sides.get(f.side, 0) + 1
                d = m.denial
                if d is not None and m.kind == "denied":
                    self.denials.labels(d.code).inc()
            elif isinstance(m, _core.PositionEvent):
                t = "positions"
            elif isinstance(m, EquitySample):
                t = "equity"
            elif isinstance(m, _core.RiskEvent):
                t = "risk"
                if m.kind == "state_changed" and m.to_state is not None:
                    self.risk_changes.labels(m.to_state).inc()
            elif isinstance(m, StrategyStatus):
                t = "strategies"
                self.strategy_status.labels(m.status).inc()
            elif isinstance(m, FeedStatus):
                t = "feeds"
                self.observe_feed_status(m.feed, m.status)
            else:
                continue  # an Order's terms, or anything else: not an event
            topics[t] = topics.get(t, 0) + 1
        for t, n in topics.items():
            self.events.labels(t).inc(n)
        for k, n in kinds.items():
            self.orders.labels(k).inc(n)
        for s, n in sides.items():
            self.fills.labels(s).inc(n)

    # -- hooks for the other parts --

    def observe_feed_status(self, feed: str, status: FeedState) -> None:
        for s in _FEED_STATES:
            self.feed_status.labels(feed, s).set(1 if s == status else 0)

    def observe_feed(
        self, feed: str, *, messages: int = 0, stats: Mapping[str, float] | None = None
    ) -> None:
        """The feed statistics hook: count ``messages`` received, set any named statistics
        (``gaps``, ``reconnects``, ``lag_seconds`` …)."""
        if messages:
            self.feed_messages.labels(feed).inc(messages)
        for name, value in (stats or {}).items():
            self.feed_stat.labels(feed, name).set(value)

    def watch_writer(self, writer: EventWriter) -> None:
        """Report the writer's buffer, journal and totals at each scrape."""
        self._sources.writer = writer

    def watch_backlog(self, backlog: Callable[[], int]) -> None:
        self._sources.backlog = backlog

    def watch_channels(self, clients: Callable[[], int]) -> None:
        self._sources.clients = clients

    def channel_client_dropped(self, *_: object) -> None:
        self.channel_clients_dropped.inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class _Sources(Collector):
    """Gauges read at scrape time from the objects that own the numbers."""

    def __init__(self) -> None:
        self.writer: EventWriter | None = None
        self.backlog: Callable[[], int] | None = None
        self.clients: Callable[[], int] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        if self.writer is not None:
            s = self.writer.stats()
            yield GaugeMetricFamily("pi5_writer_buffered", "Events in the writer", s.buffered)
            yield GaugeMetricFamily(
                "pi5_writer_journal_pending", "Events in the journal", s.journal_pending
            )
            yield CounterMetricFamily("pi5_writer_written", "Events written", s.written)
            yield CounterMetricFamily("pi5_writer_journaled", "Events journaled", s.journaled)
            yield CounterMetricFamily("pi5_writer_rejected", "Events refused", s.rejected)
        if self.backlog is not None:
            yield GaugeMetricFamily(
                "pi5_storage_backlog", "Events not yet handed to the writer", self.backlog()
            )
        if self.clients is not None:
            yield GaugeMetricFamily("pi5_channel_clients", "Channel clients", self.clients())


class TimedRepository(SqlRepository):
    """The same database (driver and breaker shared) with each batched write timed: hand
    it to the ``EventWriter`` to fill ``pi5_writer_batch_seconds``."""

    def __init__(self, repository: SqlRepository, metrics: NodeMetrics) -> None:
        super().__init__(repository.driver, repository.breaker)
        self._observe = metrics.batch_seconds.observe

    async def write(self, records: Sequence[Record]) -> int:
        start = time.perf_counter()
        try:
            return await super().write(records)
        finally:
            self._observe(time.perf_counter() - start)

    async def close(self) -> None:
        # The driver belongs to the repository this one wraps.
        return None


__all__ = ["COUNTED_TOPICS", "NodeMetrics", "TimedRepository"]
