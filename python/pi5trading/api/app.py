"""The application factory. Later issues add controllers, auth, channels and the dashboard."""

from __future__ import annotations

import time

import msgspec
from litestar import Litestar, get
from litestar.openapi import OpenAPIConfig

from pi5trading import __version__, build_info
from pi5trading.config import Settings


class CoreInfo(msgspec.Struct, frozen=True):
    """The Rust core this process runs."""

    version: str
    target_arch: str
    profile: str


class Health(msgspec.Struct, frozen=True):
    """Liveness of the process and its parts."""

    status: str
    version: str
    uptime_seconds: float
    core: CoreInfo


def create_app(settings: Settings) -> Litestar:
    """Build the API for ``settings``."""
    started = time.monotonic()
    info = build_info()
    core = CoreInfo(
        version=info["version"], target_arch=info["target_arch"], profile=info["profile"]
    )

    @get("/health", operation_id="getHealth", tags=["system"], sync_to_thread=False)
    def health() -> Health:
        """Liveness probe for Docker, systemd and load balancers; no authentication."""
        return Health(
            status="healthy",
            version=__version__,
            uptime_seconds=round(time.monotonic() - started, 3),
            core=core,
        )

    return Litestar(
        route_handlers=[health],
        openapi_config=OpenAPIConfig(title="pi5trading", version=__version__),
        debug=False,
    )
