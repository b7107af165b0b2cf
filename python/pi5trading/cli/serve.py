"""``pi5trading serve``: the API server."""

from __future__ import annotations

import logging

import click

from pi5trading import __version__, build_info
from pi5trading.cli._paths import require_writable_database
from pi5trading.cli._settings import cli_settings
from pi5trading.exceptions import Pi5TradingError

log = logging.getLogger("pi5trading")


@click.command("serve")
@click.option("--host", default=None, help="Address to bind (default: settings, 127.0.0.1).")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="TCP port (default: settings, 8080).",
)
@click.option(
    "--node/--no-node",
    default=True,
    show_default=True,
    help="Run the paper-trading node (configured feed, sinks, demo strategies) with the API.",
)
def serve_command(host: str | None, port: int | None, node: bool) -> None:
    """Run the API server with the paper-trading node: on the embedded default, a simulated
    feed (PI5_FEED__*), the simulated venue, SQLite, and two demo strategies
    (PI5_NODE__DEMO_STRATEGIES=false turns them off). Ctrl-C stops it gracefully."""
    import uvicorn

    from pi5trading.api import create_app
    from pi5trading.api.app import node_lifespan

    settings = cli_settings()
    level = settings.logging.level.upper()
    from pi5trading.api.logs import configure_logging

    configure_logging(level, settings.logging.format)
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

    if node:  # the node records into the database: a path it cannot write is one line now
        from pi5trading.feeds.configured import check_feed_settings

        try:
            check_feed_settings(settings)
        except Pi5TradingError as exc:
            raise click.ClickException(str(exc)) from None
        require_writable_database(
            settings.database.url,
            settings.data_dir,
            "choose another folder with PI5_DATA_DIR or a database with PI5_DATABASE__URL",
        )
    try:
        app = create_app(settings, lifespan=[node_lifespan(settings)] if node else [], settle=True)
    except Pi5TradingError as exc:  # a missing or weak signing secret, ...: one line
        raise click.ClickException(str(exc)) from None
    from pi5trading.api.ws_protocol import BoundedWebSocketProtocol

    # log_config=None: uvicorn's lines go through the process's handler (one format).
    uvicorn.run(
        app,
        host=bind_host,
        port=bind_port,
        log_level=level.lower(),
        log_config=None,
        ws=BoundedWebSocketProtocol,
    )


@click.command("api")
@click.option("--host", default=None, help="Address to bind (default: settings, 127.0.0.1).")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="TCP port (default: settings)."
)
@click.option(
    "--workers", type=click.IntRange(1, 64), default=1, show_default=True,
    help="Worker processes serving on the same port.",
)  # fmt: skip
def api_command(host: str | None, port: int | None, workers: int) -> None:
    """Run API-only workers beside a running `pi5trading serve` (its node): they read from
    the database and Redis and send orders to the node through Redis (PI5_REDIS__URL,
    PI5_DATABASE__URL and PI5_AUTH__JWT_SECRET shared with the node's process)."""
    import uvicorn

    from pi5trading.api.security.keys import signing_keys

    settings = cli_settings()
    if not settings.redis.url:
        raise click.ClickException(
            "API-only workers reach the node through Redis: set PI5_REDIS__URL (the same as "
            "the node's)"
        )
    try:
        signing_keys(settings)  # a missing or weak secret: one line, before any worker
    except Pi5TradingError as exc:
        raise click.ClickException(str(exc)) from None
    from pi5trading.api.ws_protocol import BoundedWebSocketProtocol

    uvicorn.run(
        "pi5trading.api.worker:create_worker_app",
        factory=True,
        host=host or settings.api.host,
        port=port or settings.api.port,
        workers=workers,
        log_level=settings.logging.level.lower(),
        log_config=None,
        ws=BoundedWebSocketProtocol,
    )
