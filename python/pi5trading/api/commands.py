"""Every command the node runs for the API, by name: the same table serves a route in the
node's own process and an API-only worker's request over Redis (``pi5trading.api.remote``).
Answers are plain JSON-able data (decimals as strings), so both paths see the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pi5trading.api.remote import Handler
from pi5trading.node.trading_node import TradingNode

if TYPE_CHECKING:
    from pi5trading.backtest.jobs import BacktestJobs


def node_commands(
    node: TradingNode, backtests: Callable[[], BacktestJobs | None] | None = None
) -> dict[str, Handler]:
    """The node's commands; with ``backtests`` (the node's server's backtest jobs, looked
    up when a command comes: they start after the node) also the backtest commands."""
    from pi5trading.api.backtests import backtest_commands
    from pi5trading.api.strategies import strategy_commands
    from pi5trading.api.system import risk_commands
    from pi5trading.api.trading import order_commands

    table: dict[str, Any] = {}
    for part in (order_commands(node), strategy_commands(node), risk_commands(node)):
        table.update(part)
    if backtests is not None:
        table.update(backtest_commands(backtests))
    return table


__all__ = ["node_commands"]
