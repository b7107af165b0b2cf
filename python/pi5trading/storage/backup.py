"""Backups of the database and restoring them: ``pi5trading backup`` / ``restore``.

- PostgreSQL: ``pg_dump --format=custom`` (compressed), restored with ``pg_restore``.
- SQLite: the online backup API (``sqlite3.Connection.backup``), a consistent copy taken
  while the server writes (WAL readers never block the writer).

A backup is ``pi5trading-<db>-YYYYmmddTHHMMSSZ.dump`` (PostgreSQL) or ``….db`` (SQLite), the
time in UTC, with ``<name>.sha256`` beside it in ``sha256sum`` format (``sha256sum -c``
checks it by hand). A backup is written to ``<name>.partial`` and renamed when complete, so
a failed one leaves nothing that looks like a backup. The safety backup a restore takes
first is named ``…Z-pre-restore.<ext>``.

A restore verifies the checksum before anything else, refuses while a server appears to be
using the database (SQLite: another process has the file open, seen by SQLite refusing an
exclusive lock; PostgreSQL: other sessions connected to that database in
``pg_stat_activity``), takes a safety backup of the current database, restores, and reports
every table's row count and the migrations' status.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import glob
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg
import msgspec

from pi5trading.storage.driver import Driver
from pi5trading.storage.errors import StorageError
from pi5trading.storage.migrate import MigrationStatus, migration_status
from pi5trading.storage.postgres import PostgresDriver, redact
from pi5trading.storage.sqlite import SqliteDriver

Kind = Literal["postgres", "sqlite"]

EXTENSIONS: dict[Kind, str] = {"postgres": "dump", "sqlite": "db"}
PRE_RESTORE = "-pre-restore"
_STAMP = "%Y%m%dT%H%M%SZ"
_NAME = re.compile(
    r"^pi5trading-(?P<db>[A-Za-z0-9_.-]+?)-(?P<ts>\d{8}T\d{6}Z)(?P<pre>-pre-restore)?"
    r"\.(?P<ext>dump|db)$"
)
_SQLITE_MAGIC = b"SQLite format 3\x00"
_PG_MAGIC = b"PGDMP"
_CHUNK = 1 << 20


class BackupError(StorageError):
    """A backup or restore failed, or was refused; the message says why and what to do."""


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """The database a backup is taken of or restored into."""

    kind: Kind
    name: str
    """The database's name in backup file names: the PostgreSQL database, the SQLite stem."""
    url: str = ""
    """PostgreSQL: the connection URL (with its password)."""
    path: str = ""
    """SQLite: the file."""

    @property
    def description(self) -> str:
        return redact(self.url) if self.kind == "postgres" else self.path


class BackupFile(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    database: str
    kind: Kind
    created: dt.datetime
    pre_restore: bool
    size: int

    @property
    def checksum_path(self) -> Path:
        return checksum_path(Path(self.path))


class RestoreReport(msgspec.Struct, frozen=True, kw_only=True):
    backup: BackupFile
    target: str
    safety_backup: BackupFile | None
    """The copy of the database taken before the restore (``None``: there was none)."""
    created_database: bool
    row_counts: dict[str, int]
    migrations: MigrationStatus


def target_for(url: str, data_dir: str) -> Target:
    """The database of a ``PI5_DATABASE__URL`` (empty: the SQLite file in the data dir)."""
    from pi5trading.storage.connect import sqlite_path

    path = sqlite_path(url, data_dir)
    if path is None:
        name = unquote(urlsplit(url).path.lstrip("/")) or "postgres"
        return Target(kind="postgres", name=_safe_name(name), url=url)
    return Target(kind="sqlite", name=_safe_name(path.stem), path=str(path))


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "db"


# -- names, checksums, listing, rotation --------------------------------------------------


def backup_name(target: Target, when: dt.datetime, *, pre_restore: bool = False) -> str:
    tag = PRE_RESTORE if pre_restore else ""
    stamp = when.astimezone(dt.UTC).strftime(_STAMP)
    return f"pi5trading-{target.name}-{stamp}{tag}.{EXTENSIONS[target.kind]}"


def parse_backup(path: Path) -> BackupFile | None:
    """The backup a file is by its name, or ``None`` for any other file."""
    m = _NAME.match(path.name)
    if m is None:
        return None
    created = dt.datetime.strptime(m["ts"], _STAMP).replace(tzinfo=dt.UTC)
    kind: Kind = "postgres" if m["ext"] == "dump" else "sqlite"
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    return BackupFile(
        path=str(path),
        database=m["db"],
        kind=kind,
        created=created,
        pre_restore=m["pre"] is not None,
        size=size,
    )


def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_checksum(path: Path, digest: str, name: str) -> None:
    side = checksum_path(path)
    tmp = side.with_name(side.name + ".partial")
    tmp.write_text(f"{digest}  {name}\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, side)


def checksum_status(path: Path) -> Literal["ok", "mismatch", "missing"]:
    """``ok``, ``mismatch`` (the file changed: corrupted or truncated) or ``missing``
    (no readable ``.sha256`` beside it)."""
    side = checksum_path(path)
    try:
        recorded = side.read_text().split()[0].lower()
    except (OSError, IndexError, UnicodeDecodeError):
        return "missing"
    return "ok" if sha256_file(path) == recorded else "mismatch"


def verify_checksum(path: Path) -> None:
    """Raise ``BackupError`` unless ``path`` matches the checksum recorded beside it."""
    status = checksum_status(path)
    if status == "missing":
        raise BackupError(
            f"{path}: no checksum file {checksum_path(path).name} beside it, so the backup"
            " cannot be verified; nothing was restored"
        )
    if status == "mismatch":
        raise BackupError(
            f"{path}: checksum mismatch (the file is corrupted or truncated: its SHA-256 is not"
            f" the one in {checksum_path(path).name}); nothing was restored"
        )


def list_backups(folder: Path) -> list[BackupFile]:
    """The backups in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [b for p in folder.iterdir() if p.is_file() and (b := parse_backup(p)) is not None]
    return sorted(found, key=lambda b: (b.created, b.path))


def rotate(folder: Path, keep_days: int, now: dt.datetime | None = None) -> list[Path]:
    """Delete the backups (and their checksums) older than ``keep_days`` days, by the time in
    their names; return what was deleted. ``keep_days=0`` keeps everything."""
    if keep_days <= 0:
        return []
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=keep_days)
    deleted: list[Path] = []
    for b in list_backups(folder):
        if b.created < cutoff:
            for p in (Path(b.path), b.checksum_path):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            deleted.append(Path(b.path))
    return deleted


# -- PostgreSQL tools ---------------------------------------------------------------------


def pg_tool(name: str, bin_dir: str = "") -> str:
    """The ``pg_dump``/``pg_restore`` to run: from ``bin_dir`` when set, else the PATH, else
    the newest ``/usr/lib/postgresql/*/bin``."""
    if bin_dir:
        path = Path(bin_dir).expanduser() / name
        if not os.access(path, os.X_OK):
            raise BackupError(f"{name} not found in {bin_dir} (PI5_BACKUP__PG_BIN_DIR)")
        return str(path)
    found = shutil.which(name)
    if found is not None:
        return found
    versions = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(re.sub(r"\D", "", Path(p).parent.parent.name) or 0),
    )
    if versions:
        return versions[-1]
    raise BackupError(
        f"{name} not found: install the PostgreSQL client tools (`sudo apt-get install"
        " postgresql-client`, the same major version as the server or newer) or set"
        " PI5_BACKUP__PG_BIN_DIR"
    )


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password (it shows in ``ps``) and the environment carrying it."""
    parts = urlsplit(url)
    env = dict(os.environ)
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
        netloc = parts.netloc.replace(f":{parts.password}@", "@", 1)
        url = urlunsplit(parts._replace(netloc=netloc))
    return url, env


def _with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def _run(cmd: list[str], env: dict[str, str], what: str) -> str:
    try:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise BackupError(f"{what}: cannot run {cmd[0]}: {exc}") from exc
    if res.returncode != 0:
        lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
        detail = "; ".join(lines[-3:]) or f"exit status {res.returncode}"
        raise BackupError(f"{what}: {Path(cmd[0]).name} failed: {detail}")
    return res.stdout


# -- backup -------------------------------------------------------------------------------


def create_backup(
    target: Target,
    folder: Path,
    *,
    pg_bin_dir: str = "",
    pre_restore: bool = False,
    now: dt.datetime | None = None,
) -> BackupFile:
    """Back ``target`` up into ``folder`` (created, mode 0700); return the backup written."""
    when = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    if target.kind == "sqlite" and not Path(target.path).is_file():
        raise BackupError(f"no SQLite database at {target.path}: nothing to back up")
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise BackupError(f"cannot create the backup folder {folder}: {exc.strerror}") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BackupError(f"cannot write backups to {folder}: it is read-only")
    dest = folder / backup_name(target, when, pre_restore=pre_restore)
    while dest.exists() or checksum_path(dest).exists():  # two backups in one second
        when += dt.timedelta(seconds=1)
        dest = folder / backup_name(target, when, pre_restore=pre_restore)
    partial = dest.with_name(dest.name + ".partial")
    try:
        if target.kind == "postgres":
            _pg_dump(target, partial, pg_bin_dir)
        else:
            _sqlite_backup(Path(target.path), partial)
        os.chmod(partial, 0o600)
        digest = sha256_file(partial)
        os.replace(partial, dest)
        _write_checksum(dest, digest, dest.name)
    except OSError as exc:
        raise BackupError(f"writing {dest} failed: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    backup = parse_backup(dest)
    assert backup is not None
    return backup


def _pg_dump(target: Target, out: Path, bin_dir: str) -> None:
    url, env = _libpq(target.url)
    cmd = [pg_tool("pg_dump", bin_dir), "--format=custom", "--no-password"]
    _run([*cmd, f"--file={out}", f"--dbname={url}"], env, f"backup of {target.description}")


def _sqlite_backup(source: Path, out: Path) -> None:
    try:
        src = sqlite3.connect(f"file:{source}?mode=rw", uri=True, timeout=30)
        try:
            dst = sqlite3.connect(out)
            try:
                src.backup(dst)  # one step: a consistent snapshot, the writer is not blocked
                # A self-contained file (no -wal beside it); the server turns WAL back on.
                dst.execute("PRAGMA journal_mode=DELETE")
                problem = dst.execute("PRAGMA quick_check").fetchone()[0]
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise BackupError(f"backup of {source} failed: {exc}") from exc
    if problem != "ok":
        raise BackupError(f"backup of {source} failed its integrity check: {problem}")


def copy_backup(backup: BackupFile, folder: Path) -> Path:
    """Copy a backup and its checksum into ``folder`` (which must exist: a USB stick that is
    not mounted must not be written to the SD card under its mount point) and verify the
    copy; return the copy's path."""
    if not folder.is_dir():
        why = "it is not a folder" if folder.exists() else "it does not exist (not mounted?)"
        raise BackupError(f"cannot copy the backup to {folder}: {why}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BackupError(f"cannot copy the backup to {folder}: it is read-only")
    src = Path(backup.path)
    dest = folder / src.name
    partial = dest.with_name(dest.name + ".partial")
    try:
        shutil.copyfile(src, partial)
        os.chmod(partial, 0o600)
        with partial.open("rb") as f:
            os.fsync(f.fileno())
        recorded = backup.checksum_path.read_text().split()[0]
        if sha256_file(partial) != recorded:
            raise BackupError(f"the copy {dest} does not match its checksum (a bad medium?)")
        os.replace(partial, dest)
        _write_checksum(dest, recorded, dest.name)
    except OSError as exc:
        raise BackupError(f"cannot copy the backup to {folder}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return dest


# -- restore ------------------------------------------------------------------------------


def sqlite_in_use(path: Path) -> bool:
    """Whether another connection (any process) has the SQLite file open: SQLite refuses
    an exclusive lock while a WAL-mode connection, like the server's, is open."""
    if not path.is_file():
        return False
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=0, isolation_level=None)
        try:
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return True
        raise _cannot_tell(path, exc) from exc
    except sqlite3.Error as exc:  # e.g. "file is not a database": a damaged file
        raise _cannot_tell(path, exc) from exc
    return False


def _cannot_tell(path: Path, exc: Exception) -> BackupError:
    return BackupError(
        f"cannot tell whether a server is using {path} ({exc}): stop the server and pass"
        " --force; nothing was restored"
    )


async def _pg_admin(url: str) -> asyncpg.Connection:
    """A connection to the server's maintenance database ``postgres``."""
    try:
        return await asyncpg.connect(_with_database(url, "postgres"), timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise BackupError(f"cannot connect to PostgreSQL at {redact(url)}: {exc}") from exc


async def pg_sessions(url: str, database: str) -> list[str]:
    """The other sessions connected to ``database`` (application name and client)."""
    conn = await _pg_admin(url)
    try:
        rows = await conn.fetch(
            "SELECT application_name, client_addr::text FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await conn.close()
    return [f"{r[0] or 'unnamed'} from {r[1] or 'a local socket'}" for r in rows]


async def _pg_database_exists(url: str, database: str) -> bool:
    conn = await _pg_admin(url)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database))
    finally:
        await conn.close()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _pg_prepare(url: str, database: str, *, exists: bool, force: bool) -> None:
    conn = await _pg_admin(url)
    try:
        if force:  # the server's connections would hold locks the restore needs
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
        if not exists:
            await conn.execute(f"CREATE DATABASE {_ident(database)}")
    except asyncpg.PostgresError as exc:
        raise BackupError(f"cannot prepare database {database}: {exc}") from exc
    finally:
        await conn.close()


def _check_file(path: Path, kind: Kind) -> None:
    with path.open("rb") as f:
        head = f.read(len(_SQLITE_MAGIC))
    magic = _PG_MAGIC if kind == "postgres" else _SQLITE_MAGIC
    if not head.startswith(magic):
        what = "a pg_dump custom-format archive" if kind == "postgres" else "a SQLite database"
        raise BackupError(f"{path}: not {what}; nothing was restored")


async def _inventory(target: Target) -> tuple[dict[str, int], MigrationStatus]:
    driver: Driver
    if target.kind == "postgres":
        driver = await PostgresDriver.open(target.url, min_size=1, max_size=1)
        tables_sql = (
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
        )
    else:
        driver = await SqliteDriver.open(target.path)
        tables_sql = (
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    try:
        async with driver.connection() as conn:
            tables = [str(r[0]) for r in await conn.fetch(tables_sql)]
            counts: dict[str, int] = {}
            for table in tables:
                rows = await conn.fetch(f"SELECT count(*) FROM {_ident(table)}")
                counts[table] = int(rows[0][0])
        status = await migration_status(driver)
    finally:
        await driver.close()
    return counts, status


def check_backup(path: Path, target: Target) -> BackupFile:
    """The backup at ``path`` if it can be restored into ``target``: a backup's name, of the
    same kind of database, its checksum verified, the right file format."""
    backup = parse_backup(path)
    if backup is None:
        raise BackupError(
            f"{path}: not a pi5trading backup name (pi5trading-<db>-YYYYmmddTHHMMSSZ.dump"
            " or .db); nothing was restored"
        )
    if not path.is_file():
        raise BackupError(f"{path}: no such file; nothing was restored")
    if backup.kind != target.kind:
        theirs = "PostgreSQL" if backup.kind == "postgres" else "SQLite"
        ours = "PostgreSQL" if target.kind == "postgres" else "SQLite"
        raise BackupError(
            f"{path} is a {theirs} backup but the database is {ours} ({target.description});"
            " nothing was restored"
        )
    verify_checksum(path)
    _check_file(path, target.kind)
    return backup


async def restore_backup(
    path: Path,
    target: Target,
    folder: Path,
    *,
    force: bool = False,
    pg_bin_dir: str = "",
) -> RestoreReport:
    """Restore the backup at ``path`` into ``target``, after verifying it and taking a
    safety backup of the current database into ``folder``."""
    backup = await asyncio.to_thread(check_backup, path, target)
    if target.kind == "postgres":
        return await _restore_postgres(backup, target, folder, force=force, bin_dir=pg_bin_dir)
    return await _restore_sqlite(backup, target, folder, force=force)


_SERVER_HINT = "stop the server first (sudo systemctl stop pi5trading) or pass --force"


async def _restore_postgres(
    backup: BackupFile, target: Target, folder: Path, *, force: bool, bin_dir: str
) -> RestoreReport:
    database = unquote(urlsplit(target.url).path.lstrip("/")) or "postgres"
    url, env = _libpq(target.url)
    toc = await asyncio.to_thread(
        _run, [pg_tool("pg_restore", bin_dir), "--list", backup.path], env, f"reading {backup.path}"
    )
    timescale = " EXTENSION - timescaledb" in toc
    exists = await _pg_database_exists(target.url, database)
    if exists and not force:
        sessions = await pg_sessions(target.url, database)
        if sessions:
            raise BackupError(
                f"{len(sessions)} other session(s) are connected to database {database}"
                f" ({', '.join(sessions)}): a server appears to be running on it; {_SERVER_HINT}"
                " (which disconnects them); nothing was restored"
            )
    safety = None
    if exists:
        safety = await asyncio.to_thread(
            create_backup, target, folder, pg_bin_dir=bin_dir, pre_restore=True
        )
    if timescale and exists:
        # TimescaleDB's catalog cannot be restored over itself: restore into a fresh database.
        admin = _with_database(target.url, "postgres")
        await _pg_exec(admin, f"DROP DATABASE {_ident(database)} WITH (FORCE)")
        exists = False
    await _pg_prepare(target.url, database, exists=exists, force=force)
    cmd = [
        pg_tool("pg_restore", bin_dir),
        "--no-password",
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        f"--dbname={url}",
    ]
    if exists:
        cmd += ["--clean", "--if-exists", "--single-transaction"]
    if timescale:
        await _pg_exec(
            target.url,
            "CREATE EXTENSION IF NOT EXISTS timescaledb",
            "SELECT timescaledb_pre_restore()",
        )
    what = f"restore of {backup.path} into {target.description}"
    await asyncio.to_thread(_run, [*cmd, backup.path], env, what)
    if timescale:
        await _pg_exec(target.url, "SELECT timescaledb_post_restore()")
    counts, status = await _inventory(target)
    return RestoreReport(
        backup=backup,
        target=target.description,
        safety_backup=safety,
        created_database=not exists,
        row_counts=counts,
        migrations=status,
    )


async def _pg_exec(url: str, *statements: str) -> None:
    try:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            for sql in statements:
                await conn.execute(sql)
        finally:
            await conn.close()
    except (OSError, asyncpg.PostgresError) as exc:
        raise BackupError(f"{redact(url)}: {'; '.join(statements)} failed: {exc}") from exc


async def _restore_sqlite(
    backup: BackupFile, target: Target, folder: Path, *, force: bool
) -> RestoreReport:
    safety = await asyncio.to_thread(_replace_sqlite, backup, target, folder, force=force)
    counts, status = await _inventory(target)
    return RestoreReport(
        backup=backup,
        target=target.description,
        safety_backup=safety,
        created_database=safety is None,
        row_counts=counts,
        migrations=status,
    )


def _plain_copy(target: Target, folder: Path) -> BackupFile:
    """The database file as it is (a damaged one too), as the safety backup, with its
    write-ahead log beside it when there is one."""
    db = Path(target.path)
    dest = folder / backup_name(target, dt.datetime.now(dt.UTC), pre_restore=True)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(db, dest)
        os.chmod(dest, 0o600)
        wal = db.with_name(db.name + "-wal")
        if wal.is_file():
            shutil.copyfile(wal, dest.with_name(dest.name + "-wal"))
        _write_checksum(dest, sha256_file(dest), dest.name)
    except OSError as exc:
        raise BackupError(f"cannot copy {db} to {dest}: {exc.strerror or exc}") from exc
    backup = parse_backup(dest)
    assert backup is not None
    return backup


def _replace_sqlite(
    backup: BackupFile, target: Target, folder: Path, *, force: bool
) -> BackupFile | None:
    """Check the file is free, save it, and replace it atomically with the backup; return
    the safety backup (``None``: there was no database)."""
    db = Path(target.path)
    if not force and sqlite_in_use(db):
        raise BackupError(
            f"the database {db} is open in another process (SQLite refused an exclusive"
            f" lock): a server appears to be running on it; {_SERVER_HINT}; nothing was"
            " restored"
        )
    safety = None
    if db.is_file():
        try:
            safety = create_backup(target, folder, pre_restore=True)
        except BackupError as exc:
            if not force:
                raise BackupError(
                    f"the safety backup of the current database failed ({exc}); pass --force"
                    " to restore anyway (the current file is then kept as a plain copy)"
                ) from exc
            safety = _plain_copy(target, folder)
    db.parent.mkdir(parents=True, exist_ok=True)
    staged = db.with_name(db.name + ".restoring")
    try:
        shutil.copyfile(backup.path, staged)
        os.chmod(staged, 0o600)
        conn = sqlite3.connect(staged)
        try:
            problem = conn.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            conn.close()
        if problem != "ok":
            raise BackupError(f"{backup.path} fails SQLite's integrity check: {problem}")
        with staged.open("rb") as f:
            os.fsync(f.fileno())
        # The old file's write-ahead log must not be replayed onto the restored file.
        for side in ("-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                db.with_name(db.name + side).unlink()
        os.replace(staged, db)
        dir_fd = os.open(db.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except sqlite3.Error as exc:
        raise BackupError(f"{backup.path} cannot be read as SQLite: {exc}") from exc
    except OSError as exc:
        raise BackupError(f"restoring {db} failed: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            staged.unlink()
    return safety


__all__ = [
    "BackupError",
    "BackupFile",
    "RestoreReport",
    "Target",
    "backup_name",
    "check_backup",
    "checksum_status",
    "copy_backup",
    "create_backup",
    "list_backups",
    "parse_backup",
    "pg_sessions",
    "pg_tool",
    "restore_backup",
    "rotate",
    "sha256_file",
    "sqlite_in_use",
    "target_for",
    "verify_checksum",
]
