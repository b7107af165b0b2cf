"""Execution clients between the engine and a venue: simulated and Alpaca (issue 12).

``ExecutionClient`` (``pi5trading.brokers.execution``) is the interface; the clients are
``SimulatedExecutionClient`` (``.simulated``, our own fill model) and ``AlpacaClient``
(``.alpaca``, REST v2 + ``trade_updates``; imported on first use, it needs httpx and
websockets); ``.reconcile`` compares our books with the broker's. ``execution_client``
builds the configured one::

    client = execution_client(settings.broker)      # PI5_BROKER__PROVIDER
    order = await client.submit(OrderRequest.from_order(order))
    async for update in client.updates(): ...        # BrokerOrderUpdate, our lifecycle
"""

from __future__ import annotations

from pi5trading.brokers.execution import (
    BrokerAccount,
    BrokerAuthError,
    BrokerError,
    BrokerFill,
    BrokerOrder,
    BrokerOrderUpdate,
    BrokerPosition,
    BrokerRateLimitError,
    BrokerUnavailableError,
    ExecutionClient,
    OrderNotFoundError,
    OrderRejectedError,
    OrderRequest,
    StopLoss,
    TakeProfit,
)
from pi5trading.brokers.simulated import SimulatedExecutionClient
from pi5trading.config import BrokerSettings
from pi5trading.venue import SimulatedVenue


def execution_client(
    settings: BrokerSettings, *, venue: SimulatedVenue | None = None
) -> ExecutionClient:
    """The client ``PI5_BROKER__PROVIDER`` names: Alpaca (paper unless live is confirmed,
    see ``alpaca_endpoints``) or the simulated ``venue`` (a default one if not given)."""
    if settings.provider == "alpaca":
        from pi5trading.brokers.alpaca import AlpacaClient

        return AlpacaClient.from_settings(settings)
    if venue is None:
        venue = SimulatedVenue()
    return SimulatedExecutionClient(venue)


__all__ = [
    "BrokerAccount",
    "BrokerAuthError",
    "BrokerError",
    "BrokerFill",
    "BrokerOrder",
    "BrokerOrderUpdate",
    "BrokerPosition",
    "BrokerRateLimitError",
    "BrokerUnavailableError",
    "ExecutionClient",
    "OrderNotFoundError",
    "OrderRejectedError",
    "OrderRequest",
    "SimulatedExecutionClient",
    "StopLoss",
    "TakeProfit",
    "execution_client",
]
