"""From settings to a ready repository: pick the driver, attach the breaker, open the journal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pi5trading.config import DatabaseSettings, Settings
from pi5trading.storage.driver import Driver
from pi5trading.storage.errors import StorageError
from pi5trading.storage.journal import Journal
from pi5trading.storage.migrate import apply_timescale_policies, migrate
from pi5trading.storage.postgres import PostgresDriver
from pi5trading.storage.repository import SqlRepository, create_breaker
from pi5trading.storage.sqlite import SqliteDriver
from pi5trading.storage.writer import EventWriter

SQLITE_FILENAME = "pi5trading.db"


def sqlite_path(url: str, data_dir: str) -> Path | None:
    """The SQLite file a URL names (empty URL: the default file), or None for PostgreSQL."""
    if not url:
        return Path(data_dir).expanduser() / SQLITE_FILENAME
    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql"):
        return None
    if parts.scheme == "sqlite":
        # sqlite:///abs/path.db (three slashes) or sqlite:relative/path.db
        raw = unquote(parts.path if parts.netloc == "" else parts.netloc + parts.path)
        if not raw:
            raise StorageError(f"database url {url!r} names no file")
        return Path(raw).expanduser()
    raise StorageError(
        f"database url {url!r}: use postgresql://… or sqlite:///path (empty = embedded SQLite)"
    )


async def open_driver(db: DatabaseSettings, data_dir: str) -> Driver:
    path = sqlite_path(db.url, data_dir)
    if path is None:
        return await PostgresDriver.open(
            db.url,
            min_size=db.pool_min_size,
            max_size=db.pool_max_size,
            command_timeout=db.command_timeout_s,
        )
    return await SqliteDriver.open(path)


async def open_repository(settings: Settings) -> SqlRepository:
    """The configured repository with its circuit breaker (not migrated: see ``migrate``)."""
    db = settings.database
    driver = await open_driver(db, settings.data_dir)
    breaker = create_breaker(db.breaker_failure_threshold, db.breaker_reset_timeout_s)
    return SqlRepository(driver, breaker)


def journal_path(settings: Settings) -> Path:
    if settings.database.journal_path:
        return Path(settings.database.journal_path).expanduser()
    return Path(settings.data_dir).expanduser() / "journal" / "events.journal"


def open_writer(settings: Settings, repository: SqlRepository) -> EventWriter:
    """The engine-event writer for ``repository`` with the configured journal (not started)."""
    db = settings.database
    return EventWriter(
        repository,
        Journal(journal_path(settings)),
        batch_size=db.batch_size,
        flush_interval=db.batch_interval_s,
        max_buffer=db.buffer_max,
    )


async def prepare_database(settings: Settings, driver: Driver) -> bool:
    """Apply pending migrations, then the TimescaleDB policies and the bars' chunk span from
    settings; return whether TimescaleDB is installed (so they were set)."""
    db = settings.database
    await migrate(driver)
    return await apply_timescale_policies(
        driver,
        compress_after_days=db.compress_after_days,
        market_data_retention_days=db.market_data_retention_days,
        audit_retention_days=db.audit_retention_days,
        bars_chunk_days=db.bars_chunk_days,
    )


@asynccontextmanager
async def storage_lifespan(settings: Settings) -> AsyncIterator[tuple[SqlRepository, EventWriter]]:
    """For the server's lifespan: the repository (migrated when ``migrate_on_start``) and a
    running event writer; on exit the writer flushes (or journals) and everything closes."""
    repository = await open_repository(settings)
    try:
        if settings.database.migrate_on_start:
            await prepare_database(settings, repository.driver)
        writer = open_writer(settings, repository)
        await writer.start()
        try:
            yield repository, writer
        finally:
            await writer.close()
            writer.journal.close()
    finally:
        await repository.close()


__all__ = [
    "journal_path",
    "open_driver",
    "open_repository",
    "open_writer",
    "prepare_database",
    "sqlite_path",
    "storage_lifespan",
]
