"""The SQLite driver (the embedded default): one aiosqlite connection in WAL mode.

SQLite has no decimal type, so money is TEXT holding the exact decimal string, JSON is TEXT
and booleans are 0/1; this module is the only place that converts. One connection guarded by
a lock keeps transactions from interleaving; WAL lets other processes (a backup, the CLI)
read while the server writes.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite
import msgspec

from pi5trading.storage.driver import write_in_transaction
from pi5trading.storage.errors import ConstraintError, DatabaseUnavailableError
from pi5trading.storage.records import Record
from pi5trading.storage.tables import ColumnKind, TableSpec, quote

_T = TypeVar("_T")
_PLACEHOLDER = re.compile(r"\$(\d+)")
_json_encode = msgspec.json.encode
_json_decode = msgspec.json.decode

# OperationalError messages that mean the file cannot be used right now (not a bad query).
_UNAVAILABLE_MESSAGES = ("locked", "disk i/o", "unable to open", "disk is full", "readonly")


@cache
def _sql(sql: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", sql)


def _encode_value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, dict | list):
        return _json_encode(v).decode()
    return v


# Below this many rows executemany is as cheap; above it, one statement over a JSON array.
_JSON_BATCH_MIN = 8
# A whole write as one statement (_OneStatement); off, a statement per table (tests).
_ONE_STATEMENT = True


async def _on_thread(db: aiosqlite.Connection, fn: Callable[[], _T]) -> _T:
    """Run ``fn`` on aiosqlite's thread, queued with its own calls (``_execute`` is what
    its public methods use; aiosqlite is pinned in constraints.txt)."""
    result: _T = await db._execute(fn)  # type: ignore[no-untyped-call]
    return result


def _insert_now(db: sqlite3.Connection, spec: TableSpec, rows: Sequence[tuple[Any, ...]]) -> int:
    """On aiosqlite's thread: insert one table's rows (see ``_InsertSql``)."""
    if not rows:
        return 0
    sql = _insert_sql(spec)
    if len(rows) >= _JSON_BATCH_MIN and sql.from_json is not None:
        payload = _json_payload(rows)
        if payload is not None:
            return max(db.execute(sql.from_json, (payload,)).rowcount, 0)
    return max(db.executemany(sql.values, rows).rowcount, 0)


def _json_payload(rows: Sequence[tuple[Any, ...]]) -> str | None:
    """The rows as one JSON array for ``json_each``, or None where executemany must do.

    Text, not bytes: SQLite 3.45+ reads a BLOB argument of its JSON functions as its
    binary JSONB format (Debian trixie ships 3.46)."""
    payload = _json_encode(rows)
    # SQLite's JSON functions end a string at an escaped NUL; executemany keeps it.
    if b"\\u0000" in payload:
        return None
    return payload.decode()


class _OneStatement:
    """A whole write as one statement, so one trip through SQLite without the GIL.

    ``INSERT INTO pi5_write VALUES (?, …)`` — one JSON array (or NULL) per table — fires an
    INSTEAD OF trigger on a TEMP view that runs every table's ``from_json`` insert. Each
    statement the sqlite3 module steps releases the GIL and takes it back; taking it back
    waits for whichever thread holds it to let go (up to ``sys.getswitchinterval()``, 5 ms),
    so a write of ~8 statements (BEGIN, a table each, COMMIT) spent as long waiting as
    working while the node ran. One statement is one transaction of its own (autocommit),
    atomic like BEGIN … COMMIT; ``total_changes`` counts the rows the trigger wrote (a row
    a conflict skipped is not counted, as with ``rowcount``).
    """

    def __init__(self) -> None:
        from pi5trading.storage.tables import SPECS

        specs = [spec for spec in SPECS.values() if _insert_sql(spec).from_json is not None]
        self.slot = {spec.table: i for i, spec in enumerate(specs)}
        columns = ", ".join(f"NULL AS t{i}" for i in range(len(specs)))
        body = " ".join(
            _insert_sql(spec).json_insert(f"NEW.t{i}") + ";" for i, spec in enumerate(specs)
        )
        self.create = (
            f"CREATE TEMP VIEW IF NOT EXISTS pi5_write AS SELECT {columns}",
            "CREATE TEMP TRIGGER IF NOT EXISTS pi5_write_rows INSTEAD OF INSERT ON pi5_write "
            f"BEGIN {body} END",
        )
        self.insert = f"INSERT INTO pi5_write VALUES ({', '.join('?' for _ in specs)})"

    def params(
        self, batches: Sequence[tuple[TableSpec, Sequence[tuple[Any, ...]]]]
    ) -> list[str | None] | None:
        """The statement's parameters, or None if this write needs statements of its own
        (a table with REAL columns, a table twice, text with NUL)."""
        params: list[str | None] = [None] * len(self.slot)
        for spec, rows in batches:
            i = self.slot.get(spec.table)
            if i is None or params[i] is not None:
                return None
            if rows:
                if (payload := _json_payload(rows)) is None:
                    return None
                params[i] = payload
        return params


@cache
def _one_statement() -> _OneStatement:
    return _OneStatement()


class _InsertSql:
    """A table's two INSERT statements.

    ``values`` is run by executemany: row by row, and around every row's sqlite3_step the
    sqlite3 module releases and takes back the GIL, so a batch of 5,000 bars waits 5,000
    times for the engine's and the sinks' threads. ``from_json`` inserts the whole batch
    in one step that gives the GIL up once: the rows go as one JSON array (msgspec encodes
    it in C) and ``json_each`` unpacks it inside SQLite (PERFORMANCE.md "Issue 12:
    session 10"). ``->>`` gives SQL values of the JSON types the rows had (text,
    integer, NULL), which is what executemany binds for str, int and None; tables with a
    float or bytes column keep executemany (a JSON round trip of a REAL is not promised
    exact). ``WHERE true`` lets SQLite parse the upsert's ON CONFLICT after a SELECT.
    """

    __slots__ = ("_head", "_tail", "from_json", "values")

    def __init__(self, spec: TableSpec) -> None:
        cols = ", ".join(quote(c) for c in spec.columns)
        marks = ", ".join("?" for _ in spec.columns)
        self.values = f"INSERT INTO {spec.table} ({cols}) VALUES ({marks}) {spec.conflict_sql}"
        self.from_json: str | None = None
        self._head = f"INSERT INTO {spec.table} ({cols}) SELECT " + ", ".join(
            f"value->>{i}" for i in range(len(spec.columns))
        )
        self._tail = spec.conflict_sql
        if _json_exact(spec):
            self.from_json = self.json_insert("?")

    def json_insert(self, array: str) -> str:
        """The INSERT taking the rows from the JSON array ``array`` (a parameter, or a
        trigger's ``NEW.<column>``)."""
        return f"{self._head} FROM json_each({array}) WHERE true {self._tail}"


def _json_exact(spec: TableSpec) -> bool:
    """Whether every column of the table survives a JSON round trip exactly."""
    info = msgspec.inspect.type_info(spec.record)
    assert isinstance(info, msgspec.inspect.StructType)
    inexact = (msgspec.inspect.FloatType, msgspec.inspect.BytesType)

    def ok(t: msgspec.inspect.Type) -> bool:
        if isinstance(t, msgspec.inspect.UnionType):
            return all(ok(u) for u in t.types)
        return not isinstance(t, inexact)

    return all(ok(f.type) for f in info.fields)


@cache
def _insert_sql(spec: TableSpec) -> _InsertSql:
    return _InsertSql(spec)


def _decimal_or_none(v: Any) -> Decimal | None:
    return None if v is None else Decimal(v)


def _json_or_none(v: Any) -> Any:
    return None if v is None else _json_decode(v)


def _bool_or_none(v: Any) -> bool | None:
    return None if v is None else bool(v)


_DECODERS: dict[ColumnKind, Callable[[Any], Any] | None] = {
    ColumnKind.PLAIN: None,
    ColumnKind.DECIMAL: _decimal_or_none,
    ColumnKind.JSON: _json_or_none,
    ColumnKind.BOOL: _bool_or_none,
}


def _row_decoder(spec: TableSpec) -> Callable[[Sequence[Any]], Record]:
    decoders = [(i, _DECODERS[k]) for i, k in enumerate(spec.kinds) if _DECODERS[k] is not None]
    make = spec.record

    def decode(row: Sequence[Any]) -> Record:
        values = list(row)
        for i, fn in decoders:
            assert fn is not None
            values[i] = fn(values[i])
        return make(*values)

    return decode


def _map_error(exc: BaseException, where: str) -> BaseException | None:
    if isinstance(exc, sqlite3.IntegrityError):
        return ConstraintError(str(exc))
    if isinstance(exc, OverflowError):  # an int beyond 64 bits: a refused row, not an outage
        return ConstraintError(str(exc))
    if isinstance(exc, sqlite3.OperationalError) and any(
        m in str(exc).lower() for m in _UNAVAILABLE_MESSAGES
    ):
        return DatabaseUnavailableError(f"SQLite database {where} is unavailable: {exc}")
    return None


class _SqliteConnection:
    def __init__(self, conn: aiosqlite.Connection, decoders: dict[str, Any]) -> None:
        self._conn = conn
        self._decoders = decoders

    async def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]:
        params = [_encode_value(a) for a in args]
        # One trip to aiosqlite's thread instead of three (execute, fetchall, close): each
        # trip waits for the GIL, which is what a request's tail latency is made of.
        return list(await self._conn.execute_fetchall(_sql(sql), params))

    async def fetch_records(self, spec: TableSpec, sql: str, *args: Any) -> list[Record]:
        decode = self._decoders.get(spec.table)
        if decode is None:
            decode = self._decoders[spec.table] = _row_decoder(spec)
        return [decode(row) for row in await self.fetch(sql, *args)]

    async def execute(self, sql: str, *args: Any) -> int:
        params = [_encode_value(a) for a in args]
        async with self._conn.execute(_sql(sql), params) as cur:
            return max(cur.rowcount, 0)

    async def insert(self, spec: TableSpec, rows: Sequence[tuple[Any, ...]]) -> int:
        if not rows:
            return 0
        db = self._conn
        return await _on_thread(db, lambda: _insert_now(db._conn, spec, rows))

    async def execute_script(self, sql: str) -> None:
        # Not executescript(): it would COMMIT the surrounding transaction first.
        for statement in _split_statements(sql):
            await self._conn.execute(statement)


def _split_statements(script: str) -> list[str]:
    """Split a script on the ``;`` that end complete statements (sqlite3.complete_statement)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip().strip(";").strip() and not _only_comments(buf):
                out.append(buf)
            buf = ""
    if buf.strip() and not _only_comments(buf):
        out.append(buf)
    return out


def _only_comments(text: str) -> bool:
    return all(
        not line.strip() or line.strip().startswith("--") or line.strip() == ";"
        for line in text.splitlines()
    )


class SqliteDriver:
    """Create with ``await SqliteDriver.open(path)``; the file and folders are created."""

    dialect: Literal["sqlite"] = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self._decoders: dict[str, Any] = {}
        self._write_view = False  # the TEMP view and trigger of _OneStatement, made once
        self.path = path
        self.description = path

    @classmethod
    async def open(cls, path: str | Path, *, busy_timeout_ms: int = 5000) -> SqliteDriver:
        p = Path(path)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves (see transaction()).
            conn = await aiosqlite.connect(p, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseUnavailableError(f"cannot open SQLite database {p}: {exc}") from exc
        try:
            for pragma in (
                "PRAGMA journal_mode=WAL",
                "PRAGMA synchronous=NORMAL",
                "PRAGMA foreign_keys=ON",
                f"PRAGMA busy_timeout={int(busy_timeout_ms)}",
            ):
                await conn.execute(pragma)
        except BaseException:
            await conn.close()
            raise
        return cls(conn, str(p))

    def encode(self, spec: TableSpec, records: Sequence[Record]) -> list[tuple[Any, ...]]:
        return spec.encode(records, json_text=True, bool_int=True)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[_SqliteConnection]:
        async with self._lock:
            try:
                yield _SqliteConnection(self._conn, self._decoders)
            except Exception as exc:
                mapped = _map_error(exc, self.description)
                if mapped is not None:
                    raise mapped from exc
                raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SqliteConnection]:
        async with self._lock:
            try:
                if self._conn.in_transaction:
                    # A task cancelled mid-transaction: aiosqlite's thread ran the statement
                    # anyway, so a transaction may be dangling. Roll it back before ours.
                    await self._conn.execute("ROLLBACK")
                # IMMEDIATE takes the write lock up front instead of failing at first write.
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield _SqliteConnection(self._conn, self._decoders)
                except BaseException:
                    await self._conn.execute("ROLLBACK")
                    raise
                await self._conn.execute("COMMIT")
            except Exception as exc:
                mapped = _map_error(exc, self.description)
                if mapped is not None:
                    raise mapped from exc
                raise

    async def write_rows(
        self, batches: Sequence[tuple[TableSpec, Sequence[tuple[Any, ...]]]]
    ) -> int:
        # The whole write as one statement (_OneStatement) in one trip to aiosqlite's
        # thread: statement by statement, each of a write's ~8 statements (BEGIN, a table
        # each, COMMIT) waited for the busy event loop to take its result, and for the GIL
        # after its step, so the writer (the node's bottleneck) sat idle half the time.
        one = _one_statement()
        params = one.params(batches) if _ONE_STATEMENT else None
        if params is None:  # rare: a REAL column, a table twice, text with NUL
            return await write_in_transaction(self, batches)
        db = self._conn

        def run() -> int:
            conn = db._conn
            if conn.in_transaction:  # see transaction()
                conn.execute("ROLLBACK")
            if not self._write_view:
                for sql in one.create:
                    conn.execute(sql)
                self._write_view = True
            before = conn.total_changes
            conn.execute(one.insert, params)
            return conn.total_changes - before

        async with self.connection():  # the lock, and errors mapped
            return await _on_thread(db, run)

    async def close(self) -> None:
        await self._conn.close()


__all__ = ["SqliteDriver"]
