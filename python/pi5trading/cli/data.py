"""``pi5trading data``: market data in the database (``data import``; ``data download`` is
in ``download.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pi5trading.cli._display import utc_time
from pi5trading.cli._paths import require_writable_database
from pi5trading.cli._settings import database_url_option, with_database_url
from pi5trading.cli.download import data_download_command
from pi5trading.exceptions import Pi5TradingError

if TYPE_CHECKING:
    from pi5trading.config import Settings


@click.group("data")
def data_group() -> None:
    """Market data: import bars from files or download them from a provider."""


data_group.add_command(data_download_command)


@data_group.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--instrument",
    "-i",
    default=None,
    help="Instrument id for rows without an instrument column, e.g. AAPL.XNAS.",
)
@click.option(
    "--interval",
    default=None,
    help="Bar interval label: 1m, 5m, 1h, 1d … [default: taken from the first file's timestamps].",
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["auto", "csv", "parquet"]),
    default="auto",
    show_default=True,
    help="File format (auto: by extension, then content).",
)
@click.option(
    "--time-unit",
    type=click.Choice(["auto", "s", "ms", "us", "ns"]),
    default="auto",
    show_default=True,
    help="Unit of integer timestamps (auto: by number of digits); Parquet timestamp "
    "columns carry their own.",
)
@click.option(
    "--max-errors",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="List at most this many bad rows (every row is checked; the count is of all).",
)
@database_url_option
def data_import_command(
    files: tuple[str, ...],
    instrument: str | None,
    interval: str | None,
    file_format: str,
    time_unit: str,
    max_errors: int,
    database_url: str | None,
) -> None:
    """Import OHLCV bars from CSV or Parquet FILES (all or nothing).

    Columns by name (a CSV header line, a Parquet file's schema): timestamp (or
    ts/time/datetime/date), open, high, low, close, optional volume and optional
    instrument_id/symbol. Timestamps are UNIX integers, ISO 8601 text (UTC when no offset
    is given) or Parquet timestamp/date columns. Every row is validated; if any is bad,
    nothing is written and the bad rows are listed by line number (Parquet: row number +
    2, as if written as CSV with a header). An empty, truncated or damaged file is refused
    the same way. Bars already stored are skipped, so re-running an import is safe.

    Example: pi5trading data import aapl_1m.csv --instrument AAPL.XNAS --interval 1m
    """
    import asyncio

    from pi5trading.data.bars import interval_ns

    settings = with_database_url(database_url)
    try:
        if interval is not None:
            interval_ns(interval)  # a label the backtests can read back (db:<instrument>)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--interval") from None
    require_writable_database(
        settings.database.url,
        settings.data_dir,
        "choose another database with --database-url, PI5_DATABASE__URL or PI5_DATA_DIR",
    )
    try:
        asyncio.run(
            _import(
                settings,
                list(files),
                instrument_id=instrument,
                interval=interval,
                file_format=file_format,
                time_unit=time_unit,
                max_errors=max_errors,
            )
        )
    except Pi5TradingError as exc:
        raise click.ClickException(str(exc)) from exc


async def _import(
    settings: Settings,
    files: list[str],
    *,
    instrument_id: str | None,
    interval: str | None,
    file_format: str,
    time_unit: str,
    max_errors: int,
) -> None:
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

    from pi5trading.storage.bars_import import import_bars, read_import_file
    from pi5trading.storage.connect import open_driver, prepare_database
    from pi5trading.storage.repository import SqlRepository

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

    # The first file is checked before the database is opened: a bad file (the usual
    # single-file import) creates and writes nothing. Later files roll the import back.
    first = read_import_file(
        files[0],
        instrument_id=instrument_id,
        file_format=file_format,
        time_unit=time_unit,
        max_errors=max_errors,
    )
    if interval is None:
        from pi5trading.data.bars import infer_interval

        interval = infer_interval(first.frame.ts)
        if interval is not None:
            how = f"taken from the timestamps of {files[0]}"
        elif len(set(first.frame.ts.tolist())) < 2:
            interval, how = "1m", f"assumed: {files[0]} has one timestamp"
        else:
            raise click.ClickException(
                f"{files[0]}: cannot tell the bar interval from the timestamps "
                "(give it with --interval, e.g. 1m or 1d)"
            )
        click.echo(f"note: interval {interval} {how} (--interval sets it)", err=True)
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
                first=first,
            )
    finally:
        await repo.close()
    skipped = result.rows - result.inserted
    out.print(
        f"imported {result.inserted} new bars ({skipped} already stored) for "
        f"{', '.join(result.instrument_ids) or 'no instrument'}, interval {interval}, "
        f"{utc_time(result.first_ns)} .. {utc_time(result.last_ns)}"
    )
