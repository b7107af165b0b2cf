"""The repository protocol: everything the rest of the system may ask of storage.

One implementation (``SqlRepository``) over two drivers (PostgreSQL, SQLite); both pass the
contract suite in ``tests/contract/``. Conventions (see ``records.py``): ``*_ns`` are UTC UNIX
nanoseconds, money is ``Decimal``; list methods return newest first unless they say otherwise.

Errors: ``DatabaseUnavailableError`` when the database cannot be reached or its circuit
breaker is open (reads fail fast then), ``ConstraintError`` when a write breaks a constraint,
``RecordError`` when a record is invalid before it reaches the database. A failed call
writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

from pi5trading.resilience import BreakerSnapshot
from pi5trading.storage.records import (
    AlertRow,
    AuditRow,
    BacktestResultRow,
    BacktestRunRow,
    BarRow,
    CredentialRow,
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

if TYPE_CHECKING:
    from pi5trading.storage.repository import BulkSession


class Repository(Protocol):
    dialect: str
    """``postgres`` or ``sqlite``."""

    def breaker_state(self) -> BreakerSnapshot | None:
        """The database circuit breaker's state (``None`` when there is none)."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Round trip to the database; raises ``DatabaseUnavailableError`` if it is down."""
        ...

    # -- generic, idempotent writes (the batched writer and the journal replay use this) --
    async def write(self, records: Sequence[Record]) -> int:
        """Write records of any stored types in one transaction; return rows changed.

        Events (bars, ticks, fills, order events, snapshots, audit, alerts) already stored
        are skipped, so writing the same batch twice stores it once. Orders keep their newest
        state; other entities are replaced.
        """
        ...

    def bulk_session(self) -> AbstractAsyncContextManager[BulkSession]:
        """One transaction for many ``write``s: all or nothing (bulk imports)."""
        ...

    # -- market data --
    async def upsert_instrument(self, instrument: InstrumentRow) -> None: ...
    async def get_instrument(self, instrument_id: str) -> InstrumentRow | None: ...
    async def list_instruments(self) -> list[InstrumentRow]:
        """Sorted by instrument_id."""
        ...

    async def insert_bars(self, bars: Sequence[BarRow]) -> int:
        """Store bars, skipping ones already stored; return how many were new."""
        ...

    async def get_bars(
        self,
        instrument_id: str,
        interval: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int | None = None,
    ) -> list[BarRow]:
        """Bars with ``start_ns <= ts_ns < end_ns``, oldest first, at most ``limit``."""
        ...

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
        """Bars of ``interval`` built by the database from the stored ``1m`` bars (TimescaleDB's
        continuous aggregates ``bars_5m``, ``bars_15m``, ``bars_1h``, ``bars_1d``: UTC-aligned
        buckets, the last one possibly still in progress), oldest first (``newest``: the
        latest ``limit`` ones, still oldest first); ``None`` when the database has no
        aggregate for ``interval`` (SQLite, plain PostgreSQL)."""
        ...

    async def latest_bar(self, instrument_id: str, interval: str) -> BarRow | None: ...
    async def count_bars(self, instrument_id: str, interval: str) -> int: ...
    async def get_quote_ticks(
        self, instrument_id: str, start_ns: int, end_ns: int, limit: int | None = None
    ) -> list[QuoteTickRow]:
        """Oldest first, by (ts_ns, seq)."""
        ...

    async def get_trade_ticks(
        self, instrument_id: str, start_ns: int, end_ns: int, limit: int | None = None
    ) -> list[TradeTickRow]:
        """Oldest first."""
        ...

    # -- trading --
    async def save_order(self, order: OrderRow) -> None:
        """Store the order's state unless a newer state (by ``updated_ns``) is stored."""
        ...

    async def get_order(self, order_id: str) -> OrderRow | None: ...
    async def list_orders(
        self,
        strategy_id: str | None = None,
        *,
        open_only: bool = False,
        limit: int = 100,
    ) -> list[OrderRow]:
        """Newest first; ``open_only``: created, accepted, submitted or partially filled."""
        ...

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
        """Newest first, filtered (created in ``[start_ns, end_ns)``), one page."""
        ...

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
        """Newest first, filtered, one page."""
        ...

    async def get_order_events(self, order_id: str) -> list[OrderEventRow]:
        """The order's lifecycle, by ``seq``."""
        ...

    async def list_fills(
        self, *, order_id: str | None = None, strategy_id: str | None = None, limit: int = 1000
    ) -> list[FillRow]:
        """Newest first."""
        ...

    async def latest_positions(self, strategy_id: str) -> list[PositionRow]:
        """The latest snapshot of each instrument the strategy has traded, by instrument."""
        ...

    async def get_equity_curve(
        self,
        account_id: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int | None = None,
    ) -> list[EquityRow]:
        """Oldest first."""
        ...

    async def order_ids(self) -> list[str]:
        """Every order id stored (in ``orders`` or only in ``order_events``), sorted: what
        order-id counters resume from after a restart."""
        ...

    async def latest_equity(self, account_id: str) -> EquityRow | None:
        """The newest equity snapshot of the account (cash to resume from after a restart)."""
        ...

    async def equity_peak(self, account_id: str) -> EquityRow | None:
        """The snapshot with the highest equity."""
        ...

    async def last_event_ns(self, account_id: str, *, orders: bool = True) -> int | None:
        """The newest timestamp among quotes, trades, order events, fills and the account's
        equity snapshots (not bars: imported history); ``orders=False``: the newest quote or
        trade tick, the rest only when none is stored (orders on a broker's clock)."""
        ...

    # -- strategies and backtests --
    async def save_strategy(self, strategy: StrategyRow) -> None: ...
    async def get_strategy(self, strategy_id: str) -> StrategyRow | None: ...
    async def create_strategy(self, strategy: StrategyRow) -> None:
        """Insert only: ``ConstraintError`` if the id (or name) is taken."""
        ...

    async def update_strategy_config(
        self,
        strategy_id: str,
        *,
        name: str,
        class_path: str,
        config: dict[str, Any],
    ) -> bool:
        """Change name, class and config only; False if there is no such strategy."""
        ...

    async def delete_strategy(self, strategy_id: str) -> bool:
        """Forget an instance (its runs too; orders and fills stay); False if unknown."""
        ...

    async def list_strategies(self) -> list[StrategyRow]:
        """Sorted by name."""
        ...

    async def save_strategy_state(self, strategy_id: str, state: dict[str, Any]) -> bool:
        """Replace the saved state; False if there is no such strategy."""
        ...

    async def save_strategy_status(self, strategy_id: str, status: str, updated_ns: int) -> bool:
        """Set the status unless a newer change (by ``updated_ns``) is stored; False if there
        is no such strategy or the stored change is newer."""
        ...

    async def save_strategy_run(self, run: StrategyRunRow) -> None: ...
    async def list_strategy_runs(self, strategy_id: str, limit: int = 100) -> list[StrategyRunRow]:
        """Newest first."""
        ...

    async def save_backtest_run(self, run: BacktestRunRow) -> None: ...
    async def get_backtest_run(self, run_id: str) -> BacktestRunRow | None: ...
    async def list_backtest_runs(self, limit: int = 100) -> list[BacktestRunRow]:
        """Newest first."""
        ...

    async def save_backtest_result(self, result: BacktestResultRow) -> None:
        """Needs its run saved first (``ConstraintError`` otherwise)."""
        ...

    async def get_backtest_result(self, run_id: str) -> BacktestResultRow | None: ...

    # -- users and sessions --
    async def create_user(self, user: UserRow) -> None:
        """``ConstraintError`` if the id, username or email is taken."""
        ...

    async def update_user(self, user: UserRow) -> bool:
        """Replace an existing user's row; False if there is no such user."""
        ...

    async def get_user(self, user_id: str) -> UserRow | None: ...
    async def get_user_by_username(self, username: str) -> UserRow | None: ...
    async def list_users(self) -> list[UserRow]:
        """Sorted by username."""
        ...

    async def save_refresh_token(self, token: RefreshTokenRow) -> None: ...
    async def get_refresh_token(self, token_hash: str) -> RefreshTokenRow | None: ...
    async def revoke_refresh_tokens(
        self, *, at_ns: int, family_id: str | None = None, user_id: str | None = None
    ) -> int:
        """Revoke the not-yet-revoked tokens of a family or of a user; return how many."""
        ...

    # -- credentials (encrypted: pi5trading.storage.credentials) --
    async def save_credential(self, credential: CredentialRow) -> None:
        """Store or replace the provider's row."""
        ...

    async def get_credential(self, provider: str) -> CredentialRow | None: ...
    async def list_credentials(self) -> list[CredentialRow]:
        """Sorted by provider."""
        ...

    async def delete_credential(self, provider: str) -> bool:
        """False if the provider had none."""
        ...

    async def reencrypt_credential(
        self, provider: str, *, ciphertext: str, key_id: str, updated_ns: int
    ) -> bool:
        """Replace the ciphertext of the row stored at ``updated_ns`` (a rotation); False
        when it was changed or deleted meanwhile (the newer entry stays)."""
        ...

    # -- audit and alerts --
    async def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        start_ns: int | None = None,
        limit: int = 100,
    ) -> list[AuditRow]:
        """Newest first."""
        ...

    async def audit_chain(self, *, after_seq: int = 0, limit: int = 5000) -> list[AuditRow]:
        """Chained audit rows with ``seq > after_seq``, in chain order."""
        ...

    async def count_unchained_audit(self) -> int:
        """Audit rows written before the chain existed."""
        ...

    async def list_alerts(self, *, open_only: bool = False, limit: int = 100) -> list[AlertRow]:
        """Newest first; ``open_only``: not acknowledged."""
        ...

    async def acknowledge_alert(self, alert_id: str, *, by: str, at_ns: int) -> bool:
        """False if there is no such alert or it was already acknowledged."""
        ...


__all__ = ["Repository"]
