"""The migrations runner on both backends: fresh install, no-op re-run, tampering detected."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pi5trading.storage.driver import Driver
from pi5trading.storage.errors import MigrationError
from pi5trading.storage.migrate import default_migrations_dir, migrate, migration_status
from tests.contract.databases import TABLES, create_pg_database, drop_pg_database, open_driver
from tests.services import PostgresServer

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture(params=["sqlite", "postgres", "timescale"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """A brand-new empty database per test: (driver kind, file or DSN, what the cluster
    offers of TimescaleDB: ``absent``, ``available`` (package, not preloaded), ``preloaded``,
    or ``none`` on SQLite)."""
    if request.param == "sqlite":
        yield "sqlite", str(tmp_path / "m.db"), "none"
        return
    fixture = "timescale_server" if request.param == "timescale" else "postgres_server"
    server: PostgresServer = request.getfixturevalue(fixture)
    name, dsn = create_pg_database(server, "mig")
    try:
        yield "postgres", dsn, server.timescale()
    finally:
        drop_pg_database(server, name)


@pytest.fixture
async def driver(target: tuple[str, str, str]) -> AsyncIterator[Driver]:
    d = await open_driver(target[0], target[1])
    try:
        yield d
    finally:
        await d.close()


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    """A private copy of migrations/ that a test may edit."""
    dest = tmp_path / "migrations"
    shutil.copytree(default_migrations_dir(), dest)
    return dest


async def _tables(driver: Driver) -> set[str]:
    async with driver.connection() as conn:
        if driver.dialect == "postgres":
            rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        else:
            rows = await conn.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {str(r[0]) for r in rows}


async def test_fresh_install_creates_every_table_and_records_it(
    driver: Driver, migrations: Path, target: tuple[str, str, str]
) -> None:
    before = await migration_status(driver, migrations)
    assert [m.status for m in before.migrations if m.series == "schema"] == ["pending"] * 3
    applied = await migrate(driver, migrations)
    timescale = [("timescale", 1, "hypertables"), ("timescale", 2, "realtime_aggregates")]
    assert [(m.series, m.version, m.name) for m in applied] == [
        ("schema", 1, "initial_schema"),
        ("schema", 2, "audit_chain"),
        ("schema", 3, "credentials"),
        *(timescale if target[2] == "preloaded" else []),
    ]
    assert set(TABLES) | {"schema_migrations"} <= await _tables(driver)
    after = await migration_status(driver, migrations)
    schema = [m for m in after.migrations if m.series == "schema"]
    assert [m.status for m in schema] == ["applied"] * 3
    assert schema[0].applied_ns is not None
    assert after.problems == []
    assert after.pending == []


async def test_rerun_is_a_no_op(driver: Driver, migrations: Path) -> None:
    await migrate(driver, migrations)
    status = await migration_status(driver, migrations)
    assert await migrate(driver, migrations) == []
    assert await migration_status(driver, migrations) == status


async def test_edited_applied_migration_is_an_error(driver: Driver, migrations: Path) -> None:
    await migrate(driver, migrations)
    applied = migrations / driver.dialect / "0001_initial_schema.sql"
    applied.write_text(applied.read_text() + "\n-- a harmless-looking edit\n")
    (migrations / driver.dialect / "0004_more.sql").write_text(
        "CREATE TABLE should_not_exist (x INTEGER);\n"
    )
    status = await migration_status(driver, migrations)
    assert [m.status for m in status.problems] == ["modified"]
    with pytest.raises(
        MigrationError, match=r"0001_initial_schema was edited after it was applied"
    ):
        await migrate(driver, migrations)
    # Nothing ran: the new migration behind the tampered one was not applied.
    assert "should_not_exist" not in await _tables(driver)


async def test_new_migration_is_applied_in_order(driver: Driver, migrations: Path) -> None:
    await migrate(driver, migrations)
    (migrations / driver.dialect / "0004_notes.sql").write_text(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n"
        "CREATE INDEX notes_body_idx ON notes (body);\n"
    )
    applied = await migrate(driver, migrations)
    assert [m.version for m in applied] == [4]
    assert "notes" in await _tables(driver)


async def test_failed_migration_leaves_nothing_behind(driver: Driver, migrations: Path) -> None:
    await migrate(driver, migrations)
    (migrations / driver.dialect / "0004_broken.sql").write_text(
        "CREATE TABLE half_done (id INTEGER);\nCREATE TABLE oops (id NOT_A_TYPE_AT_ALL ((;\n"
    )
    with pytest.raises(MigrationError, match=r"0004_broken\.sql failed and was rolled back"):
        await migrate(driver, migrations)
    assert "half_done" not in await _tables(driver)
    status = await migration_status(driver, migrations)
    assert [m.version for m in status.pending] == [4]


async def test_missing_and_out_of_order_files_are_errors(driver: Driver, migrations: Path) -> None:
    await migrate(driver, migrations)
    folder = migrations / driver.dialect
    (folder / "0005_c.sql").write_text("CREATE TABLE c3 (x INTEGER);\n")
    await migrate(driver, migrations)
    (folder / "0004_late.sql").write_text("CREATE TABLE late (x INTEGER);\n")
    with pytest.raises(MigrationError, match="numbered below the applied 0005"):
        await migrate(driver, migrations)
    (folder / "0004_late.sql").unlink()
    (folder / "0005_c.sql").unlink()
    with pytest.raises(MigrationError, match="0005_c is recorded in the database but has no file"):
        await migrate(driver, migrations)


async def test_bad_file_names_are_refused(driver: Driver, migrations: Path) -> None:
    (migrations / driver.dialect / "2_Oops.sql").write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match=r"NNNN_lower_snake_name\.sql"):
        await migrate(driver, migrations)


async def test_timescale_series_is_detected_and_skipped_on_plain_postgres(
    driver: Driver, migrations: Path, target: tuple[str, str, str]
) -> None:
    """Decided per cluster: skipped (with the reason) unless this cluster preloads it."""
    await migrate(driver, migrations)
    status = await migration_status(driver, migrations)
    offers = target[2]
    if driver.dialect == "sqlite":
        assert status.timescale is None
        assert all(m.series == "schema" for m in status.migrations)
        return
    assert status.timescale is not None
    timescale = [m for m in status.migrations if m.series == "timescale"]
    assert timescale
    assert status.pending == []
    if offers == "preloaded":
        assert status.timescale.available
        assert status.timescale.installed_version == "2.28.3"
        assert {m.status for m in timescale} == {"applied"}
        assert "bars_5m" in await _views(driver)
        return
    assert not status.timescale.available
    if offers == "absent":
        assert "plain PostgreSQL" in status.timescale.detail
    else:
        assert "present but not in shared_preload_libraries" in status.timescale.detail
    assert {m.status for m in timescale} == {"skipped"}
    assert "bars_5m" not in await _views(driver)


async def _views(driver: Driver) -> set[str]:
    async with driver.connection() as conn:
        rows = await conn.fetch("SELECT viewname FROM pg_views WHERE schemaname = 'public'")
    return {str(r[0]) for r in rows}
