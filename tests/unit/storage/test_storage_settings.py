"""Database settings from the environment, the storage lifespan, TimescaleDB policy SQL."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from pi5trading.config import load_settings
from pi5trading.exceptions import ConfigurationError
from pi5trading.storage import BarRow, StorageError
from pi5trading.storage.connect import journal_path, sqlite_path, storage_lifespan
from pi5trading.storage.errors import MigrationError
from pi5trading.storage.migrate import timescale_policy_statements


def test_database_defaults_are_the_embedded_setup(tmp_path: Path) -> None:
    s = load_settings(env={"PI5_DATA_DIR": str(tmp_path)}, dotenv_path=None)
    db = s.database
    assert db.url == ""
    assert (db.breaker_failure_threshold, db.breaker_reset_timeout_s) == (5, 30.0)
    assert db.migrate_on_start
    assert sqlite_path(db.url, s.data_dir) == tmp_path / "pi5trading.db"
    assert journal_path(s) == tmp_path / "journal" / "events.journal"


def test_database_settings_from_env() -> None:
    s = load_settings(
        env={
            "PI5_DATABASE__URL": "postgresql://pi:secret@db:5433/trading",
            "PI5_DATABASE__POOL_MAX_SIZE": "8",
            "PI5_DATABASE__BREAKER_RESET_TIMEOUT_S": "12.5",
            "PI5_DATABASE__MIGRATE_ON_START": "false",
            "PI5_DATABASE__JOURNAL_PATH": "/var/lib/pi5/j",
        },
        dotenv_path=None,
    )
    assert s.database.pool_max_size == 8
    assert s.database.breaker_reset_timeout_s == 12.5
    assert not s.database.migrate_on_start
    assert sqlite_path(s.database.url, s.data_dir) is None
    assert journal_path(s) == Path("/var/lib/pi5/j")


def test_bad_database_setting_names_it() -> None:
    with pytest.raises(ConfigurationError, match=r"^PI5_DATABASE__BATCH_SIZE='lots': expected"):
        load_settings(env={"PI5_DATABASE__BATCH_SIZE": "lots"}, dotenv_path=None)


def test_bars_chunk_days_is_checked() -> None:
    assert load_settings(env={}, dotenv_path=None).database.bars_chunk_days == 30
    env = {"PI5_DATABASE__BARS_CHUNK_DAYS": "7"}
    assert load_settings(env=env, dotenv_path=None).database.bars_chunk_days == 7
    for bad in ("0", "366", "-1", "a week"):
        with pytest.raises(ConfigurationError, match=rf"^PI5_DATABASE__BARS_CHUNK_DAYS='{bad}'"):
            load_settings(env={"PI5_DATABASE__BARS_CHUNK_DAYS": bad}, dotenv_path=None)
    with pytest.raises(MigrationError, match="bars_chunk_days must be 1 to 365 days, got 0"):
        timescale_policy_statements(7, 0, 730, bars_chunk_days=0)
    sql = timescale_policy_statements(7, 0, 730, bars_chunk_days=30)
    assert sql[0] == "SELECT set_chunk_time_interval('bars', 2592000000000000::BIGINT)"
    assert not any("set_chunk_time_interval" in s for s in timescale_policy_statements(7, 0, 0))


def test_sqlite_urls() -> None:
    assert sqlite_path("sqlite:///var/db/x.db", "/d") == Path("/var/db/x.db")
    assert sqlite_path("sqlite:rel/x.db", "/d") == Path("rel/x.db")
    with pytest.raises(StorageError, match="use postgresql://"):
        sqlite_path("mysql://h/db", "/d")


def test_timescale_policy_statements() -> None:
    sql = timescale_policy_statements(7, 0, 730)
    assert "SELECT add_compression_policy('bars', compress_after => 604800000000000::BIGINT)" in sql
    assert "SELECT remove_retention_policy('bars', if_exists => TRUE)" in sql
    assert not any("add_retention_policy('bars'" in s for s in sql)
    assert any(
        "add_retention_policy('audit_log', drop_after => 63072000000000000" in s for s in sql
    )
    off = timescale_policy_statements(0, 30, 0)
    assert not any("add_compression_policy" in s for s in off)
    assert any("add_retention_policy('trade_ticks'" in s for s in off)
    with pytest.raises(MigrationError, match="audit_retention_days must be >= 0"):
        timescale_policy_statements(7, 0, -1)


@pytest.mark.anyio
async def test_storage_lifespan_migrates_and_runs_the_writer(tmp_path: Path) -> None:
    settings = load_settings(
        env={"PI5_DATA_DIR": str(tmp_path), "PI5_DATABASE__BATCH_INTERVAL_S": "0.01"},
        dotenv_path=None,
    )
    bar = BarRow("X.Y", "1m", 1, Decimal(1), Decimal(1), Decimal(1), Decimal(1), Decimal(1))
    async with storage_lifespan(settings) as (repo, writer):
        await writer.submit(bar)
    async with storage_lifespan(settings) as (repo, writer):
        assert await repo.get_bars("X.Y", "1m") == [bar]
        state = repo.breaker_state()
        assert state is not None
        assert state.state == "closed"
