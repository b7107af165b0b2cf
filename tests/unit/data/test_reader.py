"""The bar reader on vendor-style files: exact columns, line numbers, one-line errors."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pi5trading import _core
from pi5trading.data import BarDataError, BarFrame, check_bars, load_bars
from pi5trading.data.bars import check_tick, interval_ns
from pi5trading.data.exact import raw_to_decimal
from pi5trading.data.reader import read_bar_table, read_bars

FIXTURES = Path(__file__).parent / "fixtures"


def utc(text: str) -> int:
    t = dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
    return (t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1) * 1000


# (file, separator, decimal comma, first and last timestamp, lines, price decimals)
VENDOR_FILES = [
    ("yahoo_daily.csv", ",", False, "2024-01-02", "2024-01-05", [2, 3, 4, 5], 6),
    ("odd_decimals.csv", ",", False, "2024-03-01T00:00", "2024-03-01T00:02", [2, 3, 4], 7),
    ("semicolon_decimal_comma.csv", ";", True, "2024-02-05T09:00", "2024-02-05T09:01", [2, 3], 3),
    ("epoch_ms.csv", ",", False, "2024-01-02T09:30", "2024-01-02T09:32", [2, 3, 4], 2),
    ("iso_offset.csv", ",", False, "2024-01-02T07:30", "2024-01-02T07:32", [2, 3, 4], 2),
    ("bom_quoted_crlf.csv", ",", False, "2024-01-02T09:30", "2024-01-02T09:31", [2, 3], 3),
    (
        "epoch_ns.tsv",
        "\t",
        False,
        "2024-01-02T09:30:00.123456",
        "2024-01-02T09:31:00.123456",
        [2, 3],
        1,
    ),
]


def cells(path: Path, sep: str, comma: bool) -> list[list[Decimal]]:
    """The file's OHLC(V) cells by the csv module, as Decimals: an independent oracle."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.reader(f, delimiter=sep) if r]
    header = [h.lower() for h in rows[0]]
    keep = [i for i, h in enumerate(header) if h in {"open", "high", "low", "close", "volume"}]
    keep += [i for i, h in enumerate(header) if h in {"o", "h", "l", "c", "v"}]
    return [[Decimal(r[i].replace(",", ".") if comma else r[i]) for i in keep] for r in rows[1:]]


@pytest.mark.parametrize(
    ("name", "sep", "comma", "first", "last", "lines", "places"),
    VENDOR_FILES,
    ids=[v[0] for v in VENDOR_FILES],
)
def test_vendor_files_read_exactly(
    name: str, sep: str, comma: bool, first: str, last: str, lines: list[int], places: int
) -> None:
    path = FIXTURES / name
    frame, report = read_bars(path)
    assert (int(frame.ts[0]), int(frame.ts[-1])) == (utc(first) + _ns(first), utc(last) + _ns(last))
    assert frame.lines.tolist() == lines
    assert frame.price_decimals == report.price_decimals == places
    expected = cells(path, sep, comma)
    got = [
        [Decimal(int(c[i])).scaleb(-9) for c in frame.raw_columns()[1:]] for i in range(len(frame))
    ]
    for want, row in zip(expected, got, strict=True):
        assert row[: len(want)] == want  # no volume column: the reader's volume is 0
    # The float views are the nearest floats of the exact values.
    assert frame.close.tolist() == [float(r[3]) for r in expected]


def _ns(text: str) -> int:
    """Sub-microsecond digits that ``utc`` (datetime) cannot hold: the ns fixture's 789."""
    return 789 if text.endswith(".123456") else 0


def test_yahoo_notes_the_ignored_adjusted_close() -> None:
    _, report = read_bars(FIXTURES / "yahoo_daily.csv")
    assert report.notes == ["ignored column(s): Adj Close"]
    assert (report.rows, report.kept, report.volume_decimals) == (4, 4, 0)


def write(tmp_path: Path, text: str | bytes, name: str = "bars.csv") -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


H = "timestamp,open,high,low,close,volume\n"
OK = "2024-01-02T09:30:00Z,10,11,9,10.5,100\n"

# (file content, the exact one-line message; {p} is the file's path)
ERRORS = [
    ("", "{p}: empty file (no header line)"),
    ("\n\n", "{p}: empty file (no header line)"),
    (H, "{p}: no bars: the file has only a header line"),
    (H + "\n\r\n\n", "{p}: no bars: the file has only a header line"),
    (
        "date,open,close\n2024-01-02,1,1\n",
        "{p}: line 1: header: missing column(s) (high: one of high, h; low: one of low, l)",
    ),
    (
        "when,open,high,low,close\n1,1,1,1,1\n",
        "{p}: line 1: header: missing column(s) (ts: one of timestamp, ts, ts_ns, time, "
        "datetime, date, open_time); unrecognised: 'when'",
    ),
    (  # two columns of one name: which one holds the close is not ours to guess
        "timestamp,open,high,low,close,Close\n" + OK,
        "{p}: line 1: header: 2 columns are named 'close' (columns 5, 6): which one is the "
        "close? rename or drop the others",
    ),
    (
        "2024-01-02,1,2,1,1,5\n",
        "{p}: line 1: header: the first line is data, not column names: add a header line "
        "such as timestamp,open,high,low,close,volume (value '2024-01-02,1,2,1,1,5')",
    ),
    (
        H + OK + "2024-01-02T09:31:00Z,10,11,9,abc,100\n",
        "{p}: line 3: close: not a number (value 'abc')",
    ),
    (H + OK + "2024-01-02T09:31:00Z,10,11,9,10.5,\n", "{p}: line 3: volume: empty (value '')"),
    (
        H + OK + OK.replace("10,11,9", "10,11,-0") + "\n",
        "{p}: line 3: low: must be > 0 (value '0')",
    ),
    (
        H + OK + "2024/01/03 09:31,10,11,9,10.5,100\n",
        "{p}: line 3: timestamp: not a UNIX time or ISO 8601 date/time (value '2024/01/03 09:31')",
    ),
    (
        H + OK + "2024-01-02T09:31:00Z,10.0000000001,11,9,10.5,100\n",
        "{p}: line 3: open: more than 9 decimals (value '10.0000000001')",
    ),
    (
        H + OK + "2024-01-02T09:31:00Z,10,10.25,9,10.5,100\n",
        "{p}: line 3: high: below max(open, close) = 10.5 (value '10.25')",
    ),
    (
        H + OK + "2024-01-02T09:31:00Z,10,11,10.25,10.5,100\n",
        "{p}: line 3: low: above min(open, close) = 10 (value '10.25')",
    ),
    (
        H + OK + "2024-01-02T09:31:00Z,10,11,9,10.5,-1\n",
        "{p}: line 3: volume: negative (value '-1')",
    ),
    (
        H + OK + "\n" + OK,
        "{p}: line 4: timestamp: duplicate of line 2 (value '2024-01-02T09:30:00Z')",
    ),
    (
        H + OK + "2024-01-02T09:29:00Z,10,11,9,10.5,100\n" + OK.replace(":30:", ":31:"),
        "{p}: line 3: timestamp: earlier than line 2 (rows must be in time order) "
        "(value '2024-01-02T09:29:00Z')",
    ),
    (
        H + OK + "2024-01-02T09:29:00Z,10,11,9,10.5,100\n",
        "{p}: line 3: timestamp: rows are newest first (descending time); sort them (the "
        "repair policy does) (value '2024-01-02T09:29:00Z')",
    ),
    (
        H + OK + "2024-01-02T09:31:00Z,10,11,9,10.5\n",
        "{p}: line 3: row: expected 6 fields, found 5 (value '2024-01-02T09:31:00Z,10,11,9,10.5')",
    ),
    (
        H + OK + '2024-01-02T09:31:00Z,"10,11,9,10.5,100\n' + OK,
        "{p}: line 3: row: a quoted field runs past the end of the line",
    ),
    (
        H + OK + "2024-01-02T09:31:00Z,10,11,9,99999999999,100\n",
        "{p}: line 3: close: out of range (value '99999999999')",
    ),
    (
        H + "-60,10,11,9,10.5,100\n",
        "{p}: line 2: timestamp: before 1970-01-01 (value '1969-12-31T23:59:00Z')",
    ),
    (
        "symbol," + H.replace("timestamp", "ts") + "A,1,1,1,1,1,1\nB,2,1,1,1,1,1\n",
        "{p}: holds bars of 2 instruments (A, B); a backtest reads one: split the file, or "
        "import it (pi5trading data import) and use db:<instrument>",
    ),
    (
        (H + OK).encode() + "2024-01-02T09:31:00Z,1\xe9,1,1,1,1\n".encode("latin-1"),
        "{p}: line 3: row: not UTF-8 text",
    ),
    (
        b"PK\x03\x04\x00\x00binary",
        "{p}: line 1: row: binary data, not CSV text (is it a Parquet file?)",
    ),
]


@pytest.mark.parametrize(("content", "message"), ERRORS, ids=[e[1][5:60] for e in ERRORS])
def test_each_bad_file_fails_with_one_line_naming_line_field_and_value(
    tmp_path: Path, content: str | bytes, message: str
) -> None:
    p = write(tmp_path, content)
    with pytest.raises(BarDataError) as err:
        read_bars(p)
    assert str(err.value) == message.format(p=p)
    assert "\n" not in str(err.value)


def test_every_bad_row_is_listed_and_repair_drops_exactly_those(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        H
        + OK  # 2
        + "2024-01-02T09:31:00Z,x,11,9,10.5,100\n"  # 3 bad number
        + "\n"  # 4 blank
        + "2024-01-02T09:32:00Z,10,9,9,10.5,100\n"  # 5 high below close
        + "2024-01-02T09:33:00Z,10,11,9,10.5,100\n"  # 6 fine
        + "2024-01-02T09:33:00Z,10,11,9,10.75,100\n"  # 7 duplicate of 6 (repair keeps 7)
        + "2024-01-02T09:34:00Z,10,11\n"  # 8 short row
        + "2024-01-02T09:31:30Z,10,11,9,10.5,100\n",  # 9 unsorted
    )
    with pytest.raises(BarDataError) as err:
        read_bars(p)
    assert [x.line for x in err.value.problems] == [3, 5, 7, 8, 9]
    assert str(err.value).endswith("; 4 more bad row(s) on line(s) 5, 7, 8, 9")
    frame, report = read_bars(p, "repair")
    assert frame.lines.tolist() == [2, 9, 7]
    assert frame.close_raw.tolist() == [10_500_000_000, 10_500_000_000, 10_750_000_000]
    assert [line for line, _ in report.dropped] == [3, 5, 6, 8]
    assert report.dropped[2] == (
        6,
        "timestamp: same time as line 7, which is kept (value '2024-01-02T09:33:00Z')",
    )
    assert (report.rows, report.kept, report.reordered) == (7, 3, True)


def test_line_map_with_blank_lines_crlf_and_lone_cr(tmp_path: Path) -> None:
    rows = [f"2024-01-02T09:3{i}:00Z,10,11,9,10.5,{i}" for i in range(4)]
    crlf = write(
        tmp_path,
        "\r\n\r\n"
        + H.strip()
        + "\r\n"
        + rows[0]
        + "\r\n\r\n  \r\n"
        + "\r\n".join(rows[1:])
        + "\r\n\r\n",
        "a.csv",
    )
    frame, _ = read_bars(crlf)
    assert frame.lines.tolist() == [4, 7, 8, 9]
    assert frame.volume_raw.tolist() == [i * 10**9 for i in range(4)]
    old_mac = write(tmp_path, (H.strip() + "\r" + "\r".join(rows) + "\r"), "b.csv")
    assert read_bars(old_mac)[0].lines.tolist() == [2, 3, 4, 5]


def test_lines_stay_exact_across_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pi5trading.data.reader as reader

    monkeypatch.setattr(reader, "_BLOCK", 256)  # many blocks, cut mid-line
    t0 = utc("2024-01-02T09:30")
    rows = [f"{t0 // 10**9 + 60 * i},10,11,9,10.5,{i}" for i in range(300)]
    rows.insert(150, "")  # a blank line in the middle shifts the lines after it
    rows[200] = rows[200].replace("10.5", "oops")
    p = write(tmp_path, H + "\n".join(rows) + "\n")
    with pytest.raises(BarDataError) as err:
        read_bars(p)
    assert str(err.value) == f"{p}: line 202: close: not a number (value 'oops')"
    frame, report = read_bars(p, "repair")
    assert len(frame) == 299  # 300 rows, one bad
    assert frame.lines[[0, 149, 150, 198, 199]].tolist() == [2, 151, 153, 201, 203]
    assert frame.volume_raw[150] == 150 * 10**9
    assert report.dropped == [(202, "close: not a number (value 'oops')")]


def test_time_formats_and_units(tmp_path: Path) -> None:
    t = utc("2024-01-02T09:30")
    texts = {
        "2024-01-02": utc("2024-01-02"),
        "2024-01-02T09:30:00Z": t,
        "2024-01-02 09:30:00": t,
        "2024-01-02T11:30:00+02:00": t,
        "2024-01-02T04:30:00-0500": t,
        "2024-01-02T09:30:00.000000001Z": t + 1,
        str(t // 10**9): t,
        str(t // 10**6): t,
        str(t // 10**3): t,
        str(t): t,
    }
    for text, want in texts.items():
        p = write(tmp_path, H + f"{text},1,1,1,1,1\n")
        assert int(read_bars(p)[0].ts[0]) == want, text
    # One file may mix ISO with and without offsets.
    p = write(tmp_path, H + "2024-01-02T09:30:00Z,1,1,1,1,1\n2024-01-02T09:31:00,1,1,1,1,1\n")
    assert read_bars(p)[0].ts.tolist() == [t, t + 60 * 10**9]
    # 8-digit integers that are dates are YYYYMMDD (not seconds of 1970); others are seconds.
    p = write(tmp_path, H + "20240102,1,1,1,1,1\n20240229,1,1,1,1,1\n")
    assert read_bars(p)[0].ts.tolist() == [utc("2024-01-02"), utc("2024-02-29")]
    p = write(tmp_path, H + "20240231,1,1,1,1,1\n")  # no such day: seconds, not March 2
    assert read_bars(p)[0].ts.tolist() == [20240231 * 10**9]
    # time_unit overrides the digit count.
    p = write(tmp_path, H + "1000,1,1,1,1,1\n")
    assert int(read_bars(p, time_unit="ms")[0].ts[0]) == 10**9


def test_separate_date_and_time_columns(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "Date,Time,Open,High,Low,Close\n2024-01-02,09:30,1,2,1,1\n2024-01-02,09:31:30,1,2,1,1\n",
    )
    frame, report = read_bars(p)
    assert frame.ts.tolist() == [utc("2024-01-02T09:30"), utc("2024-01-02T09:31:30")]
    assert report.notes == []
    bad = write(tmp_path, "Date,Time,Open,High,Low,Close\n2024-01-02,9h30,1,2,1,1\n", "b.csv")
    with pytest.raises(
        BarDataError,
        match=r"line 2: Date\+Time: not a UNIX time or ISO 8601 date/time "
        r"\(value '2024-01-02T9h30'\)",
    ):
        read_bars(bad)


def test_columns_by_alias_any_case_and_position(tmp_path: Path) -> None:
    p = write(tmp_path, "V,C,L,H,O,Time,Note\n5,2,1,3,1.5,2024-01-02,x\n")
    frame, report = read_bars(p)
    assert [int(c[0]) for c in frame.raw_columns()[1:]] == [
        1_500_000_000,
        3 * 10**9,
        10**9,
        2 * 10**9,
        5 * 10**9,
    ]
    assert report.notes == ["ignored column(s): Note"]


def test_load_bars_stamps_close_times(tmp_path: Path) -> None:
    p = write(tmp_path, H + OK)
    opened = utc("2024-01-02T09:30")
    assert int(load_bars(p)[0].ts[0]) == opened + 60 * 10**9
    assert int(load_bars(p, interval="1d")[0].ts[0]) == opened + interval_ns("1d")
    assert int(load_bars(p, timestamps="close")[0].ts[0]) == opened


def test_parquet_exact_decimals_rounded_floats_and_lines(tmp_path: Path) -> None:
    t0 = utc("2026-01-01")
    ts = [t0 + i * 60 * 10**9 + 7 for i in range(4)]  # nanoseconds survive
    table = pa.table(
        {
            "timestamp": pa.array(ts, type=pa.timestamp("ns", tz="UTC")),
            "open": pa.array([100.1, 100.2, 100.3, 0.1 + 0.2]),
            "high": pa.array([Decimal("101.123456789")] * 4, type=pa.decimal128(18, 9)),
            "low": pa.array(["0.1", "0.1", "0.1", "0.1"]),
            "close": pa.array([100, 100, 100, 100], type=pa.int32()),
            "volume": pa.array([1.5, 2.5, 0.0, 3.0]),
        }
    )
    path = tmp_path / "bars.parquet"
    pq.write_table(table, path)
    frame, report = read_bars(path)
    assert frame.ts.tolist() == ts
    assert frame.open_raw.tolist() == [
        100_100_000_000,
        100_200_000_000,
        100_300_000_000,
        300_000_000,
    ]
    assert frame.high_raw.tolist() == [101_123_456_789] * 4
    assert frame.low_raw.tolist() == [100_000_000] * 4
    assert frame.close_raw.tolist() == [100 * 10**9] * 4
    assert frame.lines.tolist() == [2, 3, 4, 5]  # as if written as CSV with a header
    assert report.notes == ["float column(s) open, volume rounded half to even to 9 decimals"]
    bad = pa.table(
        {
            "ts": pa.array([t0, t0 + 1, t0 + 2], type=pa.timestamp("ns")),
            "open": pa.array([Decimal("1"), Decimal("1.0000000001"), None], pa.decimal128(20, 10)),
            "high": [1.0, 1.0, 1.0],
            "low": [1.0, 1.0, 1.0],
            "close": [1.0, float("nan"), 1.0],
        }
    )
    pq.write_table(bad, tmp_path / "bad.parquet")
    with pytest.raises(BarDataError) as err:
        read_bars(tmp_path / "bad.parquet")
    assert [p.describe() for p in err.value.problems] == [
        "open: more than 9 decimals (value '1.0000000001')",
        "open: empty (value '')",
    ]
    assert [p.line for p in err.value.problems] == [3, 4]
    pq.write_table(
        pa.table({"ts": [1], "open": [True], "high": [1], "low": [1], "close": [1]}),
        tmp_path / "t.parquet",
    )
    with pytest.raises(BarDataError, match=r"t\.parquet: open: type bool is not a number$"):
        read_bars(tmp_path / "t.parquet")


def test_import_table_groups_by_instrument(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "Ticker,ts,open,high,low,close\n"
        "MSFT,2024-01-02,1,2,1,1\n"
        ",2024-01-02,1,2,1,1\n"  # empty: the default instrument
        "MSFT,2024-01-01,1,2,1,1\n"  # any order is fine for imports
        "AAPL,2024-01-02,1,2,1,1\n",
    )
    table = read_bar_table(p, instrument="SPY")
    names = [table.instruments[c] for c in table.codes.tolist()] if table.codes is not None else []
    assert names == ["MSFT", "SPY", "MSFT", "AAPL"]
    dup = write(
        tmp_path, "symbol,ts,open,high,low,close\nA,1,1,1,1,1\nB,1,1,1,1,1\nA,1,1,1,1,1\n", "d.csv"
    )
    with pytest.raises(BarDataError, match=r"line 4: ts: duplicate of line 2 for A \(value"):
        read_bar_table(dup)
    with pytest.raises(BarDataError, match=r"line 3: instrument: empty and no instrument given"):
        read_bar_table(p)
    with pytest.raises(BarDataError, match="no instrument column"):
        read_bar_table(write(tmp_path, H + OK, "n.csv"))


def test_frames_from_the_reader_go_into_the_engine_as_raw_columns(tmp_path: Path) -> None:
    frame, _ = load_bars(FIXTURES / "odd_decimals.csv", timestamps="close")
    tick = f"{Decimal(1).scaleb(-frame.price_decimals):f}"
    engine = _core.Engine(_core.SimulatedVenue(starting_cash="1000"), None)
    engine.add_instrument(_core.Instrument("X", "SIM", "CRYPTO", "USD", tick, "0.0001"))
    assert engine.add_bars("X", "1m", *frame.raw_columns()) == 3
    check_tick(frame, 10**9 // 10**frame.price_decimals)  # on its own tick
    with pytest.raises(
        BarDataError,
        match=r"line 2: open: not on the instrument's tick 0\.01 \(value '0\.000123'\)",
    ):
        check_tick(frame, 10**7)


def test_frames_from_numbers_are_checked_the_same_way() -> None:
    ts = np.arange(4, dtype=np.int64) * 60 * 10**9 + 10**18
    f = BarFrame(
        ts, [1.0, np.nan, 1, 1], [1.5, 2, 0.5, 1], [1, 1, 1, 1], [1.25, 1, 1, 1], source="mem"
    )
    with pytest.raises(BarDataError) as err:
        check_bars(f)
    assert [p.render("mem") for p in err.value.problems] == [
        "mem: line 2: open: not a number",
        "mem: line 3: high: below max(open, close) = 1 (value '0.5')",
    ]
    assert f.open_raw[0] == 10**9
    assert f.high.flags.writeable is False  # float views are read-only: the raw columns rule


def test_between_slices_without_copying() -> None:
    ts = np.arange(10, dtype=np.int64) * 10
    f = BarFrame.from_raw(ts, ts + 1, ts + 2, ts + 1, ts + 1, source="s", first_line=5)
    cut = f.between(20, 50)
    assert cut.ts.tolist() == [20, 30, 40]
    assert cut.lines.tolist() == [7, 8, 9]
    assert np.shares_memory(cut.open_raw, f.open_raw)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 10**6),
            st.integers(0, 10**9 - 1),
            st.integers(0, 9),
            st.integers(0, 10**6),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_file_text_round_trips_through_raw_units(rows: list[tuple[int, int, int, int]]) -> None:
    """Any price text with up to 9 decimals comes back as the same Decimal from the file."""
    import tempfile

    lines = [H.strip()]
    want = []
    for i, (whole, frac, places, vol) in enumerate(rows):
        text = f"{whole}.{str(frac).zfill(9)[:places]}" if places else str(whole)
        lines.append(f"{1704187800 + 60 * i},{text},{text},{text},{text},{vol}")
        want.append(Decimal(text))
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "r.csv"
        p.write_text("\n".join(lines) + "\n")
        frame, report = read_bars(p)
    got = [raw_to_decimal(int(r), report.price_decimals) for r in frame.close_raw]
    assert got == want
