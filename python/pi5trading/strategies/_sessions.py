"""Exchange-local calendar days for intraday strategies (America/New_York by default).

Bars carry UTC nanoseconds (their close time). Converting every bar with ``zoneinfo``
would cost microseconds per bar, so ``SessionDay`` converts once per day: it caches the
UTC bounds of the current local day and the UTC instants of the local times a strategy
asked for (e.g. 09:30 and 15:55), and a bar only costs an integer comparison until the
next day starts. Daylight-saving changes are handled by ``zoneinfo``, day by day.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_NS = 1_000_000_000

NEW_YORK = "America/New_York"


def _utc_ns(day: date, at: time, tz: ZoneInfo) -> int:
    # Whole seconds: the float timestamp is exact.
    return int(datetime.combine(day, at, tzinfo=tz).timestamp()) * _NS


class SessionDay:
    """The local day a bar belongs to, and chosen local times of that day in UTC ns.

    A bar stamped with its close time ``ts`` belongs to the local day ``d`` when
    ``start(d) < ts <= start(d + 1)``: a bar closing exactly at midnight is the last bar
    of the day before. ``times`` are the local times whose UTC instants ``at`` holds for
    the current day, in the order given.
    """

    __slots__ = ("at", "day", "end", "start", "times", "tz")

    def __init__(self, times: tuple[time, ...] = (), tz: str = NEW_YORK) -> None:
        self.tz = ZoneInfo(tz)
        self.times = times
        self.day: date | None = None
        self.start = -1
        self.end = -1
        self.at: tuple[int, ...] = ()

    def roll(self, ts: int) -> bool:
        """Move to the day of the bar closing at ``ts``; True when that is a new day."""
        if self.start < ts <= self.end:
            return False
        # ts - 1: a bar closing at local midnight belongs to the day that ends there.
        sec, _ = divmod(ts - 1, _NS)
        day = datetime.fromtimestamp(sec, tz=self.tz).date()
        self.day = day
        midnight = time(0, 0)
        self.start = _utc_ns(day, midnight, self.tz)
        self.end = _utc_ns(day + timedelta(days=1), midnight, self.tz)
        self.at = tuple(_utc_ns(day, t, self.tz) for t in self.times)
        return True
