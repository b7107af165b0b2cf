"""TimescaleDB for real: the timescale migration series on a cluster that preloads the
extension (``timescale_server``), the chunk sizing setting, compression and compressed
chunks read back exactly, continuous aggregates, a backtest from ``db:`` on compressed
chunks, and backup → drop → restore.

The repository's own contract runs on this cluster too (``tests/contract/``, third backend).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from click.testing import CliRunner

from pi5trading.cli import main
from pi5trading.config import BARS_CHUNK_DAYS, load_settings
from pi5trading.storage.connect import open_repository, prepare_database
from pi5trading.storage.records import BarRow, InstrumentRow
from pi5trading.storage.repository import SqlRepository, create_breaker
from tests.backups import fingerprint, seed
from tests.contract.databases import (
    CONTINUOUS_AGGREGATES,
    HYPERTABLES,
    create_pg_database,
    drop_pg_database,
    open_driver,
)
from tests.services import PostgresServer

pytestmark = pytest.mark.integration

DAY = 86_400 * 10**9
MIN = 60 * 10**9
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z, a chunk boundary of 1-day chunks
SYMBOL = "BTCUSD.SIM"


def sql(dsn: str, query: str, *args: Any) -> list[asyncpg.Record]:
    """One statement on its own connection, outside any transaction (``CALL refresh_…``
    refuses to run inside one)."""

    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


def prepare(dsn: str, data_dir: Path, **env: str) -> bool:
    """What `pi5trading migrate` and the server's start do: migrations, then policies."""
    settings = load_settings(
        env={"PI5_DATA_DIR": str(data_dir), "PI5_DATABASE__URL": dsn, **env}, dotenv_path=None
    )

    async def run() -> bool:
        driver = await open_driver("postgres", dsn)
        try:
            return await prepare_database(settings, driver)
        finally:
            await driver.close()

    return asyncio.run(run())


@pytest.fixture
def tsdb(timescale_server: PostgresServer, tmp_path: Path) -> Iterator[str]:
    """A fresh database on the TimescaleDB cluster, migrated with the default settings."""
    name, dsn = create_pg_database(timescale_server, "tsdb")
    try:
        assert prepare(dsn, tmp_path / "data")
        yield dsn
    finally:
        drop_pg_database(timescale_server, name)


def exotic_bars(n: int, start_ns: int = T0) -> list[BarRow]:
    """One-minute bars whose prices and volumes use 0 to 9 decimal places, trailing zeros
    included (``100.50``), so a value that came back rounded or re-scaled would show."""
    out = []
    for i in range(n):
        places = (0, 2, 4, 6, 9)[i % 5]
        frac = f".{(i * 37) % 10**places:0{places}d}" if places else ""
        open_ = Decimal(f"{100 + i // 7}{frac}")
        vplaces = (9, 0, 3, 1, 5)[i % 5]
        vfrac = f".{(i * 13) % 10**vplaces:0{vplaces}d}" if vplaces else ""
        out.append(
            BarRow(
                SYMBOL,
                "1m",
                start_ns + i * MIN,
                open_,
                open_ + Decimal("1.5"),
                open_ - Decimal("0.25"),
                open_ + Decimal("0.000000001"),
                Decimal(f"{i * 7}{vfrac}"),
            )
        )
    return out


async def _write(dsn: str, bars: list[BarRow]) -> None:
    repo = SqlRepository(await open_driver("postgres", dsn), create_breaker())
    try:
        await repo.upsert_instrument(InstrumentRow(SYMBOL, "BTCUSD", "SIM"))
        await repo.insert_bars(bars)
    finally:
        await repo.close()


async def _read(dsn: str, start_ns: int, end_ns: int) -> list[BarRow]:
    repo = SqlRepository(await open_driver("postgres", dsn), create_breaker())
    try:
        return await repo.get_bars(SYMBOL, "1m", start_ns, end_ns)
    finally:
        await repo.close()


def compress_all(dsn: str, table: str = "bars") -> int:
    """``compress_chunk`` on every chunk of ``table``; returns how many are compressed.

    The compression policy's background job may compress a chunk between our check and
    our call (its data are older than the policy's 7 days); ``if_not_compressed`` does not
    cover that race, so a chunk the job got to first counts as done."""
    for (chunk,) in sql(dsn, f"SELECT show_chunks('{table}')::text"):
        with contextlib.suppress(asyncpg.exceptions.DuplicateObjectError):
            sql(dsn, "SELECT compress_chunk($1::regclass, if_not_compressed => TRUE)", chunk)
    rows = sql(
        dsn,
        "SELECT count(*) FILTER (WHERE is_compressed), count(*)"
        " FROM timescaledb_information.chunks WHERE hypertable_name = $1",
        table,
    )
    compressed, total = int(rows[0][0]), int(rows[0][1])
    assert compressed == total > 0
    return compressed


def test_hypertables_and_their_chunk_intervals(tsdb: str, tmp_path: Path) -> None:
    dims = {
        str(r[0]): int(r[1])
        for r in sql(
            tsdb,
            "SELECT hypertable_name, integer_interval FROM timescaledb_information.dimensions"
            " WHERE hypertable_name NOT LIKE '\\_%'",
        )
    }
    # Bars: the setting's default (applied by migrate); the rest as migration 0001 made them.
    assert dims == {
        "bars": BARS_CHUNK_DAYS * DAY,
        "quote_ticks": DAY,
        "trade_ticks": DAY,
        "equity_snapshots": 7 * DAY,
        "audit_log": 30 * DAY,
    }
    asyncio.run(_write(tsdb, exotic_bars(10)))
    [(lo, hi)] = sql(
        tsdb,
        "SELECT range_start_integer, range_end_integer FROM timescaledb_information.chunks"
        " WHERE hypertable_name = 'bars'",
    )
    assert hi - lo == BARS_CHUNK_DAYS * DAY
    assert lo <= T0 < hi

    # A new setting applies to chunks created from then on; existing chunks keep theirs.
    assert prepare(tsdb, tmp_path / "data", PI5_DATABASE__BARS_CHUNK_DAYS="1")
    asyncio.run(_write(tsdb, exotic_bars(10, T0 + 400 * DAY)))
    spans = sorted(
        int(r[0])
        for r in sql(
            tsdb,
            "SELECT range_end_integer - range_start_integer FROM timescaledb_information.chunks"
            " WHERE hypertable_name = 'bars'",
        )
    )
    assert spans == [DAY, BARS_CHUNK_DAYS * DAY]


def test_compression_settings_and_policies(tsdb: str, tmp_path: Path) -> None:
    settings = {
        (str(r[0]), str(r[1])): (r[2], r[3], r[4])
        for r in sql(
            tsdb,
            "SELECT hypertable_name, attname, segmentby_column_index, orderby_column_index,"
            " orderby_asc FROM timescaledb_information.compression_settings"
            " WHERE hypertable_schema = 'public'",
        )
    }
    assert settings[("bars", "instrument_id")][0] == 1
    assert settings[("bars", "interval")][0] == 2
    assert settings[("bars", "ts_ns")][1:] == (1, False)  # newest first
    assert {t for t, _ in settings} == set(HYPERTABLES)

    def jobs() -> dict[tuple[str, str], dict[str, Any]]:
        return {
            (str(r[0]), str(r[1])): json.loads(r[2])
            for r in sql(
                tsdb,
                "SELECT proc_name, hypertable_name, config::text"
                " FROM timescaledb_information.jobs WHERE hypertable_name IS NOT NULL",
            )
        }

    found = jobs()
    for table in HYPERTABLES:
        assert found[("policy_compression", table)]["compress_after"] == 7 * DAY
    assert found[("policy_retention", "audit_log")]["drop_after"] == 730 * DAY
    assert ("policy_retention", "bars") not in found  # market data kept forever by default
    refresh = [k for k in found if k[0] == "policy_refresh_continuous_aggregate"]
    assert len(refresh) == len(CONTINUOUS_AGGREGATES)

    # Policies follow the settings at every migrate.
    assert prepare(
        tsdb,
        tmp_path / "data",
        PI5_DATABASE__COMPRESS_AFTER_DAYS="3",
        PI5_DATABASE__MARKET_DATA_RETENTION_DAYS="400",
    )
    found = jobs()
    assert found[("policy_compression", "bars")]["compress_after"] == 3 * DAY
    assert found[("policy_retention", "bars")]["drop_after"] == 400 * DAY


def test_bars_read_back_exactly_from_compressed_chunks(tsdb: str) -> None:
    bars = exotic_bars(3 * 1440)  # three days
    asyncio.run(_write(tsdb, bars))
    compress_all(tsdb)
    # The rows really live in the compressed chunks now, not in the chunks' own tables.
    [(uncompressed,)] = sql(tsdb, "SELECT count(*) FROM ONLY bars")
    assert uncompressed == 0
    back = asyncio.run(_read(tsdb, T0, T0 + 3 * DAY))
    assert back == bars
    # Every decimal exactly as written: the same digits and the same places.
    for got, want in zip(back, bars, strict=True):
        for field in ("open", "high", "low", "close", "volume"):
            assert str(getattr(got, field)) == str(getattr(want, field)), (got, field)
    part = asyncio.run(_read(tsdb, T0 + DAY + 5 * MIN, T0 + DAY + 65 * MIN))
    assert part == bars[1440 + 5 : 1440 + 65]

    async def others() -> tuple[int, BarRow | None]:
        repo = SqlRepository(await open_driver("postgres", tsdb), create_breaker())
        try:
            # Writing bars again into compressed chunks stores nothing twice.
            await repo.insert_bars(bars[:100])
            return await repo.count_bars(SYMBOL, "1m"), await repo.latest_bar(SYMBOL, "1m")
        finally:
            await repo.close()

    count, latest = asyncio.run(others())
    assert count == len(bars)
    assert latest == bars[-1]


def _expected(bars: list[BarRow], width: int) -> list[tuple[Any, ...]]:
    """UTC-aligned buckets of ``bars``, by hand (exact Decimals)."""
    buckets: dict[int, list[BarRow]] = {}
    for b in bars:
        buckets.setdefault(b.ts_ns // width * width, []).append(b)
    return [
        (
            SYMBOL,
            start,
            group[0].open,
            max(b.high for b in group),
            min(b.low for b in group),
            group[-1].close,
            sum((b.volume for b in group), Decimal(0)),
        )
        for start, group in sorted(buckets.items())
    ]


def test_continuous_aggregates_refreshed_from_compressed_bars(tsdb: str) -> None:
    bars = exotic_bars(2 * 1440 + 17)  # two days and a bit: a partial last bucket
    asyncio.run(_write(tsdb, bars))
    compress_all(tsdb)
    widths = {"bars_5m": 5 * MIN, "bars_15m": 15 * MIN, "bars_1h": 60 * MIN, "bars_1d": DAY}
    tables = {
        str(r[0]): f"{r[1]}.{r[2]}"
        for r in sql(
            tsdb,
            "SELECT view_name, materialization_hypertable_schema,"
            " materialization_hypertable_name FROM timescaledb_information.continuous_aggregates",
        )
    }
    query = "SELECT instrument_id, ts_ns, open, high, low, close, volume FROM {} ORDER BY ts_ns"
    for view, width in widths.items():
        expected = _expected(bars, width)
        # Real-time aggregation (timescale/0002): right before any refresh ...
        assert sql(tsdb, f"SELECT count(*) FROM {tables[view]}")[0][0] == 0
        assert [tuple(r) for r in sql(tsdb, query.format(view))] == expected, view
        # ... and after it, now from the materialized buckets.
        sql(tsdb, f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)")
        assert sql(tsdb, f"SELECT count(*) FROM {tables[view]}")[0][0] == len(expected)
        assert [tuple(r) for r in sql(tsdb, query.format(view))] == expected, view


def steady_bars(n: int, start_ns: int = T0) -> list[BarRow]:
    """One-minute bars with the same places throughout (4 for prices, 3 for volumes), as an
    import writes them."""
    out = []
    for i in range(n):
        o = Decimal(f"{20_000 + (i * 7919) % 1000}.{(i * 37) % 10_000:04d}")
        out.append(
            BarRow(
                SYMBOL.split(".")[0],
                "1m",
                start_ns + i * MIN,
                o,
                o + Decimal("2.5000"),
                o - Decimal("1.2500"),
                o + Decimal("0.0001") * (i % 9),
                Decimal(f"{i % 50}.{(i * 13) % 1000:03d}"),
            )
        )
    return out


async def _bars_api(settings: Any, paths: list[str]) -> list[Any]:
    from litestar.testing import AsyncTestClient

    from pi5trading.api import create_app
    from tests.unit.api.test_auth import bearer, login, seed_users

    await seed_users(settings)
    async with AsyncTestClient(app=create_app(settings)) as client:
        h = bearer((await login(client, "vic"))["access_token"])
        out = []
        for path in paths:
            r = await client.get(path, headers=h)
            assert r.status_code == 200, r.text
            out.append(r.json())
        return out


def test_bars_by_interval_are_read_from_the_aggregates(tsdb: str, tmp_path: Path) -> None:
    """The API's bars by interval, 24/7 calendar: from the continuous aggregates on
    TimescaleDB, the same answer as the session aggregator gives over SQLite."""
    bars = steady_bars(2 * 1440 + 17)
    asyncio.run(_write(tsdb, bars))
    compress_all(tsdb)
    sql(tsdb, "CALL refresh_continuous_aggregate('bars_1h', NULL, NULL)")
    sym = SYMBOL.split(".")[0]
    paths = [f"/api/v1/market/bars/{sym}?interval={i}&limit=10000" for i in BAR_INTERVALS]
    paths += [
        f"/api/v1/market/bars/{sym}?interval=15m&limit=7&start=2026-01-01T10:00:00Z",
        f"/api/v1/market/bars/{sym}?interval=5m&limit=3",
        f"/api/v1/market/bars/{sym}?interval=1h&start=2026-01-02T00:00:00Z"
        "&end=2026-01-02T05:00:00Z",
    ]
    env = {
        "PI5_FEED__CALENDAR": "24/7",
        "PI5_DATA_DIR": str(tmp_path / "a"),
        "PI5_AUTH__JWT_SECRET": "a-test-signing-secret-of-at-least-32-characters",
    }
    on_tsdb = asyncio.run(
        _bars_api(load_settings(env={**env, "PI5_DATABASE__URL": tsdb}, dotenv_path=None), paths)
    )

    async def on_sqlite() -> list[Any]:
        settings = load_settings(env={**env, "PI5_DATA_DIR": str(tmp_path / "b")}, dotenv_path=None)
        repo = await open_repository(settings)
        try:
            await prepare_database(settings, repo.driver)
            await repo.insert_bars(bars)
        finally:
            await repo.close()
        return await _bars_api(settings, paths)

    assert on_tsdb == asyncio.run(on_sqlite())

    async def direct() -> tuple[list[BarRow] | None, list[BarRow] | None]:
        repo = SqlRepository(await open_driver("postgres", tsdb), create_breaker())
        lite = SqlRepository(
            await open_driver("sqlite", str(tmp_path / "b" / "pi5trading.db")), create_breaker()
        )
        try:
            return await repo.get_bar_aggregate(sym, "1h"), await lite.get_bar_aggregate(sym, "1h")
        finally:
            await repo.close()
            await lite.close()

    # What the route reads on TimescaleDB (the last hour still filling); nothing on SQLite.
    from_view, from_sqlite = asyncio.run(direct())
    assert from_view is not None
    assert len(from_view) == 49
    assert from_sqlite is None
    by = dict(zip(BAR_INTERVALS, on_tsdb, strict=False))
    # Complete buckets only: the 17 minutes of the third day make no 1h or 1d bar yet.
    assert [len(by[i]) for i in BAR_INTERVALS] == [2 * 288 + 3, 2 * 96 + 1, 48, 2]
    assert by["1d"][0]["open"] == str(bars[0].open)
    assert by["1d"][1]["close"] == str(bars[2 * 1440 - 1].close)
    assert len(on_tsdb[-3]) == 7
    assert on_tsdb[-3][0]["at"] == "2026-01-01T10:00:00.000000Z"
    assert len(on_tsdb[-2]) == 3
    assert [b["at"][11:13] for b in on_tsdb[-1]] == ["00", "01", "02", "03", "04"]


BAR_INTERVALS = ("5m", "15m", "1h", "1d")


def test_backtest_from_db_on_compressed_chunks_matches_the_file(tsdb: str, tmp_path: Path) -> None:
    from pi5trading.data import random_walk_bars

    d = random_walk_bars(3000, seed=11, market_hours=True)
    csv = tmp_path / "bars.csv"
    lines = ["timestamp,open,high,low,close,volume"]
    for i in range(len(d["ts"])):
        lines.append(
            f"{int(d['ts'][i]) - MIN},{d['open'][i]:.2f},{d['high'][i]:.2f},"
            f"{d['low'][i]:.2f},{d['close'][i]:.2f},{int(d['volume'][i])}"
        )
    csv.write_text("\n".join(lines) + "\n")
    runner = CliRunner(env={"PI5_DATA_DIR": str(tmp_path / "data"), "PI5_DATABASE__URL": tsdb})
    res = runner.invoke(main, ["data", "import", str(csv), "-i", "AAA"])
    assert res.exit_code == 0, res.output
    assert compress_all(tsdb) >= 1
    args = ["backtest", "-p", "fast=5", "-p", "slow=20", "--symbol", "AAA", "-q"]
    args += ["--risk", "none", "--slippage", "none"]
    args += ["--commission-per-share", "0", "--commission-minimum", "0"]
    from_db = runner.invoke(main, [*args, "--data", "db:AAA", "-o", str(tmp_path / "db")])
    from_file = runner.invoke(main, [*args, "--data", str(csv), "-o", str(tmp_path / "f")])
    assert from_db.exit_code == 0, from_db.output
    assert from_file.exit_code == 0, from_file.output
    fills = (tmp_path / "db" / "trades.csv").read_text()
    assert fills == (tmp_path / "f" / "trades.csv").read_text()
    assert len(fills.splitlines()) > 10


def test_backup_drop_restore_round_trip(
    timescale_server: PostgresServer, tsdb: str, tmp_path: Path
) -> None:
    """backup.py's TimescaleDB path (pre/post restore into a fresh database) for real."""
    seed("postgres", tsdb)
    compress_all(tsdb)
    sql(tsdb, "CALL refresh_continuous_aggregate('bars_5m', NULL, NULL)")
    before = fingerprint("postgres", tsdb)
    assert before.rows["bars"] == 600
    [(agg_rows,)] = sql(tsdb, "SELECT count(*) FROM bars_5m")
    assert agg_rows == 120

    runner = CliRunner(
        env={
            "PI5_DATA_DIR": str(tmp_path / "data"),
            "PI5_DATABASE__URL": tsdb,
            "PI5_BACKUP__PG_BIN_DIR": str(timescale_server.bindir),
        }
    )
    res = runner.invoke(main, ["backup"])
    assert res.exit_code == 0, res.output
    [dump] = (tmp_path / "data" / "backups").glob("*.dump")
    drop_pg_database(timescale_server, tsdb.rsplit("/", 1)[1])

    res = runner.invoke(main, ["restore", str(dump)])
    assert res.exit_code == 0, res.output
    assert "(created)" in res.output
    assert fingerprint("postgres", tsdb) == before
    assert sql(tsdb, "SELECT count(*) FROM bars_5m")[0][0] == agg_rows
    hyper = {
        str(r[0])
        for r in sql(tsdb, "SELECT hypertable_name FROM timescaledb_information.hypertables")
    }
    assert hyper == set(HYPERTABLES)
    [(compressed,)] = sql(
        tsdb,
        "SELECT count(*) FROM timescaledb_information.chunks"
        " WHERE hypertable_name = 'bars' AND is_compressed",
    )
    assert compressed >= 1

    # Restoring over the existing TimescaleDB database (safety backup first) works too.
    res = runner.invoke(main, ["restore", "--force", str(dump)])
    assert res.exit_code == 0, res.output
    assert fingerprint("postgres", tsdb) == before


def test_enable_compression_script_compresses_old_chunks(
    timescale_server: PostgresServer, tsdb: str
) -> None:
    """scripts/enable_compression.sql as docs/storage.md runs it, twice (safe to re-run)."""
    import subprocess

    asyncio.run(_write(tsdb, exotic_bars(3 * 1440)))  # 2026-01: long older than 7 days
    script = Path(__file__).resolve().parents[2] / "scripts" / "enable_compression.sql"
    for _ in range(2):
        res = subprocess.run(
            [str(timescale_server.bindir / "psql"), tsdb, "-v", "ON_ERROR_STOP=1", "-f", script],
            capture_output=True,
            text=True,
            check=False,
        )
        assert res.returncode == 0, res.stderr
        assert "saved_pct" in res.stdout
    [(compressed, total)] = sql(
        tsdb,
        "SELECT count(*) FILTER (WHERE is_compressed), count(*)"
        " FROM timescaledb_information.chunks WHERE hypertable_name = 'bars'",
    )
    assert compressed == total > 0
