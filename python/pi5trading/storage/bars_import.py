"""Bulk import of bars from CSV or Parquet files, validated, all or nothing.

Files are read and checked by the same reader as backtests (``pi5trading.data.reader``):
the same columns, time formats and checks, with exact prices (int64 units of 10^-9 from
the decimal text, turned into ``Decimal`` records without a float in between). Rows may
come in any order, but a timestamp may not repeat for an instrument. If any row of any
file is bad, ``ImportValidationError`` lists the bad rows by line number (CSV: the
physical line, header = 1; Parquet: the row number + 2, as if it had a header) and
nothing is written: every file is checked before its rows are written, and all files are
written in one transaction. Bars already stored (same instrument, interval and
timestamp) are skipped, so re-running an import is harmless.

Records keep the precision of their file: every price of a file is written with the
file's number of decimal places (``price_decimals``), every volume with the volumes'.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

import msgspec
import numpy as np
import numpy.typing as npt

from pi5trading.data.bars import BarDataError
from pi5trading.data.exact import SCALE_DIGITS
from pi5trading.data.reader import FORMATS, TIME_UNITS, BarTable, parse_times, read_bar_table
from pi5trading.exceptions import InvalidInputError
from pi5trading.storage.errors import ImportValidationError, StorageError
from pi5trading.storage.records import BarRow, InstrumentRow
from pi5trading.storage.repository import SqlRepository

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

Progress = Callable[[int, int], None]
"""``progress(done, total)`` in rows."""


class ImportReport(msgspec.Struct, frozen=True, kw_only=True):
    sources: list[str]
    rows: int
    inserted: int
    """New bars; ``rows - inserted`` were already stored."""
    instrument_ids: list[str]
    first_ns: int | None
    last_ns: int | None


def parse_timestamp(value: object, time_unit: str = "auto") -> int:
    """UNIX nanoseconds (UTC) from an integer, ISO 8601 text or a datetime/date, by the
    reader's rules (``pi5trading.data.reader.parse_times``)."""
    import pyarrow as pa

    if isinstance(value, dt.datetime):
        t = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        delta = t - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    if isinstance(value, dt.date):
        return parse_timestamp(dt.datetime(value.year, value.month, value.day), time_unit)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInputError(f"timestamp {value!r} is not a time")
    arr = pa.array([value], type=pa.int64() if isinstance(value, int) else pa.string())
    ns, errors = parse_times(arr, time_unit)
    if errors:
        raise InvalidInputError(f"timestamp {value!r}: {errors[0].message}")
    return int(ns[0])


def _records(table: BarTable, lo: int, hi: int, interval: str) -> list[BarRow]:
    """Rows ``lo:hi`` as records; prices with the file's decimal places, exactly."""
    f, report = table.frame, table.report
    pd, vd = report.price_decimals, report.volume_decimals

    def column(raw: npt.NDArray[np.int64], places: int) -> list[Decimal]:
        units = (raw[lo:hi] // 10 ** (SCALE_DIGITS - places)).tolist()
        return [Decimal(u).scaleb(-places) for u in units]

    o, h, low, c = (column(col, pd) for col in (f.open_raw, f.high_raw, f.low_raw, f.close_raw))
    v = column(f.volume_raw, vd)
    if table.codes is None:
        ids = [table.instruments[0]] * (hi - lo)
    else:
        ids = [table.instruments[k] for k in table.codes[lo:hi].tolist()]
    ts = f.ts[lo:hi].tolist()
    return [BarRow(ids[i], interval, ts[i], o[i], h[i], low[i], c[i], v[i]) for i in range(hi - lo)]


def _instrument_for(instrument_id: str, price_decimals: int) -> InstrumentRow:
    """A new instrument's row: its tick is the cent, or finer when the imported prices have
    more decimals (a 6-decimal Yahoo file gets 0.000001), so its bars fit their own tick.
    An instrument already in the table keeps its row."""
    symbol, _, venue = instrument_id.partition(".")
    tick = Decimal(1).scaleb(-max(2, price_decimals))
    return InstrumentRow(
        instrument_id, symbol or instrument_id, venue or "UNKNOWN", price_increment=tick
    )


def read_import_file(
    path: str | Path,
    *,
    instrument_id: str | None = None,
    file_format: str = "auto",
    time_unit: str = "auto",
    max_errors: int = 20,
) -> BarTable:
    """One file's rows, checked; ``ImportValidationError`` lists its bad rows."""
    try:
        return read_bar_table(
            path, instrument=instrument_id, file_format=file_format, time_unit=time_unit
        )
    except BarDataError as exc:
        shown = [(p.line, p.describe()) for p in exc.problems[:max_errors]]
        raise ImportValidationError(
            str(path), shown, len(exc.problems) > max_errors, len(exc.problems)
        ) from None


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
    first: BarTable | None = None,
) -> ImportReport:
    """Import ``paths`` in one transaction; raise ``ImportValidationError`` if any row is bad.

    ``progress(path, done, total)`` is called as each file's rows are written. ``first``:
    ``paths[0]`` already read by ``read_import_file`` (a caller that checks it before
    opening the database).
    """
    if time_unit not in TIME_UNITS:
        raise StorageError(f"time unit {time_unit!r}: use one of {', '.join(TIME_UNITS)}")
    if file_format not in FORMATS:
        raise StorageError(f"format {file_format!r}: use one of {', '.join(FORMATS)}")
    if not interval.strip():
        raise StorageError("interval is empty")
    files = [Path(p) for p in paths]
    for f in files:
        if not f.is_file():
            raise StorageError(f"{f}: no such file")
    rows = inserted = 0
    first_ns: int | None = None
    last_ns: int | None = None
    instruments: dict[str, int] = {}  # id -> most price decimals seen
    async with repository.bulk_session() as session:
        for k, path in enumerate(files):
            if k == 0 and first is not None:
                table, first = first, None  # not kept beyond its file
            else:
                table = read_import_file(
                    path,
                    instrument_id=instrument_id,
                    file_format=file_format,
                    time_unit=time_unit,
                    max_errors=max_errors,
                )
            n = len(table.frame)
            for lo in range(0, n, chunk_size):
                hi = min(n, lo + chunk_size)
                inserted += await session.write(_records(table, lo, hi, interval))
                if progress is not None:
                    progress(str(path), hi, n)
            rows += n
            report = table.report
            if report.first_ts is not None and report.last_ts is not None:
                first_ns = report.first_ts if first_ns is None else min(first_ns, report.first_ts)
                last_ns = report.last_ts if last_ns is None else max(last_ns, report.last_ts)
            for inst in table.instruments:
                instruments[inst] = max(instruments.get(inst, 0), report.price_decimals)
        for inst, places in sorted(instruments.items()):
            await session.ensure_instrument(_instrument_for(inst, places))
    return ImportReport(
        sources=[str(f) for f in files],
        rows=rows,
        inserted=inserted,
        instrument_ids=sorted(instruments),
        first_ns=first_ns,
        last_ns=last_ns,
    )


__all__ = [
    "FORMATS",
    "TIME_UNITS",
    "ImportReport",
    "import_bars",
    "parse_timestamp",
    "read_import_file",
]
