"""Stored records keep their wire names (``kind`` tags) whatever the classes are called."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from pi5trading.storage import records as r

# The tags written into journals and JSON before the classes were renamed *Row.
STORED_TAGS = {
    "instrument": r.InstrumentRow,
    "bar": r.BarRow,
    "quote": r.QuoteTickRow,
    "trade": r.TradeTickRow,
    "order": r.OrderRow,
    "order_event": r.OrderEventRow,
    "fill": r.FillRow,
    "position": r.PositionRow,
    "equity": r.EquityRow,
    "strategy": r.StrategyRow,
    "strategy_run": r.StrategyRunRow,
    "backtest_run": r.BacktestRunRow,
    "backtest_result": r.BacktestResultRow,
    "user": r.UserRow,
    "refresh_token": r.RefreshTokenRow,
    "audit": r.AuditRow,
    "alert": r.AlertRow,
    "credential": r.CredentialRow,
}


def test_every_record_keeps_its_stored_tag_and_is_named_row() -> None:
    classes = {
        obj
        for obj in vars(r).values()
        if isinstance(obj, type) and issubclass(obj, r.Record) and obj is not r.Record
    }
    assert classes == set(STORED_TAGS.values())
    for tag, cls in STORED_TAGS.items():
        assert msgspec.inspect.type_info(cls).tag == tag
        assert cls.__name__.endswith("Row")


def test_a_journalled_event_from_before_the_rename_decodes() -> None:
    old = msgspec.msgpack.encode(
        [
            {
                "kind": "bar",
                "instrument_id": "AAPL.XNAS",
                "interval": "1m",
                "ts_ns": 7,
                "open": "1.5",
                "high": "2",
                "low": "1",
                "close": "1.75",
                "volume": "10",
            }
        ]
    )
    (event,) = msgspec.msgpack.decode(old, type=list[r.EngineEvent])
    assert event == r.BarRow(
        "AAPL.XNAS", "1m", 7, Decimal("1.5"), Decimal(2), Decimal(1), Decimal("1.75"), Decimal(10)
    )
