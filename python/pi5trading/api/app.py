"""The application factory. Later issues add controllers, auth, channels and the dashboard."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import msgspec
from litestar import Litestar, get
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, RedocRenderPlugin
from litestar.static_files import create_static_files_router

from pi5trading import __version__, build_info
from pi5trading.config import Settings

# The API docs page's script, served from the package: litestar's default page loads Redoc,
# fonts and an icon from CDNs, and stays blank on a Pi without internet.
# scripts/dev/vendor_redoc.sh refreshes the bundle.
DOCS_ASSETS_PATH = "/schema/assets"
DOCS_ASSETS_DIR = Path(__file__).parent / "_static" / "redoc"

# Redoc's footer links a logo on Redocly's CDN (inside the bundle): offline it would show as
# a broken image, so it is hidden. The page itself loads nothing from elsewhere.
DOCS_STYLE = "<style>body{margin:0;padding:0}img[src^='http']{display:none}</style>"


def openapi_config() -> OpenAPIConfig:
    """/schema (Redoc, all assets local) and /schema/openapi.json."""
    return OpenAPIConfig(
        title="pi5trading",
        version=__version__,
        render_plugins=[
            RedocRenderPlugin(
                js_url=f"{DOCS_ASSETS_PATH}/redoc.standalone.js",
                google_fonts=False,
                favicon="",
                path="/redoc",
                style=DOCS_STYLE,
            ),
            JsonRenderPlugin(),
        ],
    )


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


def create_app(
    settings: Settings,
    lifespan: Sequence[Callable[[Litestar], AbstractAsyncContextManager[None]]] = (),
) -> Litestar:
    """Build the API for ``settings``; ``lifespan`` runs beside it (the trading node)."""
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

    docs_assets = create_static_files_router(
        path=DOCS_ASSETS_PATH, directories=[DOCS_ASSETS_DIR], include_in_schema=False
    )
    return Litestar(
        route_handlers=[health, docs_assets],
        openapi_config=openapi_config(),
        debug=False,
        # The process configures logging (serve: one format for every line); Litestar
        # would otherwise replace the root logger's handlers with its own.
        logging_config=None,
        lifespan=list(lifespan),
    )
