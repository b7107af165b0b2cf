"""What the trading node publishes on the bus: topics and the payloads that have no core type.

The engine publishes every event it makes; sinks (storage writer, latest-state cache,
WebSocket channels, metrics) subscribe, never the other way round. Topics are
dot-separated; ``SYMBOL`` is the instrument id, ``INTERVAL`` a bar interval (``1m``)::

    data.bars.SYMBOL.INTERVAL      pi5trading.model.Bar
    data.quotes.SYMBOL             pi5trading.model.QuoteTick
    data.trades.SYMBOL             pi5trading.model.TradeTick
    orders.KIND                    pi5trading.orders.OrderEvent  (KIND = OrderEvent.kind:
                                   submitted, accepted, denied, rejected, filled,
                                   partially_filled, canceled, expired, modified, ...;
                                   a fill rides on its ``filled`` / ``partially_filled``
                                   event as ``event.fill``)
    positions.SYMBOL               pi5trading.portfolio.PositionEvent
    account.equity                 EquitySample   (after each step that changed it)
    risk.state                     pi5trading.risk.RiskEvent
    strategies.status              StrategyStatus
    feeds.status                   FeedStatus

Subscribe with patterns (``orders.>``, ``data.bars.*.1m``); see ``pi5trading.bus``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, Literal, TypeAlias

import msgspec

BARS: Final = "data.bars"
QUOTES: Final = "data.quotes"
TRADES: Final = "data.trades"
ORDERS: Final = "orders"
POSITIONS: Final = "positions"
EQUITY: Final = "account.equity"
RISK_STATE: Final = "risk.state"
STRATEGY_STATUS: Final = "strategies.status"
FEED_STATUS: Final = "feeds.status"


def bar_topic(symbol: str, interval: str) -> str:
    return f"{BARS}.{symbol}.{interval}"


def quote_topic(symbol: str) -> str:
    return f"{QUOTES}.{symbol}"


def trade_topic(symbol: str) -> str:
    return f"{TRADES}.{symbol}"


def order_topic(kind: str) -> str:
    return f"{ORDERS}.{kind}"


def position_topic(symbol: str) -> str:
    return f"{POSITIONS}.{symbol}"


class EquitySample(msgspec.Struct, frozen=True):
    """The account after a step: exact cash and marked equity in the account currency."""

    ts: int
    cash: Decimal
    equity: Decimal
    currency: str = "USD"


StrategyState: TypeAlias = Literal["added", "running", "paused", "stopped", "failed", "removed"]


class StrategyStatus(msgspec.Struct, frozen=True):
    """A strategy instance changed state; ``error`` holds the traceback of a failure.
    ``shutdown``: stopped because the node is shutting down, not by an operator (it runs
    again when the node restarts)."""

    ts: int
    strategy_id: str
    status: StrategyState
    error: str | None = None
    shutdown: bool = False


FeedState: TypeAlias = Literal["connecting", "live", "stale", "reconnecting", "closed", "failed"]


class FeedStatus(msgspec.Struct, frozen=True):
    """A market data feed changed state (connected, went stale, reconnecting, ...)."""

    ts: int
    feed: str
    status: FeedState
    message: str = ""


__all__ = [
    "BARS",
    "EQUITY",
    "FEED_STATUS",
    "ORDERS",
    "POSITIONS",
    "QUOTES",
    "RISK_STATE",
    "STRATEGY_STATUS",
    "TRADES",
    "EquitySample",
    "FeedState",
    "FeedStatus",
    "StrategyState",
    "StrategyStatus",
    "bar_topic",
    "order_topic",
    "position_topic",
    "quote_topic",
    "trade_topic",
]
