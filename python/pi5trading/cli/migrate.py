"""``pi5trading migrate``: apply or show the database migrations."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from pi5trading.cli._display import utc_time
from pi5trading.cli._paths import require_writable_database
from pi5trading.cli._settings import database_url_option, with_database_url
from pi5trading.exceptions import Pi5TradingError

if TYPE_CHECKING:
    from pi5trading.config import Settings


@click.command("migrate")
@click.option(
    "--status", is_flag=True, help="Show applied, pending and skipped migrations; change nothing."
)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON (with --status).")
@database_url_option
def migrate_command(status: bool, as_json: bool, database_url: str | None) -> None:
    """Apply pending database migrations (forward-only, each in its own transaction).

    Migrations are the SQL files shipped in the package (pi5trading/storage/migrations/):
    postgres/ or sqlite/ for the schema, and timescale/, applied only when the TimescaleDB
    extension is available. An applied
    migration whose file was edited since is an error: add a new migration instead.
    Exit status 1 if the database and the files disagree.
    """
    import asyncio

    settings = with_database_url(database_url)
    if not status:
        require_writable_database(
            settings.database.url,
            settings.data_dir,
            "choose another database with --database-url, PI5_DATABASE__URL or PI5_DATA_DIR",
        )
    try:
        code = asyncio.run(_migrate(settings, status_only=status, as_json=as_json))
    except Pi5TradingError as exc:
        raise click.ClickException(str(exc)) from exc
    if code:
        raise SystemExit(code)


async def _migrate(settings: Settings, *, status_only: bool, as_json: bool) -> int:
    """Apply (or show) migrations; return the exit status (1 if files and database disagree)."""
    import msgspec
    from rich.console import Console
    from rich.table import Table

    from pi5trading.storage.connect import open_driver, prepare_database
    from pi5trading.storage.migrate import migrate, migration_status

    out = Console()
    driver = await open_driver(settings.database, settings.data_dir)
    try:
        if not status_only:
            applied = await migrate(driver)
            timescale = await prepare_database(settings, driver)  # no-op migrate, policies
            for m in applied:
                out.print(f"applied {m.series}/{m.version:04d}_{m.name}")
            if not applied:
                out.print("database is up to date")
            if timescale:
                db = settings.database
                days = db.compress_after_days
                out.print(
                    f"TimescaleDB policies set: new bar chunks span {db.bars_chunk_days} days,"
                    + (f" chunks compressed after {days} days" if days else " no compression")
                )
        status = await migration_status(driver)
    finally:
        await driver.close()
    if as_json:
        out.print_json(json.dumps(msgspec.to_builtins(status)))
        return 1 if status.problems else 0
    if status_only:
        table = Table(title=f"migrations: {status.dialect} {status.database}")
        for col in ("series", "version", "name", "status", "applied"):
            table.add_column(col)
        styles = {
            "applied": "green",
            "pending": "yellow",
            "skipped": "dim",
            "modified": "red",
            "missing": "red",
        }
        for m in status.migrations:
            table.add_row(
                m.series,
                f"{m.version:04d}",
                m.name,
                f"[{styles.get(m.status, '')}]{m.status}[/]",
                utc_time(m.applied_ns),
            )
        out.print(table)
    if status.timescale is not None:
        out.print(f"TimescaleDB: {status.timescale.detail}")
    for m in status.problems:
        out.print(f"[red]problem:[/] {m.series}/{m.version:04d}_{m.name} is {m.status}")
    return 1 if status.problems else 0
