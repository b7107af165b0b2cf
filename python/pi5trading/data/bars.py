"""Bars as exact columns, and the one place where bars are validated.

``BarFrame`` holds one instrument's bars as int64 columns: ``ts`` (UTC ns) and prices and
volume in raw units of 10^-9 (``open_raw`` ...), the engine's fixed-point scale, plus a
row -> source line map. ``open``/``high``/``low``/``close``/``volume`` are float64 views
for charts and analytics, made on first use.

``check_bars`` finds bad rows — unparsable or missing values, non-positive prices, high
below max(open, close), low above min(open, close), negative volume, timestamps before
1970, unsorted or duplicate timestamps — and either raises ``BarDataError`` naming each
row by its line (policy ``"error"``, the default) or drops them by an explicit, reported
policy (``"repair"``: sort by time, keep the last of duplicate timestamps, drop invalid
rows). Gaps (an interval more than 1.5x the usual one) are counted, never filled.
``pi5trading.data.reader`` turns files into frames and runs these same checks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import msgspec
import numpy as np
import numpy.typing as npt

from pi5trading.data.exact import (
    SCALE,
    Raw,
    decimals_of,
    raw_from_floats,
    raw_from_ints,
    raw_from_objects,
    raw_text,
)
from pi5trading.exceptions import InvalidInputError

Policy = Literal["error", "repair"]
PRICES = ("open", "high", "low", "close")
_SHOWN = 10


class Problem(NamedTuple):
    """One bad row (or, with ``line == 0``, the whole file)."""

    line: int
    field: str
    """The column as the file names it (``Close``, ``timestamp``), ``row`` or ``header``."""
    message: str
    value: str | None = None

    def describe(self) -> str:
        """``field: message (value 'x')``."""
        shown = self.value if self.value is None or len(self.value) <= 60 else self.value[:57]
        text = f"{self.field}: {self.message}" if self.field else self.message
        return text if shown is None else f"{text} (value {shown!r})"

    def render(self, source: str) -> str:
        """``path: line N: field: message (value 'x')``, one line."""
        where = f"line {self.line}: " if self.line else ""
        return f"{source}: {where}{self.describe()}"


class BarDataError(InvalidInputError):
    """Bad rows in bar data. ``problems`` lists them by line; the message is one line:
    the first problem, then how many more and on which lines."""

    def __init__(self, source: str, problems: Sequence[Problem], total: int | None = None) -> None:
        self.source = source
        self.problems = sorted(problems)
        self.total = total
        first, rest = self.problems[0], self.problems[1:]
        message = first.render(source)
        if rest:
            lines = ", ".join(str(p.line) for p in rest[:_SHOWN])
            more = ", …" if len(rest) > _SHOWN else ""
            message += f"; {len(rest)} more bad row(s) on line(s) {lines}{more}"
        super().__init__(message)


class DataReport(msgspec.Struct, frozen=True, kw_only=True):
    """What reading and ``check_bars`` found and, with ``repair``, did."""

    source: str
    rows: int
    kept: int
    dropped: list[tuple[int, str]] = []
    """``(line, "field: message (value 'x')")`` of each dropped row."""
    reordered: bool = False
    gaps: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    price_decimals: int = 0
    """Most decimal places any price needs (so the data's tick is 10^-price_decimals)."""
    volume_decimals: int = 0
    notes: list[str] = []
    """What the reader did that changes values or ignores data (floats rounded, columns
    ignored)."""


def _int64(values: npt.ArrayLike) -> npt.NDArray[np.int64]:
    return np.ascontiguousarray(values, dtype=np.int64)


def _to_raw(values: npt.ArrayLike, name: str, source: str) -> Raw:
    """Prices or volumes given as numbers (floats, ints, Decimals, text) as raw units."""
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        raw, bad = raw_from_floats(arr)
        nonfinite = ~np.isfinite(arr)
        bad &= ~nonfinite  # NaN stays detectable: check_bars reports it by row
        raw[nonfinite] = _MISSING
    elif arr.dtype.kind in "iub":
        raw, bad = raw_from_ints(arr.astype(np.int64))
    else:
        raw, bad = raw_from_objects(arr.tolist())
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(f"{source}: {name}[{i}] = {arr[i]!r} is not an exact number")
    return raw


_MISSING = np.iinfo(np.int64).min
"""Raw value of a missing price in a frame built from floats (NaN); never a real price."""


class BarFrame:
    """One instrument's bars as exact columns: ``ts`` (int64 UTC ns) and raw int64 prices
    and volume (units of 10^-9: ``open_raw``, ``high_raw``, ``low_raw``, ``close_raw``,
    ``volume_raw``); ``lines`` maps rows to source lines. ``open`` ... ``volume`` are
    float64 views, computed once on first use.

    ``BarFrame(ts, open, high, low, close, volume)`` takes prices as numbers (floats are
    rounded half to even to 10^-9); ``BarFrame.from_raw`` takes raw columns as they are.
    """

    __slots__ = (
        "_checked",
        "_decimals",
        "_floats",
        "_line0",
        "_lines",
        "close_raw",
        "high_raw",
        "low_raw",
        "open_raw",
        "source",
        "ts",
        "volume_raw",
    )

    def __init__(
        self,
        ts: npt.ArrayLike,
        open: npt.ArrayLike,
        high: npt.ArrayLike,
        low: npt.ArrayLike,
        close: npt.ArrayLike,
        volume: npt.ArrayLike | None = None,
        *,
        source: str = "<arrays>",
        lines: npt.ArrayLike | None = None,
    ) -> None:
        cols = {"open": open, "high": high, "low": low, "close": close}
        raw = {k: _to_raw(v, k, source) for k, v in cols.items()}
        vol = None if volume is None else _to_raw(volume, "volume", source)
        self._init(_int64(ts), raw, vol, source, lines, 1)

    def _init(
        self,
        ts: npt.NDArray[np.int64],
        raw: dict[str, Raw],
        volume: Raw | None,
        source: str,
        lines: npt.ArrayLike | None,
        line0: int,
    ) -> None:
        n = ts.size
        self.ts = ts
        self.open_raw, self.high_raw = raw["open"], raw["high"]
        self.low_raw, self.close_raw = raw["low"], raw["close"]
        self.volume_raw = np.zeros(n, dtype=np.int64) if volume is None else volume
        for name in (*PRICES, "volume"):
            if getattr(self, f"{name}_raw").size != n:
                raise InvalidInputError(f"{source}: column {name} has a different length")
        self.source = source
        # Lines are kept implicit (row i = line line0 + i) until rows are dropped or moved.
        self._lines = None if lines is None else _int64(lines)
        if self._lines is not None and self._lines.size != n:
            raise InvalidInputError(f"{source}: lines has a different length")
        self._line0 = line0
        self._floats: dict[str, npt.NDArray[np.float64]] = {}
        self._decimals: int | None = None
        # Set by check_bars: a frame it passed is not checked again (columns are not
        # meant to change after loading; the engine still refuses bad rows on its own).
        self._checked = False

    @classmethod
    def from_raw(
        cls,
        ts: npt.ArrayLike,
        open_raw: npt.ArrayLike,
        high_raw: npt.ArrayLike,
        low_raw: npt.ArrayLike,
        close_raw: npt.ArrayLike,
        volume_raw: npt.ArrayLike | None = None,
        *,
        source: str = "<arrays>",
        lines: npt.ArrayLike | None = None,
        first_line: int = 1,
    ) -> BarFrame:
        """A frame from int64 raw columns (no conversion). Without ``lines`` row i is line
        ``first_line + i``."""
        self = cls.__new__(cls)
        raw = {"open": open_raw, "high": high_raw, "low": low_raw, "close": close_raw}
        vol = None if volume_raw is None else _int64(volume_raw)
        self._init(
            _int64(ts), {k: _int64(v) for k, v in raw.items()}, vol, source, lines, first_line
        )
        return self

    @classmethod
    def from_columns(cls, cols: dict[str, npt.NDArray[np.generic]], source: str) -> BarFrame:
        return cls(
            cols["ts"],
            cols["open"],
            cols["high"],
            cols["low"],
            cols["close"],
            cols.get("volume"),
            source=source,
        )

    def __len__(self) -> int:
        return int(self.ts.size)

    @property
    def lines(self) -> npt.NDArray[np.int64]:
        if self._lines is None:
            return np.arange(self._line0, self._line0 + len(self), dtype=np.int64)
        return self._lines

    def line_of(self, row: int) -> int:
        """The source line of ``row``."""
        return self._line0 + row if self._lines is None else int(self._lines[row])

    def _float(self, name: str) -> npt.NDArray[np.float64]:
        f = self._floats.get(name)
        if f is None:
            raw: Raw = getattr(self, f"{name}_raw")
            f = raw / SCALE
            f[raw == _MISSING] = np.nan
            f.setflags(write=False)
            self._floats[name] = f
        return f

    @property
    def open(self) -> npt.NDArray[np.float64]:
        return self._float("open")

    @property
    def high(self) -> npt.NDArray[np.float64]:
        return self._float("high")

    @property
    def low(self) -> npt.NDArray[np.float64]:
        return self._float("low")

    @property
    def close(self) -> npt.NDArray[np.float64]:
        return self._float("close")

    @property
    def volume(self) -> npt.NDArray[np.float64]:
        return self._float("volume")

    def raw_columns(
        self,
    ) -> tuple[npt.NDArray[np.int64], Raw, Raw, Raw, Raw, Raw]:
        """``(ts, open, high, low, close, volume)`` as int64 (raw units), the form the
        engine's ``add_bars`` takes without a float detour."""
        return (
            self.ts,
            self.open_raw,
            self.high_raw,
            self.low_raw,
            self.close_raw,
            self.volume_raw,
        )

    @property
    def price_decimals(self) -> int:
        """Most decimal places any price needs (0-9): the data's tick is 10^-this."""
        if self._decimals is None:  # columns are never changed in place, so cache it
            cols = [self.open_raw, self.high_raw, self.low_raw, self.close_raw]
            cols = [c[c != _MISSING] if (c == _MISSING).any() else c for c in cols]
            self._decimals = decimals_of(*cols)
        return self._decimals

    @property
    def volume_decimals(self) -> int:
        return decimals_of(self.volume_raw)

    def take(self, idx: npt.NDArray[np.int64] | npt.NDArray[np.bool_]) -> BarFrame:
        return BarFrame.from_raw(
            self.ts[idx],
            self.open_raw[idx],
            self.high_raw[idx],
            self.low_raw[idx],
            self.close_raw[idx],
            self.volume_raw[idx],
            source=self.source,
            lines=self.lines[idx],
        )

    def _slice(self, a: int, b: int) -> BarFrame:
        """Rows ``a:b`` as views (no copy)."""
        if (a, b) == (0, len(self)):
            return self
        return BarFrame.from_raw(
            *(c[a:b] for c in self.raw_columns()),
            source=self.source,
            lines=None if self._lines is None else self._lines[a:b],
            first_line=self._line0 + a,
        )

    def between(self, start: int | None = None, end: int | None = None) -> BarFrame:
        """Rows with ``start <= ts < end`` (UTC ns; ``None`` = open-ended)."""
        if len(self) > 1 and not bool((np.diff(self.ts) > 0).all()):
            mask = np.ones(len(self), dtype=bool)
            if start is not None:
                mask &= self.ts >= start
            if end is not None:
                mask &= self.ts < end
            return self.take(mask)
        a = 0 if start is None else int(np.searchsorted(self.ts, start, side="left"))
        b = len(self) if end is None else int(np.searchsorted(self.ts, end, side="left"))
        return self._slice(a, max(a, b))

    def shifted(self, ns: int) -> BarFrame:
        """The same bars with every timestamp moved by ``ns`` (prices are shared)."""
        return BarFrame.from_raw(
            self.ts + ns,
            *self.raw_columns()[1:],
            source=self.source,
            lines=self._lines,
            first_line=self._line0,
        )


def iso(ns: int) -> str:
    """UTC nanoseconds as ISO 8601 (``2024-01-02T14:30:00Z``, fraction only when needed)."""
    secs, frac = divmod(ns, 10**9)
    text = (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=secs)).isoformat()
    return f"{text}.{frac:09d}Z".replace(".000000000Z", "Z") if frac else f"{text}Z"


class Names(NamedTuple):
    """How the source names each column, for messages."""

    ts: str = "timestamp"
    open: str = "open"
    high: str = "high"
    low: str = "low"
    close: str = "close"
    volume: str = "volume"


DEFAULT_NAMES = Names()
Order = Literal["increasing", "unique", "any"]
"""Timestamps must increase (within a group, in file order); or only not repeat; or
anything goes (the caller sorts)."""


def find_problems(
    frame: BarFrame,
    *,
    known: dict[int, Problem] | None = None,
    names: Names = DEFAULT_NAMES,
    order: Order = "increasing",
    groups: npt.NDArray[np.int32] | None = None,
    group_names: Sequence[str] = (),
) -> dict[int, Problem]:
    """The first problem of each bad row, by row index: the bar checks.

    ``known`` holds problems found while reading (unparsable cells); those rows are not
    checked again. ``order`` says what timestamps must do (see ``Order``). ``groups``
    (one code per row, e.g. the instrument) and ``group_names`` name the group in messages.
    """
    found = dict(known or {})
    n = len(frame)
    bad = np.zeros(n, dtype=bool)
    if found:
        bad[list(found)] = True

    # Boolean masks only (1 byte a row): this runs on every file, keep it lean.
    def flag(
        mask: npt.NDArray[np.bool_],
        field: str,
        why: str,
        values: Raw | None,
        bound: Any = None,
    ) -> None:
        for i in np.flatnonzero(mask & ~bad).tolist():
            value = None if values is None else raw_text(int(values[i]))
            reason = why if bound is None else f"{why} = {raw_text(bound(int(o[i]), int(c[i])))}"
            found[i] = Problem(frame.line_of(i), field, reason, value)
        bad[mask] = True

    o, h, lo, c, v = frame.raw_columns()[1:]
    for name, col in zip((*PRICES, "volume"), (o, h, lo, c, v), strict=True):
        flag(col == _MISSING, getattr(names, name), "not a number", None)
    for name, col in zip(PRICES, (o, h, lo, c), strict=True):
        flag(col <= 0, getattr(names, name), "must be > 0", col)
    flag((h < o) | (h < c), names.high, "below max(open, close)", h, max)
    flag((lo > o) | (lo > c), names.low, "above min(open, close)", lo, min)
    flag(v < 0, names.volume, "negative", v)
    for i in np.flatnonzero((frame.ts < 0) & ~bad).tolist():
        found[i] = Problem(frame.line_of(i), names.ts, "before 1970-01-01", iso(int(frame.ts[i])))
    bad |= frame.ts < 0
    if order != "any":
        found.update(_order_problems(frame, ~bad, names.ts, order, groups, group_names))
    return found


def _order_problems(
    frame: BarFrame,
    valid: npt.NDArray[np.bool_],
    field: str,
    order: Order,
    groups: npt.NDArray[np.int32] | None,
    group_names: Sequence[str],
) -> dict[int, Problem]:
    ordered = order == "increasing"
    if groups is None and ordered:
        # The common case (one instrument, rows in file order): no sort, no copies when
        # every row is valid.
        rows = None if valid.all() else np.flatnonzero(valid)
        ts = frame.ts if rows is None else frame.ts[rows]
        g = None
    else:
        rows = np.flatnonzero(valid)
        g = np.zeros(rows.size, dtype=np.int32) if groups is None else groups[rows]
        ts = frame.ts[rows]
        # Each group's rows in file order (increasing) or by time (duplicates only).
        seq = np.argsort(g, kind="stable") if ordered else np.lexsort((ts, g))
        rows, g, ts = rows[seq], g[seq], ts[seq]
    if ts.size < 2:
        return {}
    step = np.diff(ts)
    hit = step <= 0 if ordered else step == 0
    if g is not None:
        hit &= g[1:] == g[:-1]

    def row(k: int) -> int:
        return k if rows is None else int(rows[k])

    out: dict[int, Problem] = {}
    if groups is None and ordered and bool((step < 0).all()):
        i = row(1)
        why = "rows are newest first (descending time); sort them (the repair policy does)"
        return {i: Problem(frame.line_of(i), field, why, iso(int(frame.ts[i])))}
    for k in np.flatnonzero(hit).tolist():
        i, prev = row(k + 1), row(k)
        where = f" for {group_names[g[k]]}" if group_names and g is not None else ""
        if step[k] == 0:
            why = f"duplicate of line {frame.line_of(prev)}{where}"
        else:
            why = f"earlier than line {frame.line_of(prev)}{where} (rows must be in time order)"
        out[i] = Problem(frame.line_of(i), field, why, iso(int(frame.ts[i])))
    return out


def is_checked(frame: BarFrame) -> bool:
    """Has ``check_bars`` passed this frame already?"""
    return frame._checked


def check_bars(
    frame: BarFrame,
    policy: Policy = "error",
    *,
    known: dict[int, Problem] | None = None,
    names: Names = DEFAULT_NAMES,
    notes: Sequence[str] = (),
    malformed: Sequence[Problem] = (),
) -> tuple[BarFrame, DataReport]:
    """Validate ``frame``; with ``"repair"`` return it fixed and what was dropped.

    ``known`` adds problems found while reading (see ``find_problems``), ``malformed``
    source lines that did not make a row (dropped by ``repair`` like bad rows).
    """
    if policy not in ("error", "repair"):
        raise InvalidInputError(f"policy must be 'error' or 'repair', not {policy!r}")
    n = len(frame)
    reordered = False
    dropped = [(p.line, p.describe()) for p in malformed]
    if policy == "error":
        problems = find_problems(frame, known=known, names=names)
        if problems or malformed:
            raise BarDataError(frame.source, [*problems.values(), *malformed], n)
        out = frame
    else:
        # Order is repaired below (sorted; the last of duplicate timestamps wins).
        row_bad = find_problems(frame, known=known, names=names, order="any")
        dropped += [(p.line, p.describe()) for p in row_bad.values()]
        keep = np.ones(n, dtype=bool)
        keep[list(row_bad)] = False
        f = frame.take(keep) if row_bad else frame
        order = np.argsort(f.ts, kind="stable")
        reordered = bool((order != np.arange(order.size)).any())
        f = f.take(order) if reordered else f
        last = np.ones(len(f), dtype=bool)
        if len(f) > 1:
            last[:-1] = f.ts[1:] != f.ts[:-1]  # a later correction wins
        for i in np.flatnonzero(~last).tolist():
            why = f"same time as line {f.line_of(i + 1)}, which is kept"
            problem = Problem(f.line_of(i), names.ts, why, iso(int(f.ts[i])))
            dropped.append((problem.line, problem.describe()))
        out = f.take(last) if not last.all() else f
        dropped.sort()
    out._checked = True
    gaps = 0
    if len(out) > 2:
        d = np.diff(out.ts)
        gaps = int((d > 1.5 * np.median(d)).sum())
    return out, DataReport(
        source=frame.source,
        rows=n + len(malformed),
        kept=len(out),
        dropped=dropped,
        reordered=reordered,
        gaps=gaps,
        first_ts=int(out.ts[0]) if len(out) else None,
        last_ts=int(out.ts[-1]) if len(out) else None,
        price_decimals=out.price_decimals,
        volume_decimals=out.volume_decimals,
        notes=list(notes),
    )


def check_tick(frame: BarFrame, tick_raw: int) -> None:
    """Raise ``BarDataError`` at the first row with a price off ``tick_raw`` (raw units)."""
    if tick_raw <= 1:
        return
    for name in PRICES:
        col: Raw = getattr(frame, f"{name}_raw")
        off = np.flatnonzero(col % tick_raw)
        if off.size:
            i = int(off[0])
            why = f"not on the instrument's tick {raw_text(tick_raw)}"
            raise BarDataError(
                frame.source, [Problem(frame.line_of(i), name, why, raw_text(int(col[i])))]
            )


def interval_ns(interval: str) -> int:
    """``1m``, ``5m``, ``1h``, ``1d``... in nanoseconds."""
    from pi5trading import _core

    try:
        return int(_core.BarType("X", interval).interval_ns)
    except ValueError as exc:
        raise InvalidInputError(f"interval {interval!r}: {exc}") from exc


def load_bars(
    path: str | Path,
    policy: Policy = "error",
    *,
    interval: str = "1m",
    timestamps: Literal["open", "close"] = "open",
    time_unit: str = "auto",
) -> tuple[BarFrame, DataReport]:
    """Read a CSV or Parquet bar file (``pi5trading.data.reader``) and check it.

    Data vendors (and ``pi5trading data import``) stamp a bar with its *open* time; the
    engine works with close times, so by default ``interval`` is added to every
    timestamp. Pass ``timestamps="close"`` for files stamped at the close.
    """
    from pi5trading.data.reader import read_bars

    frame, report = read_bars(path, policy=policy, time_unit=time_unit)
    if timestamps == "open":
        frame = frame.shifted(interval_ns(interval))
    return frame, report
