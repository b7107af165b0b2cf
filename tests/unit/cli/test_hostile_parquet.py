"""Hostile Parquet files through `pi5trading data import` and `backtest --data` (issue 17,
"Bad input"): truncated, damaged, not Parquet, empty, wrong column types, bad values.

Each bad file: exit 1, one `Error:` line naming the file and what is wrong (the line where
a row is at fault), no traceback, and nothing written to the real embedded SQLite database
the import targets. Files a user may legitimately have (extra columns, dictionary
encoding, decimal prices, zoned or naive times, string_view text, many row groups) import
exactly: the stored text of every price is checked.

The API has no route that reads a file (backtest jobs take `db:` or `generated:` data
only), so the CLI and the replay feed are the ways in.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from pi5trading.cli import main
from pi5trading.data.bars import BarDataError

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
MIN = 60_000_000_000
N = 10


def bars(n: int = N, **columns: pa.Array | None) -> pa.Table:
    """``n`` good one-minute bars from T0; ``columns`` replace (``None``: drop) columns."""
    cols: dict[str, pa.Array | None] = {
        "timestamp": pa.array([T0 + i * MIN for i in range(n)], pa.timestamp("ns", tz="UTC")),
        "open": pa.array([100.0 + i for i in range(n)]),
        "high": pa.array([101.5 + i for i in range(n)]),
        "low": pa.array([99.25 + i for i in range(n)]),
        "close": pa.array([100.5 + i for i in range(n)]),
        "volume": pa.array([1000 + i for i in range(n)], pa.int64()),
    }
    cols.update(columns)
    return pa.table({k: v for k, v in cols.items() if v is not None})


def one_bad(
    good: list[object], row: int, value: object, type_: pa.DataType | None = None
) -> pa.Array:
    """``good`` with ``value`` at ``row``."""
    values = list(good)
    values[row] = value
    return pa.array(values, type_)


def floats(start: float) -> list[object]:
    return [start + i for i in range(N)]


def times(unit_ns: int = 1) -> list[object]:
    return [(T0 + i * MIN) // unit_ns for i in range(N)]


def three_row_groups(tmp: Path) -> bytes:
    """3,000 bars in three row groups of 1,000."""
    path = tmp / "whole.parquet"
    pq.write_table(bars(3000, volume=pa.array([1] * 3000)), path, row_group_size=1000)
    return path.read_bytes()


def footer_length(data: bytes) -> int:
    return int.from_bytes(data[-8:-4], "little")


# -- the bad files --------------------------------------------------------------------------

Maker = Callable[[Path], bytes | pa.Table]


def cut(where: Callable[[bytes], int]) -> Maker:
    def make(tmp: Path) -> bytes:
        data = three_row_groups(tmp)
        return data[: where(data)]

    return make


def data_cut_footer_kept(tmp: Path) -> bytes:
    data = three_row_groups(tmp)
    return data[: len(data) // 2] + data[-(8 + footer_length(data)) :]


def page_damaged(tmp: Path) -> bytes:
    """Row group 2's first data page header overwritten; the footer intact."""
    data = bytearray(three_row_groups(tmp))
    meta = pq.ParquetFile(tmp / "whole.parquet").metadata.row_group(1).column(1)
    start = meta.data_page_offset
    data[start : start + 40] = b"\xff" * 40
    return bytes(data)


TRUNCATED = (
    "truncated Parquet file: {size:,} bytes and no PAR1 marker at its end "
    "(copied or downloaded only in part?)"
)
DAMAGED = "row group 2 of 3 (lines 1002-2001) cannot be read: damaged or truncated data ("

# (id, maker, the one line after "<path>: " (a prefix when it ends with "("))
BAD: list[tuple[str, Maker, str]] = [
    ("zero_bytes", lambda tmp: b"", "empty file (0 bytes), not a Parquet file"),
    ("csv_named_parquet", lambda tmp: b"timestamp,open,high,low,close\n2026-01-01,1,2,0.5,1\n",
     "not a Parquet file (it does not begin with the marker PAR1)"),
    ("random_bytes", lambda tmp: bytes(range(256)) * 8,
     "not a Parquet file (it does not begin with the marker PAR1)"),
    ("cut_to_the_magic", cut(lambda d: 4), TRUNCATED),
    ("cut_mid_row_group", cut(lambda d: len(d) // 3), TRUNCATED),
    ("cut_before_footer", cut(lambda d: len(d) - 8 - footer_length(d)), TRUNCATED),
    ("cut_mid_footer", cut(lambda d: len(d) - 8 - footer_length(d) // 2), TRUNCATED),
    ("cut_footer_length", cut(lambda d: len(d) - 6), TRUNCATED),
    ("cut_last_byte", cut(lambda d: len(d) - 1), TRUNCATED),
    ("PAR1_only_twice", lambda tmp: b"PAR1PAR1", TRUNCATED),
    ("data_cut_footer_kept", data_cut_footer_kept, DAMAGED),
    ("page_header_damaged", page_damaged, DAMAGED),
    ("zero_rows", lambda tmp: bars(0), "no bars: the file has no rows"),
    ("price_as_text", lambda tmp: bars(open=one_bad([str(f) for f in floats(100)], 5, "abc")),
     "line 7: open: not a number (value 'abc')"),
    ("price_as_binary", lambda tmp: bars(open=pa.array([b"100"] * N)),
     "open: type binary is not a number"),
    ("price_as_list", lambda tmp: bars(open=pa.array([[1.0]] * N)),
     "open: type list<element: double> is not a number"),
    ("price_beyond_int64", lambda tmp: bars(
        open=one_bad([100 + i for i in range(N)], 2, 2**64 - 1, pa.uint64())),
     "line 4: open: out of range (value '18446744073709551615')"),
    ("price_more_than_9_decimals", lambda tmp: bars(
        close=one_bad([Decimal(100 + i) for i in range(N)], 3, Decimal("103.0000000001"),
                      pa.decimal128(20, 10))),
     "line 5: close: more than 9 decimals (value '103.0000000001')"),
    ("time_as_bad_text", lambda tmp: bars(timestamp=one_bad(
        [f"2026-01-01T00:{i:02d}:00Z" for i in range(N)], 9, "yesterday")),
     "line 11: timestamp: not a UNIX time or ISO 8601 date/time (value 'yesterday')"),
    ("time_as_bool", lambda tmp: bars(timestamp=pa.array([True] * N)),
     "timestamp: type bool is not a time"),
    ("time_as_float_seconds", lambda tmp: bars(timestamp=pa.array([t / 1e9 for t in times()])),
     "timestamp: type double is not a time"),
    ("time_as_duration", lambda tmp: bars(timestamp=pa.array(times(), pa.duration("ns"))),
     "timestamp: type duration[ns] is not a time"),
    ("time_beyond_year_9999", lambda tmp: bars(
        timestamp=one_bad(times(10**6), 2, 10**15, pa.timestamp("ms", tz="UTC"))),
     "line 4: timestamp: out of range (value '1000000000000000 (timestamp[ms, tz=UTC])')"),
    ("time_int_beyond_int64", lambda tmp: bars(
        timestamp=one_bad(times(10**9), 1, 2**64 - 1, pa.uint64())),
     "line 3: timestamp: out of range (value '18446744073709551615')"),
    ("time_before_1970", lambda tmp: bars(
        timestamp=one_bad(times(), 0, -MIN, pa.timestamp("ns", tz="UTC"))),
     "line 2: timestamp: before 1970-01-01 (value '1969-12-31T23:59:00Z')"),
    ("time_column_all_null", lambda tmp: bars(1, timestamp=pa.nulls(1)),
     "line 2: timestamp: empty (value '')"),
    ("volume_negative", lambda tmp: bars(volume=one_bad([5] * N, 5, -3, pa.int64())),
     "line 7: volume: negative (value '-3')"),
    ("null_high", lambda tmp: bars(high=one_bad(floats(101.5), 3, None)),
     "line 5: high: empty (value '')"),
    ("nan_close", lambda tmp: bars(close=one_bad(floats(100.5), 4, float("nan"))),
     "line 6: close: not a number (value 'nan')"),
    ("minus_inf_low", lambda tmp: bars(low=one_bad(floats(99.25), 6, float("-inf"))),
     "line 8: low: not a number (value '-inf')"),
    ("inf_open", lambda tmp: bars(open=one_bad(floats(100), 1, float("inf"))),
     "line 3: open: not a number (value 'inf')"),
    ("huge_float_open", lambda tmp: bars(open=one_bad(floats(100), 1, 1e30)),
     "line 3: open: out of range (value '1e+30')"),
    ("zero_price", lambda tmp: bars(low=one_bad(floats(99.25), 1, 0.0)),
     "line 3: low: must be > 0 (value '0')"),
    ("high_below_low", lambda tmp: bars(high=one_bad(floats(101.5), 2, 90.0)),
     "line 4: high: below max(open, close) = 102.5 (value '90')"),
    ("duplicate_time", lambda tmp: bars(timestamp=one_bad(times(), 5, T0 + 4 * MIN,
                                                          pa.timestamp("ns", tz="UTC"))),
     "line 7: timestamp: duplicate of line 6 for AAA (value '2026-01-01T00:04:00Z')"),
    ("missing_close", lambda tmp: bars(close=None),
     "columns: missing column(s) (close: one of close, c)"),
    ("close_and_Close", lambda tmp: bars().append_column("Close", pa.array(floats(7))),
     "columns: 2 columns are named 'close' (columns 5, 7): which one is the close? "
     "rename or drop the others"),
    ("close_twice", lambda tmp: pa.Table.from_arrays(
        [*bars().columns, pa.array(floats(7))], [*bars().column_names, "close"]),
     "columns: 2 columns are named 'close' (columns 5, 7): which one is the close? "
     "rename or drop the others"),
    ("symbol_as_struct", lambda tmp: bars().append_column("symbol", pa.array([{"a": 1}] * N)),
     "symbol: type struct<a: int64> is not text"),
]  # fmt: skip


def write(tmp: Path, name: str, content: bytes | pa.Table) -> Path:
    path = tmp / f"{name}.parquet"
    if isinstance(content, pa.Table):
        pq.write_table(content, path)
    else:
        path.write_bytes(content)
    return path


def expected(message: str, path: Path) -> str:
    return f"{path}: " + message.format(size=path.stat().st_size)


# -- the store ------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A real SQLite database holding 10 bars of BASE (imported by the CLI itself)."""
    path = tmp_path / "store.db"
    good = write(tmp_path, "base", bars())
    r = import_(path, good, instrument="BASE")
    assert r.exit_code == 0, r.output
    assert stored(path) == {"BASE": 10}
    return path


def import_(db: Path, *files: Path | str, instrument: str = "AAA") -> Result:
    args = ["data", "import", *map(str, files), "-i", instrument, "--interval", "1m"]
    return CliRunner().invoke(main, [*args, "--database-url", f"sqlite:///{db}"])


def stored(db: Path) -> dict[str, int]:
    """Bars per instrument in the database."""
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT instrument_id, count(*) FROM bars GROUP BY 1").fetchall()
    con.close()
    return dict(rows)


def stored_bars(db: Path, instrument: str = "AAA") -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT ts_ns, open, high, low, close, volume FROM bars "
            "WHERE instrument_id = ? ORDER BY ts_ns",
            (instrument,),
        ).fetchall()
    con.close()
    return rows


def failed_cleanly(r: Result, line: str) -> None:
    """Exit 1, ``Error: <line>`` (a prefix when it ends with "("), no traceback."""
    assert r.exit_code == 1, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output
    errors = [x for x in r.output.splitlines() if x.startswith("Error: ")]
    assert len(errors) == 1, r.output
    got = errors[0].removeprefix("Error: ")
    if line.endswith("("):
        assert got.startswith(line), got
        assert got.endswith("); nothing imported"), got
    else:
        assert got.removesuffix("; nothing imported") == line, got


@pytest.mark.parametrize(("name", "make", "message"), BAD, ids=[b[0] for b in BAD])
def test_a_hostile_parquet_file_is_one_line_and_nothing_is_stored(
    tmp_path: Path, db: Path, name: str, make: Maker, message: str
) -> None:
    path = write(tmp_path, name, make(tmp_path))
    r = import_(db, path)
    failed_cleanly(r, expected(message, path))
    assert r.output.rstrip().endswith("nothing imported")
    assert "\\x" not in r.output  # no raw bytes on the terminal
    assert stored(db) == {"BASE": 10}


@pytest.mark.parametrize(
    "name", ["cut_mid_footer", "page_header_damaged", "price_beyond_int64", "zero_bytes"]
)
def test_a_bad_second_file_stores_nothing_of_the_first(tmp_path: Path, db: Path, name: str) -> None:
    """The first file is checked before the database is opened; a later one inside the
    import's transaction: its failure rolls the good first file back."""
    make, message = next((m, msg) for n, m, msg in BAD if n == name)
    good = write(tmp_path, "good", bars())
    bad = write(tmp_path, name, make(tmp_path))
    r = import_(db, good, bad)
    failed_cleanly(r, expected(message, bad))
    assert stored(db) == {"BASE": 10}


BACKTESTED = [
    "csv_named_parquet",
    "cut_mid_row_group",
    "page_header_damaged",
    "zero_rows",
    "price_beyond_int64",
    "time_beyond_year_9999",
    "close_twice",
    "nan_close",
]


@pytest.mark.parametrize("name", BACKTESTED)
def test_a_backtest_of_a_hostile_parquet_file_is_one_line_and_writes_nothing(
    tmp_path: Path, name: str
) -> None:
    make, message = next((m, msg) for n, m, msg in BAD if n == name)
    path = write(tmp_path, name, make(tmp_path))
    out = tmp_path / "out"
    env = {"PI5_DATA_DIR": str(tmp_path / "data")}
    r = CliRunner(env=env).invoke(main, ["backtest", "--data", str(path), "-q", "-o", str(out)])
    assert r.exit_code == 1, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output
    line = expected(message, path)
    if line.endswith("("):
        assert f"Error: {line}" in r.output, r.output
    else:
        assert f"Error: {line}\n" in r.output, r.output
    assert not out.exists()
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("name", ["cut_mid_footer", "page_header_damaged"])
def test_the_replay_feed_refuses_a_damaged_file_with_its_name(tmp_path: Path, name: str) -> None:
    from pi5trading.feeds.replay import file_source

    make, message = next((m, msg) for n, m, msg in BAD if n == name)
    path = write(tmp_path, name, make(tmp_path))
    with pytest.raises(BarDataError) as err:
        file_source("AAA", "1m", path)
    assert str(err.value).startswith(expected(message, path))


def test_a_user_at_the_shell_gets_one_line_and_exit_1(tmp_path: Path, db: Path) -> None:
    """A real process, as from the shell: no traceback on stderr, exit status 1."""
    bad = write(tmp_path, "damaged", page_damaged(tmp_path))
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root / "python"), "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "pi5trading", "data", "import", str(bad), "-i", "AAA"]
    cmd += ["--interval", "1m", "--database-url", f"sqlite:///{db}"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr
    assert p.stderr.startswith(f"Error: {bad}: {DAMAGED}"), p.stderr
    assert p.stderr.endswith("; nothing imported\n"), p.stderr
    assert len(p.stderr.splitlines()) == 1, p.stderr
    assert stored(db) == {"BASE": 10}


def test_max_errors_shows_the_first_rows_and_counts_them_all(tmp_path: Path, db: Path) -> None:
    path = write(tmp_path, "nan", bars(close=pa.array([float("nan")] * N)))
    args = ["data", "import", str(path), "-i", "AAA", "--max-errors", "3"]
    r = CliRunner().invoke(main, [*args, "--database-url", f"sqlite:///{db}"])
    assert r.exit_code == 1
    assert f"Error: {path}: 10 bad row(s), nothing imported:\n" in r.output
    assert f"{path}: line 4: close: not a number (value 'nan')\n" in r.output
    assert "line 5:" not in r.output
    assert r.output.rstrip().endswith("(7 more not shown)")
    assert stored(db) == {"BASE": 10}


# -- files a user may have: imported exactly --------------------------------------------------

EXPECTED = [
    (T0 + i * MIN, f"{100 + i}.00", f"{101 + i}.50", f"{99 + i}.25", f"{100 + i}.50", f"{1000 + i}")
    for i in range(N)
]


def decimal_prices(tmp: Path) -> pa.Table:
    return bars(
        open=pa.array([Decimal(100 + i) for i in range(N)], pa.decimal128(10, 2)),
        high=pa.array([Decimal("101.5") + i for i in range(N)], pa.decimal128(38, 9)),
        low=pa.array([Decimal("99.25") + i for i in range(N)], pa.decimal256(40, 4)),
        close=pa.array([Decimal("100.5") + i for i in range(N)], pa.decimal128(5, 1)),
    )


def dictionary_encoded(tmp: Path) -> pa.Table:
    t = bars(timestamp=pa.array([f"2026-01-01T00:{i:02d}:00Z" for i in range(N)]))
    t = t.append_column("symbol", pa.array(["AAA"] * N))
    return pa.table({name: col.combine_chunks().dictionary_encode() for name, col in
                     zip(t.column_names, t.columns, strict=True)})  # fmt: skip


def string_view_text(tmp: Path) -> pa.Table:
    return bars(
        timestamp=pa.array([f"2026-01-01T00:{i:02d}:00Z" for i in range(N)], pa.string_view()),
        open=pa.array([f"{100 + i}.00" for i in range(N)], pa.string_view()),
    )


def shuffled(tmp: Path) -> pa.Table:
    order = [3, 0, 9, 1, 8, 2, 7, 4, 6, 5]
    return bars().take(pa.array(order))


GOOD: list[tuple[str, Callable[[Path], pa.Table]]] = [
    ("extra_columns", lambda tmp: bars().append_column("vwap", pa.array([1.5] * N))
        .append_column("note", pa.array(["x"] * N)).append_column("Adj Close", pa.array([1] * N))),
    ("dictionary_encoded", dictionary_encoded),
    ("decimal_prices", decimal_prices),
    ("naive_time_is_utc", lambda tmp: bars(timestamp=pa.array(times(), pa.timestamp("ns")))),
    ("time_zoned_new_york", lambda tmp: bars(
        timestamp=pa.array(times(), pa.timestamp("ns", tz="America/New_York")))),
    ("time_in_ms", lambda tmp: bars(timestamp=pa.array(times(10**6), pa.timestamp("ms")))),
    ("time_in_us_zoned", lambda tmp: bars(
        timestamp=pa.array(times(10**3), pa.timestamp("us", tz="+02:00")))),
    ("time_as_int_seconds", lambda tmp: bars(timestamp=pa.array(times(10**9), pa.int64()))),
    ("time_as_int_ms", lambda tmp: bars(timestamp=pa.array(times(10**6), pa.uint64()))),
    ("time_as_iso_text", lambda tmp: bars(timestamp=pa.array(
        [f"2026-01-01T02:{i:02d}:00+02:00" for i in range(N)], pa.large_string()))),
    ("string_view_text", string_view_text),
    ("float32_prices", lambda tmp: bars(
        open=pa.array(floats(100), pa.float32()), low=pa.array(floats(99.25), pa.float32()))),
    ("rows_out_of_order", shuffled),
    ("a_row_group_per_row", lambda tmp: bars()),  # written with row_group_size=1 below
    ("symbol_column_empty_cells", lambda tmp: bars().append_column(
        "symbol", pa.array([None] * N, pa.string()))),
]  # fmt: skip


@pytest.mark.parametrize(("name", "make"), GOOD, ids=[g[0] for g in GOOD])
def test_a_legitimate_parquet_file_imports_exactly(
    tmp_path: Path, db: Path, name: str, make: Callable[[Path], pa.Table]
) -> None:
    path = tmp_path / f"{name}.parquet"
    pq.write_table(make(tmp_path), path, row_group_size=1 if "row_group" in name else None)
    r = import_(db, path)
    assert r.exit_code == 0, r.output
    assert stored(db) == {"BASE": 10, "AAA": 10}
    # The stored text exactly: prices with the file's decimal places (2 here: 101.50).
    assert stored_bars(db) == EXPECTED


def test_many_row_groups_import_every_row(tmp_path: Path, db: Path) -> None:
    n = 5_000
    path = tmp_path / "many.parquet"
    pq.write_table(bars(n, volume=pa.array([7] * n)), path, row_group_size=1)
    assert pq.ParquetFile(path).metadata.num_row_groups == n
    started = dt.datetime.now(dt.UTC)
    r = import_(db, path)
    assert r.exit_code == 0, r.output
    assert stored(db) == {"BASE": 10, "AAA": n}
    assert (dt.datetime.now(dt.UTC) - started).total_seconds() < 60


def test_a_file_with_more_rows_than_memory_is_refused_before_reading(
    tmp_path: Path, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parquet packs a billion equal rows into a few KiB; the reader holds every row. A
    file whose rows cannot fit in the memory available now is refused from its footer
    (the memory probe is set low here: writing a billion rows would take the test's own
    memory)."""
    from pi5trading.data import reader

    path = write(tmp_path, "many", bars(100_000))
    monkeypatch.setattr(reader, "available_bytes", lambda: 8 * 2**20)  # 8 MiB free
    r = import_(db, path)
    failed_cleanly(
        r,
        f"{path}: 100,000 rows would take ~15 MiB to read, and 8 MiB is available: "
        "split the file (by symbol or by year)",
    )
    assert stored(db) == {"BASE": 10}
    # With the memory there, the same file imports.
    monkeypatch.setattr(reader, "available_bytes", lambda: 2**30)
    assert import_(db, path).exit_code == 0
    assert stored(db) == {"BASE": 10, "AAA": 100_000}
