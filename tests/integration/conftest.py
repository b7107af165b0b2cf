"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contract.databases import create_pg_database, drop_pg_database, migrate_sync
from tests.services import PostgresServer


@pytest.fixture
def pg_dsn(request: pytest.FixtureRequest, postgres_server: PostgresServer) -> Iterator[str]:
    """A migrated database of its own on the session's PostgreSQL, dropped afterwards (named
    after the test module, so a leftover says whose it was)."""
    prefix = request.module.__name__.rpartition(".")[2].removeprefix("test_")
    name, dsn = create_pg_database(postgres_server, prefix)
    try:
        migrate_sync("postgres", dsn)
        yield dsn
    finally:
        drop_pg_database(postgres_server, name)
