"""Node metrics from real engine events, read back from the Prometheus exposition."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pi5trading.bus import Bus
from pi5trading.events import FEED_STATUS, FeedStatus
from pi5trading.orders import OrderEvent
from pi5trading.sinks.channels import Channels
from pi5trading.sinks.metrics import NodeMetrics, TimedRepository
from pi5trading.sinks.storage import StorageSink
from pi5trading.storage import EventWriter, Journal, SqlRepository
from pi5trading.storage.migrate import migrate
from pi5trading.storage.repository import create_breaker
from pi5trading.storage.sqlite import SqliteDriver
from tests.unit.sinks.engine_events import record_run
from tests.unit.sinks.market_data import market_data


def samples(metrics: NodeMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(metrics.render().decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_events_orders_fills_and_denials_are_counted() -> None:
    run = record_run(300)
    messages = list(market_data(500)) + run.messages
    messages.append((FEED_STATUS, FeedStatus(1, "sim", "live")))
    metrics = NodeMetrics()
    bus = Bus()
    metrics.subscribe(bus)
    for topic, payload in messages:
        bus.publish(topic, payload)
    metrics.observe_feed("sim", messages=500, stats={"gaps": 2})
    got = samples(metrics)

    def val(metric: str, /, **labels: str) -> float:
        return got.get((metric, tuple(sorted(labels.items()))), 0.0)

    orders = list(run.payloads(OrderEvent))
    kinds = Counter(m.kind for m in orders)  # type: ignore[attr-defined]
    for kind, n in kinds.items():
        assert val("pi5_orders_total", kind=kind) == n
    sides = Counter(m.fill.side for m in orders if m.fill is not None)  # type: ignore[attr-defined]
    for side, n in sides.items():
        assert val("pi5_fills_total", side=side) == n
    codes = Counter(m.denial.code for m in orders if m.kind == "denied")  # type: ignore[attr-defined]
    assert codes
    for code, n in codes.items():
        assert val("pi5_denials_total", code=code) == n
    quotes = sum(1 for t, _ in messages if t.startswith("data.quotes."))
    assert val("pi5_events_total", topic="quotes") == quotes
    assert val("pi5_events_total", topic="orders") == len(orders)
    assert val("pi5_events_total", topic="equity") == 300
    assert val("pi5_events_total", topic="strategies") == 1
    assert val("pi5_feed_status", feed="sim", status="live") == 1
    assert val("pi5_feed_status", feed="sim", status="stale") == 0
    assert val("pi5_feed_messages_total", feed="sim") == 500
    assert val("pi5_feed_stat", feed="sim", name="gaps") == 2


@pytest.mark.anyio
async def test_writer_batches_and_dropped_clients(tmp_path: Path) -> None:
    metrics = NodeMetrics()
    driver = await SqliteDriver.open(tmp_path / "t.db")
    await migrate(driver)
    repo = SqlRepository(driver, create_breaker())
    writer = EventWriter(TimedRepository(repo, metrics), Journal(tmp_path / "j"), batch_size=100)
    sink = StorageSink(writer, repo)
    channels = Channels(max_queue=3)
    channels.on_drop = metrics.channel_client_dropped
    metrics.watch_writer(writer)
    metrics.watch_backlog(lambda: sink.backlog)
    metrics.watch_channels(channels)
    bus = Bus()
    sink.subscribe(bus)
    channels.subscribe_bus(bus)
    channels.subscribe(["data.>"])  # never read: dropped
    await sink.start()
    for topic, payload in market_data(1000):
        bus.publish(topic, payload)
    await sink.close()
    await channels.flush()
    got = samples(metrics)
    await repo.close()
    assert got[("pi5_writer_written_total", ())] == 1000
    assert got[("pi5_writer_buffered", ())] == 0
    assert got[("pi5_writer_journal_pending", ())] == 0
    assert got[("pi5_storage_backlog", ())] == 0
    assert got[("pi5_writer_batch_seconds_count", ())] >= 10  # batches of at most 100
    assert got[("pi5_channel_clients_dropped_total", ())] == 1
    assert got[("pi5_channel_clients", ())] == 0


@pytest.mark.anyio
async def test_channel_gauges_say_where_messages_wait() -> None:
    # Before the fan-out (the outbox), then in the clients' queues: what the load bench
    # samples to find where delivery lags.
    metrics = NodeMetrics()
    channels = Channels(max_queue=10_000)
    metrics.watch_channels(channels)
    bus = Bus()
    channels.subscribe_bus(bus)
    reader = channels.subscribe(["data.>"])
    channels.subscribe(["data.bars.>"])  # gets none of the quotes
    data = list(market_data(300))
    for topic, payload in data:
        bus.publish(topic, payload)
    got = samples(metrics)
    assert got[("pi5_channel_outbox", ())] == 300
    assert got[("pi5_channel_queued", ())] == 0
    await channels.flush()
    got = samples(metrics)
    bars = sum(1 for topic, _ in data if topic.startswith("data.bars."))
    assert got[("pi5_channel_outbox", ())] == 0
    assert got[("pi5_channel_queued", ())] == 300 + bars
    assert got[("pi5_channel_queued_max", ())] == 300
    for _ in range(100):
        await reader.get()
    got = samples(metrics)
    assert got[("pi5_channel_queued_max", ())] == 200
    assert got[("pi5_channel_clients", ())] == 2


def test_watched_feeds_are_read_at_each_scrape() -> None:
    """The node's feeds' counters reach /metrics without the feed calling anything:
    ``pi5_feed_stat`` by name, ``pi5_feed_messages_total`` by what came since the last
    scrape."""
    metrics = NodeMetrics()
    stats = {"messages": 10.0, "gaps": 1.0, "reconnects": 0.0}
    metrics.watch_feeds(lambda: [("alpaca:iex", dict(stats))])
    got = samples(metrics)
    assert got[("pi5_feed_messages_total", (("feed", "alpaca:iex"),))] == 10
    assert got[("pi5_feed_stat", (("feed", "alpaca:iex"), ("name", "gaps")))] == 1
    stats.update(messages=25.0, reconnects=2.0)
    got = samples(metrics)
    assert got[("pi5_feed_messages_total", (("feed", "alpaca:iex"),))] == 25
    assert got[("pi5_feed_stat", (("feed", "alpaca:iex"), ("name", "reconnects")))] == 2
    assert ("pi5_feed_stat", (("feed", "alpaca:iex"), ("name", "messages"))) not in got
