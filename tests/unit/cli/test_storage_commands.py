"""`pi5trading migrate` and `pi5trading data import` as a user runs them (embedded SQLite)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from pi5trading.cli import main


def env(tmp_path: Path) -> dict[str, str]:
    return {"PI5_DATA_DIR": str(tmp_path / "data")}


def test_help_explains_the_commands() -> None:
    res = CliRunner().invoke(main, ["migrate", "--help"])
    assert res.exit_code == 0
    assert "--status" in res.output
    assert "forward-only" in res.output
    res = CliRunner().invoke(main, ["data", "import", "--help"])
    assert res.exit_code == 0
    assert "--instrument" in res.output
    assert "line number" in res.output


def test_migrate_then_status(tmp_path: Path) -> None:
    runner = CliRunner(env=env(tmp_path))
    res = runner.invoke(main, ["migrate"])
    assert res.exit_code == 0, res.output
    assert "applied schema/0001_initial_schema" in res.output
    assert "applied schema/0002_audit_chain" in res.output
    assert "applied schema/0003_credentials" in res.output
    assert (tmp_path / "data" / "pi5trading.db").is_file()
    res = runner.invoke(main, ["migrate"])
    assert "up to date" in res.output
    res = runner.invoke(main, ["migrate", "--status", "--json"])
    assert res.exit_code == 0, res.output
    status = json.loads(res.output)
    assert status["dialect"] == "sqlite"
    assert [m["status"] for m in status["migrations"]] == ["applied"] * 3
    res = runner.invoke(main, ["migrate", "--status"])
    assert "initial_schema" in res.output


def test_status_exits_1_when_an_applied_migration_was_edited(tmp_path: Path) -> None:
    runner = CliRunner(env=env(tmp_path))
    assert runner.invoke(main, ["migrate"]).exit_code == 0
    db = sqlite3.connect(tmp_path / "data" / "pi5trading.db")
    db.execute("UPDATE schema_migrations SET checksum = 'deadbeef'")
    db.commit()
    db.close()
    res = runner.invoke(main, ["migrate", "--status"])
    assert res.exit_code == 1
    assert "modified" in res.output
    res = runner.invoke(main, ["migrate"])
    assert res.exit_code == 1
    assert "was edited after it was applied" in res.output


def test_data_import(tmp_path: Path) -> None:
    csv_file = tmp_path / "aapl.csv"
    csv_file.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2026-01-02T14:30:00Z,100.10,100.50,99.90,100.20,1200\n"
        "2026-01-02T14:31:00Z,100.20,100.80,100.00,100.70,900\n"
    )
    runner = CliRunner(env=env(tmp_path))
    res = runner.invoke(main, ["data", "import", str(csv_file), "--instrument", "AAPL.XNAS"])
    assert res.exit_code == 0, res.output
    assert "imported 2 new bars (0 already stored) for AAPL.XNAS" in res.output
    res = runner.invoke(main, ["data", "import", str(csv_file), "-i", "AAPL.XNAS"])
    assert "imported 0 new bars (2 already stored)" in res.output


def test_data_import_reports_bad_lines_and_fails(tmp_path: Path) -> None:
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("timestamp,open,high,low,close\n2026-01-02,1,2,0.5,1\n2026-01-03,1,x,1,1\n")
    res = CliRunner(env=env(tmp_path)).invoke(main, ["data", "import", str(csv_file), "-i", "X.Y"])
    assert res.exit_code == 1
    assert "bad.csv: line 3: high: not a number (value 'x')" in res.output
    assert "nothing imported" in res.output
    # The file is checked before the database is opened: not even an empty one is created.
    assert not (tmp_path / "data").exists()


def test_bad_database_url_is_a_clear_error(tmp_path: Path) -> None:
    res = CliRunner(env=env(tmp_path)).invoke(main, ["migrate", "--database-url", "mysql://x"])
    assert res.exit_code == 1
    assert "use postgresql://" in res.output


def test_info_never_prints_the_database_password(tmp_path: Path) -> None:
    res = CliRunner(
        env={**env(tmp_path), "PI5_DATABASE__URL": "postgresql://pi:s3cret@db:5432/trading"}
    ).invoke(main, ["info"])
    assert res.exit_code == 0, res.output
    assert "s3cret" not in res.output
    assert json.loads(res.output)["settings"]["database"]["url"] == (
        "postgresql://pi:***@db:5432/trading"
    )
