"""The ``pi5trading`` command line."""

from __future__ import annotations

import json
import logging

import click
import msgspec

from pi5trading import __version__, build_info
from pi5trading.config import Settings, load_settings
from pi5trading.exceptions import ConfigurationError, Pi5TradingError

log = logging.getLogger("pi5trading")


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="pi5trading")
def main() -> None:
    """pi5trading: algorithmic trading on a Raspberry Pi 5.

    Settings come from PI5_* environment variables and an optional .env file
    (e.g. PI5_API__PORT=9000). Run `pi5trading COMMAND --help` for details.
    """


@main.command()
@click.option("--host", default=None, help="Address to bind (default: settings, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="TCP port (default: settings, 8080).")
def serve(host: str | None, port: int | None) -> None:
    """Run the API server (and, as later parts land, the engine and dashboard)."""
    import uvicorn

    from pi5trading.api import create_app

    settings = _settings()
    level = settings.logging.level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    bind_host = host or settings.api.host
    bind_port = port or settings.api.port
    info = build_info()
    log.info(
        "pi5trading %s (core %s, %s, %s) on http://%s:%d",
        __version__,
        info["version"],
        info["target_arch"],
        info["profile"],
        bind_host,
        bind_port,
    )
    uvicorn.run(create_app(settings), host=bind_host, port=bind_port, log_level=level.lower())


@main.command()
def info() -> None:
    """Print the version, the Rust core build and the effective settings as JSON."""
    settings = _settings()
    from pi5trading.storage.postgres import redact

    shown = msgspec.to_builtins(settings)
    shown["database"]["url"] = redact(settings.database.url)  # never print a password
    out = {
        "version": __version__,
        "core": build_info(),
        "settings": shown,
    }
    click.echo(json.dumps(out, indent=2))


def _database_settings(database_url: str | None) -> Settings:
    settings = _settings()
    if database_url is not None:
        db = msgspec.structs.replace(settings.database, url=database_url)
        settings = msgspec.structs.replace(settings, database=db)
    return settings


_DB_URL_OPTION = click.option(
    "--database-url",
    default=None,
    metavar="URL",
    help="postgresql://user:pass@host:port/db or sqlite:///path/file.db "
    "(default: PI5_DATABASE__URL; empty = SQLite file in the data dir).",
)


@main.command()
@click.option(
    "--status", is_flag=True, help="Show applied, pending and skipped migrations; change nothing."
)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON (with --status).")
@_DB_URL_OPTION
def migrate(status: bool, as_json: bool, database_url: str | None) -> None:
    """Apply pending database migrations (forward-only, each in its own transaction).

    Migrations are the SQL files in migrations/: postgres/ or sqlite/ for the schema, and
    timescale/, applied only when the TimescaleDB extension is available. An applied
    migration whose file was edited since is an error: add a new migration instead.
    Exit status 1 if the database and the files disagree.
    """
    import asyncio

    from pi5trading.storage.cli_commands import run_migrate

    settings = _database_settings(database_url)
    try:
        code = asyncio.run(run_migrate(settings, status_only=status, as_json=as_json))
    except Pi5TradingError as exc:
        raise click.ClickException(str(exc)) from exc
    if code:
        raise SystemExit(code)


@main.group()
def data() -> None:
    """Market data: import bars into the database."""


@data.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--instrument",
    "-i",
    default=None,
    help="Instrument id for rows without an instrument column, e.g. AAPL.XNAS.",
)
@click.option(
    "--interval", default="1m", show_default=True, help="Bar interval label: 1m, 5m, 1h, 1d …"
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
    help="Unit of integer timestamps (auto: by number of digits).",
)
@click.option(
    "--max-errors",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Stop checking after this many bad rows.",
)
@_DB_URL_OPTION
def import_bars(
    files: tuple[str, ...],
    instrument: str | None,
    interval: str,
    file_format: str,
    time_unit: str,
    max_errors: int,
    database_url: str | None,
) -> None:
    """Import OHLCV bars from CSV or Parquet FILES (all or nothing).

    Columns by header name: timestamp (or ts/time/datetime/date), open, high, low, close,
    optional volume and optional instrument_id/symbol. Timestamps are UNIX integers or ISO
    8601 (UTC when no offset is given). Every row is validated; if any is bad, nothing is
    written and the bad rows are listed by line number. Bars already stored are skipped,
    so re-running an import is safe.

    Example: pi5trading data import aapl_1m.csv --instrument AAPL.XNAS --interval 1m
    """
    import asyncio

    from pi5trading.storage.cli_commands import run_import

    settings = _database_settings(database_url)
    try:
        asyncio.run(
            run_import(
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


def _register_backtest_commands() -> None:
    from pi5trading.backtest.commands import backtest, optimize, runs

    main.add_command(backtest)
    main.add_command(optimize)
    main.add_command(runs)


_register_backtest_commands()
