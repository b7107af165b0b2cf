"""``pi5trading info``: version, core build and the effective settings."""

from __future__ import annotations

import json

import click
import msgspec

from pi5trading import __version__, build_info
from pi5trading.cli._settings import cli_settings


@click.command("info")
def info_command() -> None:
    """Print the version, the Rust core build and the effective settings as JSON."""
    settings = cli_settings()
    from pi5trading.storage.postgres import redact

    shown = msgspec.to_builtins(settings)
    shown["database"]["url"] = redact(settings.database.url)  # never print a password
    out = {
        "version": __version__,
        "core": build_info(),
        "settings": shown,
    }
    click.echo(json.dumps(out, indent=2))
