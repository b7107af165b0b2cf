"""Market data feeds: simulated, replay and vendor feeds, aggregation, calendars (issue 12).

A feed sends ``(topic, ts_event, message)`` into the core's ``IngestQueue`` (topics of
``pi5trading.events``); see ``feed.MarketFeed`` for the contract and docs/paper-trading.md
("Market data feeds"). Nothing here imports pandas until an exchange calendar is asked for.
"""

from pi5trading.feeds.aggregation import BarAggregator, TickAggregator
from pi5trading.feeds.calendars import Session, SessionCalendar, get_calendar
from pi5trading.feeds.configured import configured_feed
from pi5trading.feeds.feed import (
    Backoff,
    BarHistory,
    FeedBase,
    FeedMessage,
    FeedStats,
    MarketFeed,
    StreamFeed,
    Subscription,
)
from pi5trading.feeds.replay import ReplayFeed, ReplaySource
from pi5trading.feeds.simulated import SimulatedFeed, SimulatedSymbol

__all__ = [
    "Backoff",
    "BarAggregator",
    "BarHistory",
    "FeedBase",
    "FeedMessage",
    "FeedStats",
    "MarketFeed",
    "ReplayFeed",
    "ReplaySource",
    "Session",
    "SessionCalendar",
    "SimulatedFeed",
    "SimulatedSymbol",
    "StreamFeed",
    "Subscription",
    "TickAggregator",
    "configured_feed",
    "get_calendar",
]
