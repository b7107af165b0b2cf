"""Bars as exact columns, and the one place where bars are validated.

``BarFrame`` holds one instrument's bars: ``ts`` (int64 UTC ns) and prices and volume
either as int64 raw units of 10^-9, the engine's fixed-point scale (what the file readers
produce), or as the float64 arrays a caller handed in (kept, not copied: read exactly, each
value rounded half to even to 10^-9), plus a row -> source line map. ``open_raw`` ...
give raw units and ``open`` ... float64 whichever way a column is stored.

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


Column = npt.NDArray[np.int64] | npt.NDArray[np.float64]
"""A price or volume column as stored: int64 raw units, or float64 as the caller gave it."""

_BLOCK = 1 << 17
"""Rows converted at a time when a float column is read as raw (1 MB per column)."""

_BIG = 9.0e9
"""Floats above this may not fit the raw range (2^63 / 10^9 ~ 9.22e9): checked exactly."""


def _to_column(values: npt.ArrayLike, name: str, source: str) -> Column:
    """Prices or volumes given as numbers: float64 kept as they are (converted exactly
    whenever read as raw), anything else converted to raw units now."""
    arr = np.asarray(values)
    if arr.dtype == np.float64 or arr.dtype.kind == "f":
        f = np.ascontiguousarray(arr, dtype=np.float64)
        # Only values too large for the raw range are refused here (a cheap comparison);
        # NaN and infinities stay, for check_bars to report by line.
        big = np.flatnonzero(np.abs(f) > _BIG)
        if big.size:
            _, bad = raw_from_floats(f[big])
            bad &= np.isfinite(f[big])
            if bad.any():
                i = int(big[np.flatnonzero(bad)[0]])
                raise InvalidInputError(
                    f"{source}: {name}[{i}] = {float(f[i])!r} is not an exact number"
                )
        view = f.view()
        view.setflags(write=False)  # a view: the caller's own array keeps its flags
        return view
    if arr.dtype.kind in "iub":
        raw, bad = raw_from_ints(arr.astype(np.int64))
    else:
        raw, bad = raw_from_objects(arr.tolist())
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        value = arr[i].item() if isinstance(arr[i], np.generic) else arr[i]
        raise InvalidInputError(f"{source}: {name}[{i}] = {value!r} is not an exact number")
    return raw


def _raw_of(col: Column) -> Raw:
    """``col`` in raw units (a new array for a float column; NaN/inf as ``_MISSING``)."""
    if col.dtype != np.float64:
        return col  # type: ignore[return-value]
    raw = np.empty(col.size, dtype=np.int64)
    for a in range(0, col.size, _BLOCK):
        part = col[a : a + _BLOCK]
        r, _ = raw_from_floats(part)
        r[~np.isfinite(part)] = _MISSING
        raw[a : a + _BLOCK] = r
    return raw


_MISSING = np.iinfo(np.int64).min
"""Raw value of a missing price in a frame built from floats (NaN); never a real price."""

_COLUMNS = (*PRICES, "volume")


def _unpickle_frame(
    ts: npt.NDArray[np.int64],
    cols: dict[str, Column],
    source: str,
    lines: npt.NDArray[np.int64] | None,
    line0: int,
) -> BarFrame:
    # Arrays unpickled from a network buffer can be misaligned, which the engine refuses:
    # copied only then.
    def fit(a: Any) -> Any:
        return np.require(a, requirements=["C", "A"])

    return BarFrame._of(
        fit(ts),
        {k: fit(v) for k, v in cols.items()},
        source,
        None if lines is None else fit(lines),
        line0,
    )


class BarFrame:
    """One instrument's bars as exact columns: ``ts`` (int64 UTC ns) and prices and volume
    (``open_raw``, ``high_raw``, ``low_raw``, ``close_raw``, ``volume_raw``: int64 raw
    units of 10^-9); ``lines`` maps rows to source lines. ``open`` ... ``volume`` are
    float64.

    ``BarFrame(ts, open, high, low, close, volume)`` takes prices as numbers. Float64
    columns are kept as given, not copied: the engine reads them in place, rounding each
    value half to even to 10^-9 (so a 1M-bar frame costs the caller's arrays and nothing
    more), and ``*_raw`` converts them on each access. Other numbers are converted to raw
    units once. ``BarFrame.from_raw`` takes raw columns as they are. Columns are not meant
    to change after the frame is built.
    """

    __slots__ = (
        "_checked",
        "_cols",
        "_decimals",
        "_floats",
        "_line0",
        "_lines",
        "source",
        "ts",
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
        given = {"open": open, "high": high, "low": low, "close": close, "volume": volume}
        cols = {k: _to_column(v, k, source) for k, v in given.items() if v is not None}
        self._init(_int64(ts), cols, source, lines, 1)

    def _init(
        self,
        ts: npt.NDArray[np.int64],
        cols: dict[str, Column],
        source: str,
        lines: npt.ArrayLike | None,
        line0: int,
    ) -> None:
        n = ts.size
        self.ts = ts
        if "volume" not in cols:
            cols["volume"] = np.zeros(n, dtype=np.int64)
        self._cols = cols
        for name in _COLUMNS:
            if cols[name].size != n:
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
        given = {"open": open_raw, "high": high_raw, "low": low_raw, "close": close_raw}
        cols: dict[str, Column] = {k: _int64(v) for k, v in given.items()}
        if volume_raw is not None:
            cols["volume"] = _int64(volume_raw)
        return cls._of(_int64(ts), cols, source, lines, first_line)

    @classmethod
    def _of(
        cls,
        ts: npt.NDArray[np.int64],
        cols: dict[str, Column],
        source: str,
        lines: npt.ArrayLike | None,
        first_line: int,
    ) -> BarFrame:
        self = cls.__new__(cls)
        self._init(ts, cols, source, lines, first_line)
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

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as its columns (what a cluster's workers receive): the float cache is
        # left out, so a frame costs its columns on the wire, not twice that.
        return (_unpickle_frame, (self.ts, self._cols, self.source, self._lines, self._line0))

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

    def raw(self, name: str, start: int = 0, stop: int | None = None) -> Raw:
        """Column ``name`` (``open`` ... ``volume``), rows ``start:stop``, in raw units.
        A float column is converted on each call (nothing is cached)."""
        return _raw_of(self._cols[name][start:stop])

    @property
    def open_raw(self) -> Raw:
        return self.raw("open")

    @property
    def high_raw(self) -> Raw:
        return self.raw("high")

    @property
    def low_raw(self) -> Raw:
        return self.raw("low")

    @property
    def close_raw(self) -> Raw:
        return self.raw("close")

    @property
    def volume_raw(self) -> Raw:
        return self.raw("volume")

    def _float(self, name: str) -> npt.NDArray[np.float64]:
        col = self._cols[name]
        if col.dtype == np.float64:
            return col  # type: ignore[return-value]
        f = self._floats.get(name)
        if f is None:
            f = col / SCALE
            f[col == _MISSING] = np.nan
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
        """``(ts, open, high, low, close, volume)`` as int64 raw units (float columns are
        converted: five new arrays; ``engine_columns`` avoids that)."""
        return (self.ts, *(self.raw(name) for name in _COLUMNS))  # type: ignore[return-value]

    def engine_columns(self) -> tuple[npt.NDArray[np.int64], list[Column]]:
        """``ts`` and ``[open, high, low, close, volume]`` as stored, C-contiguous: the
        engine's ``add_bars`` reads int64 raw and float64 columns alike, in place."""
        cols: list[Column] = [np.ascontiguousarray(self._cols[name]) for name in _COLUMNS]  # type: ignore[misc]
        return _int64(self.ts), cols

    @property
    def price_decimals(self) -> int:
        """Most decimal places any price needs (0-9): the data's tick is 10^-this."""
        if self._decimals is None:  # columns are never changed in place, so cache it
            d = 0
            for name in PRICES:
                for a in range(0, max(len(self), 1), _BLOCK):
                    c = self.raw(name, a, a + _BLOCK)
                    d = max(d, decimals_of(c[c != _MISSING]))
            self._decimals = d
        return self._decimals

    @property
    def volume_decimals(self) -> int:
        return decimals_of(self.volume_raw)

    def take(self, idx: npt.NDArray[np.int64] | npt.NDArray[np.bool_]) -> BarFrame:
        return BarFrame._of(
            self.ts[idx],
            {name: col[idx] for name, col in self._cols.items()},
            self.source,
            self.lines[idx],
            1,
        )

    def _slice(self, a: int, b: int) -> BarFrame:
        """Rows ``a:b`` as views (no copy)."""
        if (a, b) == (0, len(self)):
            return self
        return BarFrame._of(
            self.ts[a:b],
            {name: col[a:b] for name, col in self._cols.items()},
            self.source,
            None if self._lines is None else self._lines[a:b],
            self._line0 + a,
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
        return BarFrame._of(self.ts + ns, dict(self._cols), self.source, self._lines, self._line0)


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

    # Boolean masks only (1 byte a row), and raw values a block of rows at a time (float
    # columns are converted on the fly): this runs on every file, keep it lean.
    def check_block(a: int) -> None:
        o, h, lo, c, v = (frame.raw(name, a, a + _BLOCK) for name in _COLUMNS)
        seen = bad[a : a + _BLOCK]  # a view: flagging a row marks it in ``bad``

        def flag(
            mask: npt.NDArray[np.bool_],
            field: str,
            why: str,
            values: Raw | None,
            bound: Any = None,
        ) -> None:
            for i in np.flatnonzero(mask & ~seen).tolist():
                value = None if values is None else raw_text(int(values[i]))
                reason = (
                    why if bound is None else f"{why} = {raw_text(bound(int(o[i]), int(c[i])))}"
                )
                found[a + i] = Problem(frame.line_of(a + i), field, reason, value)
            seen[mask] = True

        for name, col in zip(_COLUMNS, (o, h, lo, c, v), strict=True):
            flag(col == _MISSING, getattr(names, name), "not a number", None)
        for name, col in zip(PRICES, (o, h, lo, c), strict=True):
            flag(col <= 0, getattr(names, name), "must be > 0", col)
        flag((h < o) | (h < c), names.high, "below max(open, close)", h, max)
        flag((lo > o) | (lo > c), names.low, "above min(open, close)", lo, min)
        flag(v < 0, names.volume, "negative", v)

    for a in range(0, n, _BLOCK):
        check_block(a)
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
        for a in range(0, len(frame), _BLOCK):
            col = frame.raw(name, a, a + _BLOCK)
            off = np.flatnonzero(col % tick_raw)
            if off.size:
                i = int(off[0])
                why = f"not on the instrument's tick {raw_text(tick_raw)}"
                problem = Problem(frame.line_of(a + i), name, why, raw_text(int(col[i])))
                raise BarDataError(frame.source, [problem])


def interval_ns(interval: str) -> int:
    """``1m``, ``5m``, ``1h``, ``1d``... in nanoseconds."""
    from pi5trading import _core

    try:
        return int(_core.BarType("X", interval).interval_ns)
    except ValueError as exc:
        raise InvalidInputError(f"interval {interval!r}: {exc}") from exc


_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def infer_interval(ts: npt.ArrayLike) -> str | None:
    """The bar interval of timestamps (ns): the most common step between consecutive
    distinct bars, as a label (``1m``, ``5m``, ``1h``, ``1d``). Weekends, holidays and
    missing bars do not change it: a daily file's usual step is one day. ``None`` for
    fewer than two distinct timestamps or steps that are not whole seconds."""
    steps = np.diff(np.unique(np.asarray(ts, dtype=np.int64)))
    if len(steps) == 0:
        return None
    values, counts = np.unique(steps, return_counts=True)
    step = int(values[int(np.argmax(counts))])
    if step % 1_000_000_000:
        return None
    seconds = step // 1_000_000_000
    for unit, size in _UNITS:
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return None  # pragma: no cover - the "s" unit divides every whole second


def load_bars(
    path: str | Path,
    policy: Policy = "error",
    *,
    interval: str | None = "1m",
    timestamps: Literal["open", "close"] = "open",
    time_unit: str = "auto",
) -> tuple[BarFrame, DataReport]:
    """Read a CSV or Parquet bar file (``pi5trading.data.reader``) and check it.

    Data vendors (and ``pi5trading data import``) stamp a bar with its *open* time; the
    engine works with close times, so by default ``interval`` is added to every
    timestamp. Pass ``timestamps="close"`` for files stamped at the close. With
    ``interval=None`` the interval is inferred from the timestamps (``infer_interval``)
    and a note says so.
    """
    from pi5trading.data.reader import read_bars

    frame, report = read_bars(path, policy=policy, time_unit=time_unit)
    if interval is None:
        interval = infer_interval(frame.ts)
        how = "taken from the timestamps"
        if interval is None and len(np.unique(frame.ts)) < 2:
            interval, how = "1m", "assumed: the file has one timestamp"
        elif interval is None:
            raise InvalidInputError(
                f"{report.source}: cannot tell the bar interval from the timestamps "
                "(give it with --interval, e.g. 1m or 1d)"
            )
        report = msgspec.structs.replace(
            report, notes=[*report.notes, f"interval {interval} {how} (--interval sets it)"]
        )
    if timestamps == "open":
        frame = frame.shifted(interval_ns(interval))
    return frame, report
