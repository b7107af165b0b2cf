"""The PostgreSQL driver, on an asyncpg pool. Batched inserts go through binary COPY.

Rows are COPYed into a per-connection temporary staging table (``ON COMMIT DELETE ROWS``)
and moved with ``INSERT … SELECT … ON CONFLICT``, so the bulk path has the same idempotent
conflict rule as a plain INSERT.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import msgspec

from pi5trading.storage.errors import ConstraintError, DatabaseUnavailableError
from pi5trading.storage.records import Record
from pi5trading.storage.tables import TableSpec, quote

# Errors that mean "the server is not there" rather than "the server said no".
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.CannotConnectNowError,
)

_SMALL_BATCH = 8
_ROWCOUNT = re.compile(r"(\d+)$")


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _map_error(exc: BaseException, where: str) -> BaseException | None:
    if isinstance(exc, _UNAVAILABLE):
        return DatabaseUnavailableError(f"PostgreSQL at {where} is unavailable: {exc}")
    if isinstance(exc, asyncpg.exceptions.IntegrityConstraintViolationError):
        return ConstraintError(str(exc))
    return None


async def _init_connection(conn: asyncpg.Connection) -> None:
    # JSON columns take and return Python objects, encoded by msgspec. Binary format, so
    # COPY (always binary in asyncpg) can carry them too; jsonb's binary form is a version
    # byte (1) followed by the JSON text.
    await conn.set_type_codec(
        "jsonb",
        encoder=_jsonb_encode,
        decoder=_jsonb_decode,
        schema="pg_catalog",
        format="binary",
    )
    await conn.set_type_codec(
        "json",
        encoder=msgspec.json.encode,
        decoder=msgspec.json.decode,
        schema="pg_catalog",
        format="binary",
    )


def _jsonb_encode(value: Any) -> bytes:
    return b"\x01" + msgspec.json.encode(value)


def _jsonb_decode(data: bytes) -> Any:
    return msgspec.json.decode(data[1:])


class _PgConnection:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]:
        return list(await self._conn.fetch(sql, *args))

    async def fetch_records(self, spec: TableSpec, sql: str, *args: Any) -> list[Record]:
        make = spec.record
        return [make(*row) for row in await self._conn.fetch(sql, *args)]

    async def execute(self, sql: str, *args: Any) -> int:
        status: str = await self._conn.execute(sql, *args)
        m = _ROWCOUNT.search(status)
        return int(m.group(1)) if m else 0

    async def insert(self, spec: TableSpec, rows: Sequence[tuple[Any, ...]]) -> int:
        if not rows:
            return 0
        if len(rows) <= _SMALL_BATCH:
            # A few rows (an API save): plain INSERTs beat a COPY's three round trips.
            cols = ", ".join(quote(c) for c in spec.columns)
            marks = ", ".join(f"${i}" for i in range(1, len(spec.columns) + 1))
            sql = f"INSERT INTO {spec.table} ({cols}) VALUES ({marks}) {spec.conflict_sql}"
            return sum([await self.execute(sql, *row) for row in rows])
        stage = f"_stage_{spec.table}"
        cols = ", ".join(quote(c) for c in spec.columns)
        # IF NOT EXISTS: the temp table lives as long as the pooled connection.
        await self._conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} "
            f"(LIKE {spec.table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        await self._conn.copy_records_to_table(stage, records=rows, columns=list(spec.columns))
        written = await self.execute(
            f"INSERT INTO {spec.table} ({cols}) SELECT {cols} FROM {stage} {spec.conflict_sql}"
        )
        # Empty the stage now, not at commit: a long import moves many chunks per transaction.
        await self._conn.execute(f"TRUNCATE {stage}")
        return written

    async def execute_script(self, sql: str) -> None:
        await self._conn.execute(sql)


class PostgresDriver:
    """asyncpg pool. Create with ``await PostgresDriver.open(url)``."""

    dialect: Literal["postgres"] = "postgres"

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        self.description = redact(url)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 5,
        command_timeout: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> PostgresDriver:
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=min_size,
                max_size=max_size,
                command_timeout=command_timeout,
                timeout=connect_timeout,
                init=_init_connection,
            )
        except Exception as exc:
            mapped = _map_error(exc, redact(url))
            if mapped is not None:
                raise mapped from exc
            raise
        return cls(pool, url)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[_PgConnection]:
        try:
            async with self._pool.acquire() as conn:
                yield _PgConnection(conn)
        except Exception as exc:
            mapped = _map_error(exc, self.description)
            if mapped is not None:
                raise mapped from exc
            raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgConnection]:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                yield _PgConnection(conn)
        except Exception as exc:
            mapped = _map_error(exc, self.description)
            if mapped is not None:
                raise mapped from exc
            raise

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self._pool.close(), timeout=10)
        except _UNAVAILABLE:  # includes TimeoutError
            self._pool.terminate()


__all__ = ["PostgresDriver", "redact"]
