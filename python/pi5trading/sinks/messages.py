"""The node's events as JSON messages for clients: money as strings, times ISO-8601 UTC.

``to_message(payload)`` gives the topic the payload is published on (the bus hands a
handler the payload only, so the topic is rebuilt from it, as ``pi5trading.events``
defines it) and a msgspec Struct whose JSON a WebSocket client reads::

    {"topic": "orders.filled", "type": "order", "ts": "2026-12-03T14:30:00.000000001Z",
     "order_id": "sma-7", "status": "filled", "fill": {"price": "187.10", ...}, ...}

Decimals encode as JSON strings (exact; a float would round), times keep all nine digits
of the engine's nanoseconds.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

import msgspec

from pi5trading import _core
from pi5trading import events as ev
from pi5trading.events import EquitySample, FeedStatus, StrategyStatus

_AGGRESSOR: Final = {"BUYER": "buy", "SELLER": "sell", "NO_AGGRESSOR": "none"}


def iso_ns(ts_ns: int) -> str:
    """UTC nanoseconds as ISO-8601 with all nine fraction digits and a ``Z``."""
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    return f"{_iso_seconds(seconds)}.{nanos:09d}Z"


@functools.lru_cache(maxsize=4096)
def _iso_seconds(seconds: int) -> str:
    # The events of one step share their second: formatted once, not per event.
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


class Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    topic: str
    ts: str


class BarMessage(Message, frozen=True, tag="bar"):
    symbol: str
    interval: str
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


class QuoteMessage(Message, frozen=True, tag="quote"):
    symbol: str
    bid: Decimal
    ask: Decimal
    bid_size: Decimal
    ask_size: Decimal


class TradeMessage(Message, frozen=True, tag="trade"):
    symbol: str
    price: Decimal
    size: Decimal
    aggressor: str
    trade_id: str


class FillMessage(msgspec.Struct, frozen=True, kw_only=True):
    trade_id: int
    side: str
    quantity: Decimal
    price: Decimal
    commission: Decimal
    liquidity: str


class OrderMessage(Message, frozen=True, tag="order"):
    order_id: str
    strategy_id: str
    instrument: str
    kind: str
    status: str
    reason: str = ""
    denial_code: str | None = None
    fill: FillMessage | None = None


class PositionMessage(Message, frozen=True, tag="position"):
    strategy_id: str | None
    """``None`` for the account's netting position."""
    instrument: str
    kind: str
    quantity: Decimal
    avg_price: Decimal | None
    realised_pnl: Decimal


class EquityMessage(Message, frozen=True, tag="equity"):
    cash: Decimal
    equity: Decimal
    currency: str


class RiskMessage(Message, frozen=True, tag="risk"):
    kind: str
    strategy_id: str | None
    from_state: str | None
    to_state: str | None
    cause: str | None
    message: str


class StrategyMessage(Message, frozen=True, tag="strategy"):
    strategy_id: str
    status: str
    error: str | None = None


class FeedMessage(Message, frozen=True, tag="feed"):
    feed: str
    status: str
    message: str = ""


AnyMessage = (
    BarMessage
    | QuoteMessage
    | TradeMessage
    | OrderMessage
    | PositionMessage
    | EquityMessage
    | RiskMessage
    | StrategyMessage
    | FeedMessage
)


def to_message(m: object) -> AnyMessage | None:
    """The client message for a payload the node publishes; ``None`` for other objects."""
    if isinstance(m, _core.QuoteTick):
        return QuoteMessage(
            topic=ev.quote_topic(m.symbol),
            ts=iso_ns(m.ts_event),
            symbol=m.symbol,
            bid=m.bid.as_decimal(),
            ask=m.ask.as_decimal(),
            bid_size=m.bid_size.as_decimal(),
            ask_size=m.ask_size.as_decimal(),
        )
    if isinstance(m, _core.Bar):
        bt = m.bar_type
        return BarMessage(
            topic=bt.topic,
            ts=iso_ns(m.ts_event),
            symbol=bt.symbol,
            interval=bt.interval,
            open=m.open.as_decimal(),
            high=m.high.as_decimal(),
            low=m.low.as_decimal(),
            close=m.close.as_decimal(),
            volume=m.volume.as_decimal(),
        )
    if isinstance(m, _core.TradeTick):
        return TradeMessage(
            topic=ev.trade_topic(m.symbol),
            ts=iso_ns(m.ts_event),
            symbol=m.symbol,
            price=m.price.as_decimal(),
            size=m.size.as_decimal(),
            aggressor=_AGGRESSOR[m.aggressor_side],
            trade_id=m.trade_id,
        )
    if isinstance(m, _core.OrderEvent):
        f = m.fill
        d = m.denial
        return OrderMessage(
            topic=ev.order_topic(m.kind),
            ts=iso_ns(m.ts),
            order_id=m.client_order_id,
            strategy_id=m.strategy_id,
            instrument=m.instrument,
            kind=m.kind,
            status=m.status,
            reason=m.reason,
            denial_code=d.code if d is not None else None,
            fill=None
            if f is None
            else FillMessage(
                trade_id=f.trade_id,
                side=f.side,
                quantity=f.quantity,
                price=f.price,
                commission=f.commission,
                liquidity=f.liquidity,
            ),
        )
    if isinstance(m, _core.PositionEvent):
        return PositionMessage(
            topic=ev.position_topic(m.instrument),
            ts=iso_ns(m.ts),
            strategy_id=m.strategy_id,
            instrument=m.instrument,
            kind=m.kind,
            quantity=m.quantity,
            avg_price=m.avg_px,
            realised_pnl=m.realised_pnl,
        )
    if isinstance(m, EquitySample):
        return EquityMessage(
            topic=ev.EQUITY, ts=iso_ns(m.ts), cash=m.cash, equity=m.equity, currency=m.currency
        )
    if isinstance(m, _core.RiskEvent):
        return RiskMessage(
            topic=ev.RISK_STATE,
            ts=iso_ns(m.ts),
            kind=m.kind,
            strategy_id=m.strategy_id,
            from_state=m.from_state,
            to_state=m.to_state,
            cause=m.cause,
            message=m.message,
        )
    if isinstance(m, StrategyStatus):
        return StrategyMessage(
            topic=ev.STRATEGY_STATUS,
            ts=iso_ns(m.ts),
            strategy_id=m.strategy_id,
            status=m.status,
            error=m.error,
        )
    if isinstance(m, FeedStatus):
        return FeedMessage(
            topic=ev.FEED_STATUS, ts=iso_ns(m.ts), feed=m.feed, status=m.status, message=m.message
        )
    return None


def topic_matches(pattern: str, topic: str) -> bool:
    """The bus's pattern rule: ``*`` is one segment, a last ``>`` one or more."""
    p = pattern.split(".")
    t = topic.split(".")
    for i, seg in enumerate(p):
        if seg == ">" and i == len(p) - 1:
            return len(t) > i
        if i >= len(t) or (seg != "*" and seg != t[i]):
            return False
    return len(t) == len(p)


def check_pattern(pattern: str) -> str:
    """``pattern`` if it is a valid topic pattern; else ``ValueError`` saying why."""
    segments = pattern.split(".")
    if not pattern or any(not s for s in segments):
        raise ValueError(f"topic pattern {pattern!r}: empty segment")
    if any(s == ">" for s in segments[:-1]) or any(
        ("*" in s or ">" in s) and s not in ("*", ">") for s in segments
    ):
        raise ValueError(
            f"topic pattern {pattern!r}: '*' is a whole segment, '>' only the last one"
        )
    return pattern


ENCODER: Final = msgspec.json.Encoder()
DECODER: Final = msgspec.json.Decoder(AnyMessage)


__all__ = [
    "DECODER",
    "ENCODER",
    "AnyMessage",
    "BarMessage",
    "EquityMessage",
    "FeedMessage",
    "FillMessage",
    "Message",
    "OrderMessage",
    "PositionMessage",
    "QuoteMessage",
    "RiskMessage",
    "StrategyMessage",
    "TradeMessage",
    "check_pattern",
    "iso_ns",
    "to_message",
    "topic_matches",
]
