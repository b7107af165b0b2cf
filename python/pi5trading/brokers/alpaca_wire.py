"""Alpaca's trading API on the wire (the fields we read) and its mapping to our terms.

Request bodies, the order/position/account/fill-activity JSON, the ``trade_updates``
messages, status and event words mapped to our lifecycle, and RFC 3339 timestamps (to the
nanosecond) as UTC ns. Pure data and functions: the client is ``pi5trading.brokers.alpaca``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final, Literal

import msgspec

from pi5trading.brokers.execution import (
    BrokerError,
    BrokerOrder,
    OrderRejectedError,
    OrderRequest,
    OrderStatus,
    UpdateKind,
)

# --- Alpaca's wire format (only the fields we read; the rest is ignored) ----------------


class WireOrder(msgspec.Struct, kw_only=True):
    id: str
    client_order_id: str
    symbol: str
    side: Literal["buy", "sell"]
    type: str
    status: str
    time_in_force: str
    qty: Decimal | None = None
    filled_qty: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    order_class: str = ""
    created_at: str | None = None
    submitted_at: str | None = None
    updated_at: str | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    legs: list[WireOrder] | None = None


class WirePosition(msgspec.Struct, kw_only=True):
    symbol: str
    qty: Decimal
    avg_entry_price: Decimal
    side: str = "long"


class WireAccount(msgspec.Struct, kw_only=True):
    id: str
    status: str
    currency: str = "USD"
    cash: Decimal
    equity: Decimal
    buying_power: Decimal
    trading_blocked: bool = False


class WireFill(msgspec.Struct, kw_only=True):
    id: str
    transaction_time: str
    symbol: str
    side: Literal["buy", "sell"]
    qty: Decimal
    price: Decimal
    order_id: str
    cum_qty: Decimal
    leaves_qty: Decimal = Decimal(0)
    activity_type: str = "FILL"


class WireCancel(msgspec.Struct):
    """One order's outcome in the answer to ``DELETE /v2/orders`` (HTTP 207)."""

    id: str
    status: int


class WireError(msgspec.Struct):
    message: str = ""
    code: int | None = None


class TradeUpdate(msgspec.Struct, kw_only=True):
    event: str
    order: WireOrder
    timestamp: str | None = None
    price: Decimal | None = None
    qty: Decimal | None = None
    execution_id: str | None = None
    position_qty: Decimal | None = None


class StreamMessage(msgspec.Struct):
    stream: str
    data: msgspec.Raw = msgspec.Raw(b"null")


class AuthReply(msgspec.Struct):
    status: str = ""
    action: str = ""


CANCELS = msgspec.json.Decoder(list[WireCancel])
ORDER = msgspec.json.Decoder(WireOrder)
ORDERS = msgspec.json.Decoder(list[WireOrder])
POSITIONS = msgspec.json.Decoder(list[WirePosition])
ACCOUNT = msgspec.json.Decoder(WireAccount)
FILLS = msgspec.json.Decoder(list[WireFill])
ERROR = msgspec.json.Decoder(WireError)
MESSAGE = msgspec.json.Decoder(StreamMessage)
UPDATE = msgspec.json.Decoder(TradeUpdate)
AUTH = msgspec.json.Decoder(AuthReply)
ENCODE = msgspec.json.Encoder()

# --- Mapping to our lifecycle ------------------------------------------------------------

_ORDER_TYPES: Final = {
    "market": "market",
    "limit": "limit",
    "stop_market": "stop",
    "stop_limit": "stop_limit",
    "trailing_stop_market": "trailing_stop",
}
_OUR_ORDER_TYPES: Final = {
    "market": "market",
    "limit": "limit",
    "stop": "stop_market",
    "stop_limit": "stop_limit",
    "trailing_stop": "trailing_stop_market",
}
_ALPACA_TIFS: Final = frozenset({"day", "gtc", "opg", "cls", "ioc", "fok"})

# Alpaca's order statuses; ``None``: the status the order's fills give it (still working).
_STATUS: Final[Mapping[str, OrderStatus | None]] = {
    "pending_new": "submitted",
    "held": "submitted",  # a bracket leg waiting for its entry, like our OTO children
    "accepted": "accepted",
    "new": "accepted",
    "accepted_for_bidding": "accepted",
    "partially_filled": "partially_filled",
    "filled": "filled",
    "canceled": "cancelled",
    "expired": "expired",
    "rejected": "rejected",
    "replaced": "cancelled",  # this broker order is finished; ours lives on as its successor
    "done_for_day": None,
    "pending_cancel": None,
    "pending_replace": None,
    "stopped": None,
    "suspended": None,
    "calculated": None,
}

# trade_updates events -> our OrderEvent kinds.
EVENT_KINDS: Final[Mapping[str, UpdateKind]] = {
    "pending_new": "submitted",
    "new": "accepted",
    "partial_fill": "filled",
    "fill": "filled",
    "canceled": "cancelled",
    "expired": "expired",
    "rejected": "rejected",
    "replaced": "modify_accepted",
    "order_replace_rejected": "modify_rejected",
    "order_cancel_rejected": "cancel_rejected",
    "done_for_day": "notice",
    "stopped": "notice",
    "pending_cancel": "notice",
    "pending_replace": "notice",
    "calculated": "notice",
    "suspended": "notice",
}
"""Every ``trade_updates`` event Alpaca documents and the kind of ``BrokerOrderUpdate`` it
becomes (``notice``: no lifecycle change). Unknown events are notices, logged."""


def working_status(filled: Decimal, quantity: Decimal | None) -> OrderStatus:
    if filled <= 0:
        return "accepted"
    return "filled" if quantity is not None and filled >= quantity else "partially_filled"


def order_status(alpaca_status: str, filled: Decimal, quantity: Decimal | None) -> OrderStatus:
    """Our status for an Alpaca order status (``done_for_day``, ``pending_*`` and the other
    in-between states keep the status the fills so far give)."""
    status = _STATUS.get(alpaca_status)
    return working_status(filled, quantity) if status is None else status


_TS = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")


def parse_ts(text: str | None) -> int:
    """RFC 3339 (``2024-03-01T14:30:00.123456789Z``, up to nanoseconds) as UTC ns; 0 if empty."""
    if not text:
        return 0
    m = _TS.fullmatch(text.strip())
    if m is None:
        raise BrokerError(f"unreadable timestamp from Alpaca: {text!r}")
    whole, frac, zone = m.groups()
    return _epoch_seconds(whole, zone) * 1_000_000_000 + int((frac or "").ljust(9, "0"))


@functools.lru_cache(maxsize=256)
def _epoch_seconds(whole: str, zone: str) -> int:
    # Updates arrive many to a second: the calendar arithmetic is done once per second.
    from datetime import datetime

    return int(datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone)).timestamp())


def iso(ts: int) -> str:
    from datetime import UTC, datetime

    seconds, ns = divmod(ts, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}Z"


def plain(value: Decimal) -> str:
    return format(value, "f")  # never "1E+1": Alpaca reads plain decimals


def order_body(request: OrderRequest) -> dict[str, Any]:
    """The ``POST /v2/orders`` body for a request; refuses what Alpaca cannot take."""
    where = f"order {request.client_order_id!r}"
    kind = _ORDER_TYPES.get(request.order_type)
    if kind is None:
        raise OrderRejectedError(f"{where}: Alpaca has no {request.order_type} orders")
    if request.time_in_force not in _ALPACA_TIFS:
        raise OrderRejectedError(
            f"{where}: Alpaca has no time in force {request.time_in_force!r} "
            f"(one of {', '.join(sorted(_ALPACA_TIFS))})"
        )
    if len(request.client_order_id) > 128:
        raise OrderRejectedError(
            f"{where}: Alpaca takes client order ids of 128 characters at most"
        )
    body: dict[str, Any] = {
        "symbol": request.instrument,
        "qty": plain(request.quantity),
        "side": request.side,
        "type": kind,
        "time_in_force": request.time_in_force,
        "client_order_id": request.client_order_id,
    }
    for name in ("limit_price", "stop_price", "trail_price", "trail_percent"):
        value = getattr(request, name)
        if value is not None:
            body[name] = plain(value)
    if request.extended_hours:
        body["extended_hours"] = True
    if request.order_class != "simple":
        body["order_class"] = request.order_class
        if request.take_profit is not None:
            body["take_profit"] = {"limit_price": plain(request.take_profit.limit_price)}
        if request.stop_loss is not None:
            leg = {"stop_price": plain(request.stop_loss.stop_price)}
            if request.stop_loss.limit_price is not None:
                leg["limit_price"] = plain(request.stop_loss.limit_price)
            body["stop_loss"] = leg
    return body


def broker_order(raw: WireOrder, client_order_id: str | None = None) -> BrokerOrder:
    return BrokerOrder(
        client_order_id=client_order_id or raw.client_order_id,
        broker_order_id=raw.id,
        instrument=raw.symbol,
        side=raw.side,
        order_type=_OUR_ORDER_TYPES.get(raw.type, raw.type),
        quantity=raw.qty if raw.qty is not None else Decimal(0),
        filled_qty=raw.filled_qty,
        status=order_status(raw.status, raw.filled_qty, raw.qty),
        time_in_force=raw.time_in_force,
        avg_px=raw.filled_avg_price,
        limit_price=raw.limit_price,
        stop_price=raw.stop_price,
        order_class=raw.order_class or "simple",
        broker_status=raw.status,
        replaced_by=raw.replaced_by,
        replaces=raw.replaces,
        legs=tuple(broker_order(leg) for leg in raw.legs or ()),
        created_ns=parse_ts(raw.created_at),
        updated_ns=parse_ts(raw.updated_at),
    )


__all__ = [
    "ACCOUNT",
    "AUTH",
    "CANCELS",
    "ENCODE",
    "ERROR",
    "EVENT_KINDS",
    "FILLS",
    "MESSAGE",
    "ORDER",
    "ORDERS",
    "POSITIONS",
    "UPDATE",
    "AuthReply",
    "StreamMessage",
    "TradeUpdate",
    "WireAccount",
    "WireCancel",
    "WireError",
    "WireFill",
    "WireOrder",
    "WirePosition",
    "broker_order",
    "iso",
    "order_body",
    "order_status",
    "parse_ts",
    "plain",
    "working_status",
]
