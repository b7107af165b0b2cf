"""The app of an API-only worker, for ``uvicorn --factory`` (``pi5trading api``)."""

from __future__ import annotations

from litestar import Litestar

from pi5trading.api.app import create_app, worker_lifespan
from pi5trading.api.logs import configure_logging
from pi5trading.config import load_settings


def create_worker_app() -> Litestar:
    """Settings from the environment (each worker process builds its own app)."""
    settings = load_settings()
    configure_logging(settings.logging.level.upper(), settings.logging.format)
    return create_app(
        settings, lifespan=[worker_lifespan(settings)], run_backtests=False, settle=True
    )


__all__ = ["create_worker_app"]
