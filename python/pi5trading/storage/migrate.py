"""The forward-only migrations runner.

Layout of ``pi5trading/storage/migrations/`` (shipped in the wheel)::

    postgres/NNNN_name.sql   schema for PostgreSQL          (series "schema")
    sqlite/NNNN_name.sql     the same schema for SQLite     (series "schema")
    timescale/NNNN_name.sql  TimescaleDB features           (series "timescale", PostgreSQL
                             only, applied when the extension can be loaded)

Each file runs in its own transaction together with its row in ``schema_migrations``
(series, version, name, SHA-256 checksum, time applied), so a failed migration leaves
nothing behind. Before applying anything the runner checks what is recorded: an applied file
that was edited since, an applied version missing from disk, or a new file numbered below an
applied one is a ``MigrationError``; nothing runs until it is resolved.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from pathlib import Path

import msgspec

from pi5trading.storage.driver import Connection, Driver
from pi5trading.storage.errors import DatabaseUnavailableError, MigrationError

log = logging.getLogger(__name__)

_FILENAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Serialises concurrent `migrate` runs against one PostgreSQL database (any constant will do).
_PG_LOCK_KEY = 0x70153A7E

SCHEMA_SERIES = "schema"
TIMESCALE_SERIES = "timescale"

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    series       TEXT NOT NULL,
    version      INTEGER NOT NULL,
    name         TEXT NOT NULL,
    checksum     TEXT NOT NULL,
    applied_ns   BIGINT NOT NULL,
    execution_ms INTEGER NOT NULL,
    PRIMARY KEY (series, version)
)
"""


class MigrationFile(msgspec.Struct, frozen=True):
    series: str
    version: int
    name: str
    path: str
    checksum: str
    sql: str


class MigrationState(msgspec.Struct, frozen=True, kw_only=True):
    series: str
    version: int
    name: str
    status: str
    """``applied``, ``pending``, ``skipped`` (TimescaleDB absent), ``modified`` (edited after it
    was applied) or ``missing`` (recorded in the database, no file on disk)."""
    checksum: str
    applied_ns: int | None = None


class TimescaleInfo(msgspec.Struct, frozen=True, kw_only=True):
    available: bool
    """The extension is installed on the server and preloaded, so it can be created."""
    installed_version: str | None
    detail: str


class MigrationStatus(msgspec.Struct, frozen=True, kw_only=True):
    dialect: str
    database: str
    migrations: list[MigrationState]
    timescale: TimescaleInfo | None
    """``None`` on SQLite."""

    @property
    def problems(self) -> list[MigrationState]:
        return [m for m in self.migrations if m.status in ("modified", "missing")]

    @property
    def pending(self) -> list[MigrationState]:
        return [m for m in self.migrations if m.status == "pending"]


def default_migrations_dir() -> Path:
    """``pi5trading/storage/migrations/``: shipped inside the package, so an installed wheel
    migrates without the source tree."""
    return Path(__file__).resolve().parent / "migrations"


def checksum(sql_bytes: bytes) -> str:
    # Line endings are normalised so a checkout with CRLF is not "modified".
    return hashlib.sha256(sql_bytes.replace(b"\r\n", b"\n")).hexdigest()


def load_migrations(directory: Path, series: str, subdir: str) -> list[MigrationFile]:
    """The ``NNNN_name.sql`` files of ``directory/subdir``, in version order."""
    folder = directory / subdir
    if not folder.is_dir():
        raise MigrationError(f"migrations folder {folder} does not exist")
    found: dict[int, MigrationFile] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix != ".sql":
            continue
        m = _FILENAME.match(path.name)
        if m is None:
            raise MigrationError(f"{path}: migration files are named NNNN_lower_snake_name.sql")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"{path}: version {version} is used twice in {folder}")
        raw = path.read_bytes()
        found[version] = MigrationFile(
            series, version, m.group(2), str(path), checksum(raw), raw.decode("utf-8")
        )
    return [found[v] for v in sorted(found)]


def _series_for(driver: Driver, directory: Path) -> dict[str, list[MigrationFile]]:
    out = {SCHEMA_SERIES: load_migrations(directory, SCHEMA_SERIES, driver.dialect)}
    if driver.dialect == "postgres":
        out[TIMESCALE_SERIES] = load_migrations(directory, TIMESCALE_SERIES, "timescale")
    return out


async def _applied(conn: Connection) -> dict[tuple[str, int], tuple[str, str, int]]:
    rows = await conn.fetch(
        "SELECT series, version, name, checksum, applied_ns FROM schema_migrations"
    )
    return {(r[0], int(r[1])): (str(r[2]), str(r[3]), int(r[4])) for r in rows}


async def detect_timescale(conn: Connection) -> TimescaleInfo:
    """Whether ``CREATE EXTENSION timescaledb`` can work on this server, and if it is done."""
    rows = await conn.fetch(
        "SELECT (SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'),"
        " (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'),"
        " current_setting('shared_preload_libraries')"
    )
    available_version, installed, preload = rows[0]
    if installed is not None:
        return TimescaleInfo(
            available=True, installed_version=str(installed), detail=f"installed {installed}"
        )
    if available_version is None:
        return TimescaleInfo(
            available=False,
            installed_version=None,
            detail="not installed on this server (plain PostgreSQL): hypertables, compression,"
            " retention and continuous aggregates are off",
        )
    if "timescaledb" not in str(preload):
        return TimescaleInfo(
            available=False,
            installed_version=None,
            detail=f"package {available_version} present but not in shared_preload_libraries;"
            " add it to postgresql.conf and restart PostgreSQL, then run `pi5trading migrate`",
        )
    return TimescaleInfo(
        available=True, installed_version=None, detail=f"available ({available_version})"
    )


def _states(
    series: dict[str, list[MigrationFile]],
    applied: dict[tuple[str, int], tuple[str, str, int]],
    timescale: TimescaleInfo | None,
) -> list[MigrationState]:
    states: list[MigrationState] = []
    for name, files in series.items():
        on_disk = {f.version for f in files}
        for f in files:
            rec = applied.get((name, f.version))
            if rec is None:
                skipped = name == TIMESCALE_SERIES and not (timescale and timescale.available)
                status = "skipped" if skipped else "pending"
                states.append(_state(f, status, f.checksum, None))
            else:
                status = "applied" if rec[1] == f.checksum else "modified"
                states.append(_state(f, status, rec[1], rec[2]))
        for (s, version), (nm, chk, at) in sorted(applied.items()):
            if s == name and version not in on_disk:
                states.append(
                    MigrationState(
                        series=s,
                        version=version,
                        name=nm,
                        status="missing",
                        checksum=chk,
                        applied_ns=at,
                    )
                )
    return states


def _state(f: MigrationFile, status: str, chk: str, applied_ns: int | None) -> MigrationState:
    return MigrationState(
        series=f.series,
        version=f.version,
        name=f.name,
        status=status,
        checksum=chk,
        applied_ns=applied_ns,
    )


def _check(states: list[MigrationState], files: dict[str, list[MigrationFile]]) -> None:
    errors: list[str] = []
    by_key = {(f.series, f.version): f for fs in files.values() for f in fs}
    for st in states:
        label = f"{st.series}/{st.version:04d}_{st.name}"
        if st.status == "modified":
            errors.append(
                f"{label} was edited after it was applied ({by_key[(st.series, st.version)].path}:"
                f" checksum {by_key[(st.series, st.version)].checksum[:12]}…, recorded"
                f" {st.checksum[:12]}…). Migrations are forward-only: restore the file and add"
                " a new migration for the change."
            )
        elif st.status == "missing":
            errors.append(
                f"{label} is recorded in the database but has no file: the database was"
                " migrated by a newer pi5trading, or the file was deleted."
            )
    for series in files:
        applied_versions = [
            s.version for s in states if s.series == series and s.status == "applied"
        ]
        top = max(applied_versions, default=0)
        for st in states:
            if st.series == series and st.status == "pending" and st.version < top:
                errors.append(
                    f"{st.series}/{st.version:04d}_{st.name} is new but numbered below the"
                    f" applied {top:04d}: renumber it after {top:04d}."
                )
    if errors:
        raise MigrationError("migrations do not match the database:\n  " + "\n  ".join(errors))


async def migration_status(driver: Driver, directory: Path | None = None) -> MigrationStatus:
    """What is applied, pending, skipped or wrong; changes nothing (but creates the table)."""
    directory = directory or default_migrations_dir()
    files = _series_for(driver, directory)
    async with driver.connection() as conn:
        await conn.execute(_CREATE_TABLE)
        applied = await _applied(conn)
        timescale = await detect_timescale(conn) if driver.dialect == "postgres" else None
    return MigrationStatus(
        dialect=driver.dialect,
        database=driver.description,
        migrations=_states(files, applied, timescale),
        timescale=timescale,
    )


async def migrate(driver: Driver, directory: Path | None = None) -> list[MigrationState]:
    """Apply every pending migration in order; return the ones applied (empty: up to date)."""
    directory = directory or default_migrations_dir()
    status = await migration_status(driver, directory)
    files = _series_for(driver, directory)
    _check(status.migrations, files)
    if status.timescale is not None and not status.timescale.available:
        skipped = [m for m in status.migrations if m.status == "skipped"]
        if skipped:
            log.info(
                "TimescaleDB %s; skipping %d timescale migration(s)",
                status.timescale.detail,
                len(skipped),
            )
    by_key = {(f.series, f.version): f for fs in files.values() for f in fs}
    done: list[MigrationState] = []
    for st in status.pending:
        f = by_key[(st.series, st.version)]
        started = time.perf_counter()
        try:
            async with driver.transaction() as conn:
                if driver.dialect == "postgres":
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", _PG_LOCK_KEY)
                    # Another process may have applied it while we waited for the lock.
                    if (f.series, f.version) in await _applied(conn):
                        continue
                await conn.execute_script(f.sql)
                applied_ns = time.time_ns()
                elapsed_ms = int((time.perf_counter() - started) * 1000)
                await conn.execute(
                    "INSERT INTO schema_migrations"
                    " (series, version, name, checksum, applied_ns, execution_ms)"
                    " VALUES ($1, $2, $3, $4, $5, $6)",
                    f.series,
                    f.version,
                    f.name,
                    f.checksum,
                    applied_ns,
                    elapsed_ms,
                )
        except (MigrationError, DatabaseUnavailableError):
            raise
        except Exception as exc:
            raise MigrationError(
                f"{f.path} failed and was rolled back: {type(exc).__name__}: {exc}"
            ) from exc
        log.info("applied migration %s/%04d_%s in %d ms", f.series, f.version, f.name, elapsed_ms)
        done.append(_state(f, "applied", f.checksum, applied_ns))
    return done


_DAY_NS = 86_400 * 10**9
_HYPERTABLES = ("bars", "quote_ticks", "trade_ticks", "equity_snapshots", "audit_log")
_MARKET_DATA = ("bars", "quote_ticks", "trade_ticks")


BARS_CHUNK_DAYS_MAX = 365


def timescale_policy_statements(
    compress_after_days: int,
    market_data_retention_days: int,
    audit_retention_days: int,
    *,
    bars_chunk_days: int | None = None,
) -> list[str]:
    """SQL that sets compression and retention policies to these settings (0 = none) and,
    when given, the time span of the bars' chunks created from now on (existing chunks keep
    theirs)."""
    if bars_chunk_days is not None and not 1 <= bars_chunk_days <= BARS_CHUNK_DAYS_MAX:
        raise MigrationError(
            f"bars_chunk_days must be 1 to {BARS_CHUNK_DAYS_MAX} days, got {bars_chunk_days}"
        )
    for name, days in (
        ("compress_after_days", compress_after_days),
        ("market_data_retention_days", market_data_retention_days),
        ("audit_retention_days", audit_retention_days),
    ):
        if days < 0:
            raise MigrationError(f"{name} must be >= 0, got {days}")
    out: list[str] = []
    if bars_chunk_days is not None:
        out.append(f"SELECT set_chunk_time_interval('bars', {bars_chunk_days * _DAY_NS}::BIGINT)")
    for table in _HYPERTABLES:
        out.append(f"SELECT remove_compression_policy('{table}', if_exists => TRUE)")
        if compress_after_days:
            out.append(
                f"SELECT add_compression_policy('{table}',"
                f" compress_after => {compress_after_days * _DAY_NS}::BIGINT)"
            )
    retention = dict.fromkeys(_MARKET_DATA, market_data_retention_days)
    retention["audit_log"] = audit_retention_days
    for table, days in retention.items():
        out.append(f"SELECT remove_retention_policy('{table}', if_exists => TRUE)")
        if days:
            out.append(
                f"SELECT add_retention_policy('{table}', drop_after => {days * _DAY_NS}::BIGINT)"
            )
    return out


async def apply_timescale_policies(
    driver: Driver,
    *,
    compress_after_days: int,
    market_data_retention_days: int,
    audit_retention_days: int,
    bars_chunk_days: int | None = None,
) -> bool:
    """Set the policies (and the bars' chunk span, when given) when TimescaleDB is installed;
    return whether it was."""
    if driver.dialect != "postgres":
        return False
    statements = timescale_policy_statements(
        compress_after_days,
        market_data_retention_days,
        audit_retention_days,
        bars_chunk_days=bars_chunk_days,
    )
    async with driver.transaction() as conn:
        info = await detect_timescale(conn)
        if info.installed_version is None:
            return False
        for sql in statements:
            await conn.execute(sql)
    log.info(
        "TimescaleDB policies: bars in %s chunks, compress after %d days, market data kept %s,"
        " audit kept %s",
        f"{bars_chunk_days}-day" if bars_chunk_days else "unchanged",
        compress_after_days,
        f"{market_data_retention_days} days" if market_data_retention_days else "forever",
        f"{audit_retention_days} days" if audit_retention_days else "forever",
    )
    return True


__all__ = [
    "MigrationFile",
    "MigrationState",
    "MigrationStatus",
    "TimescaleInfo",
    "apply_timescale_policies",
    "default_migrations_dir",
    "detect_timescale",
    "load_migrations",
    "migrate",
    "migration_status",
    "timescale_policy_statements",
]
