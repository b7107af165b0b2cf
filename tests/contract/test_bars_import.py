"""Bulk bar import on both backends: validation by line, all or nothing, CSV and Parquet."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pi5trading.storage import ImportValidationError
from pi5trading.storage.bars_import import import_bars, parse_timestamp
from pi5trading.storage.repository import SqlRepository

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
MIN = 60_000_000_000


def write_csv(
    path: Path, rows: list[str], header: str = "timestamp,open,high,low,close,volume"
) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def good_rows(n: int, start: int = 0) -> list[str]:
    return [
        f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z,"
        f"{100 + i}.25,{101 + i}.5,{99 + i},{100 + i}.125,{i * 10}"
        for i in range(start, start + n)
    ]


async def test_csv_import_stores_exact_bars_and_registers_the_instrument(
    repo: SqlRepository, tmp_path: Path
) -> None:
    f = write_csv(tmp_path / "a.csv", good_rows(3))
    report = await import_bars(repo, [f], instrument_id="AAPL.XNAS", interval="1s")
    assert (report.rows, report.inserted, report.instrument_ids) == (3, 3, ["AAPL.XNAS"])
    assert (report.first_ns, report.last_ns) == (T0, T0 + 2 * 10**9)
    bars = await repo.get_bars("AAPL.XNAS", "1s")
    assert [b.ts_ns for b in bars] == [T0, T0 + 10**9, T0 + 2 * 10**9]
    assert bars[1].open == Decimal("101.25")
    assert str(bars[1].close) == "101.125"
    assert bars[2].volume == Decimal(20)
    inst = await repo.get_instrument("AAPL.XNAS")
    assert inst is not None
    assert (inst.symbol, inst.venue) == ("AAPL", "XNAS")


async def test_reimport_is_harmless(repo: SqlRepository, tmp_path: Path) -> None:
    f = write_csv(tmp_path / "a.csv", good_rows(5))
    await import_bars(repo, [f], instrument_id="X.Y")
    again = await import_bars(repo, [f], instrument_id="X.Y")
    assert (again.rows, again.inserted) == (5, 0)
    assert await repo.count_bars("X.Y", "1m") == 5


async def test_bad_rows_are_reported_by_line_and_nothing_is_written(
    repo: SqlRepository, tmp_path: Path
) -> None:
    rows = good_rows(50)
    rows[40] = "2026-01-01T00:00:40Z,100,99,98,100,1"  # line 42: open > high
    rows[44] = "2026-01-01T00:00:44Z,abc,101,99,100,1"  # line 46: not a number
    rows[46] = rows[3]  # line 48: duplicate of line 5
    rows[47] = "yesterday,1,1,1,1,1"  # line 49: bad time
    rows[48] = "2026-01-01T00:00:48Z,1.0000000001,2,1,1,1"  # line 50: too precise
    f = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(ImportValidationError) as err:
        await import_bars(repo, [f], instrument_id="AAPL.XNAS", chunk_size=10)
    lines = [line for line, _ in err.value.problems]
    assert lines == [42, 46, 48, 49, 50]
    text = str(err.value)
    assert "bad.csv: line 42: high: below max(open, close) = 100 (value '99')" in text
    assert "bad.csv: line 46: open: not a number (value 'abc')" in text
    assert (
        "bad.csv: line 48: timestamp: duplicate of line 5 for AAPL.XNAS "
        "(value '2026-01-01T00:00:03Z')"
    ) in text
    assert "line 49: timestamp: not a UNIX time or ISO 8601 date/time (value 'yesterday')" in text
    assert "line 50: open: more than 9 decimals (value '1.0000000001')" in text
    assert "nothing imported" in text
    assert await repo.count_bars("AAPL.XNAS", "1m") == 0
    assert await repo.get_instrument("AAPL.XNAS") is None


async def test_error_list_stops_at_max_errors(repo: SqlRepository, tmp_path: Path) -> None:
    f = write_csv(tmp_path / "bad.csv", ["x,1,1,1,1,1"] * 10)
    with pytest.raises(ImportValidationError) as err:
        await import_bars(repo, [f], instrument_id="X.Y", max_errors=3)
    assert [line for line, _ in err.value.problems] == [2, 3, 4]
    assert err.value.truncated
    assert err.value.total == 10  # the message counts every bad row, not the ones shown
    assert str(err.value).startswith(f"{f}: 10 bad row(s), nothing imported:\n")
    assert str(err.value).endswith("\n  (7 more not shown)")


async def test_a_bad_second_file_rolls_back_the_first(repo: SqlRepository, tmp_path: Path) -> None:
    ok = write_csv(tmp_path / "ok.csv", good_rows(5))
    bad = write_csv(tmp_path / "bad.csv", ["2026-01-01T00:00:00Z,1,1,1,1,-5"])
    with pytest.raises(
        ImportValidationError, match=r"bad\.csv: line 2: volume: negative \(value '-5'\)"
    ):
        await import_bars(repo, [ok, bad], instrument_id="X.Y")
    assert await repo.count_bars("X.Y", "1m") == 0


async def test_missing_columns_and_empty_files(repo: SqlRepository, tmp_path: Path) -> None:
    f = write_csv(tmp_path / "h.csv", ["1,2,3"], header="date,open,close")
    with pytest.raises(
        ImportValidationError,
        match=r"h\.csv: line 1: header: missing column\(s\) \(high: one of high, h; low: one of",
    ):
        await import_bars(repo, [f], instrument_id="X.Y")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ImportValidationError, match="empty"):
        await import_bars(repo, [empty], instrument_id="X.Y")
    header_only = write_csv(tmp_path / "ho.csv", [])
    with pytest.raises(ImportValidationError, match="no bars: the file has only a header line"):
        await import_bars(repo, [header_only], instrument_id="X.Y")
    nosym = write_csv(tmp_path / "n.csv", good_rows(1))
    with pytest.raises(ImportValidationError, match="no instrument column"):
        await import_bars(repo, [nosym])


async def test_symbol_column_and_integer_timestamps(repo: SqlRepository, tmp_path: Path) -> None:
    secs = T0 // 10**9
    f = write_csv(
        tmp_path / "multi.csv",
        [
            f"MSFT.XNAS,{secs},1,2,0.5,1.5",
            f"AAPL.XNAS,{secs},3,4,2,3",
            f"MSFT.XNAS,{secs + 60},1,1,1,1",
        ],
        header="Symbol,Time,Open,High,Low,Close",
    )
    report = await import_bars(repo, [f])
    assert report.instrument_ids == ["AAPL.XNAS", "MSFT.XNAS"]
    msft = await repo.get_bars("MSFT.XNAS", "1m")
    assert [b.ts_ns for b in msft] == [T0, T0 + MIN]
    assert msft[0].volume == Decimal(0)
    ms = write_csv(tmp_path / "ms.csv", [f"{secs * 1000},1,1,1,1,1"])
    await import_bars(repo, [ms], instrument_id="Z.Z", time_unit="ms", interval="1d")
    assert [b.ts_ns for b in await repo.get_bars("Z.Z", "1d")] == [T0]


async def test_parquet_import(repo: SqlRepository, tmp_path: Path) -> None:
    ts = [T0 + i * MIN + 7 for i in range(4)]  # nanosecond precision survives
    table = pa.table(
        {
            "timestamp": pa.array(ts, type=pa.timestamp("ns", tz="UTC")),
            "open": pa.array([100.1, 100.2, 100.3, 0.1 + 0.2], type=pa.float64()),
            "high": pa.array([Decimal("101.123456789")] * 4, type=pa.decimal128(18, 9)),
            "low": pa.array([0.1, 0.1, 0.1, 0.1]),
            "close": pa.array([100, 100, 100, 100], type=pa.int64()),
            "volume": pa.array([1.5, 2.5, 0.0, 3.0]),
        }
    )
    path = tmp_path / "bars.parquet"
    pq.write_table(table, path)
    seen: list[tuple[int, int]] = []
    report = await import_bars(
        repo, [path], instrument_id="BTCUSD.SIM", progress=lambda _p, d, t: seen.append((d, t))
    )
    assert report.inserted == 4
    assert seen[-1] == (4, 4)
    bars = await repo.get_bars("BTCUSD.SIM", "1m")
    assert [b.ts_ns for b in bars] == ts
    assert bars[0].open == Decimal("100.1")
    assert bars[3].open == Decimal("0.300000000")  # 0.30000000000000004 rounded to 9 places
    assert bars[0].high == Decimal("101.123456789")
    assert bars[0].close == Decimal(100)

    bad = pa.table(
        {
            "ts": pa.array([T0, T0], type=pa.int64()),
            "open": [1.0, 5.0],
            "high": [1.0, 1.0],
            "low": [1.0, 1.0],
            "close": [1.0, 1.0],
        }
    )
    bad_path = tmp_path / "bad.parquet"
    pq.write_table(bad, bad_path)
    with pytest.raises(ImportValidationError, match=r"line 3: high: below max\(open, close\) = 5"):
        await import_bars(repo, [bad_path], instrument_id="BTCUSD.SIM")


def test_parse_timestamp() -> None:
    assert parse_timestamp("2026-01-01T00:00:00Z") == T0
    assert parse_timestamp("2026-01-01 01:00:00+01:00") == T0
    assert parse_timestamp("2026-01-01") == T0
    assert parse_timestamp("2026-01-01T00:00:00.000001") == T0 + 1000
    assert parse_timestamp(str(T0)) == T0
    assert parse_timestamp(str(T0 // 1000)) == T0
    assert parse_timestamp(str(T0 // 10**6)) == T0
    assert parse_timestamp(str(T0 // 10**9)) == T0
    assert parse_timestamp(dt.date(2026, 1, 1)) == T0


FIXTURES = Path(__file__).parents[1] / "unit" / "data" / "fixtures"


async def test_vendor_files_import_exactly_as_written(repo: SqlRepository) -> None:
    """Text -> raw units -> Decimal records: the stored digits are the file's."""
    await import_bars(
        repo, [FIXTURES / "yahoo_daily.csv"], instrument_id="AAPL.XNAS", interval="1d"
    )
    bars = await repo.get_bars("AAPL.XNAS", "1d")
    with (FIXTURES / "yahoo_daily.csv").open() as f:
        rows = [r.split(",") for r in f.read().split("\n")[1:] if r]
    assert [(str(b.open), str(b.high), str(b.low), str(b.close)) for b in bars] == [
        (r[1], r[2], r[3], r[4]) for r in rows
    ]
    assert [str(b.volume) for b in bars] == [r[6] for r in rows]
    assert bars[0].ts_ns == parse_timestamp("2024-01-02")
    # Decimal commas and ';' separators; every price with the file's three places.
    await import_bars(repo, [FIXTURES / "semicolon_decimal_comma.csv"], instrument_id="DAX.XETR")
    dax = await repo.get_bars("DAX.XETR", "1m")
    assert [str(b.close) for b in dax] == ["101.500", "101.875"]
    assert [b.volume for b in dax] == [Decimal(1200), Decimal("830.5")]
