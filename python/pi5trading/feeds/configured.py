"""The feed ``PI5_FEED__*`` settings describe, subscribed and ready to start.

    feed = configured_feed(settings.feed, store=repository)   # store: for replay from db
    await feed.start(queue)

``simulated`` and ``replay`` are built here. The live vendor kinds (``alpaca``,
``yahoo``) live in their own modules (``pi5trading.feeds.<kind>``) and need their keys
from the settings; each offers ``configured_feed(settings)`` (taking the whole
``Settings``), which this function calls when ``full`` is given. ``alphavantage`` has
history only: refused here with the reason.
"""

from __future__ import annotations

import datetime as dt
import importlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, cast

from pi5trading.exceptions import ConfigurationError, InvalidInputError
from pi5trading.feeds.calendars import SessionCalendar, get_calendar
from pi5trading.feeds.feed import Backoff, MarketFeed
from pi5trading.feeds.replay import MarketDataStore, ReplayFeed, ReplaySource
from pi5trading.feeds.simulated import SimulatedFeed

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from pi5trading.config import FeedSettings, Settings
    from pi5trading.feeds.feed import FeedMessage

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _instant(text: str, var: str) -> int | None:
    """ISO 8601 date or date-time (UTC unless an offset is given) as UTC ns."""
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError as e:
        raise ConfigurationError(
            f"{var}={text!r}: expected an ISO 8601 date or time, e.g. 2026-01-02"
        ) from e
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return (when - _EPOCH) // dt.timedelta(microseconds=1) * 1000


def configured_feed(
    settings: FeedSettings,
    *,
    store: MarketDataStore | None = None,
    full: Settings | None = None,
    start_ns: int | None = None,
    resume_after_ns: int | None = None,
) -> MarketFeed:
    """The configured feed, subscribed to ``settings.symbols`` (not started).

    ``start_ns`` / ``resume_after_ns``: where the simulated feed starts and, after a
    restart, the last event already persisted (see ``SimulatedFeed``).
    """
    symbols = settings.symbol_list()
    bars = settings.bar_intervals()
    speed = settings.speed or None
    if settings.delay_s and settings.kind in ("simulated", "replay"):
        raise ConfigurationError(
            f"PI5_FEED__DELAY_S={settings.delay_s:g}: a vendor's delay; the {settings.kind} "
            "feed runs on its data's clock already (leave it at 0)"
        )
    feed: MarketFeed
    if settings.kind == "simulated":
        feed = SimulatedFeed(
            seed=settings.seed,
            speed=speed,
            calendar=_calendar(settings),
            start_ns=start_ns,
            resume_after_ns=resume_after_ns,
        )
    elif settings.kind == "replay":
        feed = ReplayFeed(_replay_sources(settings, symbols, bars, store), speed=speed)
    elif settings.kind == "alphavantage":
        raise ConfigurationError(
            "PI5_FEED__KIND=alphavantage: Alpha Vantage has history only, no live data; "
            "use it to download bars (pi5trading data download --provider alphavantage) "
            "and alpaca or yahoo as the node's feed"
        )
    else:
        if full is None:
            raise ConfigurationError(
                f"PI5_FEED__KIND={settings.kind}: a vendor feed needs the whole settings "
                "(its keys): call configured_feed(settings.feed, full=settings)"
            )
        name = f"pi5trading.feeds.{settings.kind}"
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            raise ConfigurationError(
                f"PI5_FEED__KIND={settings.kind}: this build has no {settings.kind} feed"
            ) from e
        make = getattr(module, "configured_feed", None)
        if make is None:
            raise ConfigurationError(
                f"PI5_FEED__KIND={settings.kind}: {name} offers no configured_feed(settings)"
            )
        feed = cast("MarketFeed", make(full))
    try:
        feed.subscribe(symbols, bars=bars, quotes=settings.quotes, trades=settings.trades)
    except InvalidInputError as e:
        raise ConfigurationError(f"PI5_FEED__SYMBOLS / PI5_FEED__BARS: {e}") from e
    return feed


def check_feed_settings(settings: Settings) -> None:
    """Raise ``ConfigurationError`` for what ``configured_feed`` would refuse in
    ``PI5_FEED__*``, before anything starts (``serve`` says it in one line, not as a
    traceback from the server's start). Reads and connects to nothing: the simulated and
    replay feeds are built and dropped, never started (a replay of stored bars is given a
    database it never reads); for a vendor, its stream options are checked (its keys may
    still come from the credentials store)."""
    feed = settings.feed
    if feed.kind in ("simulated", "replay", "alphavantage"):
        configured_feed(feed, store=cast("MarketDataStore", object()), full=settings)
    else:
        stream_options(feed)


class StreamOptions(TypedDict):
    backoff: Backoff
    stale_after_s: float
    calendar: SessionCalendar
    wall_ns: Callable[[], int]


def stream_options(settings: FeedSettings) -> StreamOptions:
    """The ``StreamFeed`` arguments the settings fix, for vendor modules::

    StreamFeed("alpaca", client.stream, history=client, native_bars=("1m",),
               **stream_options(settings.feed))
    """
    if settings.reconnect_initial_s > settings.reconnect_max_s:
        raise ConfigurationError(
            f"PI5_FEED__RECONNECT_INITIAL_S={settings.reconnect_initial_s} is above "
            f"PI5_FEED__RECONNECT_MAX_S={settings.reconnect_max_s}"
        )
    calendar = _calendar(settings)
    return StreamOptions(
        backoff=Backoff(
            initial_s=settings.reconnect_initial_s,
            max_s=settings.reconnect_max_s,
            max_attempts=settings.reconnect_max_attempts or None,
        ),
        stale_after_s=settings.stale_after_s,
        calendar=calendar,
        wall_ns=data_clock(settings),
    )


def data_clock(settings: FeedSettings) -> Callable[[], int]:
    """The data's time now (UTC ns): the wall clock less the vendor's ``delay_s``. The
    feed judges sessions and unfinished bars by it, so a delayed market opens when its
    first bar can arrive, not ``delay_s`` earlier (that silence would read ``stale``)."""
    delay = round(settings.delay_s * 1e9)
    if not delay:
        return time.time_ns
    return lambda: time.time_ns() - delay


def _calendar(settings: FeedSettings) -> SessionCalendar:
    try:
        return get_calendar(settings.calendar)
    except InvalidInputError as e:
        raise ConfigurationError(f"PI5_FEED__CALENDAR={settings.calendar!r}: {e}") from e


def _replay_sources(
    settings: FeedSettings,
    symbols: list[str],
    bars: tuple[str, ...],
    store: MarketDataStore | None,
) -> list[ReplaySource]:
    from pi5trading.feeds.replay import file_source, storage_bars

    start = _instant(settings.replay_from, "PI5_FEED__REPLAY_FROM")
    end = _instant(settings.replay_to, "PI5_FEED__REPLAY_TO")
    interval = bars[0] if bars else "1m"
    sources: list[ReplaySource] = []
    if settings.replay_dir:
        folder = Path(settings.replay_dir).expanduser()
        for symbol in symbols:
            found = [
                p for p in (folder / f"{symbol}.csv", folder / f"{symbol}.parquet") if p.is_file()
            ]
            if not found:
                raise ConfigurationError(
                    f"PI5_FEED__REPLAY_DIR={settings.replay_dir}: no {symbol}.csv or "
                    f"{symbol}.parquet there"
                )
            src = file_source(symbol, interval, found[0])
            if start is not None or end is not None:
                src = _between(src, start, end)
            sources.append(src)
        return sources
    if store is None:
        raise ConfigurationError(
            "PI5_FEED__KIND=replay without PI5_FEED__REPLAY_DIR replays stored bars: "
            "it needs the database (store=)"
        )
    return [storage_bars(store, s, interval, start, end) for s in symbols]


def _between(src: ReplaySource, start: int | None, end: int | None) -> ReplaySource:
    """The source's bars with close time in ``[start, end)``."""
    inner = src.events

    async def events() -> AsyncIterator[FeedMessage]:
        async for m in inner():
            if (start is None or m.ts_event >= start) and (end is None or m.ts_event < end):
                yield m

    return ReplaySource(src.symbol, events, src.description)


__all__ = [
    "StreamOptions",
    "check_feed_settings",
    "configured_feed",
    "data_clock",
    "stream_options",
]
