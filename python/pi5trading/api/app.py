"""The application factory: routes, sign-in, errors as problem details, rate limits,
security headers, OpenAPI at ``/schema``, the web dashboard at ``/`` (``dashboard.py``).

    app = create_app(settings, lifespan=[trading_node])   # serve: the node beside the API

The app opens its own repository (``app.state.repository``) and migrates it when
``PI5_DATABASE__MIGRATE_ON_START`` is on; the node, when one runs in the process, is
``app.state.node``. In the embedded default, a first start with no user creates ``admin``
with a random password, printed once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Litestar, Router, get
from litestar.config.cors import CORSConfig
from litestar.datastructures import ResponseHeader
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, RedocRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.prometheus import PrometheusConfig
from litestar.static_files import create_static_files_router
from litestar.stores.base import Store

from pi5trading import __version__, build_info
from pi5trading.api import (
    audit,
    auth,
    backtests,
    credentials,
    dashboard,
    live,
    performance,
    strategies,
    system,
    trading,
    users,
)
from pi5trading.api.auth import OPEN_PATHS, AuthContext, TokenAuthMiddleware
from pi5trading.api.errors import HANDLERS, SECURITY_HEADERS, document_problems
from pi5trading.api.logs import add_request_id, request_ids
from pi5trading.api.rate_limit import RateLimit
from pi5trading.api.security.keys import embedded, signing_keys
from pi5trading.api.text_guard import refuse_nul_text
from pi5trading.config import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("pi5trading.api")

# The API docs page's script, served from the package: litestar's default page loads Redoc,
# fonts and an icon from CDNs, and stays blank on a Pi without internet.
# scripts/dev/vendor_redoc.sh refreshes the bundle.
DOCS_ASSETS_PATH = "/schema/assets"
DOCS_ASSETS_DIR = Path(__file__).parent / "_static" / "redoc"

# Redoc's footer links a logo on Redocly's CDN (inside the bundle): offline it would show as
# a broken image, so it is hidden. The page itself loads nothing from elsewhere.
DOCS_STYLE = "<style>body{margin:0;padding:0}img[src^='http']{display:none}</style>"

RESPONSE_HEADERS = [ResponseHeader(name=k, value=v) for k, v in SECURITY_HEADERS.items()]


def openapi_config() -> OpenAPIConfig:
    """/schema (Redoc, all assets local) and /schema/openapi.json; bearer tokens."""
    return OpenAPIConfig(
        title="pi5trading",
        version=__version__,
        description=(
            "The pi5trading API. Sign in with POST /api/v1/auth/login and send the access "
            "token as `Authorization: Bearer <token>`. Errors are RFC 9457 problem details."
        ),
        components=Components(
            security_schemes={
                "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
            }
        ),
        security=[{"BearerToken": []}],
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


def storage_lifespan(settings: Settings) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """Open (and migrate) the API's repository for the app's lifetime."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        from pi5trading.storage.connect import open_repository, prepare_database

        repository = await open_repository(settings)
        try:
            if settings.database.migrate_on_start:
                await prepare_database(settings, repository.driver)
            app.state.repository = repository
            if embedded(settings):
                await _first_admin(repository)
            yield
        finally:
            await repository.close()

    return lifespan


def shared_stores(
    settings: Settings,
) -> tuple[dict[str, Store] | None, list[Any], Redis | None]:
    """With Redis (``PI5_REDIS__URL``): the login failures and locks and the signed-out
    access tokens in Redis, so every API process (``serve`` and ``api`` workers) counts the
    same account once and refuses a token signed out on any of them; the client (the rate
    limits count there too) and the hook that closes it. Without it, each process keeps its
    own in memory."""
    if not settings.redis.url:
        return None, [], None
    from litestar.stores.redis import RedisStore

    from pi5trading.sinks.wiring import connect_redis

    client = connect_redis(settings.redis.url, socket_timeout=5)
    root = RedisStore(client, namespace=f"{settings.redis.key_prefix}:api")
    stores: dict[str, Store] = {
        name: root.with_namespace(name) for name in ("logins", "revoked_tokens")
    }

    async def close() -> None:
        await client.aclose()

    return stores, [close], client


def node_lifespan(settings: Settings) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """The paper-trading node beside the API (``pi5trading serve``): ``app.state.node``."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        from pi5trading.api.audit import journal_audit_rows
        from pi5trading.node.runtime import paper_node

        async with paper_node(settings) as running:
            app.state.node = running
            server = None
            storage = getattr(running.sinks, "storage", None)
            api_repository = getattr(app.state, "repository", None)
            keep_audit = (
                journal_audit_rows(api_repository, storage.writer)
                if storage is not None and api_repository is not None
                else None
            )
            redis = getattr(running.sinks, "redis", None)
            if redis is not None:  # API-only workers send their commands through Redis
                from pi5trading.api.commands import node_commands
                from pi5trading.api.remote import CommandServer

                commands = node_commands(running, lambda: getattr(app.state, "backtests", None))
                server = CommandServer(redis, settings.redis.key_prefix, commands)
                await server.start()
            try:
                yield
            finally:
                if server is not None:
                    await server.close()
                if keep_audit is not None:
                    keep_audit()
                app.state.node = None

    return lifespan


def worker_lifespan(settings: Settings) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """An API-only worker (``pi5trading api``): no node; Redis for the node's commands, its
    latest state and its live events."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        from pi5trading.api.remote import RemoteCommands
        from pi5trading.sinks.cache import RedisLatestState
        from pi5trading.sinks.channels import RedisChannels
        from pi5trading.sinks.wiring import connect_redis

        r = settings.redis
        # Commands: reads wait a little longer than a command's wait (BLPOP), so that
        # ends first. Events: no read timeout (a quiet topic is not a dead connection).
        commands = connect_redis(r.url, socket_timeout=r.command_timeout_s + 5)
        client = connect_redis(r.url)
        app.state.remote = RemoteCommands(commands, r.key_prefix, r.command_timeout_s)
        app.state.cache = RedisLatestState.reader(client, prefix=r.key_prefix)
        app.state.channels = RedisChannels(client, prefix=r.key_prefix)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await app.state.channels.close()
            await client.aclose()
            await commands.aclose()

    return lifespan


def backtests_lifespan(
    settings: Settings,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """The backtest jobs' worker processes (``app.state.backtests``): started with the app,
    and every one of them stopped when it stops."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        from pi5trading.backtest.jobs import BacktestJobs, Job
        from pi5trading.sinks.channels import RedisChannels

        sent: set[asyncio.Task[Any]] = set()

        def publish(job: Job) -> None:
            # Live to WebSocket clients of the node's channels (topic "backtests"); with
            # Redis, published there, for the clients of every API process.
            channels = getattr(getattr(getattr(app.state, "node", None), "sinks", None),
                               "channels", None)  # fmt: skip
            message = {"type": "backtest", "topic": "backtests", "job": backtests.job_out(job)}
            if isinstance(channels, RedisChannels):
                redis = channels
                data = msgspec.json.encode(message)

                async def send() -> None:
                    await redis.client.publish(redis.channel("backtests"), data)

                task = asyncio.get_running_loop().create_task(send())
                sent.add(task)
                task.add_done_callback(_published(sent))
            elif channels is not None and channels.clients:
                channels.deliver("backtests", msgspec.json.encode(message))

        runner = BacktestJobs(settings, app.state.repository, publish)
        await runner.start()
        app.state.backtests = runner
        try:
            yield
        finally:
            app.state.backtests = None
            await runner.close()

    return lifespan


def _published(sent: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    """Forget a finished publish; a lost one (Redis away) is logged, never raised."""

    def done(task: asyncio.Task[Any]) -> None:
        sent.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a backtest update was not published: %s", task.exception())

    return done


async def _first_admin(repository: Any) -> None:
    """The embedded demo's first admin: a random password, printed once (no default
    password anywhere)."""
    if await repository.list_users():
        return
    password = users.random_password()
    await users.create_user(repository, "admin", password, "admin")
    bar = "=" * 72
    log.warning(
        "\n%s\nfirst start: created the user 'admin' with the password\n\n    %s\n\n"
        "It is shown only now: sign in and change it (POST /api/v1/auth/password), or\n"
        "create your own users with `pi5trading user create`.\n%s",
        bar,
        password,
        bar,
    )


def settle_heap() -> None:
    """Once everything is started: move the objects made so far (modules, routes, the node
    and its strategies) out of the garbage collector's sight. Python's full collections
    walk them all (measured 80-175 ms each on the demo, every request waiting behind
    one, the REST tail's largest part); frozen, a collection only walks what came later
    (under 3 ms measured)."""
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings,
    lifespan: Sequence[Callable[[Litestar], AbstractAsyncContextManager[None]]] = (),
    *,
    run_backtests: bool = True,
    settle: bool = False,
) -> Litestar:
    """Build the API for ``settings``; ``lifespan`` runs beside it (the trading node).
    ``run_backtests``: this process runs backtest jobs (API-only workers do not: they only
    read the recorded ones). ``settle``: freeze the heap once started (``settle_heap``;
    for a server process, not for an app among many in one process, such as the tests').

    Raises ``ConfigurationError`` (before anything starts) for a missing or weak signing
    secret outside the embedded default."""
    started = time.monotonic()
    info = build_info()
    core = CoreInfo(
        version=info["version"], target_arch=info["target_arch"], profile=info["profile"]
    )
    keys = signing_keys(settings)

    @get("/health", operation_id="getHealth", tags=["system"], sync_to_thread=False, security=[])
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
    api = settings.api
    exclude = [f"^{p}" for p in OPEN_PATHS]  # and the dashboard's files (exclude_from_auth)
    stores, close_stores, redis = shared_stores(settings)
    prefix = f"{settings.redis.key_prefix}:api:limit"
    rate_limit = RateLimit(
        "requests",
        api.rate_limit_per_minute,
        # Probes are not rate-limited: /ready must answer (with its checks) even when
        # the shared counters in Redis are unreachable.
        exclude=("^/health", "^/ready", "^/metrics", "^/assets/"),
        redis=redis,
        redis_prefix=prefix,
    )
    login_limit = RateLimit(
        "logins", api.login_rate_limit_per_minute, redis=redis, redis_prefix=prefix
    )
    modules = (auth, users, trading, strategies, system, audit, backtests, performance, credentials)
    document_problems([h for m in modules for h in m.ROUTES])
    # Login has its own, stricter limit (and the account lockout).
    login_router = Router("/", route_handlers=[auth.login], middleware=[login_limit.middleware])
    origins = [o.strip() for o in api.cors_origins.split(",") if o.strip()]
    routes = [h for m in modules for h in m.ROUTES if h is not auth.login]
    app = Litestar(
        route_handlers=[
            health,
            docs_assets,
            login_router,
            *routes,
            *live.ROUTES,
            *dashboard.dashboard_routes(),
        ],
        openapi_config=openapi_config(),
        exception_handlers=HANDLERS,
        middleware=[
            request_ids,
            refuse_nul_text,
            rate_limit.middleware,
            PrometheusConfig(
                app_name="pi5trading", prefix="pi5_http", group_path=True, exclude=["^/metrics"]
            ).middleware,
            DefineMiddleware(TokenAuthMiddleware, exclude=exclude),
        ],
        response_headers=RESPONSE_HEADERS,
        before_send=[add_request_id],
        cors_config=CORSConfig(allow_origins=origins) if origins else None,
        request_max_body_size=api.max_body_bytes,
        stores=stores,
        on_startup=[settle_heap] if settle else [],
        on_shutdown=close_stores,
        debug=False,
        # The process configures logging (serve: one format for every line); Litestar
        # would otherwise replace the root logger's handlers with its own.
        logging_config=None,
        # The jobs' processes stop first, before the node and storage they may write to.
        lifespan=[
            storage_lifespan(settings),
            *lifespan,
            *([backtests_lifespan(settings)] if run_backtests else []),
        ],
    )
    shared = stores or {}
    app.state.auth = AuthContext(
        keys, settings.auth, shared.get("logins"), shared.get("revoked_tokens")
    )
    app.state.started = started
    app.state.settings = settings
    return app


__all__ = [
    "CoreInfo",
    "Health",
    "backtests_lifespan",
    "create_app",
    "node_lifespan",
    "openapi_config",
    "storage_lifespan",
    "worker_lifespan",
]
