"""The records the repository stores, as msgspec Structs (they cross process and file boundaries).

Conventions, identical on both backends:

- Time is ``int`` UNIX nanoseconds, UTC (``*_ns`` fields), as the engine's clock counts it.
- Money, prices and quantities are ``Decimal`` with at most 9 decimal places (the engine's
  fixed-point scale), finite. Analytics ratios (Sharpe, win rate) are ``float``.
- Enumerations are lower-case strings, checked by the database.

Records are frozen and tagged (``kind``) so the engine-event subset can be journalled as one
union type and decoded back in order.

Every record is named for the table row it is (``BarRow`` in ``bars``, ``OrderRow``,
``StrategyRow``): the stored form of a concept is not the concept itself
(``pi5trading.model.Bar``, ``pi5trading.orders.Order`` and ``FillRecord``,
``pi5trading.strategies.Strategy``). The tags are the stored names and never change with
the class names, so journals and JSON stay readable.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import Any, TypeAlias, cast

import msgspec

from pi5trading import _core


class Record(msgspec.Struct, frozen=True, tag_field="kind"):
    """Base of every stored record."""


class InstrumentRow(Record, frozen=True, tag="instrument"):
    instrument_id: str
    """Unique id, ``SYMBOL.VENUE`` by convention (``AAPL.XNAS``, ``BTCUSD.SIM``)."""
    symbol: str
    venue: str
    asset_class: str = "equity"
    currency: str = "USD"
    price_increment: Decimal = Decimal("0.01")
    size_increment: Decimal = Decimal("1")
    active: bool = True


class BarRow(Record, frozen=True, tag="bar"):
    """OHLCV over ``[ts_ns, ts_ns + interval)``: ``ts_ns`` is the bar's open time."""

    instrument_id: str
    interval: str
    """``1m``, ``5m``, ``15m``, ``1h``, ``1d`` …"""
    ts_ns: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


class QuoteTickRow(Record, frozen=True, tag="quote"):
    instrument_id: str
    ts_ns: int
    seq: int
    """Sequence number from the feed; orders quotes with the same timestamp, part of the key."""
    bid: Decimal
    ask: Decimal
    bid_size: Decimal
    ask_size: Decimal


class TradeTickRow(Record, frozen=True, tag="trade"):
    instrument_id: str
    ts_ns: int
    trade_id: str
    price: Decimal
    size: Decimal
    aggressor: str = "none"
    """``buy``, ``sell`` or ``none``."""


class OrderRow(Record, frozen=True, tag="order"):
    """The latest known state of an order; an older state never overwrites a newer one."""

    order_id: str
    strategy_id: str
    instrument_id: str
    side: str
    """``buy`` or ``sell``."""
    order_type: str
    """``market``, ``limit``, ``stop``, ``stop_limit``, ``trailing_stop``."""
    quantity: Decimal
    status: str
    """``created``, ``accepted``, ``rejected``, ``submitted``, ``partially_filled``, ``filled``,
    ``cancelled``, ``expired``."""
    created_ns: int
    updated_ns: int
    time_in_force: str = "gtc"
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    filled_quantity: Decimal = Decimal(0)
    avg_fill_price: Decimal | None = None
    reason: str | None = None
    """Why it was rejected or cancelled, if it was."""


class OrderEventRow(Record, frozen=True, tag="order_event"):
    """One transition of an order's lifecycle; ``seq`` counts from 1 per order."""

    order_id: str
    seq: int
    ts_ns: int
    status: str
    """The status the order entered (see ``OrderRow.status``)."""
    reason: str | None = None
    detail: dict[str, Any] = msgspec.field(default_factory=dict)


class FillRow(Record, frozen=True, tag="fill"):
    fill_id: str
    order_id: str
    strategy_id: str
    instrument_id: str
    side: str
    quantity: Decimal
    price: Decimal
    commission: Decimal
    ts_ns: int


class PositionRow(Record, frozen=True, tag="position"):
    strategy_id: str
    instrument_id: str
    ts_ns: int
    quantity: Decimal
    """Signed: negative is short."""
    avg_price: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal


class EquityRow(Record, frozen=True, tag="equity"):
    account_id: str
    """The account, or a strategy id for per-strategy P&L."""
    ts_ns: int
    cash: Decimal
    equity: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal


class StrategyRow(Record, frozen=True, tag="strategy"):
    strategy_id: str
    name: str
    class_path: str
    """``module:Class`` or ``path/to/file.py:Class`` of the strategy's code."""
    created_ns: int
    updated_ns: int
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    state: dict[str, Any] = msgspec.field(default_factory=dict)
    """What the strategy saved to survive a restart."""
    status: str = "stopped"
    """``stopped``, ``running``, ``paused``, ``error``."""


class StrategyRunRow(Record, frozen=True, tag="strategy_run"):
    run_id: str
    strategy_id: str
    mode: str
    """``backtest``, ``paper`` or ``live``."""
    started_ns: int
    status: str = "running"
    """``running``, ``completed``, ``stopped``, ``failed``."""
    stopped_ns: int | None = None
    error: str | None = None


class BacktestRunRow(Record, frozen=True, tag="backtest_run"):
    run_id: str
    name: str
    instrument_ids: list[str]
    interval: str
    start_ns: int
    end_ns: int
    initial_cash: Decimal
    created_ns: int
    strategy_id: str | None = None
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    status: str = "pending"
    """``pending``, ``running``, ``completed``, ``failed``."""
    finished_ns: int | None = None
    error: str | None = None


class BacktestResultRow(Record, frozen=True, tag="backtest_result"):
    run_id: str
    final_equity: Decimal
    total_return: float
    max_drawdown: float
    trades: int
    sharpe: float | None = None
    sortino: float | None = None
    win_rate: float | None = None
    metrics: dict[str, Any] = msgspec.field(default_factory=dict)
    report_path: str | None = None


class UserRow(Record, frozen=True, tag="user"):
    user_id: str
    username: str
    password_hash: str
    """An argon2 hash; never a password."""
    role: str
    """``admin``, ``trader`` or ``viewer``."""
    created_ns: int
    updated_ns: int
    email: str | None = None
    is_active: bool = True
    last_login_ns: int | None = None


class RefreshTokenRow(Record, frozen=True, tag="refresh_token"):
    token_hash: str
    """SHA-256 (hex) of the token; the token itself is never stored."""
    user_id: str
    family_id: str
    """Tokens rotated from one login share a family, so reuse revokes them all."""
    issued_ns: int
    expires_ns: int
    revoked_ns: int | None = None
    replaced_by: str | None = None


class CredentialRow(Record, frozen=True, tag="credential"):
    """A broker's or data vendor's credentials, encrypted (``pi5trading.storage.credentials``):
    the secret itself is only ever in ``ciphertext``."""

    provider: str
    """``alpaca``, ``alpaca_broker``, ``alphavantage`` (``credentials.PROVIDERS``)."""
    ciphertext: str
    """base64 of the 12-byte nonce and the AES-256-GCM ciphertext with its tag."""
    key_id: str
    """Fingerprint of the key that encrypted it (which key a rotation still has to redo)."""
    hint: str
    """What lets a user recognise the credentials (the last 4 characters of the key id)."""
    created_ns: int
    updated_ns: int
    updated_by: str | None = None
    """The user who entered them."""


class AuditRow(Record, frozen=True, tag="audit"):
    event_id: str
    ts_ns: int
    action: str
    """What was attempted: ``login``, ``order.submit``, ``strategy.start`` …"""
    outcome: str
    """``success``, ``failure`` or ``denied``."""
    actor: str | None = None
    """User id, or ``None`` for the system."""
    resource: str | None = None
    ip: str | None = None
    details: dict[str, Any] = msgspec.field(default_factory=dict)
    seq: int | None = None
    """Its place in the hash chain (set by the repository when it is written)."""
    prev_hash: str | None = None
    hash: str | None = None
    """SHA-256 over the previous row's hash and this row's content (``audit_chain``)."""


class AlertRow(Record, frozen=True, tag="alert"):
    alert_id: str
    ts_ns: int
    severity: str
    """``info``, ``warning`` or ``critical``."""
    source: str
    title: str
    message: str
    acknowledged_ns: int | None = None
    acknowledged_by: str | None = None


EngineEvent = (
    BarRow
    | QuoteTickRow
    | TradeTickRow
    | OrderRow
    | OrderEventRow
    | FillRow
    | PositionRow
    | EquityRow
    | AuditRow
    | AlertRow
)
"""What the batched writer accepts (and the journal holds): high-volume, append-mostly records."""

EncodedBar = tuple[str, str, int, str, str, str, str, str]
"""A ``BarRow`` already in the form ``TableSpec.encode`` gives it (prices and volume as
exact decimal strings), made by the core from a ``Bar`` (``pi5trading._core.bar_rows``),
which is validated when it is made. The writer and the repository take it where they take
an ``EngineEvent`` and write it without validating it again; the journal stores it as the
``BarRow`` it is (``bar_record``)."""

EncodedRow: TypeAlias = _core.EncodedRow
"""A row of another engine-event table already in the form ``TableSpec.encode`` gives it
(``kind``: its record's tag — ``fill``, ``order_event``, ``order``, ``position``,
``equity``; ``row``: the values, money as exact decimal text, details as JSON text), made
by the core's converter (``pi5trading._core.RecordEncoder``) with the reference's checks
and digits. Taken and stored like an ``EncodedBar``; the journal stores the record it is
(``encoded_record``)."""

Writable: TypeAlias = EngineEvent | EncodedBar | EncodedRow
"""What the batched writer accepts: records, and rows the core has encoded."""


def bar_record(row: EncodedBar) -> BarRow:
    """The ``BarRow`` of an encoded bar (for the journal and precise errors)."""
    sym, interval, ts, o, h, lo, c, v = row
    return BarRow(sym, interval, ts, Decimal(o), Decimal(h), Decimal(lo), Decimal(c), Decimal(v))


@cache
def _decoders(kind: str) -> tuple[type[Record], tuple[Callable[[Any], Any] | None, ...]]:
    # Per column: Decimal for money, JSON decoding for details, the value as it is else.
    record = next(t for t in ENGINE_EVENT_TYPES if t.__struct_config__.tag == kind)
    info = msgspec.inspect.type_info(record)
    assert isinstance(info, msgspec.inspect.StructType)
    out: list[Callable[[Any], Any] | None] = []
    for f in info.fields:
        t = f.type
        if isinstance(t, msgspec.inspect.UnionType):
            t = next(x for x in t.types if not isinstance(x, msgspec.inspect.NoneType))
        if isinstance(t, msgspec.inspect.DecimalType):
            out.append(Decimal)
        elif isinstance(t, msgspec.inspect.DictType):
            out.append(msgspec.json.decode)
        else:
            out.append(None)
    return record, tuple(out)


def encoded_record(row: EncodedRow) -> EngineEvent:
    """The record of a row the core encoded (for the journal and precise errors)."""
    record, decoders = _decoders(row.kind)
    values = [
        v if dec is None or v is None else dec(v) for dec, v in zip(decoders, row.row, strict=True)
    ]
    return cast(EngineEvent, record(*values))


def as_record(event: Writable) -> EngineEvent:
    """``event`` as a record: an encoded row becomes its record, a record stays."""
    if isinstance(event, tuple):
        return bar_record(event)
    if isinstance(event, EncodedRow):
        return encoded_record(event)
    return event


ENGINE_EVENT_TYPES: tuple[type[Record], ...] = (
    BarRow,
    QuoteTickRow,
    TradeTickRow,
    OrderRow,
    OrderEventRow,
    FillRow,
    PositionRow,
    EquityRow,
    AuditRow,
    AlertRow,
)

__all__ = [
    "ENGINE_EVENT_TYPES",
    "AlertRow",
    "AuditRow",
    "BacktestResultRow",
    "BacktestRunRow",
    "BarRow",
    "CredentialRow",
    "EncodedBar",
    "EncodedRow",
    "EngineEvent",
    "EquityRow",
    "FillRow",
    "InstrumentRow",
    "OrderEventRow",
    "OrderRow",
    "PositionRow",
    "QuoteTickRow",
    "Record",
    "RefreshTokenRow",
    "StrategyRow",
    "StrategyRunRow",
    "TradeTickRow",
    "UserRow",
    "Writable",
    "as_record",
    "bar_record",
    "encoded_record",
]
