"""Settings for the commands: loaded once per command, a bad value is a clean CLI error."""

from __future__ import annotations

import click
import msgspec

from pi5trading.config import Settings, load_settings
from pi5trading.exceptions import ConfigurationError


def cli_settings() -> Settings:
    """The effective settings; a bad ``PI5_*`` value exits with its message, no traceback."""
    try:
        return load_settings()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc


def with_database_url(database_url: str | None) -> Settings:
    """The settings with ``--database-url`` in place of ``PI5_DATABASE__URL`` when given."""
    settings = cli_settings()
    if database_url is not None:
        db = msgspec.structs.replace(settings.database, url=database_url)
        settings = msgspec.structs.replace(settings, database=db)
    return settings


database_url_option = click.option(
    "--database-url",
    default=None,
    metavar="URL",
    help="postgresql://user:pass@host:port/db or sqlite:///path/file.db "
    "(default: PI5_DATABASE__URL; empty = SQLite file in the data dir).",
)
