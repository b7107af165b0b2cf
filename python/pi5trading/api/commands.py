"""Every command the node runs for the API, by name: the same table serves a route in the
node's own process and an API-only worker's request over Redis (``pi5trading.api.remote``).
Answers are plain JSON-able data (decimals as strings), so both paths see the same."""

from __future__ import annotations

from typing import Any

from pi5trading.api.remote import Handler
from pi5trading.node.trading_node import TradingNode


def node_commands(node: TradingNode) -> dict[str, Handler]:
    from pi5trading.api.strategies import strategy_commands
    from pi5trading.api.system import risk_commands
    from pi5trading.api.trading import order_commands

    table: dict[str, Any] = {}
    for part in (order_commands(node), strategy_commands(node), risk_commands(node)):
        table.update(part)
    return table


__all__ = ["node_commands"]
