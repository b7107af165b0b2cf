"""How the commands show values on the terminal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence


def utc_time(ns: int | None) -> str:
    """A UTC nanosecond timestamp to the second (empty for none)."""
    if ns is None:
        return ""
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def columns_that_fit(widths: Mapping[str, int], priority: Sequence[str], width: int) -> list[str]:
    """The columns of a rich table (borders, one space of padding each side) that fit in
    ``width`` characters at ``widths``, taken in ``priority`` order; the first always.

    A column too wide is left out and the next one tried, so a narrow terminal shows the
    most important columns whole instead of every column cut to an ellipsis.
    """
    chosen: list[str] = []
    used = 1  # the table's left border
    for name in priority:
        need = widths[name] + 3  # two spaces of padding and the border on its right
        if not chosen or used + need <= width:
            chosen.append(name)
            used += need
    return chosen
