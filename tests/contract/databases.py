"""Fresh, migrated databases on the real PostgreSQL of the fixtures, and SQLite files.

Shared by the contract suite, the storage integration tests and the storage benchmark.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg

from pi5trading.storage.driver import Driver
from pi5trading.storage.migrate import migrate
from pi5trading.storage.postgres import PostgresDriver
from pi5trading.storage.sqlite import SqliteDriver
from tests.services import PostgresServer

TABLES = (
    "instruments",
    "bars",
    "quote_ticks",
    "trade_ticks",
    "orders",
    "order_events",
    "fills",
    "position_snapshots",
    "equity_snapshots",
    "strategy_runs",
    "strategies",
    "backtest_results",
    "backtest_runs",
    "refresh_tokens",
    "users",
    "audit_log",
    "alerts",
    "credentials",
)


async def _admin(server: PostgresServer, sql: str) -> None:
    conn = await asyncpg.connect(server.dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_pg_database(server: PostgresServer, prefix: str = "t") -> tuple[str, str]:
    """A new empty database; returns (name, dsn)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    return name, server.dsn_for(name)


def drop_pg_database(server: PostgresServer, name: str) -> None:
    if server.is_running():
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


HYPERTABLES = ("bars", "quote_ticks", "trade_ticks", "equity_snapshots", "audit_log")
CONTINUOUS_AGGREGATES = ("bars_5m", "bars_15m", "bars_1h", "bars_1d")


def assert_timescale_applied(dsn: str) -> None:
    """The database really is on TimescaleDB: every hypertable and aggregate is there."""

    async def run() -> tuple[set[str], set[str]]:
        conn = await asyncpg.connect(dsn)
        try:
            hyper = await conn.fetch(
                "SELECT hypertable_name FROM timescaledb_information.hypertables"
            )
            aggs = await conn.fetch(
                "SELECT view_name FROM timescaledb_information.continuous_aggregates"
            )
        finally:
            await conn.close()
        return {str(r[0]) for r in hyper}, {str(r[0]) for r in aggs}

    hyper, aggs = asyncio.run(run())
    assert hyper == set(HYPERTABLES), hyper
    assert aggs == set(CONTINUOUS_AGGREGATES), aggs


async def open_driver(kind: str, target: str) -> Driver:
    if kind == "postgres":
        return await PostgresDriver.open(target, min_size=1, max_size=4)
    return await SqliteDriver.open(Path(target))


def migrate_sync(kind: str, target: str) -> None:
    async def run() -> None:
        driver = await open_driver(kind, target)
        try:
            await migrate(driver)
        finally:
            await driver.close()

    asyncio.run(run())


async def truncate_all(driver: Driver) -> None:
    async with driver.transaction() as conn:
        if driver.dialect == "postgres":
            await conn.execute(f"TRUNCATE {', '.join(TABLES)}")
        else:
            for table in TABLES:
                await conn.execute(f"DELETE FROM {table}")
