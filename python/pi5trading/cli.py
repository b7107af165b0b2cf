"""The ``pi5trading`` command line."""

from __future__ import annotations

import json
import logging

import click
import msgspec

from pi5trading import __version__, _core
from pi5trading.config import Settings, load_settings
from pi5trading.exceptions import ConfigurationError

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
    info = _core.build_info()
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
    out = {
        "version": __version__,
        "core": _core.build_info(),
        "settings": msgspec.to_builtins(settings),
    }
    click.echo(json.dumps(out, indent=2))
