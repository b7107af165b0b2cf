"""How each record type maps to its table: columns, key, conflict rule, value encoding.

Column names are the record's field names, in order, so a row read back is the record's
positional arguments. The repository and both drivers use these specs; the schema itself is
in ``storage/migrations/``.
"""

from __future__ import annotations

import enum
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from functools import cache
from typing import Any

import msgspec

from pi5trading.storage import records as r
from pi5trading.storage.errors import RecordError

MAX_DECIMAL_PLACES = 9
"""The engine's fixed-point scale (10^-9); more decimal places could not round-trip."""


class OnConflict(enum.Enum):
    IGNORE = "ignore"
    """Keep the stored row: the record is an immutable event (idempotent replays)."""
    REPLACE = "replace"
    """Overwrite the stored row (mutable entities: instruments, strategies, users …)."""
    NEWER = "newer"
    """Overwrite only if the incoming ``updated_ns`` is not older (order state)."""


# A decimal string with anything but digits, a sign and a point (exponent, NaN), more than
# 9 fractional digits, or a negative zero gets the exact (slow) check and canonical form.
# Three plain scans over the joined strings are several times faster than one alternation.
_ODD_CHAR = re.compile(r"[^0-9.\-\n]")
_TOO_PRECISE = re.compile(r"\.[0-9]{10}")
_NEGATIVE_ZERO = re.compile(r"(?m)^-[0.]+$")


def _suspect(blob: str) -> bool:
    return bool(
        _ODD_CHAR.search(blob)
        or _TOO_PRECISE.search(blob)
        or (("\n-0" in blob or blob.startswith("-0")) and _NEGATIVE_ZERO.search(blob))
    )


Encoder = Callable[[Sequence["r.Record"]], list[tuple[Any, ...]]]


class ColumnKind(enum.Enum):
    PLAIN = "plain"
    DECIMAL = "decimal"
    JSON = "json"
    BOOL = "bool"


class TableSpec:
    """One record type's table."""

    def __init__(
        self, record: type[r.Record], table: str, key: Sequence[str], on_conflict: OnConflict
    ) -> None:
        self.record = record
        self.table = table
        self.key = tuple(key)
        self.on_conflict = on_conflict
        self.columns: tuple[str, ...] = record.__struct_fields__
        info = msgspec.inspect.type_info(record)
        assert isinstance(info, msgspec.inspect.StructType)
        self.kinds: tuple[ColumnKind, ...] = tuple(_kind(f.type) for f in info.fields)
        self.nullable: tuple[bool, ...] = tuple(_nullable(f.type) for f in info.fields)
        self._encoders: dict[tuple[bool, bool], Encoder] = {}
        self.decimal_idx = tuple(i for i, k in enumerate(self.kinds) if k is ColumnKind.DECIMAL)
        # itemgetter of 2+ indexes returns a tuple; of one, a bare value (wrapped below).
        self._decimals_of: Callable[[tuple[Any, ...]], tuple[str, ...]] | None = None
        if self.decimal_idx and not any(self.nullable[i] for i in self.decimal_idx):
            if len(self.decimal_idx) == 1:
                only = self.decimal_idx[0]
                self._decimals_of = lambda row: (row[only],)
            else:
                self._decimals_of = operator.itemgetter(*self.decimal_idx)
        self.select_list = ", ".join(_q(c) for c in self.columns)
        self.conflict_sql = self._conflict_sql()

    def _conflict_sql(self) -> str:
        target = f"ON CONFLICT ({', '.join(_q(c) for c in self.key)})"
        if self.on_conflict is OnConflict.IGNORE:
            return f"{target} DO NOTHING"
        updates = ", ".join(
            f"{_q(c)} = excluded.{_q(c)}" for c in self.columns if c not in self.key
        )
        sql = f"{target} DO UPDATE SET {updates}"
        if self.on_conflict is OnConflict.NEWER:
            sql += f" WHERE {self.table}.updated_ns <= excluded.updated_ns"
        return sql

    def rows(self, records: Iterable[r.Record]) -> list[tuple[Any, ...]]:
        """Validated rows in column order, with Python values (``Decimal``, dicts)."""
        cols = self.columns
        dec = self.decimal_idx
        check = _CHECKS.get(self.record)
        out: list[tuple[Any, ...]] = []
        for rec in records:
            if type(rec) is not self.record:
                raise RecordError(f"expected {self.record.__name__}, got {type(rec).__name__}")
            row = tuple(getattr(rec, c) for c in cols)
            if dec:
                values = list(row)
                for i in dec:
                    v = values[i]
                    if v is not None:
                        check_decimal(v, self.table, cols[i])
                        values[i] = canonical_decimal(v)
                row = tuple(values)
            if check is not None:
                check(rec)
            out.append(row)
        return out

    def encode(
        self, records: Sequence[r.Record], *, json_text: bool, bool_int: bool
    ) -> list[tuple[Any, ...]]:
        """Validated rows for a driver: decimals as exact strings; JSON as text or objects,
        booleans as 0/1 or bool, as the driver asks. Same checks as ``rows`` but built by a
        generated function, since this is the bulk path (COPY, batched writes)."""
        types = set(map(type, records))
        if types - {self.record}:
            self.rows(records)  # raises the precise RecordError
        key = (json_text, bool_int)
        encoder = self._encoders.get(key)
        if encoder is None:
            encoder = self._encoders[key] = self._make_encoder(json_text, bool_int)
        try:
            rows = encoder(records)
        except TypeError:
            self.rows(records)  # a non-Decimal in a decimal column: precise error
            raise
        dec = self.decimal_idx
        if dec:
            if self._decimals_of is not None:  # no nullable decimal column: all in C
                blob = "\n".join(map("\n".join, map(self._decimals_of, rows)))
            else:
                blob = "\n".join([v for row in rows for i in dec if (v := row[i]) is not None])
            if _suspect(blob):
                # Rare (exponent notation, negative zero): exact checks, canonical strings.
                rows = [
                    tuple(str(v) if i in dec and v is not None else enc for i, (v, enc)
                          in enumerate(zip(py, row, strict=True)))
                    for py, row in zip(self.rows(records), rows, strict=True)
                ]  # fmt: skip
        check = _CHECKS.get(self.record)
        if check is not None:
            for rec in records:
                check(rec)
        return rows

    def _make_encoder(self, json_text: bool, bool_int: bool) -> Encoder:
        parts = []
        for col, kind, nullable in zip(self.columns, self.kinds, self.nullable, strict=True):
            attr = f"r.{col}"
            fn = None
            if kind is ColumnKind.DECIMAL:
                fn = "_dec"
            elif kind is ColumnKind.JSON and json_text:
                fn = "_json"
            elif kind is ColumnKind.BOOL and bool_int:
                fn = "int"
            if fn is None:
                parts.append(attr)
            elif nullable:
                parts.append(f"(None if {attr} is None else {fn}({attr}))")
            else:
                parts.append(f"{fn}({attr})")
        # Field names are identifiers from the record class, so generated code is safe.
        src = f"def encode(records):\n    return [({', '.join(parts)},) for r in records]\n"
        namespace: dict[str, Any] = {
            # Unbound: raises TypeError for a float or int, so nothing inexact gets through.
            "_dec": Decimal.__str__,
            "_json": lambda v: msgspec.json.encode(v).decode(),
        }
        exec(src, namespace)
        encoder: Encoder = namespace["encode"]
        return encoder

    def dedupe_rows(self, rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """``dedupe_by_key`` for rows already encoded (values in column order)."""
        if self.on_conflict is OnConflict.IGNORE:
            return list(rows)
        key = [self.columns.index(c) for c in self.key]
        newer = self.columns.index("updated_ns") if self.on_conflict is OnConflict.NEWER else -1
        by_key: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for row in rows:
            k = tuple(row[i] for i in key)
            old = by_key.get(k)
            if old is not None and newer >= 0 and old[newer] > row[newer]:
                continue
            by_key[k] = row
        return list(by_key.values())

    def dedupe_by_key(self, records: Sequence[r.Record]) -> list[r.Record]:
        """Collapse records sharing a key to one (the last, or the newest for NEWER).

        A single INSERT … ON CONFLICT DO UPDATE may not touch the same row twice.
        """
        if self.on_conflict is OnConflict.IGNORE:
            return list(records)
        by_key: dict[tuple[Any, ...], r.Record] = {}
        for rec in records:
            k = tuple(getattr(rec, c) for c in self.key)
            old = by_key.get(k)
            if (
                old is not None
                and self.on_conflict is OnConflict.NEWER
                and getattr(old, "updated_ns") > getattr(rec, "updated_ns")  # noqa: B009
            ):
                continue
            by_key[k] = rec
        return list(by_key.values())


def canonical_decimal(value: Decimal) -> Decimal:
    """The form both backends return: no positive exponent (PostgreSQL's NUMERIC has
    none: ``1E+3`` comes back as ``1000``) and no negative zero (NUMERIC drops the sign).
    Trailing zeros after the point are kept (``1.50`` stays ``1.50``)."""
    if value.is_zero():
        value = abs(value)
    if isinstance(exp := value.as_tuple().exponent, int) and exp > 0:
        return Decimal(format(value, "f"))
    return value


def check_decimal(value: object, table: str, column: str) -> None:
    """Reject what could not be stored exactly: floats, NaN/inf, more than 9 places."""
    if type(value) is not Decimal:
        raise RecordError(
            f"{table}.{column}: expected Decimal, got {type(value).__name__} {value!r} "
            "(floats are not exact; use Decimal('…'))"
        )
    exp = value.as_tuple().exponent
    if not isinstance(exp, int):
        raise RecordError(f"{table}.{column}: {value} is not a finite number")
    if exp < -MAX_DECIMAL_PLACES:
        raise RecordError(
            f"{table}.{column}: {value} has more than {MAX_DECIMAL_PLACES} decimal places"
        )


def _check_bar(bar: r.Record) -> None:
    # Numeric CHECKs cannot run on SQLite's TEXT money, so both backends check here.
    assert isinstance(bar, r.BarRow)
    if not (bar.low <= bar.open <= bar.high and bar.low <= bar.close <= bar.high):
        raise RecordError(
            f"bar {bar.instrument_id} {bar.interval} @{bar.ts_ns}: need low <= open, close <= high"
            f" (open={bar.open} high={bar.high} low={bar.low} close={bar.close})"
        )
    if bar.volume < 0:
        raise RecordError(f"bar {bar.instrument_id} @{bar.ts_ns}: volume {bar.volume} < 0")


def _check_positive(*fields: str) -> Callable[[r.Record], None]:
    def check(rec: r.Record) -> None:
        for f in fields:
            v = getattr(rec, f)
            if v is not None and v <= 0:
                raise RecordError(f"{type(rec).__name__}.{f} must be > 0, got {v}")

    return check


_CHECKS: dict[type[r.Record], Callable[[r.Record], None]] = {
    r.BarRow: _check_bar,
    r.OrderRow: _check_positive("quantity"),
    r.FillRow: _check_positive("quantity"),
    r.TradeTickRow: _check_positive("size"),
    r.InstrumentRow: _check_positive("price_increment", "size_increment"),
    r.BacktestRunRow: _check_positive("initial_cash"),
}


def _q(name: str) -> str:
    # "interval" is a keyword in PostgreSQL; quoting every column keeps one SQL for both.
    return f'"{name}"'


def quote(name: str) -> str:
    return _q(name)


def _strip_optional(t: Any) -> Any:
    if isinstance(t, msgspec.inspect.UnionType):
        rest = [x for x in t.types if not isinstance(x, msgspec.inspect.NoneType)]
        if len(rest) == 1:
            return rest[0]
    return t


def _nullable(t: Any) -> bool:
    return isinstance(t, msgspec.inspect.UnionType) and any(
        isinstance(x, msgspec.inspect.NoneType) for x in t.types
    )


def _kind(t: Any) -> ColumnKind:
    t = _strip_optional(t)
    if isinstance(t, msgspec.inspect.DecimalType):
        return ColumnKind.DECIMAL
    if isinstance(t, msgspec.inspect.BoolType):
        return ColumnKind.BOOL
    if isinstance(t, msgspec.inspect.DictType | msgspec.inspect.ListType):
        return ColumnKind.JSON
    return ColumnKind.PLAIN


SPECS: dict[type[r.Record], TableSpec] = {
    spec.record: spec
    for spec in (
        TableSpec(r.InstrumentRow, "instruments", ["instrument_id"], OnConflict.REPLACE),
        TableSpec(r.BarRow, "bars", ["instrument_id", "interval", "ts_ns"], OnConflict.IGNORE),
        TableSpec(
            r.QuoteTickRow, "quote_ticks", ["instrument_id", "ts_ns", "seq"], OnConflict.IGNORE
        ),
        TableSpec(
            r.TradeTickRow,
            "trade_ticks",
            ["instrument_id", "ts_ns", "trade_id"],
            OnConflict.IGNORE,
        ),
        TableSpec(r.OrderRow, "orders", ["order_id"], OnConflict.NEWER),
        TableSpec(r.OrderEventRow, "order_events", ["order_id", "seq"], OnConflict.IGNORE),
        TableSpec(r.FillRow, "fills", ["fill_id"], OnConflict.IGNORE),
        TableSpec(
            r.PositionRow,
            "position_snapshots",
            ["strategy_id", "instrument_id", "ts_ns"],
            OnConflict.IGNORE,
        ),
        TableSpec(r.EquityRow, "equity_snapshots", ["account_id", "ts_ns"], OnConflict.IGNORE),
        TableSpec(r.StrategyRow, "strategies", ["strategy_id"], OnConflict.REPLACE),
        TableSpec(r.StrategyRunRow, "strategy_runs", ["run_id"], OnConflict.REPLACE),
        TableSpec(r.BacktestRunRow, "backtest_runs", ["run_id"], OnConflict.REPLACE),
        TableSpec(r.BacktestResultRow, "backtest_results", ["run_id"], OnConflict.REPLACE),
        TableSpec(r.UserRow, "users", ["user_id"], OnConflict.REPLACE),
        TableSpec(r.RefreshTokenRow, "refresh_tokens", ["token_hash"], OnConflict.REPLACE),
        TableSpec(r.AuditRow, "audit_log", ["event_id", "ts_ns"], OnConflict.IGNORE),
        TableSpec(r.AlertRow, "alerts", ["alert_id"], OnConflict.IGNORE),
        TableSpec(r.CredentialRow, "credentials", ["provider"], OnConflict.REPLACE),
    )
}


@cache
def spec_for_tag(kind: str) -> TableSpec:
    """The table of the record tagged ``kind`` (an ``EncodedRow``'s)."""
    for spec in SPECS.values():
        if spec.record.__struct_config__.tag == kind:
            return spec
    raise RecordError(f"{kind!r} is not a stored record tag")


@cache
def spec_for(record: type[r.Record]) -> TableSpec:
    try:
        return SPECS[record]
    except KeyError:
        raise RecordError(f"{record.__name__} is not a stored record type") from None


__all__ = [
    "MAX_DECIMAL_PLACES",
    "SPECS",
    "ColumnKind",
    "OnConflict",
    "TableSpec",
    "spec_for",
    "spec_for_tag",
]
