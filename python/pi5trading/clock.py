"""Clocks: ``TestClock`` (simulated, moved by the data) and ``LiveClock`` (wall time).

Both schedule timers and alerts the same way and return their firings in
``(ts_event, seq)`` order, ``seq`` being the order in which each firing was scheduled::

    from pi5trading.clock import TestClock

    clock = TestClock(start_ns=0)
    clock.set_timer("rebalance", interval_ns=60 * 10**9)
    clock.set_time_alert("close", at_ns=390 * 60 * 10**9)
    for event in clock.advance_time(to_ns=bar.ts_event):
        ...

See ``docs/core.md``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Protocol

from pi5trading._core import LiveClock, TestClock, TimeEvent


class Clock(Protocol):
    """What both clocks offer (``advance_time`` / ``poll`` are specific to each)."""

    def timestamp_ns(self) -> int: ...
    def set_timer(
        self, name: str, interval_ns: int, start_ns: int | None = None, stop_ns: int | None = None
    ) -> None: ...
    def set_time_alert(self, name: str, at_ns: int) -> None: ...
    def cancel_timer(self, name: str) -> bool: ...
    @property
    def timer_names(self) -> list[str]: ...
    def next_time_ns(self, name: str) -> int | None: ...
    def next_deadline_ns(self) -> int | None: ...


if TYPE_CHECKING:  # mypy checks that both clocks provide the interface
    _simulated: Clock = TestClock()
    _live: Clock = LiveClock()


def iso_utc(ns: int | None, timespec: str = "seconds") -> str:
    """Unix nanoseconds as a log line shows them: ISO 8601 in UTC (``-`` for none)."""
    if ns is None:
        return "-"
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).isoformat(timespec=timespec)


__all__ = ["Clock", "LiveClock", "TestClock", "TimeEvent", "iso_utc"]
