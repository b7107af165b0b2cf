"""Smoke tests: round trips through the real PostgreSQL and Redis of the fixtures."""

from __future__ import annotations

import uuid
from decimal import Decimal

import asyncpg
import pytest
import redis.asyncio as aioredis

from tests.services import PostgresServer, RedisServer

pytestmark = pytest.mark.integration


@pytest.mark.anyio
async def test_postgres_round_trip(postgres_server: PostgresServer) -> None:
    assert postgres_server.port not in (5432, 6379)
    conn = await asyncpg.connect(postgres_server.dsn)
    try:
        version = await conn.fetchval("SHOW server_version")
        assert version
        await conn.execute("CREATE TEMP TABLE fills (id uuid PRIMARY KEY, price NUMERIC(20,8))")
        fill_id = uuid.uuid4()
        # NUMERIC keeps money exact: a value that float would round comes back unchanged.
        price = Decimal("123.45678901")
        await conn.execute("INSERT INTO fills VALUES ($1, $2)", fill_id, price)
        row = await conn.fetchrow("SELECT id, price FROM fills")
        assert row is not None
        assert row["id"] == fill_id
        assert row["price"] == Decimal("123.45678901")
    finally:
        await conn.close()


@pytest.mark.anyio
async def test_redis_round_trip(redis_server: RedisServer) -> None:
    assert redis_server.port not in (5432, 6379)
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        assert await client.ping()
        key = f"pi5:test:{uuid.uuid4()}"
        await client.set(key, "42.50", ex=30)
        assert await client.get(key) == b"42.50"
        assert await client.incrby(f"{key}:n", 3) == 3
    finally:
        await client.aclose()


def test_postgres_survives_restart(postgres_server: PostgresServer) -> None:
    """The fixture can stop and start the server: later outage tests rely on it."""
    import asyncio

    postgres_server.stop()
    assert not postgres_server.is_running()
    postgres_server.start()
    assert postgres_server.is_running()

    async def ping() -> int:
        conn = await asyncpg.connect(postgres_server.dsn)
        try:
            return int(await conn.fetchval("SELECT 1"))
        finally:
            await conn.close()

    assert asyncio.run(ping()) == 1
