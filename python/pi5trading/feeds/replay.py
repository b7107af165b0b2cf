"""The replay feed: recorded data played back in time order across symbols.

Sources: a ``BarFrame`` (one instrument's bars, ``ts`` at the close as the engine uses
them), a bar file (read by the exact bar reader, ``pi5trading.data.load_bars``), bars,
quotes or trades stored in the database (read page by page through the storage layer's
``get_bars`` / ``get_quote_ticks`` / ``get_trade_ticks``, so memory holds one page per
symbol), or any time-ordered iterable of ``Bar`` / ``QuoteTick`` / ``TradeTick``::

    feed = ReplayFeed(
        [
            frame_source("AAPL", "1m", frame),
            file_source("MSFT", "1m", "msft.csv"),
            storage_bars(storage, "SPY", "1m", start_ns, end_ns),
        ],
        speed=None,        # as fast as the queue takes it; 1.0 = real time, 60.0 = 60x
    )
    await feed.start(queue)
    await feed.wait()      # ends with status "closed" once every source is played

Events of all sources are merged by ``ts_event`` (ties: in source order, then as stored),
so the node sees exactly the order a backtest of the same data would. Subscriptions filter
the sources by symbol; with none made, every source plays. At a finite speed a pause in the
data longer than ``max_wait_s`` real seconds (a night, a weekend) is cut to that, so a
replay at 1x does not sit through the night.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, Protocol

import msgspec

from pi5trading.exceptions import InvalidInputError
from pi5trading.feeds.feed import FeedBase, FeedMessage, await_if_needed
from pi5trading.model import Bar, BarType, Price, Quantity, QuoteTick, TradeTick
from pi5trading.storage.records import BarRow, QuoteTickRow, TradeTickRow

if TYPE_CHECKING:
    from pi5trading.data.bars import BarFrame

NS: Final = 1_000_000_000
_BLOCK: Final = 4096
PAGE: Final = 10_000
"""Rows read from the database at a time, per symbol."""

log = logging.getLogger("pi5trading.feeds")


class MarketDataStore(Protocol):
    """The part of ``pi5trading.storage.Storage`` a replay reads."""

    async def get_bars(
        self,
        instrument_id: str,
        interval: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int | None = None,
    ) -> Sequence[BarRow]: ...

    async def get_quote_ticks(
        self, instrument_id: str, start_ns: int, end_ns: int, limit: int | None = None
    ) -> Sequence[QuoteTickRow]: ...

    async def get_trade_ticks(
        self, instrument_id: str, start_ns: int, end_ns: int, limit: int | None = None
    ) -> Sequence[TradeTickRow]: ...


class ReplaySource(msgspec.Struct, frozen=True):
    """One symbol's recorded events: ``events()`` opens them, oldest first."""

    symbol: str
    events: Callable[[], AsyncIterator[FeedMessage]]
    description: str = ""


def frame_source(symbol: str, interval: str, frame: BarFrame) -> ReplaySource:
    """Bars of a ``BarFrame`` whose ``ts`` are close times (as ``load_bars`` returns)."""
    bar_type = BarType(symbol, interval)
    pp = frame.price_decimals
    vp = frame.volume_decimals

    async def events() -> AsyncIterator[FeedMessage]:
        n = len(frame)
        for a in range(0, n, _BLOCK):
            b = min(a + _BLOCK, n)
            cols = [frame.raw(name, a, b).tolist() for name in ("open", "high", "low", "close")]
            vol = frame.raw("volume", a, b).tolist()
            ts = frame.ts[a:b].tolist()
            for i in range(b - a):
                yield Bar(
                    bar_type,
                    Price.from_raw(cols[0][i], pp),
                    Price.from_raw(cols[1][i], pp),
                    Price.from_raw(cols[2][i], pp),
                    Price.from_raw(cols[3][i], pp),
                    Quantity.from_raw(vol[i], vp),
                    ts[i],
                )
            await asyncio.sleep(0)  # a big frame does not hold the loop

    return ReplaySource(symbol, events, f"{symbol} {interval} bars of {frame.source}")


def file_source(
    symbol: str,
    interval: str,
    path: str | Path,
    *,
    timestamps: Literal["open", "close"] = "open",
) -> ReplaySource:
    """Bars of a CSV or Parquet file, read and checked by the exact bar reader (a bad row
    is refused with its line). Vendors stamp bars at the open: ``timestamps="open"`` adds
    the interval, as a backtest does."""
    from pi5trading.data.bars import load_bars

    frame, _ = load_bars(path, interval=interval, timestamps=timestamps)
    return frame_source(symbol, interval, frame)


def storage_bars(
    store: MarketDataStore,
    symbol: str,
    interval: str,
    start_ns: int | None = None,
    end_ns: int | None = None,
    *,
    page: int = PAGE,
    instrument_id: str | None = None,
) -> ReplaySource:
    """Stored bars with open time in ``[start_ns, end_ns)``; sent at their close time
    (open + interval), as a backtest of ``db:<symbol>`` sees them. ``instrument_id``: the
    stored id when it is not the symbol (``AAPL.XNAS``)."""
    stored = instrument_id or symbol
    bar_type = BarType(symbol, interval)
    step = bar_type.interval_ns

    async def events() -> AsyncIterator[FeedMessage]:
        after = start_ns
        while True:
            rows = await store.get_bars(stored, interval, after, end_ns, page)
            for r in rows:
                yield Bar(bar_type, r.open, r.high, r.low, r.close, r.volume, r.ts_ns + step)
            if len(rows) < page:
                return
            after = rows[-1].ts_ns + 1

    return ReplaySource(symbol, events, f"stored {symbol} {interval} bars")


def storage_quotes(
    store: MarketDataStore,
    symbol: str,
    start_ns: int,
    end_ns: int,
    *,
    page: int = PAGE,
    instrument_id: str | None = None,
) -> ReplaySource:
    """Stored quotes with ``start_ns <= ts < end_ns``, in stored order."""
    stored = instrument_id or symbol

    async def events() -> AsyncIterator[FeedMessage]:
        done = 0  # rows of the last timestamp already sent (quotes share timestamps)
        after = start_ns
        while True:
            rows = await store.get_quote_ticks(stored, after, end_ns, page + done)
            for r in rows[done:]:
                yield QuoteTick(symbol, r.bid, r.ask, r.bid_size, r.ask_size, r.ts_ns)
            if len(rows) < page + done:
                return
            after = rows[-1].ts_ns
            done = sum(1 for r in rows if r.ts_ns == after)

    return ReplaySource(symbol, events, f"stored {symbol} quotes")


Aggressor = Literal["BUYER", "SELLER", "NO_AGGRESSOR"]
_AGGRESSOR: Final[dict[str, Aggressor]] = {"buy": "BUYER", "sell": "SELLER"}


def storage_trades(
    store: MarketDataStore,
    symbol: str,
    start_ns: int,
    end_ns: int,
    *,
    page: int = PAGE,
    instrument_id: str | None = None,
) -> ReplaySource:
    """Stored trades with ``start_ns <= ts < end_ns``, in stored order."""
    stored = instrument_id or symbol

    async def events() -> AsyncIterator[FeedMessage]:
        done = 0
        after = start_ns
        while True:
            rows = await store.get_trade_ticks(stored, after, end_ns, page + done)
            for r in rows[done:]:
                side = _AGGRESSOR.get(r.aggressor, "NO_AGGRESSOR")
                yield TradeTick(symbol, r.price, r.size, side, r.trade_id, r.ts_ns)
            if len(rows) < page + done:
                return
            after = rows[-1].ts_ns
            done = sum(1 for r in rows if r.ts_ns == after)

    return ReplaySource(symbol, events, f"stored {symbol} trades")


def message_source(symbol: str, messages: Iterable[FeedMessage]) -> ReplaySource:
    """Model objects already in memory (oldest first), e.g. quotes for a parity test."""

    async def events() -> AsyncIterator[FeedMessage]:
        for i, m in enumerate(messages):
            yield m
            if i % _BLOCK == _BLOCK - 1:
                await asyncio.sleep(0)

    return ReplaySource(symbol, events, f"{symbol} events in memory")


class ReplayFeed(FeedBase):
    """Plays ``sources`` merged in time order at ``speed`` (None: as fast as possible)."""

    def __init__(
        self,
        sources: Sequence[ReplaySource],
        *,
        name: str = "replay",
        speed: float | None = None,
        max_wait_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        super().__init__(name)
        if speed is not None and not speed > 0:
            raise InvalidInputError(f"invalid speed: {speed} (a multiple of real time, > 0)")
        if not max_wait_s > 0:
            raise InvalidInputError(f"invalid max_wait_s: {max_wait_s} (> 0)")
        self._sources = list(sources)
        self._speed = speed
        self._max_wait = max_wait_s
        self._monotonic = monotonic
        self._sleep: Callable[[float], object] = sleep or asyncio.sleep
        self.out_of_order = 0
        """Events older than one already sent (a source not in time order): skipped."""

    def _playing(self) -> list[ReplaySource]:
        if not self._subs:
            return self._sources
        return [s for s in self._sources if s.symbol in self._subs]

    async def _run(self) -> None:
        sources = self._playing()
        streams = [s.events() for s in sources]
        heap: list[tuple[int, int, int, FeedMessage]] = []
        seq = 0
        for i, stream in enumerate(streams):
            first = await anext(stream, None)
            if first is not None:
                heap.append((first.ts_event, i, seq, first))
                seq += 1
            else:  # a symbol that would stay silent: say which and why
                log.warning(
                    "replay: nothing to play for %s (%s: none in the range)",
                    sources[i].symbol,
                    sources[i].description or "its source",
                )
        heapq.heapify(heap)
        if heap:
            self._stats.last_ts_event = heap[0][0]
        self._set_status("live", f"replaying {len(sources)} sources")
        speed = self._speed
        real0 = self._monotonic()
        sim0 = heap[0][0] if heap else 0
        skipped = 0.0  # real seconds cut from long pauses
        last = 0
        try:
            while heap:
                ts, i, _, message = heapq.heappop(heap)
                if ts < last:
                    self.out_of_order += 1
                else:
                    last = ts
                    if speed is not None:
                        due = real0 + (ts - sim0) / NS / speed - skipped
                        wait = due - self._monotonic()
                        if wait > self._max_wait:
                            skipped += wait - self._max_wait
                            wait = self._max_wait
                        if wait > 0:
                            await await_if_needed(self._sleep(wait))
                    await self._room()
                    if not self._send(message):
                        return
                # Read the next event of this source only now: what was sent is never lost
                # to a source that fails afterwards.
                nxt = await anext(streams[i], None)
                if nxt is not None:
                    heapq.heappush(heap, (nxt.ts_event, i, seq, nxt))
                    seq += 1
        finally:
            for stream in streams:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    await aclose()
        log.info("replay finished: %d events", self._stats.messages)
        self._set_status("closed", f"replay finished: {self._stats.messages} events")


__all__ = [
    "PAGE",
    "MarketDataStore",
    "ReplayFeed",
    "ReplaySource",
    "file_source",
    "frame_source",
    "message_source",
    "storage_bars",
    "storage_quotes",
    "storage_trades",
]
