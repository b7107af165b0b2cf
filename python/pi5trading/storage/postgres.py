"""The PostgreSQL driver, on an asyncpg pool. Batched inserts go through COPY.

Event rows (bars, ticks, fills …) are COPYed straight into their table inside a savepoint.
If any of them is already stored — a journal replay, a re-import — the savepoint is rolled
back and the rows are COPYed into a per-connection temporary staging table and moved with
``INSERT … SELECT … ON CONFLICT``, so the bulk path has the same idempotent conflict rule as
a plain INSERT. Mutable entities (orders, users …) always take the staged path.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from functools import cache
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import msgspec

from pi5trading import _core
from pi5trading.storage.driver import write_in_transaction
from pi5trading.storage.errors import ConstraintError, DatabaseUnavailableError
from pi5trading.storage.records import Record
from pi5trading.storage.tables import ColumnKind, OnConflict, TableSpec, quote

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
_COPY_CHUNK_ROWS = 10_000
_ROWCOUNT = re.compile(r"(\d+)$")


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


_LOST = ("connection is closed", "connection was closed", "released back to the pool")


def _connection_lost(exc: BaseException) -> bool:
    # The server gone mid-transaction shows as asyncpg's InterfaceError, not a connection
    # error: the pool detaches the dead connection ("released back to the pool") and the
    # transaction's exit finds it closed ("the underlying connection is closed"). An
    # outage to journal and retry, not a refused batch.
    return isinstance(exc, asyncpg.exceptions.InterfaceError) and any(
        text in str(exc) for text in _LOST
    )


def _map_error(exc: BaseException, where: str) -> BaseException | None:
    if isinstance(exc, _UNAVAILABLE) or _connection_lost(exc):
        return DatabaseUnavailableError(f"PostgreSQL at {where} is unavailable: {exc}")
    if isinstance(exc, asyncpg.exceptions.IntegrityConstraintViolationError):
        return ConstraintError(str(exc))
    return None


async def _init_connection(conn: asyncpg.Connection) -> None:
    # NUMERIC as text: PostgreSQL prints the stored digits and scale ("488281250000",
    # "1.50"), which Decimal reads exactly; asyncpg's binary decoder may instead return
    # Decimal('4.8828125E+11'), equal but not the same digits as SQLite gives back.
    await conn.set_type_codec(
        "numeric", encoder=str, decoder=Decimal, schema="pg_catalog", format="text"
    )
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
        sql = _insert_sql(spec)
        if len(rows) <= _SMALL_BATCH:
            # A few rows (an API save): plain INSERTs beat a COPY's round trips.
            return sum([await self.execute(sql.values, *row) for row in rows])
        if spec.on_conflict is OnConflict.IGNORE:
            # Fast path: COPY straight into the table. If any row is already stored (a
            # replay), the savepoint rolls back and the idempotent staged path runs instead.
            try:
                async with self._conn.transaction():
                    await self._conn.copy_to_table(
                        spec.table, source=sql.copy_chunks(rows), columns=sql.columns
                    )
                return len(rows)
            except asyncpg.exceptions.UniqueViolationError:
                pass
        # IF NOT EXISTS: the temp table lives as long as the pooled connection.
        await self._conn.execute(sql.create_stage)
        await self._conn.copy_to_table(sql.stage, source=sql.copy_chunks(rows), columns=sql.columns)
        written = await self.execute(sql.move)
        # Empty the stage now, not at commit: a long import moves many chunks per transaction.
        await self._conn.execute(f"TRUNCATE {sql.stage}")
        return written

    async def execute_script(self, sql: str) -> None:
        await self._conn.execute(sql)


def _escape(value: Any) -> str:
    if value is None:
        return "\\N"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _null(value: Any) -> Any:
    return "\\N" if value is None else value


class _InsertSql:
    """The statements and COPY payload that insert one table's rows.

    Rows travel as PostgreSQL's COPY text format, which the server parses in C: several
    times cheaper than asyncpg's binary NUMERIC encoding of ``Decimal`` in Python.
    """

    def __init__(self, spec: TableSpec) -> None:
        self.stage = f"_stage_{spec.table}"
        self.columns = list(spec.columns)
        self._ncols = len(spec.columns)
        self._nullable = any(spec.nullable)
        cols = ", ".join(quote(c) for c in spec.columns)
        self.create_stage = (
            f"CREATE TEMP TABLE IF NOT EXISTS {self.stage}"
            f" (LIKE {spec.table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        self.move = (
            f"INSERT INTO {spec.table} ({cols}) SELECT {cols} FROM {self.stage} {spec.conflict_sql}"
        )
        casts = {ColumnKind.DECIMAL: "::text::numeric", ColumnKind.JSON: "::text::jsonb"}
        params = ", ".join(f"${i}{casts.get(k, '')}" for i, k in enumerate(spec.kinds, start=1))
        self.values = f"INSERT INTO {spec.table} ({cols}) VALUES ({params}) {spec.conflict_sql}"
        fields = "\\t".join(
            f"{{_null(r[{i}])}}" if nullable else f"{{r[{i}]}}"
            for i, nullable in enumerate(spec.nullable)
        )
        # Generated for speed: one f-string per row. The column count is from the spec.
        src = f'def lines(rows):\n    return "".join([f"{fields}\\n" for r in rows])\n'
        namespace: dict[str, Any] = {"_null": _null}
        exec(src, namespace)
        self._lines: Callable[[Sequence[tuple[Any, ...]]], str] = namespace["lines"]

    async def copy_chunks(self, rows: Sequence[tuple[Any, ...]]) -> AsyncIterator[bytes]:
        """The COPY payload in pieces: the server parses one while Python builds the next."""
        for start in range(0, len(rows), _COPY_CHUNK_ROWS):
            yield self.copy_payload(rows[start : start + _COPY_CHUNK_ROWS])

    def copy_payload(self, rows: Sequence[tuple[Any, ...]]) -> bytes:
        # Built in the core: the same bytes as ``copy_payload_python`` (the reference, kept
        # for the tests), without a Python string per row.
        return _core.copy_text(rows)

    def copy_payload_python(self, rows: Sequence[tuple[Any, ...]]) -> bytes:
        text = self._lines(rows)
        # Valid as is unless a value held a tab, newline, CR or backslash (NULL markers
        # are the only backslashes we put in): then escape every value.
        nulls = sum([row.count(None) for row in rows]) if self._nullable else 0
        if (
            text.count("\t") != len(rows) * (self._ncols - 1)
            or text.count("\n") != len(rows)
            or text.count("\\") != nulls
            or "\r" in text
        ):
            text = "".join(["\t".join(map(_escape, row)) + "\n" for row in rows])
        return text.encode()


@cache
def _insert_sql(spec: TableSpec) -> _InsertSql:
    return _InsertSql(spec)


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

    def encode(self, spec: TableSpec, records: Sequence[Record]) -> list[tuple[Any, ...]]:
        return spec.encode(records, json_text=True, bool_int=False)

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

    async def write_rows(
        self, batches: Sequence[tuple[TableSpec, Sequence[tuple[Any, ...]]]]
    ) -> int:
        return await write_in_transaction(self, batches)

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self._pool.close(), timeout=10)
        except _UNAVAILABLE:  # includes TimeoutError
            self._pool.terminate()


__all__ = ["PostgresDriver", "redact"]
