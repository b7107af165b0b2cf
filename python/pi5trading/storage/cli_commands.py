"""What ``pi5trading migrate`` and ``pi5trading data import`` do, with rich output.

Kept out of ``cli.py`` so the command line stays a thin layer of options and help text.
"""

from __future__ import annotations

import datetime as dt
import json

import msgspec
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from pi5trading.config import Settings
from pi5trading.storage.bars_import import import_bars
from pi5trading.storage.connect import open_driver, prepare_database
from pi5trading.storage.migrate import migrate, migration_status
from pi5trading.storage.repository import SqlRepository


def _when(ns: int | None) -> str:
    if ns is None:
        return ""
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def run_migrate(settings: Settings, *, status_only: bool, as_json: bool) -> int:
    """Apply (or show) migrations; return the exit status (1 if files and database disagree)."""
    out = Console()
    driver = await open_driver(settings.database, settings.data_dir)
    try:
        if not status_only:
            applied = await migrate(driver)
            await prepare_database(settings, driver)  # no-op migrate, then policies
            for m in applied:
                out.print(f"applied {m.series}/{m.version:04d}_{m.name}")
            if not applied:
                out.print("database is up to date")
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
                _when(m.applied_ns),
            )
        out.print(table)
    if status.timescale is not None:
        out.print(f"TimescaleDB: {status.timescale.detail}")
    for m in status.problems:
        out.print(f"[red]problem:[/] {m.series}/{m.version:04d}_{m.name} is {m.status}")
    return 1 if status.problems else 0


async def run_import(
    settings: Settings,
    files: list[str],
    *,
    instrument_id: str | None,
    interval: str,
    file_format: str,
    time_unit: str,
    max_errors: int,
) -> None:
    out = Console()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def report(path: str, done: int, total: int) -> None:
        task = tasks.get(path)
        if task is None:
            task = tasks[path] = progress.add_task(path, total=total)
        progress.update(task, completed=done, total=total)

    driver = await open_driver(settings.database, settings.data_dir)
    repo = SqlRepository(driver)
    try:
        if settings.database.migrate_on_start:
            await prepare_database(settings, driver)
        with progress:
            result = await import_bars(
                repo,
                files,
                instrument_id=instrument_id,
                interval=interval,
                file_format=file_format,
                time_unit=time_unit,
                max_errors=max_errors,
                progress=report,
            )
    finally:
        await repo.close()
    skipped = result.rows - result.inserted
    out.print(
        f"imported {result.inserted} new bars ({skipped} already stored) for "
        f"{', '.join(result.instrument_ids) or 'no instrument'}, interval {interval}, "
        f"{_when(result.first_ns)} .. {_when(result.last_ns)}"
    )


__all__ = ["run_import", "run_migrate"]
