"""``SqlRepository``: the repository protocol over either driver, behind a circuit breaker.

SQL here is shared by PostgreSQL and SQLite (``$n`` placeholders, quoted identifiers, standard
``ON CONFLICT``); dialect differences live in the migrations and the two driver modules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from pi5trading.resilience import BreakerSnapshot, CircuitBreaker, CircuitOpenError
from pi5trading.storage.audit_chain import GENESIS, chain
from pi5trading.storage.driver import Connection, Driver
from pi5trading.storage.errors import DatabaseUnavailableError
from pi5trading.storage.records import (
    AlertRow,
    AuditRow,
    BacktestResultRow,
    BacktestRunRow,
    BarRow,
    CredentialRow,
    EncodedBar,
    EncodedRow,
    EquityRow,
    FillRow,
    InstrumentRow,
    OrderEventRow,
    OrderRow,
    PositionRow,
    QuoteTickRow,
    Record,
    RefreshTokenRow,
    StrategyRow,
    StrategyRunRow,
    TradeTickRow,
    UserRow,
)
from pi5trading.storage.tables import TableSpec, quote, spec_for, spec_for_tag

T = TypeVar("T")
R = TypeVar("R", bound=Record)

BAR_AGGREGATES: Final = ("5m", "15m", "1h", "1d")
"""Intervals TimescaleDB keeps continuous aggregates of (``bars_5m`` …, timescale series)."""

_OPEN_STATUSES = "('created', 'accepted', 'submitted', 'partially_filled')"


_AUDIT_LOCK: Final = 0x5049_3541_5544_4954 % (2**63)
"""The advisory lock key the audit chain's writers take (PostgreSQL)."""


class _Where:
    """Builds ``WHERE a = $1 AND b >= $2`` with numbered placeholders."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.args: list[Any] = []

    def add(self, clause: str, *values: Any) -> None:
        # "{}" in the clause stands for the next placeholders, in order.
        marks = []
        for v in values:
            self.args.append(v)
            marks.append(f"${len(self.args)}")
        self.clauses.append(clause.format(*marks))

    def param(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def sql(self) -> str:
        return f"WHERE {' AND '.join(self.clauses)}" if self.clauses else ""


def _batches(
    driver: Driver, records: Sequence[Record | EncodedBar | EncodedRow]
) -> list[tuple[TableSpec, list[tuple[Any, ...]]]]:
    """Validated, encoded rows grouped by table, in order of first appearance. Rows the core
    encoded are rows already: bars (``EncodedBar``, plain tuples) join the ``bars`` rows as
    they are (``bars`` keeps the first of a key, so no dedupe is needed); an
    ``EncodedRow`` joins the rows of its table and kind (deduped by key like records; a
    table's records, if any, go in a statement of their own). Both drivers take JSON as
    text, which is what the core wrote."""
    groups: dict[object, list[Any]] = {}
    for rec in records:
        group: object = rec.kind if isinstance(rec, EncodedRow) else type(rec)
        groups.setdefault(group, []).append(rec)
    out: list[tuple[TableSpec, list[tuple[Any, ...]]]] = []
    for key, recs in groups.items():
        if key is tuple:
            out.append((spec_for(BarRow), recs))
            continue
        if isinstance(key, str):
            spec = spec_for_tag(key)
            out.append((spec, spec.dedupe_rows([e.row for e in recs])))
            continue
        spec = spec_for(cast(type[Record], key))
        out.append((spec, driver.encode(spec, spec.dedupe_by_key(recs))))
    return out


class BulkSession:
    """Writes inside one transaction (see ``SqlRepository.bulk_session``)."""

    def __init__(self, driver: Driver, conn: Connection) -> None:
        self._driver = driver
        self._conn = conn

    async def write(self, records: Sequence[Record]) -> int:
        """Like ``Repository.write``, inside the session's transaction."""
        written = 0
        for spec, rows in _batches(self._driver, records):
            written += await self._conn.insert(spec, rows)
        return written

    async def ensure_instrument(self, instrument: InstrumentRow) -> bool:
        """Register the instrument unless it exists (an existing one is left as it is)."""
        spec = spec_for(InstrumentRow)
        (row,) = spec.rows([instrument])
        cols = ", ".join(quote(c) for c in spec.columns)
        marks = ", ".join(f"${i}" for i in range(1, len(row) + 1))
        sql = f"INSERT INTO instruments ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        return await self._conn.execute(sql, *row) > 0


def create_breaker(failure_threshold: int = 5, reset_timeout: float = 30.0) -> CircuitBreaker:
    """The database breaker: only connectivity failures count, not refused writes."""
    return CircuitBreaker(
        "database",
        failure_threshold=failure_threshold,
        reset_timeout=reset_timeout,
        counted=(DatabaseUnavailableError,),
    )


class SqlRepository:
    """Implements ``Repository``. Owns the driver: ``close()`` closes it."""

    def __init__(self, driver: Driver, breaker: CircuitBreaker | None = None) -> None:
        self._driver = driver
        self.breaker = breaker
        self.dialect: str = driver.dialect

    @property
    def driver(self) -> Driver:
        return self._driver

    def breaker_state(self) -> BreakerSnapshot | None:
        return None if self.breaker is None else self.breaker.snapshot()

    async def close(self) -> None:
        await self._driver.close()

    # -- plumbing --

    async def _guard(self, fn: Callable[[], Awaitable[T]]) -> T:
        if self.breaker is None:
            return await fn()
        try:
            return await self.breaker.call(fn)
        except CircuitOpenError as exc:
            raise DatabaseUnavailableError(f"database unavailable: {exc}") from exc

    async def _read(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        async def run() -> T:
            async with self._driver.connection() as conn:
                return await fn(conn)

        return await self._guard(run)

    async def _select(self, record: type[R], tail: str, *args: Any) -> list[R]:
        spec = spec_for(record)
        sql = f"SELECT {spec.select_list} FROM {spec.table} {tail}"

        async def run(conn: Connection) -> list[Record]:
            return await conn.fetch_records(spec, sql, *args)

        return cast(list[R], await self._read(run))

    async def _one(self, record: type[R], tail: str, *args: Any) -> R | None:
        rows = await self._select(record, tail, *args)
        return rows[0] if rows else None

    async def _execute(self, sql: str, *args: Any) -> int:
        async def run(conn: Connection) -> int:
            return await conn.execute(sql, *args)

        return await self._read(run)

    @staticmethod
    def _limit(where: _Where, limit: int | None) -> str:
        if limit is None:
            return ""
        if limit < 0:
            raise ValueError("limit must not be negative")
        return f" LIMIT {where.param(int(limit))}"

    async def ping(self) -> None:
        async def run(conn: Connection) -> None:
            await conn.fetch("SELECT 1")

        await self._read(run)

    # -- writes --

    async def write(self, records: Sequence[Record | EncodedBar | EncodedRow]) -> int:
        if not records:
            return 0
        # Validate everything before touching the database: a bad record writes nothing.
        batches = _batches(self._driver, records)
        audits = [r for r in records if isinstance(r, AuditRow)]

        async def run() -> int:
            if not audits:
                return await self._driver.write_rows(batches)
            written = 0
            async with self._driver.transaction() as conn:
                todo = batches
                if audits:
                    linked = await self._link_audit(conn, audits)
                    todo = [b for b in batches if b[0].record is not AuditRow]
                    if linked:
                        todo += _batches(self._driver, linked)
                for spec, rows in todo:
                    written += await conn.insert(spec, rows)
            return written

        return await self._guard(run)

    async def _link_audit(self, conn: Connection, rows: list[AuditRow]) -> list[AuditRow]:
        """Inside the writing transaction: the audit rows not stored yet, linked onto the
        chain (``audit_chain``) under a lock, so concurrent writers extend one chain."""
        if self.dialect == "postgres":
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _AUDIT_LOCK)
        w = _Where()
        keys = " OR ".join(
            f'("event_id" = {w.param(r.event_id)} AND "ts_ns" = {w.param(r.ts_ns)})' for r in rows
        )
        stored = {
            (str(e), int(t))
            for e, t in await conn.fetch(
                f'SELECT "event_id", "ts_ns" FROM audit_log WHERE {keys}', *w.args
            )
        }
        seen: set[tuple[str, int]] = set()
        new = []
        for r in rows:
            key = (r.event_id, r.ts_ns)
            if key not in stored and key not in seen:
                seen.add(key)
                new.append(r)
        if not new:
            return []
        last = await conn.fetch(
            'SELECT "seq", "hash" FROM audit_log WHERE "seq" IS NOT NULL'
            ' ORDER BY "seq" DESC LIMIT 1'
        )
        last_seq, last_hash = (int(last[0][0]), str(last[0][1])) if last else (0, GENESIS)
        return chain(new, last_seq, last_hash)

    async def audit_chain(self, *, after_seq: int = 0, limit: int = 5000) -> list[AuditRow]:
        """Chained audit rows with ``seq > after_seq``, in chain order (for verifying)."""
        return await self._select(
            AuditRow, 'WHERE "seq" > $1 ORDER BY "seq" LIMIT $2', after_seq, limit
        )

    async def count_unchained_audit(self) -> int:
        async def run(conn: Connection) -> int:
            rows = await conn.fetch('SELECT count(*) FROM audit_log WHERE "seq" IS NULL')
            return int(rows[0][0])

        return await self._read(run)

    @asynccontextmanager
    async def bulk_session(self) -> AsyncIterator[BulkSession]:
        """One transaction for many writes: committed if the block ends normally, rolled
        back if it raises. For imports; it holds the write lock (SQLite) until it ends."""
        if self.breaker is not None and not self.breaker.allows_call():
            snap = self.breaker.snapshot()
            raise DatabaseUnavailableError(
                f"database unavailable: circuit is open ({snap.last_error}); "
                f"retry in {snap.retry_in_s:.1f} s"
            )
        async with self._driver.transaction() as conn:
            yield BulkSession(self._driver, conn)

    async def _insert_strict(self, record: Record) -> None:
        """A plain INSERT: a duplicate key is a ``ConstraintError``, not a silent skip."""
        spec = spec_for(type(record))
        (row,) = spec.rows([record])
        cols = ", ".join(quote(c) for c in spec.columns)
        marks = ", ".join(f"${i}" for i in range(1, len(row) + 1))
        await self._execute(f"INSERT INTO {spec.table} ({cols}) VALUES ({marks})", *row)

    async def _update(self, record: Record) -> bool:
        spec = spec_for(type(record))
        (row,) = spec.rows([record])
        values = dict(zip(spec.columns, row, strict=True))
        w = _Where()
        sets = ", ".join(
            f"{quote(c)} = {w.param(values[c])}" for c in spec.columns if c not in spec.key
        )
        for k in spec.key:
            w.add(f"{quote(k)} = {{}}", values[k])
        return await self._execute(f"UPDATE {spec.table} SET {sets} {w.sql()}", *w.args) > 0

    # -- market data --

    async def upsert_instrument(self, instrument: InstrumentRow) -> None:
        await self.write([instrument])

    async def get_instrument(self, instrument_id: str) -> InstrumentRow | None:
        return await self._one(InstrumentRow, 'WHERE "instrument_id" = $1', instrument_id)

    async def list_instruments(self) -> list[InstrumentRow]:
        return await self._select(InstrumentRow, 'ORDER BY "instrument_id"')

    async def insert_bars(self, bars: Sequence[BarRow]) -> int:
        return await self.write(bars)

    async def get_bars(
        self,
        instrument_id: str,
        interval: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int | None = None,
    ) -> list[BarRow]:
        w = _Where()
        w.add('"instrument_id" = {}', instrument_id)
        w.add('"interval" = {}', interval)
        if start_ns is not None:
            w.add('"ts_ns" >= {}', start_ns)
        if end_ns is not None:
            w.add('"ts_ns" < {}', end_ns)
        tail = f'{w.sql()} ORDER BY "ts_ns"' + self._limit(w, limit)
        return await self._select(BarRow, tail, *w.args)

    async def get_bar_aggregate(
        self,
        instrument_id: str,
        interval: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int | None = None,
        *,
        newest: bool = False,
    ) -> list[BarRow] | None:
        if self._driver.dialect != "postgres" or interval not in BAR_AGGREGATES:
            return None
        view = f"bars_{interval}"
        w = _Where()
        w.add('"instrument_id" = {}', instrument_id)
        if start_ns is not None:
            w.add('"ts_ns" >= {}', start_ns)
        if end_ns is not None:
            w.add('"ts_ns" < {}', end_ns)
        order = "DESC" if newest else ""
        tail = f'{w.sql()} ORDER BY "ts_ns" {order}' + self._limit(w, limit)
        sql = (
            f"SELECT instrument_id, '{interval}', ts_ns, open, high, low, close, volume"
            f" FROM {view} {tail}"
        )

        async def run(conn: Connection) -> list[BarRow] | None:
            found = await conn.fetch("SELECT to_regclass($1)", f"public.{view}")
            if found[0][0] is None:
                return None
            rows = cast(list[BarRow], await conn.fetch_records(spec_for(BarRow), sql, *w.args))
            return rows[::-1] if newest else rows

        return await self._read(run)

    async def latest_bar(self, instrument_id: str, interval: str) -> BarRow | None:
        return await self._one(
            BarRow,
            'WHERE "instrument_id" = $1 AND "interval" = $2 ORDER BY "ts_ns" DESC LIMIT 1',
            instrument_id,
            interval,
        )

    async def count_bars(self, instrument_id: str, interval: str) -> int:
        async def run(conn: Connection) -> int:
            rows = await conn.fetch(
                'SELECT count(*) FROM bars WHERE "instrument_id" = $1 AND "interval" = $2',
                instrument_id,
                interval,
            )
            return int(rows[0][0])

        return await self._read(run)

    async def get_quote_ticks(
        self, instrument_id: str, start_ns: int, end_ns: int, limit: int | None = None
    ) -> list[QuoteTickRow]:
        w = _Where()
        w.add(
            '"instrument_id" = {} AND "ts_ns" >= {} AND "ts_ns" < {}',
            instrument_id,
            start_ns,
            end_ns,
        )
        tail = f'{w.sql()} ORDER BY "ts_ns", "seq"' + self._limit(w, limit)
        return await self._select(QuoteTickRow, tail, *w.args)

    async def get_trade_ticks(
        self, instrument_id: str, start_ns: int, end_ns: int, limit: int | None = None
    ) -> list[TradeTickRow]:
        w = _Where()
        w.add(
            '"instrument_id" = {} AND "ts_ns" >= {} AND "ts_ns" < {}',
            instrument_id,
            start_ns,
            end_ns,
        )
        tail = f'{w.sql()} ORDER BY "ts_ns", "trade_id"' + self._limit(w, limit)
        return await self._select(TradeTickRow, tail, *w.args)

    # -- trading --

    async def save_order(self, order: OrderRow) -> None:
        await self.write([order])

    async def get_order(self, order_id: str) -> OrderRow | None:
        return await self._one(OrderRow, 'WHERE "order_id" = $1', order_id)

    async def list_orders(
        self, strategy_id: str | None = None, *, open_only: bool = False, limit: int = 100
    ) -> list[OrderRow]:
        w = _Where()
        if strategy_id is not None:
            w.add('"strategy_id" = {}', strategy_id)
        if open_only:
            w.add(f'"status" IN {_OPEN_STATUSES}')
        tail = f'{w.sql()} ORDER BY "created_ns" DESC, "order_id"' + self._limit(w, limit)
        return await self._select(OrderRow, tail, *w.args)

    async def find_orders(
        self,
        *,
        status: Sequence[str] = (),
        instrument_id: str | None = None,
        strategy_id: str | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[OrderRow]:
        w = _Where()
        if status:
            w.add('"status" IN (' + ", ".join(w.param(x) for x in status) + ")")
        if instrument_id is not None:
            w.add('"instrument_id" = {}', instrument_id)
        if strategy_id is not None:
            w.add('"strategy_id" = {}', strategy_id)
        if start_ns is not None:
            w.add('"created_ns" >= {}', start_ns)
        if end_ns is not None:
            w.add('"created_ns" < {}', end_ns)
        tail = f'{w.sql()} ORDER BY "created_ns" DESC, "order_id"'
        tail += f" LIMIT {w.param(limit)} OFFSET {w.param(offset)}"
        return await self._select(OrderRow, tail, *w.args)

    async def find_fills(
        self,
        *,
        instrument_id: str | None = None,
        strategy_id: str | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[FillRow]:
        w = _Where()
        if instrument_id is not None:
            w.add('"instrument_id" = {}', instrument_id)
        if strategy_id is not None:
            w.add('"strategy_id" = {}', strategy_id)
        if start_ns is not None:
            w.add('"ts_ns" >= {}', start_ns)
        if end_ns is not None:
            w.add('"ts_ns" < {}', end_ns)
        tail = f'{w.sql()} ORDER BY "ts_ns" DESC, "fill_id"'
        tail += f" LIMIT {w.param(limit)} OFFSET {w.param(offset)}"
        return await self._select(FillRow, tail, *w.args)

    async def get_order_events(self, order_id: str) -> list[OrderEventRow]:
        return await self._select(OrderEventRow, 'WHERE "order_id" = $1 ORDER BY "seq"', order_id)

    async def list_fills(
        self, *, order_id: str | None = None, strategy_id: str | None = None, limit: int = 1000
    ) -> list[FillRow]:
        w = _Where()
        if order_id is not None:
            w.add('"order_id" = {}', order_id)
        if strategy_id is not None:
            w.add('"strategy_id" = {}', strategy_id)
        tail = f'{w.sql()} ORDER BY "ts_ns" DESC, "fill_id"' + self._limit(w, limit)
        return await self._select(FillRow, tail, *w.args)

    async def latest_positions(self, strategy_id: str) -> list[PositionRow]:
        return await self._select(
            PositionRow,
            'AS p WHERE "strategy_id" = $1 AND "ts_ns" = (SELECT max(q."ts_ns")'
            ' FROM position_snapshots AS q WHERE q."strategy_id" = p."strategy_id"'
            ' AND q."instrument_id" = p."instrument_id") ORDER BY "instrument_id"',
            strategy_id,
        )

    async def get_equity_curve(
        self,
        account_id: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int | None = None,
    ) -> list[EquityRow]:
        w = _Where()
        w.add('"account_id" = {}', account_id)
        if start_ns is not None:
            w.add('"ts_ns" >= {}', start_ns)
        if end_ns is not None:
            w.add('"ts_ns" < {}', end_ns)
        tail = f'{w.sql()} ORDER BY "ts_ns"' + self._limit(w, limit)
        return await self._select(EquityRow, tail, *w.args)

    async def order_ids(self) -> list[str]:
        async def run(conn: Connection) -> list[str]:
            rows = await conn.fetch(
                'SELECT "order_id" FROM orders UNION SELECT "order_id" FROM order_events ORDER BY 1'
            )
            return [str(r[0]) for r in rows]

        return await self._read(run)

    async def latest_equity(self, account_id: str) -> EquityRow | None:
        return await self._one(
            EquityRow, 'WHERE "account_id" = $1 ORDER BY "ts_ns" DESC LIMIT 1', account_id
        )

    async def equity_peak(self, account_id: str) -> EquityRow | None:
        """The snapshot with the highest equity (the drawdown limit's peak after a restart)."""
        # SQLite keeps decimals as text: order by their value, read the exact one back.
        key = '"equity"' if self.dialect == "postgres" else 'CAST("equity" AS REAL)'
        return await self._one(
            EquityRow, f'WHERE "account_id" = $1 ORDER BY {key} DESC, "ts_ns" LIMIT 1', account_id
        )

    async def last_event_ns(self, account_id: str, *, orders: bool = True) -> int | None:
        """The newest timestamp among the node's own records (quotes, trades, order events,
        fills, the account's equity): how far a crashed node's data got. Bars are left out:
        imported history may lie anywhere in time.

        ``orders=False``: the newest quote or trade tick, the rest only when none is stored.
        With a broker, order events, fills and the equity they move carry the broker's
        clock, not the feed's."""

        async def run(conn: Connection) -> int | None:
            newest: dict[str, int] = {}
            for table in ("quote_ticks", "trade_ticks", "order_events", "fills"):
                (row,) = await conn.fetch(f'SELECT MAX("ts_ns") FROM {table}')
                if row[0] is not None:
                    newest[table] = int(row[0])
            (row,) = await conn.fetch(
                'SELECT MAX("ts_ns") FROM equity_snapshots WHERE "account_id" = $1', account_id
            )
            if row[0] is not None:
                newest["equity_snapshots"] = int(row[0])
            market = [newest[t] for t in ("quote_ticks", "trade_ticks") if t in newest]
            if not orders and market:
                return max(market)
            return max(newest.values(), default=None)

        return await self._read(run)

    # -- strategies and backtests --

    async def save_strategy(self, strategy: StrategyRow) -> None:
        await self.write([strategy])

    async def get_strategy(self, strategy_id: str) -> StrategyRow | None:
        return await self._one(StrategyRow, 'WHERE "strategy_id" = $1', strategy_id)

    async def create_strategy(self, strategy: StrategyRow) -> None:
        """Insert a new strategy row; ``ConstraintError`` if its id (or name) exists."""
        await self._insert_strict(strategy)

    async def update_strategy_config(
        self,
        strategy_id: str,
        *,
        name: str,
        class_path: str,
        config: dict[str, Any],
    ) -> bool:
        """Change what a strategy is (name, class, config), not its status or saved state;
        the row's ``updated_ns`` follows its status changes (the node's clock)."""
        return (
            await self._execute(
                'UPDATE strategies SET "name" = $1, "class_path" = $2, "config" = $3'
                ' WHERE "strategy_id" = $4',
                name,
                class_path,
                config,
                strategy_id,
            )
            > 0
        )

    async def delete_strategy(self, strategy_id: str) -> bool:
        """Forget a strategy instance (its runs go with it; its orders and fills stay)."""
        return (
            await self._execute('DELETE FROM strategies WHERE "strategy_id" = $1', strategy_id) > 0
        )

    async def list_strategies(self) -> list[StrategyRow]:
        return await self._select(StrategyRow, 'ORDER BY "name"')

    async def save_strategy_state(self, strategy_id: str, state: dict[str, Any]) -> bool:
        # updated_ns is left to the status changes (their clock is the node's).
        changed = await self._execute(
            'UPDATE strategies SET "state" = $1 WHERE "strategy_id" = $2', state, strategy_id
        )
        return changed > 0

    async def save_strategy_status(self, strategy_id: str, status: str, updated_ns: int) -> bool:
        changed = await self._execute(
            'UPDATE strategies SET "status" = $1, "updated_ns" = $2'
            ' WHERE "strategy_id" = $3 AND "updated_ns" <= $2',
            status,
            updated_ns,
            strategy_id,
        )
        return changed > 0

    async def save_strategy_run(self, run: StrategyRunRow) -> None:
        await self.write([run])

    async def list_strategy_runs(self, strategy_id: str, limit: int = 100) -> list[StrategyRunRow]:
        w = _Where()
        w.add('"strategy_id" = {}', strategy_id)
        tail = f'{w.sql()} ORDER BY "started_ns" DESC, "run_id"' + self._limit(w, limit)
        return await self._select(StrategyRunRow, tail, *w.args)

    async def save_backtest_run(self, run: BacktestRunRow) -> None:
        await self.write([run])

    async def get_backtest_run(self, run_id: str) -> BacktestRunRow | None:
        return await self._one(BacktestRunRow, 'WHERE "run_id" = $1', run_id)

    async def list_backtest_runs(self, limit: int = 100) -> list[BacktestRunRow]:
        w = _Where()
        tail = 'ORDER BY "created_ns" DESC, "run_id"' + self._limit(w, limit)
        return await self._select(BacktestRunRow, tail, *w.args)

    async def save_backtest_result(self, result: BacktestResultRow) -> None:
        await self.write([result])

    async def get_backtest_result(self, run_id: str) -> BacktestResultRow | None:
        return await self._one(BacktestResultRow, 'WHERE "run_id" = $1', run_id)

    # -- users and sessions --

    async def create_user(self, user: UserRow) -> None:
        await self._insert_strict(user)

    async def update_user(self, user: UserRow) -> bool:
        return await self._update(user)

    async def get_user(self, user_id: str) -> UserRow | None:
        return await self._one(UserRow, 'WHERE "user_id" = $1', user_id)

    async def get_user_by_username(self, username: str) -> UserRow | None:
        return await self._one(UserRow, 'WHERE "username" = $1', username)

    async def list_users(self) -> list[UserRow]:
        return await self._select(UserRow, 'ORDER BY "username"')

    async def save_refresh_token(self, token: RefreshTokenRow) -> None:
        await self.write([token])

    async def get_refresh_token(self, token_hash: str) -> RefreshTokenRow | None:
        return await self._one(RefreshTokenRow, 'WHERE "token_hash" = $1', token_hash)

    async def revoke_refresh_tokens(
        self, *, at_ns: int, family_id: str | None = None, user_id: str | None = None
    ) -> int:
        if (family_id is None) == (user_id is None):
            raise ValueError("give exactly one of family_id or user_id")
        column, value = ("family_id", family_id) if family_id is not None else ("user_id", user_id)
        return await self._execute(
            f'UPDATE refresh_tokens SET "revoked_ns" = $1 WHERE "{column}" = $2'
            ' AND "revoked_ns" IS NULL',
            at_ns,
            value,
        )

    # -- credentials (encrypted: pi5trading.storage.credentials) --

    async def save_credential(self, credential: CredentialRow) -> None:
        await self.write([credential])

    async def get_credential(self, provider: str) -> CredentialRow | None:
        return await self._one(CredentialRow, 'WHERE "provider" = $1', provider)

    async def list_credentials(self) -> list[CredentialRow]:
        return await self._select(CredentialRow, 'ORDER BY "provider"')

    async def delete_credential(self, provider: str) -> bool:
        return await self._execute('DELETE FROM credentials WHERE "provider" = $1', provider) > 0

    async def reencrypt_credential(
        self, provider: str, *, ciphertext: str, key_id: str, updated_ns: int
    ) -> bool:
        return (
            await self._execute(
                'UPDATE credentials SET "ciphertext" = $1, "key_id" = $2'
                ' WHERE "provider" = $3 AND "updated_ns" = $4',
                ciphertext,
                key_id,
                provider,
                updated_ns,
            )
            > 0
        )

    # -- audit and alerts --

    async def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        start_ns: int | None = None,
        limit: int = 100,
    ) -> list[AuditRow]:
        w = _Where()
        if actor is not None:
            w.add('"actor" = {}', actor)
        if action is not None:
            w.add('"action" = {}', action)
        if start_ns is not None:
            w.add('"ts_ns" >= {}', start_ns)
        tail = f'{w.sql()} ORDER BY "ts_ns" DESC, "event_id"' + self._limit(w, limit)
        return await self._select(AuditRow, tail, *w.args)

    async def list_alerts(self, *, open_only: bool = False, limit: int = 100) -> list[AlertRow]:
        w = _Where()
        if open_only:
            w.add('"acknowledged_ns" IS NULL')
        tail = f'{w.sql()} ORDER BY "ts_ns" DESC, "alert_id"' + self._limit(w, limit)
        return await self._select(AlertRow, tail, *w.args)

    async def acknowledge_alert(self, alert_id: str, *, by: str, at_ns: int) -> bool:
        changed = await self._execute(
            'UPDATE alerts SET "acknowledged_ns" = $1, "acknowledged_by" = $2'
            ' WHERE "alert_id" = $3 AND "acknowledged_ns" IS NULL',
            at_ns,
            by,
            alert_id,
        )
        return changed > 0


__all__ = ["BulkSession", "SqlRepository", "create_breaker"]

if TYPE_CHECKING:
    from pi5trading.storage.protocol import Repository

    def _implements_protocol(repo: SqlRepository) -> Repository:
        return repo  # mypy checks here that SqlRepository satisfies Repository
