"""Bars from trades and quotes, and larger bars from smaller ones, aligned to the session.

Buckets start at the session open, not the clock hour: on NYSE a ``1h`` bar covers
09:30-10:30, ..., 15:30-16:00 New York time (the last one half an hour: a session's last
bucket is cut at its close, so half days end with a short bar too); ``1d`` covers the
whole session. With the ``24/7`` calendar sessions are UTC days, so buckets align to
midnight UTC. Prices and volumes are exact (raw 10^-9 integers; no float anywhere)::

    agg = BarAggregator("AAPL", "1m", "5m", get_calendar("XNYS"))
    for bar in one_minute_bars:
        for five in agg.update(bar):          # 0 or 1 completed 5m bar
            ...
    agg.flush(now_ns)                         # bars whose end time has passed

A bar is emitted when it is complete: its last part arrived (a source bar closing at the
bucket's end), data of a later bucket arrived, or ``flush(now_ns)`` is called at or after
its end (a node calls it on its clock, so a quiet market still closes its bars). A bar is
never emitted before its end time; the one in progress is visible through ``partial()``
and is dropped, not emitted, when the aggregator is discarded (a partial bar must not
pass for a complete one). Data older than the bucket in progress is refused and counted
(``late``); data outside every session is counted (``outside_session``) and ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal, TypeAlias

from pi5trading.exceptions import InvalidInputError
from pi5trading.model import Bar, BarType, Price, Quantity, QuoteTick, TradeTick

if TYPE_CHECKING:
    from pi5trading.feeds.calendars import SessionCalendar

DAY_NS: Final = 86_400 * 1_000_000_000
QuoteSide: TypeAlias = Literal["bid", "ask", "mid"]


def check_aggregation(source: str, target: str) -> None:
    """Refuses (``InvalidInputError``) a target interval that cannot be built from source
    bars: it must be a larger multiple of the source, or ``1d`` (one session)."""
    src = BarType("X", source).interval_ns
    tgt = BarType("X", target).interval_ns
    if tgt > DAY_NS:
        raise InvalidInputError(
            f"invalid interval: {target!r} (aggregation goes up to 1d, one session)"
        )
    if not (tgt == DAY_NS or (tgt > src and tgt % src == 0)):
        raise InvalidInputError(
            f"invalid interval: cannot build {target!r} bars from {source!r} bars "
            "(the target must be a larger multiple of the source, or 1d)"
        )


class _Bucket:
    """One bar in progress, as raw integers."""

    __slots__ = ("close", "end", "high", "low", "open", "pp", "start", "vol", "vp")

    def __init__(self, start: int, end: int, o: int, h: int, lo: int, c: int, v: int) -> None:
        self.start = start
        self.end = end
        self.open = o
        self.high = h
        self.low = lo
        self.close = c
        self.vol = v
        self.pp = 0
        self.vp = 0

    def add(self, h: int, lo: int, c: int, v: int) -> None:
        if h > self.high:
            self.high = h
        if lo < self.low:
            self.low = lo
        self.close = c
        self.vol += v


class _SessionBuckets:
    """Which bucket a timestamp falls in: ``[session open + k * step, ... + step)`` cut at
    the session close; ``1d`` and longer: the whole session."""

    def __init__(self, interval: str, calendar: SessionCalendar) -> None:
        self.bar_type_interval = interval
        step = BarType("X", interval).interval_ns
        if step > DAY_NS:
            raise InvalidInputError(
                f"invalid interval: {interval!r} (aggregation goes up to 1d, one session)"
            )
        self.step = step
        self.calendar = calendar
        self._open = 0
        self._close = 0  # the cached session [open, close): most lookups hit it

    def of(self, ts: int) -> tuple[int, int] | None:
        """The bucket ``[start, end)`` holding instant ``ts``, or None outside sessions."""
        if not self._open <= ts < self._close:
            s = self.calendar.session_at(ts)
            if s is None:
                return None
            self._open, self._close = s.open_ns, s.close_ns
        if self.step >= DAY_NS:
            return self._open, self._close
        start = self._open + (ts - self._open) // self.step * self.step
        return start, min(start + self.step, self._close)


class _Aggregator:
    def __init__(self, symbol: str, interval: str, calendar: SessionCalendar) -> None:
        self.bar_type = BarType(symbol, interval)
        self._buckets = _SessionBuckets(interval, calendar)
        self._cur: _Bucket | None = None
        self.emitted = 0
        self.late = 0
        self.outside_session = 0

    def _make(self, b: _Bucket) -> Bar:
        return Bar(
            self.bar_type,
            Price.from_raw(b.open, b.pp),
            Price.from_raw(b.high, b.pp),
            Price.from_raw(b.low, b.pp),
            Price.from_raw(b.close, b.pp),
            Quantity.from_raw(b.vol, b.vp),
            b.end,
        )

    def _bar(self, b: _Bucket) -> Bar:
        self.emitted += 1
        return self._make(b)

    def _feed(
        self, instant: int, o: int, h: int, lo: int, c: int, v: int, pp: int, vp: int
    ) -> list[Bar]:
        """Adds a part whose last instant is ``instant``; returns bars it completed."""
        out: list[Bar] = []
        cur = self._cur
        if cur is not None:
            if instant < cur.start:
                self.late += 1
                return out
            if instant >= cur.end:
                out.append(self._bar(cur))
                self._cur = cur = None
        if cur is None:
            bucket = self._buckets.of(instant)
            if bucket is None:
                self.outside_session += 1
                return out
            cur = self._cur = _Bucket(bucket[0], bucket[1], o, h, lo, c, v)
        else:
            cur.add(h, lo, c, v)
        if pp > cur.pp:
            cur.pp = pp
        if vp > cur.vp:
            cur.vp = vp
        return out

    def _complete_at(self, ts: int) -> list[Bar]:
        cur = self._cur
        if cur is not None and ts >= cur.end:
            self._cur = None
            return [self._bar(cur)]
        return []

    def flush(self, now_ns: int) -> list[Bar]:
        """The bar in progress if its end time is ``<= now_ns`` (then it is complete)."""
        return self._complete_at(now_ns)

    def partial(self) -> Bar | None:
        """The bar in progress, stamped with its end time (not yet complete)."""
        return None if self._cur is None else self._make(self._cur)


class BarAggregator(_Aggregator):
    """Bars of one symbol and interval into bars of a larger interval (``1m`` → ``5m``,
    ``15m``, ``1h``, ``1d``; any interval that is a multiple of the source, or ``1d``).

    A source bar belongs to the bucket holding its last instant (``ts_event - 1``), so a
    source bar cut short at a session close still lands in the right bucket.
    """

    def __init__(self, symbol: str, source: str, target: str, calendar: SessionCalendar) -> None:
        check_aggregation(source, target)
        super().__init__(symbol, target, calendar)
        self.source = BarType(symbol, source)

    def update(self, bar: Bar) -> list[Bar]:
        """Adds a source bar; returns the bars it completed (oldest first)."""
        if bar.bar_type != self.source:
            raise InvalidInputError(
                f"invalid bar: {bar.bar_type.symbol}-{bar.bar_type.interval} given to the "
                f"{self.source.symbol}-{self.source.interval} → {self.bar_type.interval} "
                "aggregator"
            )
        o, h, lo, c, v = bar.open, bar.high, bar.low, bar.close, bar.volume
        ts = bar.ts_event
        pp = max(o.precision, h.precision, lo.precision, c.precision)
        out = self._feed(ts - 1, o.raw, h.raw, lo.raw, c.raw, v.raw, pp, v.precision)
        # The last part of a bucket completes it at once.
        if self._cur is not None and ts >= self._cur.end:
            out.extend(self._complete_at(ts))
        return out


class TickAggregator(_Aggregator):
    """Trades (price and size) or quotes (``bid``, ``ask`` or ``mid``; volume 0) of one
    symbol into bars. A tick at a bucket's exact end time belongs to the next bucket.

    A mid of two prices is exact to the core's 10^-9 resolution: (bid + ask) / 2 adds at
    most one decimal place; a mid of two 9-place prices is rounded half to even.
    """

    def __init__(
        self,
        symbol: str,
        interval: str,
        calendar: SessionCalendar,
        *,
        quotes: QuoteSide | None = None,
    ) -> None:
        super().__init__(symbol, interval, calendar)
        self.symbol = symbol
        self.quotes = quotes

    def update(self, tick: TradeTick | QuoteTick) -> list[Bar]:
        """Adds a tick; returns the bars it completed (oldest first)."""
        if tick.symbol != self.symbol:
            raise InvalidInputError(
                f"invalid tick: {tick.symbol} given to the {self.symbol} aggregator"
            )
        if isinstance(tick, TradeTick):
            if self.quotes is not None:
                raise InvalidInputError("invalid tick: a trade given to a quote aggregator")
            p, q = tick.price, tick.size
            raw, pp = p.raw, p.precision
            return self._feed(tick.ts_event, raw, raw, raw, raw, q.raw, pp, q.precision)
        side = self.quotes
        if side is None:
            raise InvalidInputError("invalid tick: a quote given to a trade aggregator")
        if side == "bid":
            raw, pp = tick.bid.raw, tick.bid.precision
        elif side == "ask":
            raw, pp = tick.ask.raw, tick.ask.precision
        else:
            total = tick.bid.raw + tick.ask.raw
            raw = total // 2
            if total % 2 and raw % 2:  # exactly half a raw unit: to the even one
                raw += 1
            pp = min(9, max(tick.bid.precision, tick.ask.precision) + 1)
        return self._feed(tick.ts_event, raw, raw, raw, raw, 0, pp, 0)


__all__ = ["BarAggregator", "QuoteSide", "TickAggregator", "check_aggregation"]
