"""The bar reader: CSV or Parquet files to exact columns, a row -> line map and one check.

Backtests (``read_bars``, ``load_bars``) and ``pi5trading data import``
(``read_bar_table``) read files here, so both accept the same files and refuse bad rows
with the same one-line messages: ``path: line N: field: message (value 'x')``.

CSV: a header line names the columns (``COLUMN_ALIASES``, case-insensitive; other columns
are ignored and noted). The separator is whichever of ``,`` ``;`` tab ``|`` the header
uses most; quoted fields, a UTF-8 BOM, CRLF line ends and blank lines are fine. The file
is read in blocks by pyarrow as text and converted column by column, so memory holds one
block of text plus the int64 columns. Numbers are parsed from their decimal text into
int64 units of 10^-9 (never through a float); a file whose numbers use a decimal comma
(``1,5`` with ``;`` separators) is read as such. Time: integer UNIX time in s/ms/us/ns
(picked by the number of digits, or ``time_unit``), or ISO 8601 — a date, a date and
time, with or without a UTC offset (``Z``, ``+02:00``); without an offset it is UTC.

Parquet: rows are numbered like the same data written as CSV (row 0 is line 2).
Decimal columns are exact; float columns are rounded half to even to 10^-9 (and noted);
timestamp and date columns keep their nanoseconds (naive ones are UTC).

Every value is checked; see ``pi5trading.data.bars.find_problems`` for the bar checks.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, Final, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from pi5trading.data.bars import (
    BarDataError,
    BarFrame,
    DataReport,
    Names,
    Order,
    Policy,
    Problem,
    check_bars,
    find_problems,
)
from pi5trading.data.exact import CellError, failing_rows, int64_of, raw_from_arrow
from pi5trading.exceptions import InvalidInputError

FileFormat = Literal["auto", "csv", "parquet"]
TimeUnit = Literal["auto", "s", "ms", "us", "ns"]
FORMATS: tuple[FileFormat, ...] = ("auto", "csv", "parquet")
TIME_UNITS: tuple[TimeUnit, ...] = ("auto", "s", "ms", "us", "ns")

COLUMN_ALIASES = {
    "ts": ("timestamp", "ts", "ts_ns", "time", "datetime", "date", "open_time"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v"),
    "instrument": ("instrument_id", "instrument", "symbol", "ticker"),
}
"""Accepted column names (case-insensitive); the first match in this order wins."""
_REQUIRED = ("ts", "open", "high", "low", "close")
_NUMERIC = ("open", "high", "low", "close", "volume")
_UNIT_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
# Integer timestamps by number of digits: up to 11 seconds, 14 ms, 17 us, else ns.
_UNIT_LIMITS = ((10**11, 10**9), (10**14, 10**6), (10**17, 10**3))
_BLOCK = 2 << 20  # bytes of CSV text per block (two in flight: one tokenised, one converted)
_DELIMITERS = (",", ";", "\t", "|")
_WORKERS = min(6, os.cpu_count() or 1)
_EMPTY = np.zeros(0, dtype=np.int64)
_ZONE = r"\d[T ]?\d\d(:?\d\d)*(\.\d+)?([zZ]|[+-]\d\d(:?\d\d)?)$"


class BarTable(NamedTuple):
    """A file's rows in file order, checked: ``frame`` (all instruments), and per row the
    code of its instrument in ``instruments`` (``codes`` is ``None`` without an instrument
    column and default)."""

    frame: BarFrame
    codes: npt.NDArray[np.int32] | None
    instruments: list[str]
    report: DataReport


class _Read(NamedTuple):
    frame: BarFrame
    known: dict[int, Problem]
    """Problems of rows found while converting cells, by row."""
    malformed: list[Problem]
    """Lines that are not rows (wrong number of fields)."""
    names: Names
    instrument: Any  # a pyarrow string array, or None
    notes: list[str]


def detect_format(path: Path, fmt: str = "auto") -> Literal["csv", "parquet"]:
    if fmt not in FORMATS:
        raise InvalidInputError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt != "auto":
        return "csv" if fmt == "csv" else "parquet"
    if path.suffix.lower() in (".parquet", ".pq"):
        return "parquet"
    with path.open("rb") as f:
        return "parquet" if f.read(4) == b"PAR1" else "csv"


def _fail(
    source: str, message: str, line: int = 0, field: str = "", value: str | None = None
) -> BarDataError:
    return BarDataError(source, [Problem(line, field, message, value)])


def _map_columns(
    header: Sequence[str],
    source: str,
    *,
    want_instrument: bool,
    line: int = 1,
    where: str = "header",
) -> tuple[dict[str, int], list[str]]:
    """Which header position holds which field, and the header names left unused.

    ``line``/``where`` place a problem: a CSV header is line 1, a Parquet file's column
    names (its schema) have no line.
    """
    lowered: dict[str, int] = {}
    for i, h in enumerate(header):
        lowered.setdefault(h.strip().lower(), i)
    index: dict[str, int] = {}
    for field, aliases in COLUMN_ALIASES.items():
        pos = next((lowered[a] for a in aliases if a in lowered), None)
        if pos is not None and (field != "instrument" or want_instrument):
            index[field] = pos
    for field, pos in index.items():
        # Two columns of the same name (``close`` and ``Close``, or a Parquet schema that
        # repeats a name) would have us pick one and drop the other's values silently.
        name = header[pos].strip().lower()
        same = [i + 1 for i, h in enumerate(header) if h.strip().lower() == name]
        if len(same) > 1:
            at = ", ".join(str(i) for i in same)
            raise _fail(
                source,
                f"{len(same)} columns are named {name!r} (columns {at}): which one is the "
                f"{field}? rename or drop the others",
                line,
                where,
            )
    if "date" in lowered and "time" in lowered and index.get("ts") == lowered["time"]:
        # Separate Date and Time columns (MetaTrader, Kibot...): joined into one time.
        index["ts"], index["ts_time"] = lowered["date"], lowered["time"]
    missing = [f for f in _REQUIRED if f not in index]
    if missing:
        used = set(index.values())
        unknown = [h for i, h in enumerate(header) if i not in used]
        wanted = "; ".join(f"{f}: one of {', '.join(COLUMN_ALIASES[f])}" for f in missing)
        found = f"; unrecognised: {', '.join(repr(h) for h in unknown)}" if unknown else ""
        raise _fail(source, f"missing column(s) ({wanted}){found}", line, where)
    # Columns that match a later alias of a field already found (e.g. both Timestamp and
    # Date) or nothing at all are ignored; the caller notes them.
    used = set(index.values())
    ignored = [h for i, h in enumerate(header) if i not in used and h.strip()]
    return index, ignored


def _names(header: Sequence[str], index: dict[str, int]) -> Names:
    """The file's own names of the fields, for messages."""
    names = {f: header[i].strip() for f, i in index.items() if f in Names._fields}
    if "ts_time" in index:
        names["ts"] += "+" + header[index["ts_time"]].strip()
    return Names(**names)


# -- timestamps -------------------------------------------------------------------------


def _epoch_ns(
    v: npt.NDArray[np.int64], unit: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Integer UNIX times in ``unit`` (``auto``: by digits) as ns; mask of overflows.

    With ``auto``, 8-digit values that are valid dates from 1900 to 2199 are ``YYYYMMDD``
    dates (a common vendor layout), not seconds of 1970-1973.
    """
    mag = np.abs(v)
    if unit == "auto":
        scale = np.ones(v.size, dtype=np.int64)
        for limit, s in reversed(_UNIT_LIMITS):
            scale[mag < limit] = s
    else:
        scale = np.full(v.size, _UNIT_NS[unit], dtype=np.int64)
    over = mag > (np.iinfo(np.int64).max // scale)
    ns = np.where(over, 0, v) * scale
    if unit == "auto" and bool(((mag >= 10**7) & (mag < 10**8)).any()):
        dated = _yyyymmdd_ns(v)
        ns = np.where(dated >= 0, dated, ns)
    return ns, over


def _yyyymmdd_ns(v: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``YYYYMMDD`` integers as UTC midnight ns; -1 where a value is not such a date."""
    y, m, d = v // 10_000, v // 100 % 100, v % 100
    maybe = (y >= 1900) & (y < 2200) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= 31)
    month = (np.where(maybe, y, 1970) - 1970).astype("datetime64[Y]") + (
        np.where(maybe, m, 1) - 1
    ).astype("timedelta64[M]")
    day = month.astype("datetime64[D]") + (np.where(maybe, d, 1) - 1).astype("timedelta64[D]")
    valid = maybe & (day.astype("datetime64[M]") == month)  # 20240231 rolls into March
    return np.where(valid, day.astype("datetime64[ns]").astype(np.int64), -1)


def _cast_ts(arr: Any, zoned: bool) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(arr, pa.timestamp("ns", tz="UTC") if zoned else pa.timestamp("ns"))


def _ts_ints(ts: Any) -> npt.NDArray[np.int64]:
    import pyarrow as pa

    return np.asarray(ts.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def parse_times(arr: Any, time_unit: str = "auto") -> tuple[npt.NDArray[np.int64], list[CellError]]:
    """An Arrow array of times (text, integers, timestamps, dates) as UTC ns, with the
    cells that are not times. Other types raise ``TypeError``."""
    import pyarrow as pa

    if time_unit not in TIME_UNITS:
        raise InvalidInputError(f"time unit {time_unit!r}: use one of {', '.join(TIME_UNITS)}")
    t = arr.type
    n = len(arr)
    nulls = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    errors = [CellError(i, "empty", "") for i in np.flatnonzero(nulls).tolist()]
    if pa.types.is_dictionary(t):
        return parse_times(arr.dictionary_decode(), time_unit)
    if pa.types.is_null(t):  # a column written with no value at all: every row is empty
        return np.zeros(n, dtype=np.int64), errors
    if pa.types.is_string_view(t):  # what Polars and recent Arrow write for text
        return parse_times(arr.cast(pa.string()), time_unit)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        target = pa.timestamp("ns", tz="UTC") if getattr(t, "tz", None) else pa.timestamp("ns")
        filled = arr.fill_null(pa.scalar(0, pa.int64()).cast(t)) if nulls.any() else arr

        def cast(a: Any) -> Any:
            return a.cast(target)

        bad = failing_rows(filled, cast) if _fails(filled, cast) else []
        keep = np.ones(n, dtype=bool)
        keep[bad] = False
        errors += [CellError(i, "out of range", _time_text(arr, i)) for i in bad]
        ns = np.zeros(n, dtype=np.int64)
        ns[keep] = _ts_ints(cast(filled.filter(pa.array(keep))))
        return ns, sorted(errors)
    if pa.types.is_integer(t):
        v, too_big = int64_of(arr)
        ns, over = _epoch_ns(v, time_unit)
        over |= too_big
        ns[over] = 0
        errors += [
            CellError(i, "out of range", str(arr[i].as_py())) for i in np.flatnonzero(over).tolist()
        ]
        return ns, sorted(errors)
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        raise TypeError(f"type {t} is not a time")
    return _times_from_text(arr.cast(pa.string()), time_unit, nulls, errors)


def _time_text(arr: Any, i: int) -> str:
    """A timestamp or date cell as text; one beyond Python's years 1-9999 (which
    ``str(scalar)`` raises ``OverflowError`` for) as its stored number and type."""
    import pyarrow as pa

    try:
        return str(arr[i])
    except (OverflowError, ValueError):
        storage = pa.int32() if pa.types.is_date32(arr.type) else pa.int64()
        return f"{arr.slice(i, 1).cast(storage)[0].as_py()} ({arr.type})"


def _fails(arr: Any, convert: Any) -> bool:
    import pyarrow as pa

    try:
        convert(arr)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return True
    return False


def _times_from_text(
    arr: Any, time_unit: str, nulls: npt.NDArray[np.bool_], errors: list[CellError]
) -> tuple[npt.NDArray[np.int64], list[CellError]]:
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(arr)
    ns = np.zeros(n, dtype=np.int64)
    if n == 0:
        return ns, errors
    text = pc.ascii_trim_whitespace(arr.fill_null("")) if nulls.any() else arr
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset : text.offset + n + 1]
    lengths = np.diff(offsets)
    raw_bytes = text.buffers()[2]
    data = (
        np.frombuffer(raw_bytes, dtype=np.uint8)[offsets[0] : offsets[-1]]
        if raw_bytes is not None
        else np.zeros(0, dtype=np.uint8)
    )
    # Fast paths: all integers, or all ISO text of one kind (offset or none).
    if not nulls.any() and lengths.min(initial=1) > 0:
        if data.size and data.min() >= ord("0") and data.max() <= ord("9"):
            try:
                v = np.asarray(pc.cast(text, pa.int64()).to_numpy(), dtype=np.int64)
            except pa.ArrowInvalid:
                pass
            else:
                ns, over = _epoch_ns(v, time_unit)
                return ns, [
                    CellError(i, "out of range", text[i].as_py())
                    for i in np.flatnonzero(over).tolist()
                ]
        zoned = bool(re.search(_ZONE, str(text[0].as_py())))
        try:
            return _ts_ints(_cast_ts(text, zoned)), []
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    # Slow path, row by row kind: trimmed text; empties; integers; ISO with/without zone.
    trimmed = pc.ascii_trim_whitespace(text)
    bad = nulls.copy()

    def refuse(rows: list[int] | npt.NDArray[np.int64], message: str) -> None:
        for i in np.asarray(rows, dtype=np.int64).tolist():
            if not bad[i]:
                errors.append(CellError(i, message, str(arr[i].as_py() or "")))
                bad[i] = True

    empty = np.asarray(pc.equal(trimmed, "").to_numpy(zero_copy_only=False), dtype=bool)
    refuse(np.flatnonzero(empty & ~bad), "empty")
    integer = (
        np.asarray(
            pc.match_substring_regex(trimmed, r"^-?\d+$").to_numpy(zero_copy_only=False), dtype=bool
        )
        & ~bad
    )
    if integer.any():
        rows = np.flatnonzero(integer)
        sub = trimmed.take(pa.array(rows))
        too_long = failing_rows(sub, lambda a: pc.cast(a, pa.int64()))
        refuse(rows[too_long], "out of range")
        ok = np.setdiff1d(rows, rows[too_long])
        v = np.asarray(pc.cast(trimmed.take(pa.array(ok)), pa.int64()).to_numpy(), dtype=np.int64)
        ns[ok], over = _epoch_ns(v, time_unit)
        refuse(ok[over], "out of range")
    zone = np.asarray(
        pc.match_substring_regex(trimmed, _ZONE).to_numpy(zero_copy_only=False), dtype=bool
    )
    for zoned in (True, False):
        rows = np.flatnonzero(~bad & ~integer & (zone == zoned))
        if not rows.size:
            continue
        sub = trimmed.take(pa.array(rows))

        def cast(a: Any, zoned: bool = zoned) -> Any:
            return _cast_ts(a, zoned)

        failed = failing_rows(sub, cast)
        refuse(rows[failed], "not a UNIX time or ISO 8601 date/time")
        ok = np.setdiff1d(rows, rows[failed])
        if ok.size:
            ns[ok] = _ts_ints(cast(trimmed.take(pa.array(ok))))
    return ns, sorted(errors)


# -- CSV ----------------------------------------------------------------------------------


def _line_ends(chunk: bytes) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Start and end (exclusive, without the terminator) of each line of ``chunk``; lines
    end at ``\\n``, ``\\r\\n`` or a lone ``\\r`` (pyarrow's rule)."""
    b = np.frombuffer(chunk, dtype=np.uint8)
    term = np.flatnonzero(b == 10)
    ends = term
    if b"\r" in chunk:
        cr = np.flatnonzero(b == 13)
        nxt = np.append(b, 0)[cr + 1]
        term = np.union1d(term, cr[nxt != 10])
        ends = term - ((term > 0) & (b[term] == 10) & (np.append(0, b)[term] == 13))
    starts = np.concatenate(([0], term + 1))
    ends = np.concatenate((ends, [b.size]))
    if starts[-1] == b.size:  # the chunk ends with a terminator: no extra line
        starts, ends = starts[:-1], ends[:-1]
    return starts.astype(np.int64), ends.astype(np.int64)


def _line_at(chunk: bytes, first_line: int, offset: int) -> int:
    starts, _ = _line_ends(chunk)
    return first_line + int(np.searchsorted(starts, offset, side="right")) - 1


class _CsvReader:
    """Reads a CSV file in blocks of whole lines into exact columns."""

    def __init__(self, path: Path, source: str, time_unit: str, want_instrument: bool) -> None:
        self.path = path
        self.source = source
        self.time_unit = time_unit
        self.want_instrument = want_instrument
        self.decimal_comma: bool | None = None

    def _header(self, raw: bytes) -> tuple[list[str], str]:
        if b"\x00" in raw:
            raise _fail(self.source, "binary data, not CSV text (is it a Parquet file?)", 1, "row")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _fail(self.source, "not UTF-8 text", 1, "row") from None
        delimiter = max(_DELIMITERS, key=lambda d: (text.count(d), -_DELIMITERS.index(d)))
        header = next(csv.reader([text], delimiter=delimiter))
        first = header[0].strip() if header else ""
        if first and (
            first.lstrip("-").replace(".", "", 1).isdigit() or re.match(r"\d{4}-\d\d", first)
        ):
            raise _fail(
                self.source,
                "the first line is data, not column names: add a header line such as "
                "timestamp,open,high,low,close,volume",
                1,
                "header",
                text,
            )
        return header, delimiter

    def read(self) -> _Read:
        with self.path.open("rb") as f:
            head = f.read(1 << 16)
            bom = 3 if head.startswith(b"\xef\xbb\xbf") else 0
            head = head[bom:]
            starts, ends = _line_ends(head)
            filled = [i for i in range(len(starts)) if head[starts[i] : ends[i]].strip()]
            if not filled:
                raise _fail(self.source, "empty file (no header line)")
            h = filled[0]
            if h + 1 == len(starts) and len(head) + bom == 1 << 16:
                raise _fail(self.source, "the first line is longer than 64 KiB", 1, "header")
            header, delimiter = self._header(head[starts[h] : ends[h]])
            index, ignored = _map_columns(header, self.source, want_instrument=self.want_instrument)
            names = _names(header, index)
            f.seek(bom + (int(starts[h + 1]) if h + 1 < len(starts) else len(head)))
            parts: list[_Part] = []
            malformed: list[Problem] = []
            width = len(header)
            # Pipelined: pyarrow tokenises block k+1 in one thread while block k's columns
            # are converted (themselves in parallel) in the others.
            with ThreadPoolExecutor(1) as tokenizer, ThreadPoolExecutor(_WORKERS) as pool:
                pending: Future[_Parsed] | None = None
                for chunk, first_line in _blocks(f, h + 2):
                    nxt = tokenizer.submit(self._parse, chunk, first_line, width, delimiter, index)
                    if pending is not None:
                        parts.append(self._convert(pending.result(), names, parts, pool))
                    pending = nxt
                if pending is not None:
                    parts.append(self._convert(pending.result(), names, parts, pool))
            for part in parts:
                malformed += part.malformed
        if not any(p.size for p in parts) and not malformed:
            raise _fail(self.source, "no bars: the file has only a header line")
        notes = [f"ignored column(s): {', '.join(ignored)}"] if ignored else []
        return _assemble(parts, self.source, names, malformed, notes, h + 2)

    def _parse(
        self, chunk: bytes, first_line: int, width: int, delimiter: str, index: dict[str, int]
    ) -> _Parsed:
        """Tokenise one block of whole lines starting at ``first_line``."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        if b"\x00" in chunk:
            at = _line_at(chunk, first_line, chunk.index(b"\x00"))
            raise _fail(self.source, "binary data, not CSV text", at, "row")
        try:
            if np.frombuffer(chunk, dtype=np.uint8).max(initial=0) >= 128:  # else ASCII
                chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _fail(
                self.source, "not UTF-8 text", _line_at(chunk, first_line, exc.start), "row"
            ) from None
        starts, ends = _line_ends(chunk)
        lines = first_line + np.flatnonzero(ends > starts)
        skipped: list[int] = []
        malformed: list[Problem] = []

        def invalid(row: Any) -> str:
            k = int(row.number) - 1  # counts non-empty lines of this chunk from 1
            skipped.append(k)
            if row.text.strip():
                why = f"expected {row.expected_columns} fields, found {row.actual_columns}"
                malformed.append(Problem(int(lines[k]), "row", why, row.text))
            return "skip"

        cols = {field: f"c{i}" for field, i in index.items()}
        table = pacsv.read_csv(
            pa.BufferReader(chunk),
            read_options=pacsv.ReadOptions(
                column_names=[f"c{i}" for i in range(width)],
                use_threads=False,
                block_size=max(len(chunk) + 1, 1 << 20),
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=False, invalid_row_handler=invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in cols.values()},
                include_columns=list(dict.fromkeys(cols.values())),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
                check_utf8=False,
            ),
        )
        row_lines = np.delete(lines, skipped)
        if row_lines.size != table.num_rows:
            quotes = np.cumsum(np.frombuffer(chunk, dtype=np.uint8) == ord('"'))
            odd = np.flatnonzero((quotes[np.maximum(ends - 1, 0)] % 2) == 1)
            at = first_line + int(odd[0]) if odd.size else first_line
            raise _fail(self.source, "a quoted field runs past the end of the line", at, "row")
        columns = {field: table.column(c).combine_chunks() for field, c in cols.items()}
        return _Parsed(columns, row_lines, malformed, delimiter)

    def _convert(
        self, parsed: _Parsed, names: Names, before: list[_Part], pool: ThreadPoolExecutor
    ) -> _Part:
        """Convert a tokenised block (in file order: the decimal separator is decided by
        the first block that has fractions)."""
        if self.decimal_comma is None and parsed.delimiter != ",":
            numeric = [parsed.columns[k] for k in _NUMERIC if k in parsed.columns]
            self.decimal_comma = _uses_decimal_comma(numeric)
        row0 = sum(p.size for p in before)
        return _convert(
            parsed.columns,
            parsed.lines,
            parsed.malformed,
            self.time_unit,
            bool(self.decimal_comma),
            row0,
            names,
            pool,
        )


class _Parsed(NamedTuple):
    columns: dict[str, Any]
    lines: npt.NDArray[np.int64]
    malformed: list[Problem]
    delimiter: str


def _blocks(f: BinaryIO, first_line: int) -> Iterator[tuple[bytes, int]]:
    """Blocks of about ``_BLOCK`` bytes of whole lines and the number of each first line."""
    carry = b""
    line = first_line
    while True:
        block = f.read(_BLOCK)
        data = carry + block
        if not data:
            return
        cut = len(data) if not block else data.rfind(b"\n") + 1
        if cut == 0:  # no line end in a whole block: keep reading
            carry = data
            continue
        chunk, carry = data[:cut], data[cut:]
        yield chunk, line
        line += _count_lines(chunk)


def _count_lines(chunk: bytes) -> int:
    """Lines in ``chunk`` by pyarrow's rule (``\n``, ``\r\n`` or a lone ``\r``)."""
    ends = chunk.count(b"\n")
    if b"\r" in chunk:
        ends += chunk.count(b"\r") - chunk.count(b"\r\n")
    return ends + (0 if chunk.endswith((b"\n", b"\r")) else 1)


def _uses_decimal_comma(columns: list[Any]) -> bool | None:
    """``True`` if these text columns write fractions with ',' and never '.'; ``None``
    while no fraction has been seen."""
    comma = dot = False
    for col in columns:
        buf = col.buffers()[2]
        if buf is None:
            continue
        b = np.frombuffer(buf, dtype=np.uint8)
        comma |= bool((b == ord(",")).any())
        dot |= bool((b == ord(".")).any())
    if not (comma or dot):
        return None
    return comma and not dot


class _Part(NamedTuple):
    size: int
    ts: npt.NDArray[np.int64]
    raw: dict[str, npt.NDArray[np.int64]]
    lines: npt.NDArray[np.int64]
    known: dict[int, tuple[str, CellError]]
    malformed: list[Problem]
    instrument: Any
    rounded: list[str]


class _ColumnTypeError(Exception):
    """A column whose type cannot hold the field (Parquet only: CSV columns are text)."""


def _convert(
    columns: dict[str, Any],
    lines: npt.NDArray[np.int64],
    malformed: list[Problem],
    time_unit: str,
    decimal_comma: bool,
    row0: int,
    names: Names,
    pool: ThreadPoolExecutor | None = None,
) -> _Part:
    """Arrow columns of one block to exact columns; bad cells by global row."""
    n = len(columns["ts"])
    if "ts_time" in columns:
        import pyarrow as pa
        import pyarrow.compute as pc

        date, time = (columns.pop(k).cast(pa.string()) for k in ("ts", "ts_time"))
        columns["ts"] = pc.binary_join_element_wise(date, time, "T")

    def one(field: str) -> tuple[npt.NDArray[np.int64], list[CellError], bool]:
        col = columns[field]
        try:
            if field == "ts":
                return (*parse_times(col, time_unit), False)
            return raw_from_arrow(col, decimal_comma=decimal_comma)
        except TypeError:
            what = "time" if field == "ts" else "number"
            raise _ColumnTypeError(
                getattr(names, field), f"type {col.type} is not a {what}"
            ) from None

    fields = ["ts", *(f for f in _NUMERIC if f in columns)]
    # Arrow and NumPy release the GIL: columns convert in parallel on a multi-core Pi.
    if pool is not None and n >= 1 << 15:
        results = list(pool.map(one, fields))
    else:
        results = [one(f) for f in fields]
    known: dict[int, tuple[str, CellError]] = {}
    raw: dict[str, npt.NDArray[np.int64]] = {}
    rounded: list[str] = []
    for field, (values, errs, was_float) in zip(fields, results, strict=True):
        raw[field] = values
        if was_float:
            rounded.append(field)
        for e in errs:
            known.setdefault(row0 + e.row, (field, e))
    ts = raw.pop("ts")
    return _Part(n, ts, raw, lines, known, malformed, columns.get("instrument"), rounded)


def _assemble(
    parts: list[_Part],
    source: str,
    names: Names,
    malformed: list[Problem],
    notes: list[str],
    first_line: int,
) -> _Read:
    """Concatenate the blocks' columns one at a time (peak: the columns plus one)."""
    import pyarrow as pa

    def cat(name: str) -> npt.NDArray[np.int64]:
        # One column at a time, dropping the blocks' pieces as they are copied.
        pieces = [
            p.ts if name == "ts" else p.lines if name == "lines" else p.raw.pop(name) for p in parts
        ]
        if name == "ts":
            parts[:] = [p._replace(ts=_EMPTY) for p in parts]
        if not pieces:
            return _EMPTY
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    ts = cat("ts")
    raw = {f: cat(f) for f in _NUMERIC if parts and f in parts[0].raw}
    lines = cat("lines")
    implicit = lines.size == 0 or (
        int(lines[0]) == first_line and int(lines[-1]) == first_line + lines.size - 1
    )
    frame = BarFrame.from_raw(
        ts,
        raw["open"],
        raw["high"],
        raw["low"],
        raw["close"],
        raw.get("volume"),
        source=source,
        lines=None if implicit else lines,
        first_line=first_line,
    )
    known: dict[int, Problem] = {}
    for p in parts:
        for row, (field, e) in p.known.items():
            known[row] = Problem(frame.line_of(row), getattr(names, field), e.message, e.value)
    rounded = sorted({f for p in parts for f in p.rounded}, key=_NUMERIC.index)
    if rounded:
        notes = [
            *notes,
            f"float column(s) {', '.join(getattr(names, f) for f in rounded)} "
            "rounded half to even to 9 decimals",
        ]
    instrument = None
    if parts and parts[0].instrument is not None:
        instrument = pa.chunked_array([p.instrument for p in parts], type=pa.string())
    return _Read(frame, known, malformed, names, instrument, notes)


# -- Parquet ------------------------------------------------------------------------------


def _reason(exc: BaseException) -> str:
    """An Arrow error's text on one line (Thrift errors span several)."""
    return "; ".join(part.strip() for part in str(exc).splitlines() if part.strip()) or repr(exc)


def _open_parquet(path: Path, source: str) -> Any:
    """The file's ``ParquetFile``; a file that is empty, not Parquet or cut short is
    refused with what it is, before Arrow's own reason (which says "footer" for all)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    size = path.stat().st_size
    if size == 0:
        raise _fail(source, "empty file (0 bytes), not a Parquet file")
    with path.open("rb") as f:
        head = f.read(4)
        f.seek(max(0, size - 4))
        tail = f.read(4)
    if head != b"PAR1":
        raise _fail(source, "not a Parquet file (it does not begin with the marker PAR1)")
    if tail != b"PAR1" or size < 12:
        raise _fail(
            source,
            f"truncated Parquet file: {size:,} bytes and no PAR1 marker at its end "
            "(copied or downloaded only in part?)",
        )
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise _fail(source, f"not a readable Parquet file ({_reason(exc)})") from None


BYTES_PER_ROW: Final = 160
"""What a bar costs at the peak of reading a file: measured 144-172 bytes a row (peak RSS
growth of ``read_bars`` on 2M and 4M generated one-minute rows, session 11)."""


def available_bytes() -> int | None:
    """Memory the kernel says is available now (``MemAvailable``; ``None`` off Linux)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _fits_in_memory(rows: int, source: str) -> None:
    """Refuse, before reading, a file whose rows cannot be held here: Parquet compresses a
    billion equal rows into a few KiB, and the reader holds every row before checking it."""
    free = available_bytes()
    need = rows * BYTES_PER_ROW
    if free is not None and need > free:
        raise _fail(
            source,
            f"{rows:,} rows would take ~{_size(need)} to read, and {_size(free)} is "
            "available: split the file (by symbol or by year)",
        )


def _size(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.0f} MiB"


def _unreadable(pf: Any, source: str, columns: list[str], first_row: int, exc: Exception) -> Any:
    """The error for data that cannot be read past row ``first_row`` (a damaged page, a
    footer pointing beyond the data): which row group, by its lines, and Arrow's reason.
    Only called on failure; reads the row groups one by one from ``first_row`` to find it."""
    import pyarrow as pa

    meta = pf.metadata
    start = 0
    for g in range(meta.num_row_groups):
        n = meta.row_group(g).num_rows
        if start + n > first_row:
            try:
                pf.read_row_group(g, columns=columns)
            except (pa.ArrowException, OSError) as found:
                lines = f"lines {start + 2}-{start + n + 1}" if n > 1 else f"line {start + 2}"
                return _fail(
                    source,
                    f"row group {g + 1} of {meta.num_row_groups} ({lines}) cannot be read: "
                    f"damaged or truncated data ({_reason(found)})",
                )
        start += n
    return _fail(source, f"damaged Parquet data ({_reason(exc)})")


def _read_parquet(path: Path, source: str, time_unit: str, want_instrument: bool) -> _Read:
    import pyarrow as pa

    pf = _open_parquet(path, source)
    _fits_in_memory(int(pf.metadata.num_rows), source)
    header = list(pf.schema_arrow.names)
    index, ignored = _map_columns(
        header, source, want_instrument=want_instrument, line=0, where="columns"
    )
    names = _names(header, index)
    wanted = {field: header[i] for field, i in index.items()}
    columns = list(dict.fromkeys(wanted.values()))
    parts: list[_Part] = []
    rows = 0
    batches = pf.iter_batches(batch_size=1 << 18, columns=columns)
    with ThreadPoolExecutor(_WORKERS) as pool:
        while True:
            # Damaged data shows only when its pages are read: mid-file, after the footer
            # was read fine. Refused with its place, never as a traceback.
            try:
                batch = next(batches, None)
            except (pa.ArrowException, OSError) as exc:
                raise _unreadable(pf, source, columns, rows, exc) from None
            if batch is None:
                break
            cols = {field: batch.column(name) for field, name in wanted.items()}
            if "instrument" in cols:
                try:
                    cols["instrument"] = cols["instrument"].cast(pa.string())
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    t = cols["instrument"].type
                    raise _fail(source, f"type {t} is not text", 0, wanted["instrument"]) from None
            lines = np.arange(rows + 2, rows + 2 + batch.num_rows, dtype=np.int64)
            try:
                parts.append(_convert(cols, lines, [], time_unit, False, rows, names, pool))
            except _ColumnTypeError as exc:
                raise _fail(source, str(exc.args[1]), 0, str(exc.args[0])) from None
            rows += batch.num_rows
    if rows == 0:
        raise _fail(source, "no bars: the file has no rows")
    notes = [f"ignored column(s): {', '.join(ignored)}"] if ignored else []
    return _assemble(parts, source, names, [], notes, 2)


def _read(path: str | Path, file_format: str, time_unit: str, want_instrument: bool) -> _Read:
    p = Path(path)
    source = str(p)
    if time_unit not in TIME_UNITS:
        raise InvalidInputError(f"time unit {time_unit!r}: use one of {', '.join(TIME_UNITS)}")
    if not p.is_file():
        raise InvalidInputError(f"{source}: no such file")
    if detect_format(p, file_format) == "parquet":
        return _read_parquet(p, source, time_unit, want_instrument)
    return _CsvReader(p, source, time_unit, want_instrument).read()


def read_bars(
    path: str | Path,
    policy: Policy = "error",
    *,
    file_format: FileFormat = "auto",
    time_unit: TimeUnit | str = "auto",
) -> tuple[BarFrame, DataReport]:
    """One instrument's bars from a CSV or Parquet file, checked (see ``check_bars``).

    Timestamps are the file's own (see ``load_bars`` for the open/close convention). A file
    with an instrument column naming more than one instrument is refused.
    """
    r = _read(path, file_format, time_unit, want_instrument=True)
    if r.instrument is not None:
        import pyarrow.compute as pc

        distinct = [v for v in pc.unique(r.instrument).to_pylist() if v and v.strip()]
        if len(distinct) > 1:
            shown = ", ".join(sorted(distinct)[:5]) + (", …" if len(distinct) > 5 else "")
            raise _fail(
                r.frame.source,
                f"holds bars of {len(distinct)} instruments ({shown}); a backtest reads one: "
                "split the file, or import it (pi5trading data import) and use db:<instrument>",
            )
    return check_bars(
        r.frame, policy, known=r.known, names=r.names, notes=r.notes, malformed=r.malformed
    )


def read_bar_table(
    path: str | Path,
    *,
    instrument: str | None = None,
    file_format: FileFormat | str = "auto",
    time_unit: TimeUnit | str = "auto",
    order: Order = "unique",
) -> BarTable:
    """Every row of a bar file with its instrument (the file's instrument column, else
    ``instrument``), checked; raises ``BarDataError`` listing every bad row.

    ``order="unique"`` (the default, for imports) lets rows come in any order but refuses
    a timestamp repeated for an instrument.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    r = _read(path, file_format, time_unit, want_instrument=True)
    frame = r.frame
    codes: npt.NDArray[np.int32] | None = None
    instruments: list[str] = [instrument] if instrument else []
    known = dict(r.known)
    if r.instrument is not None:
        cells = pc.ascii_trim_whitespace(r.instrument.fill_null(""))
        empty = np.asarray(pc.equal(cells, "").to_numpy(zero_copy_only=False), dtype=bool)
        if instrument:
            cells = pc.if_else(pa.array(empty), instrument, cells)
        else:
            for i in np.flatnonzero(empty).tolist():
                known.setdefault(
                    i, Problem(frame.line_of(i), "instrument", "empty and no instrument given", "")
                )
        encoded = pc.dictionary_encode(cells.combine_chunks())
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int32)
        instruments = [str(s) for s in encoded.dictionary.to_pylist()]
    elif not instrument:
        raise _fail(
            frame.source,
            "no instrument column (instrument_id, instrument, symbol, ticker) and no "
            "instrument given",
            1,
            "header",
        )
    problems = find_problems(
        frame, known=known, names=r.names, order=order, groups=codes, group_names=instruments
    )
    if problems or r.malformed:
        raise BarDataError(frame.source, [*problems.values(), *r.malformed], len(frame))
    report = DataReport(
        source=frame.source,
        rows=len(frame),
        kept=len(frame),
        first_ts=int(frame.ts.min()),
        last_ts=int(frame.ts.max()),
        price_decimals=frame.price_decimals,
        volume_decimals=frame.volume_decimals,
        notes=r.notes,
    )
    return BarTable(frame, codes, instruments, report)


__all__ = [
    "COLUMN_ALIASES",
    "FORMATS",
    "TIME_UNITS",
    "BarTable",
    "detect_format",
    "parse_times",
    "read_bar_table",
    "read_bars",
]
