"""`pi5trading migrate` against the real PostgreSQL: TimescaleDB detection is reported."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from pi5trading.cli import main
from tests.contract.databases import create_pg_database, drop_pg_database
from tests.services import PostgresServer

pytestmark = pytest.mark.integration


@pytest.fixture
def dsn(postgres_server: PostgresServer) -> Iterator[str]:
    name, url = create_pg_database(postgres_server, "cli")
    try:
        yield url
    finally:
        drop_pg_database(postgres_server, name)


def test_migrate_reports_timescale_as_skipped(
    dsn: str, tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """On the plain cluster: why depends on the machine (package installed or not), the
    outcome does not."""
    runner = CliRunner(env={"PI5_DATA_DIR": str(tmp_path), "PI5_DATABASE__URL": dsn})
    res = runner.invoke(main, ["migrate"])
    assert res.exit_code == 0, res.output
    assert "applied schema/0001_initial_schema" in res.output
    if postgres_server.timescale() == "absent":
        assert "TimescaleDB: not installed on this server (plain PostgreSQL)" in res.output
    else:
        assert "TimescaleDB: package 2.28.3 present but not in shared_preload_libraries" in (
            res.output
        )
    res = runner.invoke(main, ["migrate", "--status"])
    assert res.exit_code == 0, res.output
    assert "skipped" in res.output
    res = runner.invoke(main, ["migrate", "--status", "--json"])
    status = json.loads(res.output)
    assert status["timescale"]["available"] is False
    by_series = {m["series"]: m["status"] for m in status["migrations"]}
    assert by_series == {"schema": "applied", "timescale": "skipped"}


def test_import_into_postgres(dsn: str, tmp_path: Path) -> None:
    f = tmp_path / "bars.csv"
    f.write_text("ts,open,high,low,close,volume\n1767225600,1.5,2,1,1.75,10\n")
    res = CliRunner(env={"PI5_DATA_DIR": str(tmp_path)}).invoke(
        main, ["data", "import", str(f), "-i", "EURUSD.SIM", "--database-url", dsn]
    )
    assert res.exit_code == 0, res.output
    assert "imported 1 new bars" in res.output


def test_migrate_applies_timescale_when_preloaded(
    timescale_server: PostgresServer, tmp_path: Path
) -> None:
    name, dsn = create_pg_database(timescale_server, "cli")
    try:
        runner = CliRunner(env={"PI5_DATA_DIR": str(tmp_path), "PI5_DATABASE__URL": dsn})
        res = runner.invoke(main, ["migrate"])
        assert res.exit_code == 0, res.output
        assert "applied timescale/0001_hypertables" in res.output
        assert "applied timescale/0002_realtime_aggregates" in res.output
        assert (
            "TimescaleDB policies set: new bar chunks span 30 days, chunks compressed after"
            " 7 days" in res.output.replace("\n", " ")
        )
        res = runner.invoke(main, ["migrate", "--status", "--json"])
        status = json.loads(res.output)
        assert status["timescale"]["available"] is True
        assert status["timescale"]["installed_version"] == "2.28.3"
        assert {m["status"] for m in status["migrations"]} == {"applied"}
        assert "timescale" in {m["series"] for m in status["migrations"]}
    finally:
        drop_pg_database(timescale_server, name)
