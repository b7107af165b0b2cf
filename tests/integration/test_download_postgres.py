"""`pi5trading data download` into the real PostgreSQL: exact, resumable, idempotent."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from pi5trading.cli import main
from tests.contract.databases import create_pg_database, drop_pg_database
from tests.services import PostgresServer
from tests.standins.alpaca_data import KEY_ID, SECRET, AlpacaDataStandin
from tests.standins.server import serve
from tests.standins.tape import bars_between, cents, utc

pytestmark = pytest.mark.integration
NS = 10**9


@pytest.fixture
def dsn(postgres_server: PostgresServer) -> Iterator[str]:
    name, url = create_pg_database(postgres_server, "download")
    try:
        yield url
    finally:
        drop_pg_database(postgres_server, name)


async def _stored(dsn: str) -> list[tuple[object, ...]]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT ts_ns, open, high, low, close, volume FROM bars "
            "WHERE instrument_id = 'AAPL.XNAS' AND interval = '1m' ORDER BY ts_ns"
        )
    finally:
        await conn.close()
    return [(r[0] // NS, *(Decimal(str(v)) for v in r[1:])) for r in rows]


def test_alpaca_minutes_into_postgres(dsn: str, tmp_path: Path) -> None:
    import anyio

    stand = AlpacaDataStandin()
    with serve(stand.app) as base:
        env = {
            "PI5_DATA_DIR": str(tmp_path),
            "PI5_DATABASE__URL": dsn,
            "PI5_ALPACA__DATA_URL": base,
            "PI5_ALPACA__KEY_ID": KEY_ID,
            "PI5_ALPACA__SECRET_KEY": SECRET,
        }
        runner = CliRunner(env=env)
        args = ["data", "download", "-i", "AAPL.XNAS", "--provider", "alpaca", "--interval", "1m"]
        res = runner.invoke(main, [*args, "--from", "2024-01-02", "--to", "2024-01-03"])
        assert res.exit_code == 0, res.output
        assert "downloaded 780 new bars (0 already stored)" in res.output
        res = runner.invoke(main, [*args, "--from", "2024-01-02", "--to", "2024-01-05"])
        assert res.exit_code == 0, res.output
        assert "resuming after the stored bar at 2024-01-03 20:59:00 UTC" in res.output
        assert "downloaded 780 new bars (0 already stored)" in res.output
        res = runner.invoke(main, [*args, "--from", "2024-01-03", "--to", "2024-01-03"])
        assert "resuming after the stored bar at 2024-01-03 20:59:00 UTC" in res.output
        assert "downloaded 0 new bars (0 already stored)" in res.output
    expected = [
        (b.ts, cents(b.open), cents(b.high), cents(b.low), cents(b.close), Decimal(b.volume))
        for b in bars_between("AAPL", utc("2024-01-02T00:00"), utc("2024-01-06T00:00"))
    ]
    assert anyio.run(_stored, dsn) == expected
