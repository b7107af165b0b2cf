"""The contract suite runs every test against every backend: SQLite, the real PostgreSQL and
PostgreSQL with TimescaleDB (the timescale migration series applied: hypertables,
compression, continuous aggregates).

Each backend gets one freshly created and migrated database per test module; each test
starts from empty tables.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pi5trading.storage.repository import SqlRepository, create_breaker
from tests.contract.databases import (
    assert_timescale_applied,
    create_pg_database,
    drop_pg_database,
    migrate_sync,
    open_driver,
    truncate_all,
)
from tests.services import PostgresServer


@pytest.fixture(scope="module", params=["sqlite", "postgres", "timescale"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(kind, target): a migrated database for this module — a file path or a DSN. Kind is
    the driver's: ``sqlite`` or ``postgres`` (TimescaleDB is PostgreSQL to the code)."""
    param: str = request.param
    if param == "sqlite":
        path = tmp_path_factory.mktemp("contract") / "contract.db"
        migrate_sync(param, str(path))
        yield param, str(path)
        return
    fixture = "timescale_server" if param == "timescale" else "postgres_server"
    server: PostgresServer = request.getfixturevalue(fixture)
    name, dsn = create_pg_database(server, "contract")
    try:
        migrate_sync("postgres", dsn)
        if param == "timescale":
            assert_timescale_applied(dsn)
        yield "postgres", dsn
    finally:
        drop_pg_database(server, name)


@pytest.fixture
async def repo(backend: tuple[str, str]) -> AsyncIterator[SqlRepository]:
    kind, target = backend
    driver = await open_driver(kind, target)
    await truncate_all(driver)
    repository = SqlRepository(driver, create_breaker())
    try:
        yield repository
    finally:
        await repository.close()


@pytest.fixture
def sqlite_file(tmp_path: Path) -> str:
    return str(tmp_path / "fresh.db")
