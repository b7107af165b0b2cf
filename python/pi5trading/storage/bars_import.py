"""Bulk import of bars from CSV or Parquet files, validated, all or nothing.

Every row is checked (timestamp, exact prices, low <= open/close <= high, volume >= 0, no
duplicate timestamp for an instrument within the import). Rows are written in chunks inside
one transaction while the file is read, so memory stays flat; if any row is bad, the
transaction is rolled back and ``ImportValidationError`` lists the bad rows by line number
(CSV: the physical line, header = 1; Parquet: the row number + 1, as if it had a header).
Bars already stored (same instrument, interval and timestamp) are skipped, so re-running an
import is harmless.

Columns (header names, case-insensitive): a time column (``timestamp``, ``ts``, ``ts_ns``,
``time``, ``datetime`` or ``date``), ``open``, ``high``, ``low``, ``close``, optional
``volume`` (0 when absent) and an optional instrument column (``instrument_id``,
``instrument``, ``symbol``, ``ticker``) that overrides ``--instrument`` per row.

Time values: integers are UNIX time in ``time_unit`` (``auto`` picks s/ms/us/ns by the
number of digits); text is ISO 8601 (``2026-01-02T14:30:00Z``; without an offset it is
UTC; microsecond precision). Parquet timestamp and date columns are read as such.
Parquet float columns go through their shortest decimal form, rounded to 9 places.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import msgspec

from pi5trading.data.reader import COLUMN_ALIASES
from pi5trading.storage.errors import ImportValidationError, RecordError, StorageError
from pi5trading.storage.records import Bar, Instrument
from pi5trading.storage.repository import SqlRepository
from pi5trading.storage.tables import MAX_DECIMAL_PLACES, check_decimal, spec_for

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NINE_PLACES = Decimal(1).scaleb(-MAX_DECIMAL_PLACES)
_UNIT_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_ALIASES = COLUMN_ALIASES
TIME_UNITS = ("auto", "s", "ms", "us", "ns")
FORMATS = ("auto", "csv", "parquet")

Progress = Callable[[int, int], None]
"""``progress(done, total)`` in the unit of the source (bytes for CSV, rows for Parquet)."""


class ImportReport(msgspec.Struct, frozen=True, kw_only=True):
    sources: list[str]
    rows: int
    inserted: int
    """New bars; ``rows - inserted`` were already stored."""
    instrument_ids: list[str]
    first_ns: int | None
    last_ns: int | None


class _RowError(Exception):
    pass


class _NsValue(int):
    """An int that is already nanoseconds (from a Parquet timestamp column)."""


def parse_timestamp(value: object, time_unit: str = "auto") -> int:
    """UNIX nanoseconds (UTC) from an integer, ISO 8601 text or a datetime/date."""
    if isinstance(value, _NsValue):
        return int(value)
    if isinstance(value, bool):
        raise _RowError(f"timestamp {value!r} is not a time")
    if isinstance(value, int):
        return _scale_int(value, len(str(abs(value))), time_unit)
    if isinstance(value, dt.datetime):
        return _datetime_ns(value)
    if isinstance(value, dt.date):
        return _datetime_ns(dt.datetime(value.year, value.month, value.day))
    text = str(value).strip()
    if not text:
        raise _RowError("timestamp is empty")
    digits = text[1:] if text[0] == "-" else text
    if digits.isdigit():
        return _scale_int(int(text), len(digits), time_unit)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _RowError(f"timestamp {text!r} is neither an integer nor ISO 8601") from None
    return _datetime_ns(parsed)


def _scale_int(value: int, digits: int, time_unit: str) -> int:
    unit = time_unit
    if unit == "auto":
        unit = "ns" if digits >= 18 else "us" if digits >= 15 else "ms" if digits >= 12 else "s"
    try:
        return value * _UNIT_NS[unit]
    except KeyError:
        raise StorageError(f"time unit {time_unit!r}: use one of {', '.join(TIME_UNITS)}") from None


def _datetime_ns(value: dt.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def _decimal(value: object, name: str) -> Decimal:
    if value is None or value == "":
        raise _RowError(f"{name} is empty")
    if isinstance(value, float):
        # Parquet floats: their shortest decimal form, at the engine's scale.
        d = Decimal(repr(value))
        if d.is_finite() and isinstance(exp := d.as_tuple().exponent, int) and exp < -9:
            d = d.quantize(_NINE_PLACES, rounding=ROUND_HALF_EVEN)
    elif isinstance(value, Decimal):
        d = value
    elif isinstance(value, int) and not isinstance(value, bool):
        d = Decimal(value)
    else:
        try:
            d = Decimal(str(value).strip())
        except InvalidOperation:
            raise _RowError(f"{name} {value!r} is not a number") from None
    try:
        check_decimal(d, "bars", name)
    except RecordError as exc:
        raise _RowError(str(exc).removeprefix("bars.")) from None
    return d


class _Columns:
    """Which source column holds which bar field."""

    def __init__(self, header: Sequence[str], default_instrument: str | None) -> None:
        lowered = {h.strip().lower(): i for i, h in enumerate(header)}
        self.index: dict[str, int | None] = {}
        for field, names in _ALIASES.items():
            self.index[field] = next((lowered[n] for n in names if n in lowered), None)
        missing = [f for f in ("ts", "open", "high", "low", "close") if self.index[f] is None]
        if missing:
            wanted = "; ".join(f"{f}: one of {', '.join(_ALIASES[f])}" for f in missing)
            raise _RowError(f"header {list(header)} lacks columns ({wanted})")
        if self.index["instrument"] is None and not default_instrument:
            raise _RowError("no instrument column (instrument_id/symbol) and no --instrument given")


class _BarParser:
    def __init__(
        self, interval: str, instrument_id: str | None, time_unit: str, cols: _Columns
    ) -> None:
        self.interval = interval
        self.instrument_id = instrument_id
        self.time_unit = time_unit
        self.cols = cols
        self.seen: dict[str, dict[int, int]] = {}

    def parse(self, line: int, row: Sequence[Any]) -> Bar:
        ix = self.cols.index

        def get(field: str) -> Any:
            i = ix[field]
            if i is None:
                return None
            if i >= len(row):
                raise _RowError(f"row has {len(row)} fields, {field} is column {i + 1}")
            return row[i]

        instrument = get("instrument")
        instrument_id = str(instrument).strip() if instrument not in (None, "") else None
        instrument_id = instrument_id or self.instrument_id
        if not instrument_id:
            raise _RowError("instrument is empty")
        ts = parse_timestamp(get("ts"), self.time_unit)
        if not -(2**63) <= ts < 2**63:
            raise _RowError(f"timestamp {ts} ns is outside the 64-bit range")
        volume = get("volume")
        bar = Bar(
            instrument_id,
            self.interval,
            ts,
            _decimal(get("open"), "open"),
            _decimal(get("high"), "high"),
            _decimal(get("low"), "low"),
            _decimal(get("close"), "close"),
            Decimal(0) if volume in (None, "") else _decimal(volume, "volume"),
        )
        try:
            spec_for(Bar).rows([bar])
        except RecordError as exc:
            raise _RowError(str(exc)) from None
        seen = self.seen.setdefault(instrument_id, {})
        first = seen.setdefault(ts, line)
        if first != line:
            raise _RowError(f"duplicate timestamp for {instrument_id} (first on line {first})")
        return bar


def _csv_rows(path: Path, progress: Progress | None) -> Iterator[tuple[int, list[str]]]:
    total = path.stat().st_size
    done = 0
    with path.open("rb") as raw:

        def lines() -> Iterator[str]:
            nonlocal done
            for chunk in raw:
                done += len(chunk)
                yield chunk.decode("utf-8-sig" if done == len(chunk) else "utf-8")

        reader = csv.reader(lines())
        last_report = 0
        for row in reader:
            if not row or all(not c.strip() for c in row):
                continue
            yield reader.line_num, row
            if progress is not None and done - last_report >= 1 << 20:
                progress(done, total)
                last_report = done
    if progress is not None:
        progress(total, total)


def _parquet_rows(path: Path, progress: Progress | None) -> Iterator[tuple[int, list[Any]]]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        raise StorageError("reading Parquet needs pyarrow: pip install pyarrow") from None
    pf = pq.ParquetFile(path)
    total = pf.metadata.num_rows
    names = list(pf.schema_arrow.names)
    yield 1, names  # a header row, as in CSV
    line = 1
    for batch in pf.iter_batches(batch_size=65_536):
        columns = []
        for col in batch.columns:
            if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
                # Exact nanoseconds, not datetime (microseconds): UTC epoch ns as int64.
                tz = getattr(col.type, "tz", None)
                col = col.cast(pa.timestamp("ns", tz=tz)).cast(pa.int64())
                columns.append([None if v is None else _NsValue(v) for v in col.to_pylist()])
            else:
                columns.append(col.to_pylist())
        for values in zip(*columns, strict=True):
            line += 1
            yield line, list(values)
        if progress is not None:
            progress(line - 1, total)


def _detect_format(path: Path, fmt: str) -> str:
    if fmt != "auto":
        if fmt not in FORMATS:
            raise StorageError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".txt"):
        return "csv"
    with path.open("rb") as f:
        return "parquet" if f.read(4) == b"PAR1" else "csv"


def _instrument_for(instrument_id: str) -> Instrument:
    symbol, _, venue = instrument_id.partition(".")
    return Instrument(instrument_id, symbol or instrument_id, venue or "UNKNOWN")


async def import_bars(
    repository: SqlRepository,
    paths: Sequence[str | Path],
    *,
    instrument_id: str | None = None,
    interval: str = "1m",
    file_format: str = "auto",
    time_unit: str = "auto",
    max_errors: int = 20,
    chunk_size: int = 20_000,
    progress: Callable[[str, int, int], None] | None = None,
) -> ImportReport:
    """Import ``paths`` in one transaction; raise ``ImportValidationError`` if any row is bad.

    ``progress(path, done, total)`` is called as each file is read.
    """
    if time_unit not in TIME_UNITS:
        raise StorageError(f"time unit {time_unit!r}: use one of {', '.join(TIME_UNITS)}")
    if not interval.strip():
        raise StorageError("interval is empty")
    files = [Path(p) for p in paths]
    for f in files:
        if not f.is_file():
            raise StorageError(f"{f}: no such file")
    rows = inserted = 0
    first_ns: int | None = None
    last_ns: int | None = None
    instruments: set[str] = set()
    async with repository.bulk_session() as session:
        for path in files:
            problems: list[tuple[int, str]] = []
            truncated = False
            fmt = _detect_format(path, file_format)

            def report(done: int, total: int, name: str = str(path)) -> None:
                if progress is not None:
                    progress(name, done, total)

            source = _csv_rows(path, report) if fmt == "csv" else _parquet_rows(path, report)
            parser: _BarParser | None = None
            chunk: list[Bar] = []
            try:
                for line, row in source:
                    if parser is None:
                        try:
                            cols = _Columns([str(h) for h in row], instrument_id)
                        except _RowError as exc:
                            raise ImportValidationError(
                                str(path), [(line, str(exc))], False
                            ) from None
                        parser = _BarParser(interval, instrument_id, time_unit, cols)
                        continue
                    try:
                        bar = parser.parse(line, row)
                    except _RowError as exc:
                        problems.append((line, str(exc)))
                        if len(problems) >= max_errors:
                            truncated = True
                            break
                        continue
                    rows += 1
                    if problems:
                        continue  # keep checking, but nothing more will be written
                    chunk.append(bar)
                    first_ns = bar.ts_ns if first_ns is None else min(first_ns, bar.ts_ns)
                    last_ns = bar.ts_ns if last_ns is None else max(last_ns, bar.ts_ns)
                    if len(chunk) >= chunk_size:
                        inserted += await session.write(chunk)
                        chunk = []
            except UnicodeDecodeError as exc:
                problems.append((0, f"not UTF-8 text: {exc}"))
            if parser is None and not problems:
                problems.append((1, "the file is empty (no header row)"))
            if problems:
                raise ImportValidationError(str(path), problems, truncated)
            if chunk:
                inserted += await session.write(chunk)
            instruments.update(parser.seen if parser is not None else ())
        for inst in sorted(instruments):
            await session.ensure_instrument(_instrument_for(inst))
    return ImportReport(
        sources=[str(f) for f in files],
        rows=rows,
        inserted=inserted,
        instrument_ids=sorted(instruments),
        first_ns=first_ns,
        last_ns=last_ns,
    )


__all__ = ["FORMATS", "TIME_UNITS", "ImportReport", "import_bars", "parse_timestamp"]
