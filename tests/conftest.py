"""Session-wide fixtures: the real PostgreSQL and Redis servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import pytest

from tests.services import (
    TIMESCALE_INSTALL,
    TIMESCALE_OPTIONS,
    PostgresServer,
    RedisServer,
    ServiceError,
    timescale_package,
)

S = TypeVar("S", PostgresServer, RedisServer)


@contextmanager
def running(server: S) -> Iterator[S]:
    """``server`` started, and closed however the block ends (a failed start included)."""
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL cluster on a free loopback port, shared by the whole session."""
    with running(PostgresServer()) as server:
        yield server


@pytest.fixture(scope="session")
def timescale_server() -> Iterator[PostgresServer]:
    """A second real cluster, started with TimescaleDB preloaded, shared by the session.

    TimescaleDB has no Debian package: ``scripts/dev/system_deps.sh test`` builds it as root
    (so CI, which runs as root, always has it). Without it the tests that need it are
    skipped, naming the command, when not root, and fail as root (the setup was skipped).
    """
    if not timescale_package():
        reason = (
            "TimescaleDB is not installed for this PostgreSQL: install it with"
            f" `{TIMESCALE_INSTALL}` (it builds ../shared/vendor/timescaledb/build.sh)"
        )
        if os.geteuid() == 0:
            raise ServiceError(reason)
        pytest.skip(f"SKIPPED, NOT TESTED: {reason}")
    with running(PostgresServer(options=TIMESCALE_OPTIONS)) as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, shared by the whole session."""
    with running(RedisServer()) as server:
        yield server


@pytest.fixture(autouse=True)
def _private_data_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test gets its own data dir: nothing a test runs writes into the user's home."""
    monkeypatch.setenv("PI5_DATA_DIR", str(tmp_path_factory.mktemp("data")))


@pytest.fixture(autouse=True)
def _no_risk_settings_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's PI5_RISK__* must not change what the tests' backtests trade."""
    for name in [k for k in os.environ if k.startswith("PI5_RISK")]:
        monkeypatch.delenv(name)


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A migrated PostgreSQL server of this test alone: stopping it disturbs no other test."""
    from tests.contract.databases import migrate_sync

    with running(PostgresServer()) as server:
        migrate_sync("postgres", server.dsn)
        yield server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis server of this test alone: stopping it disturbs no other test."""
    with running(RedisServer()) as server:
        yield server
