"""``pi5trading serve``: the API server."""

from __future__ import annotations

import logging

import click

from pi5trading import __version__, build_info
from pi5trading.cli._settings import cli_settings

log = logging.getLogger("pi5trading")


@click.command("serve")
@click.option("--host", default=None, help="Address to bind (default: settings, 127.0.0.1).")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="TCP port (default: settings, 8080).",
)
def serve_command(host: str | None, port: int | None) -> None:
    """Run the API server (and, as later parts land, the engine and dashboard)."""
    import uvicorn

    from pi5trading.api import create_app

    settings = cli_settings()
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
