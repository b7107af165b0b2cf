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


def repository_of(request: Request[Any, Any, Any]) -> Repository:
    repository: Repository = request.app.state.repository
    return repository


__all__ = ["node_of", "repository_of"]
