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
pi5_writer_journal_failing                 gauge       —   (1 while the journal cannot be written)
pi5_database_breaker_open                  gauge       —   (1 while the node's breaker is open)
pi5_database_breaker_opened_total          counter     —
pi5_storage_backlog                        gauge       —   (events not yet handed to the writer)
pi5_channel_clients                        gauge       —
pi5_channel_outbox                         gauge       —   (messages not yet fanned out)
pi5_channel_queued                         gauge       —   (messages in the clients' queues)
pi5_channel_queued_max                     gauge       —   (the most in one client's queue)
pi5_channel_clients_dropped_total          counter     —   (slow clients)
pi5_retained                               gauge       what (entries kept by the node's
                                                       maps: order_tracks, …)
pi5_feed_messages_total                    counter     feed
pi5_feed_status                            gauge       feed, status (1 for the current one)
pi5_feed_stat                              gauge       feed, name   (whatever a feed reports)
=========================================  ==========  ======================================

The node's feeds are read at each scrape (``watch_feeds``): ``pi5_feed_messages_total`` and
``pi5_feed_stat`` (gaps, reconnects, backfilled bars, malformed, stale periods, ...).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from pi5trading import _core
from pi5trading import events as ev
from pi5trading.events import EquitySample, FeedState, FeedStatus, StrategyStatus
from pi5trading.sinks.channels import Channels
from pi5trading.storage.records import EncodedBar, EncodedRow, Record
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
        # Event counts are plain dicts, turned into Prometheus counters at scrape time:
        # the per-event cost is one dictionary increment, no label lookup or lock.
        self.events: dict[str, int] = {}
        self.orders: dict[str, int] = {}
        self.fills: dict[str, int] = {}
        self.denials: dict[str, int] = {}
        self.risk_changes: dict[str, int] = {}
        self.strategy_status: dict[str, int] = {}
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
        self._sources = _Sources(self)
        r.register(self._sources)
        self._feeds: Callable[[], Iterable[tuple[str, Mapping[str, float]]]] | None = None
        self._feed_messages_seen: dict[str, int] = {}

    # -- the bus --

    def subscribe(self, bus: _core.Bus) -> list[int]:
        # Highest priority: counted even if a later handler raises.
        return [bus.subscribe(p, self.on_messages, 1000, batch=True) for p in COUNTED_TOPICS]

    def on_messages(self, messages: Sequence[object]) -> None:
        events = self.events
        for m in messages:
            if isinstance(m, _core.QuoteTick):
                t = "quotes"
            elif isinstance(m, _core.Bar):
                t = "bars"
            elif isinstance(m, _core.TradeTick):
                t = "trades"
            elif isinstance(m, _core.OrderEvent):
                t = "orders"
                _inc(self.orders, m.kind)
                f = m.fill
                if f is not None:
                    _inc(self.fills, f.side)
                d = m.denial
                if d is not None and m.kind == "denied":
                    _inc(self.denials, d.code)
            elif isinstance(m, _core.PositionEvent):
                t = "positions"
            elif isinstance(m, EquitySample):
                t = "equity"
            elif isinstance(m, _core.RiskEvent):
                t = "risk"
                if m.kind == "state_changed" and m.to_state is not None:
                    _inc(self.risk_changes, m.to_state)
            elif isinstance(m, StrategyStatus):
                t = "strategies"
                _inc(self.strategy_status, m.status)
            elif isinstance(m, FeedStatus):
                t = "feeds"
                self.observe_feed_status(m.feed, m.status)
            else:
                continue  # an Order's terms, or anything else: not an event
            events[t] = events.get(t, 0) + 1

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

    def watch_feeds(self, feeds: Callable[[], Iterable[tuple[str, Mapping[str, float]]]]) -> None:
        """Report each feed's statistics at each scrape: ``feeds()`` gives (feed name, its
        counters); ``messages`` is the running total of messages received."""
        self._feeds = feeds

    def _observe_feeds(self) -> None:
        if self._feeds is None:
            return
        for name, stats in self._feeds():
            total = int(stats.get("messages", 0))
            new = total - self._feed_messages_seen.get(name, 0)
            self._feed_messages_seen[name] = total
            others = {k: v for k, v in stats.items() if k != "messages"}
            self.observe_feed(name, messages=max(new, 0), stats=others)

    def watch_writer(self, writer: EventWriter) -> None:
        """Report the writer's buffer, journal and totals at each scrape."""
        self._sources.writer = writer

    def watch_backlog(self, backlog: Callable[[], int]) -> None:
        self._sources.backlog = backlog

    def watch_pause(self, pause: Callable[[], tuple[float, bool]]) -> None:
        """Report ``pause()`` (seconds the engine waited for its consumers, whether it waits
        now) at each scrape."""
        self._sources.pause = pause

    def watch_channels(self, channels: Channels) -> None:
        """Report the channels' clients, outbox and queues at each scrape."""
        self._sources.channels = channels

    def watch_retained(self, what: str, count: Callable[[], int]) -> None:
        """Report ``count()`` as ``pi5_retained{what=...}`` at each scrape: the size of a map
        the node keeps, so a long run shows which one grows."""
        self._sources.retained[what] = count

    def channel_client_dropped(self, *_: object) -> None:
        self.channel_clients_dropped.inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        self._observe_feeds()
        return generate_latest(self.registry)


def _inc(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


class _Sources(Collector):
    """Gauges read at scrape time from the objects that own the numbers."""

    def __init__(self, metrics: NodeMetrics) -> None:
        self.metrics = metrics
        self.writer: EventWriter | None = None
        self.backlog: Callable[[], int] | None = None
        self.channels: Channels | None = None
        self.retained: dict[str, Callable[[], int]] = {}
        self.pause: Callable[[], tuple[float, bool]] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        m = self.metrics
        for name, doc, label, counts in (
            ("pi5_events", "Events the node published", "topic", m.events),
            ("pi5_orders", "Order lifecycle events", "kind", m.orders),
            ("pi5_fills", "Fills", "side", m.fills),
            ("pi5_denials", "Orders denied by risk", "code", m.denials),
            ("pi5_risk_state_changes", "Trading state changes", "to_state", m.risk_changes),
            ("pi5_strategy_status", "Strategy status changes", "status", m.strategy_status),
        ):
            family = CounterMetricFamily(name, doc, labels=[label])
            for value, n in sorted(dict(counts).items()):  # a copy: the engine thread counts
                family.add_metric([value], n)
            yield family
        if self.writer is not None:
            s = self.writer.stats()
            yield GaugeMetricFamily("pi5_writer_buffered", "Events in the writer", s.buffered)
            yield GaugeMetricFamily(
                "pi5_writer_journal_pending", "Events in the journal", s.journal_pending
            )
            yield CounterMetricFamily("pi5_writer_written", "Events written", s.written)
            yield CounterMetricFamily("pi5_writer_journaled", "Events journaled", s.journaled)
            yield CounterMetricFamily("pi5_writer_rejected", "Events refused", s.rejected)
            yield GaugeMetricFamily(
                "pi5_writer_journal_failing",
                "1 while the journal cannot be written (disk full)",
                int(s.journal_error is not None),
            )
            if s.breaker is not None:
                yield GaugeMetricFamily(
                    "pi5_database_breaker_open",
                    "1 while the node's database circuit breaker is open",
                    int(s.breaker.state == "open"),
                )
                yield CounterMetricFamily(
                    "pi5_database_breaker_opened",
                    "Times the node's database circuit breaker opened",
                    s.breaker.times_opened,
                )
        if self.backlog is not None:
            yield GaugeMetricFamily(
                "pi5_storage_backlog", "Events not yet handed to the writer", self.backlog()
            )
        if self.pause is not None:
            waited, waiting = self.pause()
            yield CounterMetricFamily(
                "pi5_node_paused_seconds",
                "Seconds the engine waited for a consumer behind (storage): trading paused",
                waited,
            )
            yield GaugeMetricFamily(
                "pi5_node_paused", "1 while the engine waits for a consumer behind", int(waiting)
            )
        if self.retained:
            kept = GaugeMetricFamily(
                "pi5_retained", "Entries kept by the node's maps", labels=["what"]
            )
            for what, count in sorted(self.retained.items()):
                kept.add_metric([what], count())
            yield kept
        if (c := self.channels) is not None:
            yield GaugeMetricFamily("pi5_channel_clients", "Channel clients", c.clients)
            # Where WebSocket delivery lags: before the fan-out (the outbox) or in the
            # clients' queues (the sockets cannot take more).
            yield GaugeMetricFamily(
                "pi5_channel_outbox", "Messages from the node not yet fanned out", c.outbox
            )
            total, most = c.queued()
            yield GaugeMetricFamily(
                "pi5_channel_queued", "Messages waiting in the clients' queues", total
            )
            yield GaugeMetricFamily(
                "pi5_channel_queued_max", "The most messages waiting in one client's queue", most
            )


class TimedRepository(SqlRepository):
    """The same database (driver and breaker shared) with each batched write timed: hand
    it to the ``EventWriter`` to fill ``pi5_writer_batch_seconds``."""

    def __init__(self, repository: SqlRepository, metrics: NodeMetrics) -> None:
        super().__init__(repository.driver, repository.breaker)
        self._observe = metrics.batch_seconds.observe

    async def write(self, records: Sequence[Record | EncodedBar | EncodedRow]) -> int:
        start = time.perf_counter()
        try:
            return await super().write(records)
        finally:
            self._observe(time.perf_counter() - start)

    async def close(self) -> None:
        # The driver belongs to the repository this one wraps.
        return None


__all__ = ["COUNTED_TOPICS", "NodeMetrics", "TimedRepository"]
