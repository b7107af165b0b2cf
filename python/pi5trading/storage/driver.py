"""What the repository needs from a database driver; ``postgres.py`` and ``sqlite.py`` provide it.

SQL is written once, in PostgreSQL's ``$1`` placeholder style with every identifier quoted;
the SQLite driver rewrites placeholders to ``?1``. Values cross as Python objects
(``Decimal``, dicts) and each driver encodes them for its dialect. Connectivity failures
surface as ``DatabaseUnavailableError`` (what the circuit breaker counts) and constraint
violations as ``ConstraintError``, whatever the backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol

from pi5trading.storage.records import Record
from pi5trading.storage.tables import TableSpec

Dialect = Literal["postgres", "sqlite"]


class Connection(Protocol):
    """One database connection, inside a transaction when it came from ``transaction()``."""

    async def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]:
        """Rows as tuples of raw values (use ``fetch_records`` for typed records)."""
        ...

    async def fetch_records(self, spec: TableSpec, sql: str, *args: Any) -> list[Record]:
        """Rows selected as ``spec.select_list``, decoded into ``spec.record`` instances."""
        ...

    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; return the number of rows it changed."""
        ...

    async def insert(self, spec: TableSpec, rows: Sequence[tuple[Any, ...]]) -> int:
        """Insert rows from ``Driver.encode`` with the spec's conflict rule; return rows
        written.

        Call it inside ``transaction()``: on PostgreSQL it stages rows with COPY.
        """
        ...

    async def execute_script(self, sql: str) -> None:
        """Run several statements (a migration file) in the current transaction."""
        ...


class Driver(Protocol):
    @property
    def dialect(self) -> Dialect: ...

    @property
    def description(self) -> str:
        """Where the data is, for messages (never contains a password)."""
        ...

    def connection(self) -> AbstractAsyncContextManager[Connection]:
        """A connection in autocommit mode."""
        ...

    def encode(self, spec: TableSpec, records: Sequence[Record]) -> list[tuple[Any, ...]]:
        """Validate records and encode them as this driver's ``insert`` wants them."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A connection inside a transaction, committed on success, rolled back on error."""
        ...

    async def write_rows(
        self, batches: Sequence[tuple[TableSpec, Sequence[tuple[Any, ...]]]]
    ) -> int:
        """Insert each table's encoded rows (``Connection.insert``) in one transaction;
        the rows written (a row a conflict skipped is not)."""
        ...

    async def close(self) -> None: ...


async def write_in_transaction(
    driver: Driver, batches: Sequence[tuple[TableSpec, Sequence[tuple[Any, ...]]]]
) -> int:
    """``Driver.write_rows`` the plain way: one ``insert`` per table in a transaction."""
    written = 0
    async with driver.transaction() as conn:
        for spec, rows in batches:
            written += await conn.insert(spec, rows)
    return written


__all__ = ["Connection", "Dialect", "Driver", "write_in_transaction"]
