"""The trading node: the engine on the live clock, strategies managed at run time (issue 12).

``TradingNode`` drives the same Rust engine and the same strategy classes as backtests,
fed by ``MarketFeed``s through the ingest queue, publishing every event on the bus
(topics in ``pi5trading.events``). See docs/paper-trading.md, "The node".
"""

from pi5trading.node.feed import MarketFeed
from pi5trading.node.strategies import ManagedStrategy, build_strategy
from pi5trading.node.trading_node import NodeState, TradingNode

__all__ = ["ManagedStrategy", "MarketFeed", "NodeState", "TradingNode", "build_strategy"]
