"""Alerts pushed to a Gotify stand-in from the node's real events: what is sent, with which
priority, storms held back, and Gotify down costing nothing but a log line."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from pi5trading.config import NodeSettings
from pi5trading.events import FEED_STATUS, FeedStatus
from pi5trading.model import Bar
from pi5trading.node.trading_node import TradingNode
from pi5trading.resilience import CircuitBreaker
from pi5trading.sinks.alerts import GotifyAlerts
from pi5trading.strategies.base import Strategy
from tests.standins.gotify import GotifyStandIn
from tests.standins.server import serve
from tests.unit.node.test_node import bar_items, feed_through

pytestmark = pytest.mark.anyio


class BuyThenBreak(Strategy):
    warmup = True

    def on_start(self) -> None:
        self.n = 0

    def on_bar(self, bar: Bar) -> None:
        self.n += 1
        if self.n == 2:
            self.buy(1)
        if self.n == 10:
            raise RuntimeError("division by zero in my signal")


@pytest.fixture
def gotify() -> Iterator[tuple[GotifyStandIn, str]]:
    stand_in = GotifyStandIn()
    with serve(stand_in.app()) as base:
        yield stand_in, base


async def settle(alerts: GotifyAlerts, stand_in: GotifyStandIn, n: int) -> None:
    for _ in range(200):
        await alerts.flush()
        if len(stand_in.received) >= n:
            return
        await asyncio.sleep(0.02)


async def test_the_nodes_events_become_alerts(gotify: tuple[GotifyStandIn, str]) -> None:
    stand_in, base = gotify
    alerts = GotifyAlerts(base, stand_in.token, fills=True)
    assert stand_in.token not in repr(alerts)
    node = TradingNode(settings=NodeSettings(), clock="replay", risk="unlimited")
    node.add_instrument("AAA")
    alerts.subscribe(node.bus)
    await alerts.start()
    items = bar_items(30)
    await node.add_strategy(BuyThenBreak(strategy_id="b"))
    await node.start(start_ts=items[0][1] - 1)
    await feed_through(node, items)
    await node.set_trading_state("halted", "ops: market closed early")
    node.bus.publish(FEED_STATUS, FeedStatus(1, "alpaca", "stale", "no message for 60s"))
    await node.stop()
    await settle(alerts, stand_in, 4)
    await alerts.close()
    by_title = {m["title"]: m for m in stand_in.received}
    fill = next(m for t, m in by_title.items() if t.startswith("Fill buy 1 AAA"))
    assert fill["priority"] == 2
    failed = by_title["Strategy b failed"]
    assert (failed["priority"], "division by zero" in failed["message"]) == (8, True)
    halted = by_title["Trading halted (account)"]
    assert halted["priority"] == 8
    assert "market closed early" in halted["message"]
    assert by_title["Feed alpaca stale"]["priority"] == 5


async def test_a_storm_is_held_back_and_counted(gotify: tuple[GotifyStandIn, str]) -> None:
    stand_in, base = gotify
    alerts = GotifyAlerts(base, stand_in.token, repeat_s=0.3, max_per_minute=5)
    await alerts.start()
    for i in range(50):  # one flapping feed
        alerts.on_messages([FeedStatus(i, "yahoo", "reconnecting", f"try {i}")])
    await settle(alerts, stand_in, 1)
    assert len(stand_in.received) == 1
    await asyncio.sleep(0.35)
    alerts.on_messages([FeedStatus(99, "yahoo", "reconnecting", "again")])
    await settle(alerts, stand_in, 2)
    assert "49 similar alert(s) held back" in stand_in.received[1]["message"]
    # Many different alerts: at most max_per_minute go out.
    for i in range(20):
        alerts.on_messages([FeedStatus(i, f"feed{i}", "stale", "quiet")])
    await settle(alerts, stand_in, 5)
    await asyncio.sleep(0.1)
    await alerts.flush()
    assert len(stand_in.received) == 5
    assert alerts.suppressed >= 49 + 17
    await alerts.close()


async def test_gotify_down_costs_a_log_line(
    gotify: tuple[GotifyStandIn, str], caplog: pytest.LogCaptureFixture
) -> None:
    stand_in, base = gotify
    stand_in.failing = True
    alerts = GotifyAlerts(base, stand_in.token, repeat_s=0)
    db = CircuitBreaker("database", failure_threshold=1, reset_timeout=60)
    alerts.watch_breaker(db, "database")
    await alerts.start()
    for i in range(5):
        alerts.on_messages([FeedStatus(i, f"f{i}", "failed", "gone")])
    await alerts.flush()
    assert alerts.failed >= 3
    assert alerts.breaker.snapshot().state == "open"  # then it stops trying for a while
    assert "not sent" in caplog.text
    # Back up, and a breaker opening elsewhere is reported once the circuit retries.
    stand_in.failing = False
    alerts.breaker.record_success()
    db.record_failure(ConnectionError("PostgreSQL unreachable"))
    await settle(alerts, stand_in, 1)
    assert stand_in.received[-1]["title"] == "database: circuit open"
    assert stand_in.received[-1]["priority"] == 8
    # A wrong token is refused by Gotify: reported, not raised.
    wrong = GotifyAlerts(base, "nope")
    await wrong.start()
    wrong.on_messages([FeedStatus(1, "x", "failed", "gone")])
    await wrong.flush()
    assert wrong.failed == 1
    await wrong.close()
    await alerts.close()
