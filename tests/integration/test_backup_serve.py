"""Backups next to a real `pi5trading serve` (the demo node writing bars, quotes and orders):
the backup is taken while it writes, and a restore knows the server is running."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from pi5trading.cli import main
from tests.contract.databases import create_pg_database, drop_pg_database
from tests.services import PostgresServer, free_port

pytestmark = pytest.mark.integration


def start_server(env: dict[str, str]) -> subprocess.Popen[bytes]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pi5trading", "serve", "--port", str(port)],
        env={
            **os.environ,
            **env,
            "PI5_FEED__CALENDAR": "24/7",  # bars whatever the time of day
            "PI5_FEED__SPEED": "600",
            "PI5_LOGGING__LEVEL": "WARNING",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise AssertionError(f"serve exited with {proc.returncode}: {err[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("serve never answered /health")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def test_sqlite_backup_while_serving_and_restore_after_it_stops(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()  # serve does not create a missing data dir for its generated signing key
    env = {"PI5_DATA_DIR": str(data), "PI5_DATABASE__URL": ""}
    runner = CliRunner(env=env)
    proc = start_server(env)
    try:
        db = data / "pi5trading.db"
        deadline = time.monotonic() + 60
        bars = 0
        while bars < 20 and time.monotonic() < deadline:
            time.sleep(0.5)
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                bars = conn.execute("SELECT count(*) FROM bars").fetchone()[0]
            finally:
                conn.close()  # an open connection here would count as a server
        assert bars >= 20, "the demo node stored no bars"
        res = runner.invoke(main, ["backup"])
        assert res.exit_code == 0, res.output
        [backup] = (data / "backups").glob("*.db")
        check = sqlite3.connect(backup)
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert check.execute("SELECT count(*) FROM bars").fetchone()[0] >= 20
        check.close()

        res = runner.invoke(main, ["restore", str(backup)])
        assert res.exit_code == 1
        assert f"the database {db} is open in another process" in res.output
        assert not list((data / "backups").glob("*-pre-restore.db"))
    finally:
        stop_server(proc)
    res = runner.invoke(main, ["restore", str(backup)])
    assert res.exit_code == 0, res.output
    assert "migrations consistent" in res.output


@pytest.fixture
def pg_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    name, dsn = create_pg_database(postgres_server, "serve_backup")
    try:
        yield dsn
    finally:
        drop_pg_database(postgres_server, name)


def test_postgres_restore_sees_the_running_server(
    tmp_path: Path, pg_dsn: str, postgres_server: PostgresServer
) -> None:
    env = {
        "PI5_DATA_DIR": str(tmp_path / "data"),
        "PI5_DATABASE__URL": pg_dsn,
        "PI5_AUTH__JWT_SECRET": "a-test-secret-that-is-long-enough-0123456789",
        "PI5_BACKUP__PG_BIN_DIR": str(postgres_server.bindir),
    }
    runner = CliRunner(env=env)
    proc = start_server(env)
    try:
        res = runner.invoke(main, ["backup"])
        assert res.exit_code == 0, res.output
        [dump] = (tmp_path / "data" / "backups").glob("*.dump")
        res = runner.invoke(main, ["restore", str(dump)])
        assert res.exit_code == 1
        assert "other session(s) are connected to database serve_backup_" in res.output
        assert "a server appears to be running on it" in res.output
    finally:
        stop_server(proc)
    res = runner.invoke(main, ["restore", str(dump)])
    assert res.exit_code == 0, res.output
