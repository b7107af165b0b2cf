"""The operator's orders: the strategy every order sent through the API or the dashboard
belongs to (id ``manual``). It makes no decisions; it gives those orders an owner for the
risk engine, the account's per-strategy ledger and the order numbering (``manual-<n>``)."""

from __future__ import annotations

from pi5trading.strategies.base import Strategy

MANUAL_ID = "manual"


class ManualOrders(Strategy):
    """Orders placed by hand. Never trades by itself."""

    name = "manual"


__all__ = ["MANUAL_ID", "ManualOrders"]
