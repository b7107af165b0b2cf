"""Bars for backtests: columns in NumPy, loaded fast, validated with line numbers.

``load_bars(path)`` reads CSV or Parquet (through pyarrow) with the same column names as
``pi5trading data import`` (see ``pi5trading.storage.bars_import``). ``check_bars`` finds
bad rows — unsorted or duplicate timestamps, missing values, high/low that do not enclose
open/close, non-positive prices, negative volume — and either raises ``BarDataError``
naming each row's line (policy ``"error"``, the default) or drops them by an explicit,
reported policy (``"repair"``: sort by time, keep the last of duplicate timestamps, drop
invalid rows). Gaps (an interval more than 1.5x the usual one) are counted, never filled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec
import numpy as np
import numpy.typing as npt

from pi5trading.exceptions import InvalidInputError

Policy = Literal["error", "repair"]
COLUMN_ALIASES = {
    "ts": ("timestamp", "ts", "ts_ns", "time", "datetime", "date"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v"),
    "instrument": ("instrument_id", "instrument", "symbol", "ticker"),
}
"""Accepted column names of bar files (case-insensitive), shared with ``data import``."""
_UNIT_BY_DIGITS = ((11, 10**9), (14, 10**6), (17, 10**3))  # s, ms, us; more digits = ns


class BarDataError(InvalidInputError):
    """Bad rows in a bar file; ``problems`` lists ``(line, reason)``."""

    def __init__(self, source: str, problems: list[tuple[int, str]], total: int) -> None:
        self.problems = problems
        shown = "; ".join(f"line {line}: {why}" for line, why in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"{source}: {len(problems)} bad row(s) of {total}: {shown}{more}")


class DataReport(msgspec.Struct, frozen=True, kw_only=True):
    """What ``check_bars`` found and, with ``repair``, did."""

    source: str
    rows: int
    kept: int
    dropped: list[tuple[int, str]] = []
    reordered: bool = False
    gaps: int = 0
    first_ts: int | None = None
    last_ts: int | None = None


class BarFrame:
    """One instrument's bars as columns: ``ts`` (int64 UTC ns, bar close time) and float64
    ``open``, ``high``, ``low``, ``close``, ``volume``. ``lines`` maps rows to source lines."""

    __slots__ = ("close", "high", "lines", "low", "open", "source", "ts", "volume")

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
        self.ts = np.ascontiguousarray(ts, dtype=np.int64)
        n = self.ts.size
        self.open = np.ascontiguousarray(open, dtype=np.float64)
        self.high = np.ascontiguousarray(high, dtype=np.float64)
        self.low = np.ascontiguousarray(low, dtype=np.float64)
        self.close = np.ascontiguousarray(close, dtype=np.float64)
        self.volume = (
            np.zeros(n) if volume is None else np.ascontiguousarray(volume, dtype=np.float64)
        )
        for name in ("open", "high", "low", "close", "volume"):
            if getattr(self, name).size != n:
                raise InvalidInputError(f"{source}: column {name} has a different length")
        self.source = source
        # Default: row i is line i + 1 (as if the data had no header).
        self.lines = (
            np.arange(1, n + 1, dtype=np.int64)
            if lines is None
            else np.ascontiguousarray(lines, dtype=np.int64)
        )

    def __len__(self) -> int:
        return int(self.ts.size)

    def take(self, idx: npt.NDArray[np.int64] | npt.NDArray[np.bool_]) -> BarFrame:
        return BarFrame(
            self.ts[idx],
            self.open[idx],
            self.high[idx],
            self.low[idx],
            self.close[idx],
            self.volume[idx],
            source=self.source,
            lines=self.lines[idx],
        )

    def between(self, start: int | None = None, end: int | None = None) -> BarFrame:
        """Rows with ``start <= ts < end`` (UTC ns; ``None`` = open-ended)."""
        mask = np.ones(len(self), dtype=bool)
        if start is not None:
            mask &= self.ts >= start
        if end is not None:
            mask &= self.ts < end
        return self.take(mask)

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


def _row_problems(f: BarFrame) -> npt.NDArray[np.object_]:
    """A reason per row (empty string when the row is fine)."""
    n = len(f)
    why = np.full(n, "", dtype=object)
    prices = np.stack([f.open, f.high, f.low, f.close])
    checks = [
        (~np.isfinite(prices).all(axis=0) | ~np.isfinite(f.volume), "missing or non-numeric value"),
        ((prices <= 0).any(axis=0), "prices must be > 0"),
        (f.high < np.maximum(f.open, f.close), "high is below max(open, close)"),
        (f.low > np.minimum(f.open, f.close), "low is above min(open, close)"),
        (f.volume < 0, "volume is negative"),
    ]
    for mask, reason in reversed(checks):  # the first failing check wins
        why[mask] = reason
    return why


def check_bars(frame: BarFrame, policy: Policy = "error") -> tuple[BarFrame, DataReport]:
    """Validate ``frame``; with ``"repair"`` return it fixed and what was dropped."""
    if policy not in ("error", "repair"):
        raise InvalidInputError(f"policy must be 'error' or 'repair', not {policy!r}")
    n = len(frame)
    why = _row_problems(frame)
    order_bad = np.zeros(n, dtype=bool)
    if n > 1:
        d = np.diff(frame.ts)
        order_bad[1:] = d <= 0
    if policy == "error":
        problems: list[tuple[int, str]] = []
        bad = np.flatnonzero((why != "") | order_bad)
        for i in bad.tolist():
            if why[i]:
                problems.append((int(frame.lines[i]), str(why[i])))
            elif frame.ts[i] == frame.ts[i - 1]:
                problems.append((int(frame.lines[i]), f"duplicate timestamp {frame.ts[i]}"))
            else:
                problems.append((int(frame.lines[i]), "timestamp before the previous row"))
        if problems:
            raise BarDataError(frame.source, problems, n)
        out = frame
        dropped: list[tuple[int, str]] = []
        reordered = False
    else:
        valid = why == ""
        dropped = [(int(frame.lines[i]), str(why[i])) for i in np.flatnonzero(~valid).tolist()]
        f = frame.take(valid)
        order = np.argsort(f.ts, kind="stable")
        reordered = bool((order != np.arange(order.size)).any())
        f = f.take(order)
        # Keep the last row of each timestamp: a later correction wins.
        keep = np.ones(len(f), dtype=bool)
        if len(f) > 1:
            keep[:-1] = f.ts[1:] != f.ts[:-1]
        dropped += [
            (int(f.lines[i]), f"duplicate timestamp {f.ts[i]} (a later row kept)")
            for i in np.flatnonzero(~keep).tolist()
        ]
        out = f.take(keep)
        dropped.sort()
    gaps = 0
    if len(out) > 2:
        d = np.diff(out.ts)
        usual = np.median(d)
        gaps = int((d > 1.5 * usual).sum())
    return out, DataReport(
        source=frame.source,
        rows=n,
        kept=len(out),
        dropped=dropped,
        reordered=reordered,
        gaps=gaps,
        first_ts=int(out.ts[0]) if len(out) else None,
        last_ts=int(out.ts[-1]) if len(out) else None,
    )


def _pick(names: list[str], field: str, source: str) -> str | None:
    lower = {n.strip().lower(): n for n in names}
    for alias in COLUMN_ALIASES[field]:
        if alias in lower:
            return lower[alias]
    if field == "volume":
        return None
    raise InvalidInputError(
        f"{source}: no {field} column (accepted names: {', '.join(COLUMN_ALIASES[field])})"
    )


def _ts_ns(col: object, source: str) -> npt.NDArray[np.int64]:
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = col if isinstance(col, pa.ChunkedArray | pa.Array) else pa.array(col)
    t = arr.type
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        ts = pc.cast(
            arr, pa.timestamp("ns", tz="UTC") if pa.types.is_timestamp(t) else pa.timestamp("ns")
        )
        return np.asarray(ts.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    if pa.types.is_integer(t):
        values = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.int64)
        if values.size == 0:
            return values
        digits = len(str(abs(int(values[0]))))
        scale = next((s for limit, s in _UNIT_BY_DIGITS if digits <= limit), 1)
        return values * scale
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            parsed = pc.strptime(arr, format="%Y-%m-%dT%H:%M:%S", unit="ns", error_is_null=False)
        except pa.ArrowInvalid:
            try:
                parsed = pc.cast(arr, pa.timestamp("ns", tz="UTC"))
            except pa.ArrowInvalid as exc:
                raise InvalidInputError(f"{source}: unreadable timestamp: {exc}") from exc
        return np.asarray(parsed.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    raise InvalidInputError(f"{source}: timestamp column of type {t} is not supported")


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
) -> tuple[BarFrame, DataReport]:
    """Read a CSV or Parquet bar file and check it (see the module docstring).

    Data vendors (and ``pi5trading data import``) stamp a bar with its *open* time; the
    engine works with close times, so by default ``interval`` is added to every
    timestamp. Pass ``timestamps="close"`` for files stamped at the close.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    p = Path(path)
    source = str(p)
    if not p.is_file():
        raise InvalidInputError(f"{source}: no such file")
    parquet = p.suffix.lower() in (".parquet", ".pq")
    try:
        table = (
            pq.read_table(p)
            if parquet
            else pacsv.read_csv(p, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
        )
    except pa.ArrowInvalid as exc:
        raise InvalidInputError(f"{source}: cannot parse: {exc}") from exc
    names = table.column_names
    cols: dict[str, object] = {}
    for field in ("ts", "open", "high", "low", "close", "volume"):
        name = _pick(names, field, source)
        if name is not None:
            cols[field] = table.column(name)
    numeric: dict[str, npt.NDArray[np.float64]] = {}
    for field in ("open", "high", "low", "close", "volume"):
        if field not in cols:
            continue
        col = cols[field]
        try:
            arr = pc.cast(col, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidInputError(f"{source}: column {field} is not numeric: {exc}") from exc
        numeric[field] = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
    ts = _ts_ns(cols["ts"], source)
    if timestamps == "open":
        ts = ts + interval_ns(interval)
    # CSV: header is line 1, so row i is line i + 2; Parquet: row i is "line" i + 1.
    first_line = 1 if parquet else 2
    frame = BarFrame(
        ts,
        numeric["open"],
        numeric["high"],
        numeric["low"],
        numeric["close"],
        numeric.get("volume"),
        source=source,
        lines=np.arange(first_line, first_line + ts.size, dtype=np.int64),
    )
    return check_bars(frame, policy)
