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
    Alert,
    AuditEntry,
    BacktestResult,
    BacktestRun,
    Bar,
    EquitySnapshot,
    Fill,
    Instrument,
    Order,
    OrderEvent,
    PositionSnapshot,
    QuoteTick,
    Record,
    RefreshToken,
    Strategy,
    StrategyRun,
    TradeTick,
    User,
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
    async def upsert_instrument(self, instrument: Instrument) -> None: ...
    async def get_instrument(self, instrument_id: str) -> Instrument | None: ...
    async def list_instruments(self) -> list[Instrument]:
        """Sorted by instrument_id."""
        ...

    async def insert_bars(self, bars: Sequence[Bar]) -> int:
        """Store bars, skipping ones already stored; return how many were new."""
        ...

    async def get_bars(
        self,
        instrument_id: str,
        interval: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int | None = None,
    ) -> list[Bar]:
        """Bars with ``start_ns <= ts_ns < end_ns``, oldest first, at most ``limit``."""
        ...

    async def latest_bar(self, instrument_id: str, interval: str) -> Bar | None: ...
    async def count_bars(self, instrument_id: str, interval: str) -> int: ...
    async def get_quote_ticks(
        self, instrument_id: str, start_ns: int, end_ns: int, limit: int | None = None
    ) -> list[QuoteTick]:
        """Oldest first, by (ts_ns, seq)."""
        ...

    async def get_trade_ticks(
        self, instrument_id: str, start_ns: int, end_ns: int, limit: int | None = None
    ) -> list[TradeTick]:
        """Oldest first."""
        ...

    # -- trading --
    async def save_order(self, order: Order) -> None:
        """Store the order's state unless a newer state (by ``updated_ns``) is stored."""
        ...

    async def get_order(self, order_id: str) -> Order | None: ...
    async def list_orders(
        self,
        strategy_id: str | None = None,
        *,
        open_only: bool = False,
        limit: int = 100,
    ) -> list[Order]:
        """Newest first; ``open_only``: created, accepted, submitted or partially filled."""
        ...

    async def get_order_events(self, order_id: str) -> list[OrderEvent]:
        """The order's lifecycle, by ``seq``."""
        ...

    async def list_fills(
        self, *, order_id: str | None = None, strategy_id: str | None = None, limit: int = 1000
    ) -> list[Fill]:
        """Newest first."""
        ...

    async def latest_positions(self, strategy_id: str) -> list[PositionSnapshot]:
        """The latest snapshot of each instrument the strategy has traded, by instrument."""
        ...

    async def get_equity_curve(
        self,
        account_id: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int | None = None,
    ) -> list[EquitySnapshot]:
        """Oldest first."""
        ...

    # -- strategies and backtests --
    async def save_strategy(self, strategy: Strategy) -> None: ...
    async def get_strategy(self, strategy_id: str) -> Strategy | None: ...
    async def list_strategies(self) -> list[Strategy]:
        """Sorted by name."""
        ...

    async def save_strategy_state(
        self, strategy_id: str, state: dict[str, Any], updated_ns: int
    ) -> bool:
        """Replace the saved state; False if there is no such strategy."""
        ...

    async def save_strategy_run(self, run: StrategyRun) -> None: ...
    async def list_strategy_runs(self, strategy_id: str, limit: int = 100) -> list[StrategyRun]:
        """Newest first."""
        ...

    async def save_backtest_run(self, run: BacktestRun) -> None: ...
    async def get_backtest_run(self, run_id: str) -> BacktestRun | None: ...
    async def list_backtest_runs(self, limit: int = 100) -> list[BacktestRun]:
        """Newest first."""
        ...

    async def save_backtest_result(self, result: BacktestResult) -> None:
        """Needs its run saved first (``ConstraintError`` otherwise)."""
        ...

    async def get_backtest_result(self, run_id: str) -> BacktestResult | None: ...

    # -- users and sessions --
    async def create_user(self, user: User) -> None:
        """``ConstraintError`` if the id, username or email is taken."""
        ...

    async def update_user(self, user: User) -> bool:
        """Replace an existing user's row; False if there is no such user."""
        ...

    async def get_user(self, user_id: str) -> User | None: ...
    async def get_user_by_username(self, username: str) -> User | None: ...
    async def list_users(self) -> list[User]:
        """Sorted by username."""
        ...

    async def save_refresh_token(self, token: RefreshToken) -> None: ...
    async def get_refresh_token(self, token_hash: str) -> RefreshToken | None: ...
    async def revoke_refresh_tokens(
        self, *, at_ns: int, family_id: str | None = None, user_id: str | None = None
    ) -> int:
        """Revoke the not-yet-revoked tokens of a family or of a user; return how many."""
        ...

    # -- audit and alerts --
    async def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        start_ns: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Newest first."""
        ...

    async def list_alerts(self, *, open_only: bool = False, limit: int = 100) -> list[Alert]:
        """Newest first; ``open_only``: not acknowledged."""
        ...

    async def acknowledge_alert(self, alert_id: str, *, by: str, at_ns: int) -> bool:
        """False if there is no such alert or it was already acknowledged."""
        ...


__all__ = ["Repository"]
