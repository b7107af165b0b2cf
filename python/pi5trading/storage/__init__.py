"""Everything the system remembers: one repository protocol over PostgreSQL and SQLite.

- ``protocol.Repository``: what callers may ask; ``repository.SqlRepository`` implements it.
- ``postgres`` / ``sqlite``: the drivers; ``migrate``: the forward-only migrations runner.
- ``writer.EventWriter``: batched engine-event writes, with ``journal.Journal`` for outages.
- ``bars_import``: validated bulk import of bars (``pi5trading data import``).
"""

from pi5trading.storage.connect import open_repository, open_writer
from pi5trading.storage.errors import (
    ConstraintError,
    DatabaseUnavailableError,
    ImportValidationError,
    MigrationError,
    RecordError,
    StorageError,
)
from pi5trading.storage.journal import Journal
from pi5trading.storage.migrate import migrate, migration_status
from pi5trading.storage.protocol import Repository
from pi5trading.storage.records import (
    AlertRow,
    AuditRow,
    BacktestResultRow,
    BacktestRunRow,
    BarRow,
    CredentialRow,
    EngineEvent,
    EquityRow,
    FillRow,
    InstrumentRow,
    OrderEventRow,
    OrderRow,
    PositionRow,
    QuoteTickRow,
    RefreshTokenRow,
    StrategyRow,
    StrategyRunRow,
    TradeTickRow,
    UserRow,
)
from pi5trading.storage.repository import SqlRepository, create_breaker
from pi5trading.storage.writer import EventWriter, WriterStats

__all__ = [
    "AlertRow",
    "AuditRow",
    "BacktestResultRow",
    "BacktestRunRow",
    "BarRow",
    "ConstraintError",
    "CredentialRow",
    "DatabaseUnavailableError",
    "EngineEvent",
    "EquityRow",
    "EventWriter",
    "FillRow",
    "ImportValidationError",
    "InstrumentRow",
    "Journal",
    "MigrationError",
    "OrderEventRow",
    "OrderRow",
    "PositionRow",
    "QuoteTickRow",
    "RecordError",
    "RefreshTokenRow",
    "Repository",
    "SqlRepository",
    "StorageError",
    "StrategyRow",
    "StrategyRunRow",
    "TradeTickRow",
    "UserRow",
    "WriterStats",
    "create_breaker",
    "migrate",
    "migration_status",
    "open_repository",
    "open_writer",
]
