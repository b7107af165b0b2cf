"""A deterministic tape of regular-session minute bars that the vendor stand-ins serve.

Prices are whole cents (the truth); each stand-in writes them the way its vendor does
(Yahoo and Alpaca as JSON floats, Yahoo with float32 noise such as 185.63999938964844,
Alpha Vantage as 4-decimal strings), so a client that reads them exactly gets the cents
back. Sessions: weekdays 09:30-16:00 New York (holidays are not modelled).
"""

from __future__ import annotations

import datetime as dt
import random
import struct
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

NY = ZoneInfo("America/New_York")
NS = 10**9


@dataclass(frozen=True)
class TapeBar:
    ts: int
    """Open time, UTC seconds."""
    open: int
    high: int
    low: int
    close: int
    """Cents."""
    volume: int


def cents(value: int) -> Decimal:
    return Decimal(value).scaleb(-2)


def float32_noise(value: int) -> float:
    """The cents as Yahoo sends them: through a float32 and back (185.64 → 185.63999938…)."""
    return float(struct.unpack("f", struct.pack("f", value / 100))[0])


def session_opens(day: dt.date) -> list[int]:
    """UTC seconds of each minute of the regular session of ``day`` (none on weekends)."""
    if day.weekday() >= 5:
        return []
    start = dt.datetime(day.year, day.month, day.day, 9, 30, tzinfo=NY)
    first = int(start.timestamp())
    return [first + 60 * k for k in range(390)]


@cache
def minute_bars(symbol: str, first: dt.date, last: dt.date) -> tuple[TapeBar, ...]:
    rng = random.Random(f"{symbol}:{first}:{last}")
    price = 18_500 + sum(map(ord, symbol)) % 5000
    bars: list[TapeBar] = []
    day = first
    while day <= last:
        for ts in session_opens(day):
            o = price
            c = max(100, o + rng.randint(-25, 25))
            h = max(o, c) + rng.randint(0, 10)
            low = min(o, c) - rng.randint(0, 10)
            bars.append(TapeBar(ts, o, h, low, c, rng.randint(100, 50_000)))
            price = c
        day += dt.timedelta(days=1)
    return tuple(bars)


def aggregate(bars: tuple[TapeBar, ...] | list[TapeBar], seconds: int) -> list[TapeBar]:
    """Minute bars into ``seconds`` bars aligned to UTC multiples (daily: the session date,
    stamped at the first minute's time)."""
    out: list[TapeBar] = []
    key_prev: object = None
    for b in bars:
        if seconds >= 86_400:
            key: object = dt.datetime.fromtimestamp(b.ts, NY).date()
        else:
            key = b.ts - b.ts % seconds
        if key != key_prev:
            ts = b.ts if seconds >= 86_400 else int(str(key))
            out.append(TapeBar(ts, b.open, b.high, b.low, b.close, b.volume))
            key_prev = key
        else:
            last = out[-1]
            out[-1] = TapeBar(
                last.ts,
                last.open,
                max(last.high, b.high),
                min(last.low, b.low),
                b.close,
                last.volume + b.volume,
            )
    return out


TAPE_FIRST = dt.date(2023, 12, 1)
TAPE_LAST = dt.date(2024, 4, 30)


def tape(symbol: str) -> tuple[TapeBar, ...]:
    """The symbol's minute bars from ``TAPE_FIRST`` to ``TAPE_LAST``."""
    return minute_bars(symbol, TAPE_FIRST, TAPE_LAST)


def bars_between(symbol: str, start_s: int, end_s: int, seconds: int = 60) -> list[TapeBar]:
    """Bars of ``seconds`` opening in ``[start_s, end_s)``."""
    import bisect

    minutes = tape(symbol)
    if seconds >= 86_400:  # whole sessions whose first minute is in range
        lo_day = dt.datetime.fromtimestamp(start_s, NY).date()
        hi_day = dt.datetime.fromtimestamp(max(start_s, end_s - 1), NY).date()
        lo = bisect.bisect_left(minutes, session_start(lo_day), key=lambda b: b.ts)
        hi = bisect.bisect_left(
            minutes, session_start(hi_day + dt.timedelta(days=1)), key=lambda b: b.ts
        )
        return [b for b in aggregate(minutes[lo:hi], seconds) if start_s <= b.ts < end_s]
    lo = bisect.bisect_left(minutes, start_s - start_s % seconds, key=lambda b: b.ts)
    hi = bisect.bisect_left(minutes, end_s + seconds, key=lambda b: b.ts)
    return [b for b in aggregate(minutes[lo:hi], seconds) if start_s <= b.ts < end_s]


def session_start(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, 9, 30, tzinfo=NY).timestamp())


def utc(text: str) -> int:
    """UTC seconds of ``2024-01-02T14:30`` (UTC)."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp())
