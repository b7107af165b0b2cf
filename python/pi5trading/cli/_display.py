"""How the commands show values on the terminal."""

from __future__ import annotations

import datetime as dt


def utc_time(ns: int | None) -> str:
    """A UTC nanosecond timestamp to the second (empty for none)."""
    if ns is None:
        return ""
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
