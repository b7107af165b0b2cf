"""Sinks of the node's events: storage records, latest-state cache, channels, metrics (issue 12).

The node publishes every event on its ``Bus`` (topics in ``pi5trading.events``); the sinks
subscribe and never call the engine. ``open_sinks(settings, bus)`` builds the configured
ones; see docs/paper-trading.md, "What the node records and publishes".
"""

from pi5trading.sinks.cache import (
    LatestPrice,
    LatestState,
    MemoryLatestState,
    PortfolioSnapshot,
    PositionState,
    RedisLatestState,
    StrategyInfo,
)
from pi5trading.sinks.channels import ChannelClosedError, Channels, RedisChannels, Subscription
from pi5trading.sinks.metrics import NodeMetrics
from pi5trading.sinks.records import RecordConverter
from pi5trading.sinks.recovery import order_numbers, rebuild_portfolio
from pi5trading.sinks.storage import (
    Restored,
    StorageSink,
    record_strategy,
    restore_converter,
    save_strategy_state,
)
from pi5trading.sinks.wiring import Sinks, open_sinks

__all__ = [
    "ChannelClosedError",
    "Channels",
    "LatestPrice",
    "LatestState",
    "MemoryLatestState",
    "NodeMetrics",
    "PortfolioSnapshot",
    "PositionState",
    "RecordConverter",
    "RedisChannels",
    "RedisLatestState",
    "Restored",
    "Sinks",
    "StorageSink",
    "StrategyInfo",
    "Subscription",
    "open_sinks",
    "order_numbers",
    "rebuild_portfolio",
    "record_strategy",
    "restore_converter",
    "save_strategy_state",
]
