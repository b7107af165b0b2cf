"""Build and subscribe the configured sinks for a node: one call to open, one to close.

::

    sinks = await open_sinks(settings, bus, order_lookup=engine.order)
    restored = await sinks.restore()          # after a restart, before the first event
    ...                                       # the node runs; the API reads sinks.cache,
                                              # sinks.channels, sinks.metrics.render()
    await sinks.close()                       # on shutdown: flush everything

With ``PI5_REDIS__URL`` the cache and the channels live in Redis; otherwise in the process.
Storage is the configured database (``PI5_DATABASE__*``), opened and migrated here unless
the caller passes its own repository (then the caller closes it). ``close()`` closes the
event writer either way, after flushing it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from pi5trading import _core
from pi5trading.config import Settings
from pi5trading.sinks.alerts import GotifyAlerts
from pi5trading.sinks.cache import LatestState, MemoryLatestState, RedisLatestState
from pi5trading.sinks.channels import Channels, RedisChannels
from pi5trading.sinks.metrics import NodeMetrics, TimedRepository
from pi5trading.sinks.storage import Restored, StorageSink, restore_converter
from pi5trading.storage.connect import open_repository, open_writer, prepare_database
from pi5trading.storage.repository import SqlRepository
from pi5trading.storage.writer import EventWriter

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = logging.getLogger(__name__)


def connect_redis(url: str, *, socket_timeout: float | None = None) -> aioredis.Redis:
    """A Redis client that survives a Redis restart: a pooled connection the old server
    closed fails once, and the command is retried at once on a new one (``from_url``
    retries nothing: the first request after a restart was a 503). A Redis still away
    fails fast (refused twice); a timeout is not retried."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    retry = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
    # A pool that waits for a free connection (up to REDIS_POOL_WAIT_S) instead of
    # refusing at once: redis-py's default pool raised "Too many connections" past 100, so
    # 100 WebSocket clients signing in at once (each snapshot a few reads) failed some of
    # them (4500) and the node's own publishing with them (issue 17, the --redis load).
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=REDIS_POOL_SIZE,
        timeout=REDIS_POOL_WAIT_S,
        socket_timeout=socket_timeout,
        retry=retry,
    )
    return aioredis.Redis.from_pool(pool)


REDIS_POOL_SIZE: Final = 100
"""Connections one client (a process's) opens at most; more requests wait for one."""
REDIS_POOL_WAIT_S: Final = 5.0


def unrecorded_types(settings: Settings) -> frozenset[type]:
    """The market data payload types ``PI5_SINKS__RECORD_*`` switch off."""
    s = settings.sinks
    off: set[type] = set()
    if not s.record_bars:
        off.add(_core.Bar)
    if not s.record_quotes:
        off.add(_core.QuoteTick)
    if not s.record_trades:
        off.add(_core.TradeTick)
    return frozenset(off)


class Sinks:
    """The node's sinks, subscribed to its bus. Any of them may be ``None`` (switched off)."""

    def __init__(
        self,
        *,
        bus: _core.Bus,
        storage: StorageSink | None,
        cache: LatestState | None,
        channels: Channels | None,
        metrics: NodeMetrics | None,
        redis: aioredis.Redis | None,
        alerts: GotifyAlerts | None = None,
        owned_repository: SqlRepository | None,
        owned_journal: bool,
    ) -> None:
        self.bus = bus
        self.storage = storage
        self.cache = cache
        self.channels = channels
        self.metrics = metrics
        self.alerts = alerts
        self.redis = redis
        self._owned_repository = owned_repository
        self._owned_journal = owned_journal
        self._subscriptions: list[int] = []
        self._closed = False

    async def restore(self) -> Restored | None:
        """After a restart: continue order numbering, fill totals and replay detection
        from storage (see ``restore_converter``); returns what was read back."""
        if self.storage is None:
            return None
        return await restore_converter(self.storage.repository, self.storage.converter)

    async def flush(self) -> None:
        """Write out everything received so far (storage, then the Redis copies)."""
        if self.storage is not None:
            await self.storage.flush()
        if self.cache is not None:
            await self.cache.flush()
        if isinstance(self.channels, RedisChannels):
            await self.channels.flush()

    async def close(self) -> None:
        """Unsubscribe, then flush and close every sink; what the database cannot take
        stays in the journal. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for sid in self._subscriptions:
            self.bus.unsubscribe(sid)
        errors: list[BaseException] = []
        for close in (
            self.alerts.close if self.alerts is not None else None,
            self.channels.close if self.channels is not None else None,
            self.cache.close if self.cache is not None else None,
            self.storage.close if self.storage is not None else None,
        ):
            if close is None:
                continue
            try:
                await close()
            except Exception as exc:  # close the others regardless, then report
                log.exception("closing a sink failed")
                errors.append(exc)
        if self.storage is not None and self._owned_journal:
            self.storage.writer.journal.close()
        if self._owned_repository is not None:
            await self._owned_repository.close()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()
        if errors:
            raise errors[0]


async def open_sinks(
    settings: Settings,
    bus: _core.Bus,
    *,
    repository: SqlRepository | None = None,
    writer: EventWriter | None = None,
    order_lookup: Callable[[str], _core.Order | None] | None = None,
    mode: str = "paper",
    redis_client: aioredis.Redis | None = None,
) -> Sinks:
    """Open, start and subscribe the sinks ``settings`` ask for (see the module doc).

    ``order_lookup`` (e.g. the engine's ``order``) gives the storage sink an order's terms
    when the node does not publish the ``Order`` itself.
    """
    s = settings.sinks
    metrics = NodeMetrics() if s.metrics else None
    owned: SqlRepository | None = None
    if repository is None:
        owned = repository = await open_repository(settings)
        if settings.database.migrate_on_start:
            await prepare_database(settings, repository.driver)
    owned_journal = writer is None
    if writer is None:
        timed = TimedRepository(repository, metrics) if metrics is not None else repository
        writer = open_writer(settings, timed)
    storage = StorageSink(
        writer,
        repository,
        order_lookup=order_lookup,
        mode=mode,
        max_backlog=s.backlog_max,
        skip=unrecorded_types(settings),
    )
    redis = redis_client
    if redis is None and settings.redis.url:
        redis = connect_redis(settings.redis.url)
    prefix = settings.redis.key_prefix
    cache: LatestState | None = None
    if s.cache:
        cache = (
            RedisLatestState(redis, prefix=prefix, interval_s=s.cache_copy_interval_s)
            if redis is not None
            else MemoryLatestState()
        )
    channels: Channels | None = None
    if s.channels:
        channels = (
            RedisChannels(redis, prefix=prefix, max_queue=s.channel_queue)
            if redis is not None
            else Channels(max_queue=s.channel_queue)
        )
    alerts: GotifyAlerts | None = None
    a = settings.alerts
    if a.gotify_url:
        alerts = GotifyAlerts(
            a.gotify_url,
            a.gotify_token,
            fills=a.fills,
            repeat_s=a.repeat_s,
            max_per_minute=a.max_per_minute,
        )
    sinks = Sinks(
        bus=bus,
        storage=storage,
        cache=cache,
        channels=channels,
        metrics=metrics,
        alerts=alerts,
        redis=redis if redis_client is None else None,
        owned_repository=owned,
        owned_journal=owned_journal,
    )
    subs = sinks._subscriptions
    try:
        if metrics is not None:
            subs += metrics.subscribe(bus)
            metrics.watch_writer(writer)
            metrics.watch_backlog(lambda: storage.backlog)
            metrics.watch_retained("order_tracks", lambda: storage.converter.open_orders)
        subs += storage.subscribe(bus)
        await storage.start()
        if isinstance(cache, MemoryLatestState):
            subs += cache.subscribe(bus)
            await cache.start()
        if alerts is not None:
            subs += alerts.subscribe(bus)
            if repository.breaker is not None:
                alerts.watch_breaker(repository.breaker, "database")
            await alerts.start()
        if channels is not None:
            subs += channels.subscribe_bus(bus)
            await channels.start()
            if metrics is not None:
                channels.on_drop = metrics.channel_client_dropped
                metrics.watch_channels(channels)
    except BaseException:
        await sinks.close()
        raise
    return sinks


__all__ = ["Sinks", "connect_redis", "open_sinks", "unrecorded_types"]
