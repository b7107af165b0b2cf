"""What a route handler reaches: the trading node running in this process, and storage."""

from __future__ import annotations

from typing import Any

from litestar import Request

from pi5trading.api.errors import Problem
from pi5trading.node.trading_node import TradingNode
from pi5trading.storage.protocol import Repository


def node_of(request: Request[Any, Any, Any]) -> TradingNode:
    """The running node, or a 503 problem saying why there is none."""
    node: TradingNode | None = getattr(request.app.state, "node", None)
    if node is None:
        raise Problem(
            503,
            "Trading node unavailable",
            "no trading node runs in this process (started with --no-node?)",
            headers={"Retry-After": "5"},
        )
    if node.state != "running":
        raise Problem(503, "Trading node unavailable", f"the trading node is {node.state}",
                      headers={"Retry-After": "5"})  # fmt: skip
    return node


async def node_command(request: Request[Any, Any, Any], op: str, args: dict[str, Any]) -> Any:
    """Run a node command (``pi5trading.api.commands``): on the node in this process, or
    through an API-only worker's link to it (``pi5trading.api.remote``)."""
    from pi5trading.api.commands import node_commands

    node = getattr(request.app.state, "node", None)
    remote = getattr(request.app.state, "remote", None)
    if node is None and remote is not None:
        return await remote.call(op, args)
    return await node_commands(node_of(request))[op](args)


def repository_of(request: Request[Any, Any, Any]) -> Repository:
    repository: Repository = request.app.state.repository
    return repository


__all__ = ["node_command", "node_of", "repository_of"]
