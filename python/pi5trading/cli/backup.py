"""``pi5trading backup`` and ``pi5trading restore``: the database to a checksummed file and back.

What is written, where, and how a restore decides a server is running: docs/DEPLOYMENT.md,
"Backups". A failure is one line on stderr, exit status 1, and (for ``backup``) a Gotify
alert when ``PI5_ALERTS__GOTIFY_URL`` is set.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pi5trading.cli._settings import database_url_option, with_database_url
from pi5trading.exceptions import Pi5TradingError

if TYPE_CHECKING:
    from pi5trading.config import Settings
    from pi5trading.storage.backup import BackupFile, RestoreReport


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def backup_folder(settings: Settings, option: str | None) -> Path:
    chosen = option or settings.backup.dir
    if chosen:
        return Path(chosen).expanduser()
    return Path(settings.data_dir).expanduser() / "backups"


def _describe(b: BackupFile) -> str:
    return f"{b.path} ({human_size(b.size)})"


def _alert(settings: Settings, message: str) -> None:
    """Send the failure to Gotify when configured; a failed send is a warning, not a crash."""
    if not settings.alerts.gotify_url:
        return
    import asyncio

    from pi5trading.sinks.alerts import Alert, GotifyAlerts

    async def send() -> int:
        alerts = GotifyAlerts(settings.alerts.gotify_url, settings.alerts.gotify_token)
        await alerts.start()
        alerts.put(Alert("backup:failed", "critical", "pi5trading backup failed", message))
        await alerts.close()
        return alerts.sent

    if not asyncio.run(send()):
        click.echo(f"warning: the alert to {settings.alerts.gotify_url} was not sent", err=True)


@click.command("backup")
@click.option(
    "--dir",
    "folder",
    default=None,
    metavar="DIR",
    help="Backup folder (default: PI5_BACKUP__DIR, else DATA_DIR/backups).",
)
@click.option(
    "--keep-days",
    type=click.IntRange(0, 36_500),
    default=None,
    help="Delete backups older than this many days after a successful backup; 0 keeps all "
    "(default: PI5_BACKUP__KEEP_DAYS, 7).",
)
@click.option(
    "--copy-to",
    default=None,
    metavar="DIR",
    help="Also copy the backup to this existing folder, e.g. a USB stick "
    "(default: PI5_BACKUP__COPY_TO). Missing or read-only: the backup fails.",
)
@click.option("--list", "show", is_flag=True, help="List the backups (size, time, checksum).")
@database_url_option
def backup_command(
    folder: str | None,
    keep_days: int | None,
    copy_to: str | None,
    show: bool,
    database_url: str | None,
) -> None:
    """Back the database up: pg_dump (custom format, compressed) for PostgreSQL, SQLite's
    online backup API for the embedded database, safe while the server runs.

    Writes pi5trading-<db>-YYYYmmddTHHMMSSZ.dump (or .db) with a .sha256 beside it, copies
    it to --copy-to, then deletes backups older than --keep-days. Exit status 1 on any
    failure, with a Gotify alert when PI5_ALERTS__GOTIFY_URL is set.
    """
    from pi5trading.storage import backup as bk

    settings = with_database_url(database_url)
    where = backup_folder(settings, folder)
    if show:
        _list(where)
        return
    keep = settings.backup.keep_days if keep_days is None else keep_days
    second = copy_to if copy_to is not None else settings.backup.copy_to
    written: BackupFile | None = None
    try:
        target = bk.target_for(settings.database.url, settings.data_dir)
        written = bk.create_backup(target, where, pg_bin_dir=settings.backup.pg_bin_dir)
        click.echo(f"wrote {_describe(written)}")
        click.echo(f"  sha256 {written.checksum_path}")
        if second:
            copied = bk.copy_backup(written, Path(second).expanduser())
            click.echo(f"copied to {copied}")
        now = dt.datetime.now(dt.UTC)
        for gone in bk.rotate(where, keep, now) + (
            bk.rotate(Path(second).expanduser(), keep, now) if second else []
        ):
            click.echo(f"deleted {gone} (older than {keep} days)")
    except Pi5TradingError as exc:
        message = str(exc)
        if written is not None:
            message = f"{message} (the backup {written.path} itself was written)"
        _alert(settings, message)
        raise click.ClickException(message) from exc


def _list(folder: Path) -> None:
    from pi5trading.storage.backup import checksum_status, list_backups

    found = list_backups(folder)
    if not found:
        click.echo(f"no backups in {folder}")
        return
    click.echo(f"backups in {folder}:")
    width = max(len(Path(b.path).name) for b in found)
    for b in found:
        name = Path(b.path).name
        when = b.created.strftime("%Y-%m-%d %H:%M:%S UTC")
        status = checksum_status(Path(b.path))
        click.echo(f"  {name:<{width}}  {when}  {human_size(b.size):>9}  checksum {status}")


@click.command("restore")
@click.argument("backup_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--latest", is_flag=True, help="Restore the newest backup of this database.")
@click.option(
    "--dir",
    "folder",
    default=None,
    metavar="DIR",
    help="Backup folder for --latest and the safety backup (default: as for backup).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Restore even though a server appears to be using the database (PostgreSQL: its "
    "sessions are disconnected; SQLite: restart the server right after).",
)
@database_url_option
def restore_command(
    backup_file: Path | None,
    latest: bool,
    folder: str | None,
    force: bool,
    database_url: str | None,
) -> None:
    """Restore a backup into the database.

    Verifies the backup's checksum first (a corrupted or truncated file is refused and
    nothing is touched), refuses while a server is using the database unless --force,
    takes a safety backup of the current database (…-pre-restore), restores, and reports
    every table's row count and the migrations' status. Exit status 1 on any failure.
    """
    import asyncio

    from pi5trading.storage import backup as bk

    settings = with_database_url(database_url)
    where = backup_folder(settings, folder)
    if (backup_file is None) == (not latest):
        raise click.UsageError("give either a BACKUP_FILE or --latest")
    try:
        target = bk.target_for(settings.database.url, settings.data_dir)
        if backup_file is None:
            mine = [
                b
                for b in bk.list_backups(where)
                if b.kind == target.kind and b.database == target.name and not b.pre_restore
            ]
            if not mine:
                raise bk.BackupError(f"no backup of {target.name} in {where}")
            backup_file = Path(mine[-1].path)
        report = asyncio.run(
            bk.restore_backup(
                backup_file, target, where, force=force, pg_bin_dir=settings.backup.pg_bin_dir
            )
        )
    except Pi5TradingError as exc:
        raise click.ClickException(str(exc)) from exc
    _report(report)
    if report.migrations.problems:
        raise SystemExit(1)


def _report(report: RestoreReport) -> None:
    echo = click.echo
    echo(f"checksum ok: {report.backup.path}")
    if report.safety_backup is not None:
        echo(f"safety backup of the previous database: {_describe(report.safety_backup)}")
    else:
        echo("no previous database: nothing to save first")
    made = " (created)" if report.created_database else ""
    echo(f"restored into {report.target}{made}")
    echo("rows per table:")
    width = max((len(t) for t in report.row_counts), default=0)
    for name, rows in report.row_counts.items():
        echo(f"  {name:<{width}}  {rows:>10}")
    status = report.migrations
    applied = sum(1 for m in status.migrations if m.status == "applied")
    if status.problems:
        for m in status.problems:
            echo(f"problem: migration {m.series}/{m.version:04d}_{m.name} is {m.status}")
        echo(
            "the backup does not match this pi5trading's migrations (made by a newer version?):"
            " install the version that made it, or restore another backup"
        )
        return
    skipped = sum(1 for m in status.migrations if m.status == "skipped")
    note = f", {skipped} skipped (TimescaleDB absent)" if skipped else ""
    if status.pending:
        note += f", {len(status.pending)} pending: run `pi5trading migrate`"
    echo(f"migrations consistent: {applied} applied{note}")
