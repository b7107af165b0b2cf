"""Exact fixed-point columns: numbers as int64 units of 10^-9, the engine's raw scale.

Decimal text is parsed by Arrow's decimal parser (integers throughout, never a float);
Arrow decimal columns are rescaled exactly; float columns are rounded half to even from
their exact binary value, like the engine's own ``raw_from_f64``. Every converter returns
the raw column plus the rows it could not convert, with a reason, so the caller can name
each bad cell by its line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

SCALE_DIGITS = 9
SCALE = 10**SCALE_DIGITS
MAX_UNITS = (2**63 - 1) // SCALE
"""Largest whole number whose raw value (x 10^9, plus any fraction) fits in int64."""
_I64_MAX = 2**63 - 1

Raw = npt.NDArray[np.int64]


class CellError(NamedTuple):
    """A value that could not be converted: its row in the array, why, and its text."""

    row: int
    message: str
    value: str


def raw_to_decimal(raw: int, decimals: int = SCALE_DIGITS) -> Decimal:
    """``raw`` units of 10^-9 as a Decimal with ``decimals`` places (exact when ``raw`` is a
    multiple of 10^(9 - decimals), which ``decimals_of`` guarantees)."""
    return Decimal(raw // 10 ** (SCALE_DIGITS - decimals)).scaleb(-decimals)


def raw_text(raw: int) -> str:
    """``raw`` as plain decimal text without trailing zeros (``1500000000`` -> ``'1.5'``)."""
    d = Decimal(raw).scaleb(-SCALE_DIGITS).normalize()
    return f"{d:f}"


def decimals_of(*columns: Raw) -> int:
    """Fewest decimal places that write every value of ``columns`` exactly (0-9)."""
    g = 0
    for col in columns:
        if col.size:
            g = int(np.gcd(g, np.gcd.reduce(col)))
    if g == 0:
        return 0
    places = SCALE_DIGITS
    while places > 0 and g % 10 == 0:
        g //= 10
        places -= 1
    return places


def raw_from_floats(values: npt.ArrayLike) -> tuple[Raw, npt.NDArray[np.bool_]]:
    """Floats on the 10^-9 grid, rounded half to even from each float's exact value.

    Returns the raw column and a mask of values that are NaN, infinite or out of range.
    The whole part is split off first (exactly), so the float product ``fraction * 10^9``
    stays below 2^30 and is off by at most 2^-24; only results within 1/1024 of a half
    take the exact ``Decimal`` path, as in the engine's ``raw_from_f64``.
    """
    from pi5trading import _core

    # In Rust, one pass: the numpy form took ~30 ns a value and five temporaries.
    return _core.raw_from_floats(np.ascontiguousarray(values, dtype=np.float64))


def raw_from_ints(values: npt.ArrayLike) -> tuple[Raw, npt.NDArray[np.bool_]]:
    """Whole numbers as raw units; the mask marks values beyond the int64 raw range."""
    v = np.asarray(values, dtype=np.int64)
    bad = np.abs(v) > MAX_UNITS
    return np.where(bad, 0, v) * SCALE, bad


def int64_of(arr: Any) -> tuple[Raw, npt.NDArray[np.bool_]]:
    """An Arrow integer array as int64 (nulls as 0) and a mask of values int64 cannot
    hold: only ``uint64`` has them, and Arrow's cast refuses the whole column for one."""
    import pyarrow as pa
    import pyarrow.compute as pc

    filled = arr.fill_null(0)
    over = np.zeros(len(arr), dtype=bool)
    if pa.types.is_uint64(arr.type):
        big = pc.greater(filled, pa.scalar(_I64_MAX, pa.uint64()))
        over = np.asarray(big.to_numpy(zero_copy_only=False), dtype=bool)
        if over.any():
            filled = pc.if_else(big, pa.scalar(0, pa.uint64()), filled)
    return np.asarray(filled.cast(pa.int64()).to_numpy(), dtype=np.int64), over


def raw_from_objects(values: Sequence[object]) -> tuple[Raw, npt.NDArray[np.bool_]]:
    """Python numbers (``Decimal``, ``int``, ``float``, text) one by one, exactly."""
    raw = np.zeros(len(values), dtype=np.int64)
    bad = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        try:
            if isinstance(v, float):
                d = Decimal(v).scaleb(SCALE_DIGITS).to_integral_value(ROUND_HALF_EVEN)
            else:
                d = Decimal(v if isinstance(v, Decimal | int) else str(v)).scaleb(SCALE_DIGITS)
            if not d.is_finite() or d != d.to_integral_value() or abs(d) > _I64_MAX:
                raise InvalidOperation
            raw[i] = int(d)
        except (InvalidOperation, ValueError, TypeError):
            bad[i] = True
    return raw, bad


def _why(text: str) -> str:
    """Why Arrow refused ``text`` as a decimal (only called for refused cells)."""
    try:
        d = Decimal(text)
    except InvalidOperation:
        return "not a number"
    if not d.is_finite():
        return "not a number"
    exp = d.as_tuple().exponent
    if isinstance(exp, int) and exp < -SCALE_DIGITS and d != d.quantize(Decimal(1).scaleb(-9)):
        return f"more than {SCALE_DIGITS} decimals"
    return "out of range"


def failing_rows(arr: Any, convert: Callable[[Any], object]) -> list[int]:
    """Rows of ``arr`` that ``convert`` refuses, found by halving with Arrow itself, so the
    rules are exactly the converter's (no parsing of its error messages)."""
    import pyarrow as pa

    bad: list[int] = []
    stack = [(0, len(arr))]
    while stack:
        lo, hi = stack.pop()
        try:
            convert(arr.slice(lo, hi - lo))
            continue
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        if hi - lo == 1:
            bad.append(lo)
        else:
            mid = (lo + hi) // 2
            stack += [(mid, hi), (lo, mid)]
    return sorted(bad)


def _decimal128_words(d: Any) -> tuple[Raw, npt.NDArray[np.bool_]]:
    """The int64 values of a decimal128(38, 9) array and a mask of those that do not fit."""
    words = np.frombuffer(d.buffers()[1], dtype=np.int64)
    words = words[2 * d.offset : 2 * (d.offset + len(d))].reshape(-1, 2)
    lo, hi = words[:, 0], words[:, 1]
    return lo.copy(), hi != (lo >> 63)  # little-endian two's complement: high = sign of low


def _to_decimal128(arr: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(arr, pa.decimal128(38, SCALE_DIGITS))


def raw_from_arrow(arr: Any, *, decimal_comma: bool = False) -> tuple[Raw, list[CellError], bool]:
    """A numeric or text Arrow array as raw units.

    Returns ``(raw, errors, rounded)``; ``rounded`` is true for float columns (rounded half
    to even to 10^-9). Rows in ``errors`` hold 0. Text may use a decimal comma when
    ``decimal_comma`` (then a '.' is an error, since it would be a thousands separator).
    """
    import pyarrow as pa

    t = arr.type
    n = len(arr)
    errors: list[CellError] = []
    if pa.types.is_dictionary(t):
        return raw_from_arrow(arr.dictionary_decode(), decimal_comma=decimal_comma)
    if pa.types.is_null(t):
        return np.zeros(n, dtype=np.int64), [CellError(i, "empty", "") for i in range(n)], False
    nulls = (
        np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        if arr.null_count
        else None
    )
    rounded = False
    if pa.types.is_floating(t):
        x = np.asarray(arr.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
        raw, bad = raw_from_floats(x)
        if nulls is not None:
            bad &= ~nulls
        errors = [
            CellError(
                i, "not a number" if not np.isfinite(x[i]) else "out of range", repr(float(x[i]))
            )
            for i in np.flatnonzero(bad).tolist()
        ]
        rounded = True
    elif pa.types.is_integer(t):
        v, over = int64_of(arr)
        raw, bad = raw_from_ints(v)
        bad |= over
        raw[over] = 0
        errors = [
            CellError(i, "out of range", str(arr[i].as_py())) for i in np.flatnonzero(bad).tolist()
        ]
    elif pa.types.is_decimal(t):
        raw, errors = _from_decimals(arr.fill_null(Decimal(0)) if nulls is not None else arr)
    elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        # string_view: what Polars and recent Arrow write for text.
        raw, errors = _from_text(arr.cast(pa.string()), decimal_comma, nulls)
    else:
        raise TypeError(f"type {t}")
    if nulls is not None:
        errors += [CellError(i, "empty", "") for i in np.flatnonzero(nulls).tolist()]
        errors.sort()
        raw[nulls] = 0
    return raw, errors, rounded


def _from_decimals(arr: Any) -> tuple[Raw, list[CellError]]:
    import pyarrow as pa
    import pyarrow.compute as pc

    errors: list[CellError] = []
    bad_rows: list[int] = []
    try:
        d = _to_decimal128(arr)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        bad_rows = failing_rows(arr, _to_decimal128)
        keep = np.ones(len(arr), dtype=bool)
        keep[bad_rows] = False
        errors = [CellError(i, _why(str(arr[i].as_py())), str(arr[i].as_py())) for i in bad_rows]
        d = _to_decimal128(pc.if_else(pa.array(keep), arr, pa.scalar(Decimal(0), arr.type)))
    raw, overflow = _decimal128_words(d)
    for i in np.flatnonzero(overflow).tolist():
        if i not in bad_rows:
            errors.append(CellError(i, "out of range", str(arr[i].as_py())))
    raw[overflow] = 0
    errors.sort()
    return raw, errors


_NUMBER_BYTES = np.zeros(256, dtype=bool)
_NUMBER_BYTES[list(b"0123456789.+-eE")] = True


def _from_text(
    arr: Any, decimal_comma: bool, nulls: npt.NDArray[np.bool_] | None
) -> tuple[Raw, list[CellError]]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not decimal_comma and nulls is None:
        try:  # the common case: clean text, one vectorised parse
            raw, overflow = _decimal128_words(_to_decimal128(arr))
            if not overflow.any():
                return raw, []
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    n = len(arr)
    original = arr
    text = pc.ascii_trim_whitespace(arr.fill_null(""))
    bad = np.zeros(n, dtype=bool)
    errors: list[CellError] = []

    def refuse(rows: npt.NDArray[np.bool_], message: str) -> None:
        for i in np.flatnonzero(rows & ~bad).tolist():
            errors.append(CellError(i, message, str(original[i].as_py() or "")))
        bad[rows] = True

    if nulls is not None:
        bad |= nulls  # reported by the caller
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset : text.offset + n + 1]
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8) if text.buffers()[2] else None
    refuse(np.diff(offsets) == 0, "empty")
    if data is not None and data.size:
        # Rows holding any byte that cannot be in a number: not a number, no parse needed.
        data = data[offsets[0] : offsets[-1]]
        foreign = np.concatenate(([0], np.cumsum(~_NUMBER_BYTES[data], dtype=np.int64)))
        comma = np.concatenate(([0], np.cumsum(data == ord(","), dtype=np.int64)))
        dot = np.concatenate(([0], np.cumsum(data == ord("."), dtype=np.int64)))
        start, end = offsets[:-1] - offsets[0], offsets[1:] - offsets[0]
        has_comma = (comma[end] - comma[start]) > 0
        has_dot = (dot[end] - dot[start]) > 0
        other = (foreign[end] - foreign[start]) > (has_comma if decimal_comma else 0)
        if decimal_comma:
            refuse(has_dot, "'.' in a file whose numbers use a decimal comma")
        else:
            refuse(has_comma, "',' in a number (thousands separators are not supported)")
        refuse(other, "not a number")
        if decimal_comma:
            text = pc.replace_substring(text, ",", ".")
    candidates = pc.if_else(pa.array(~bad), text, "0")
    failed = failing_rows(candidates, _to_decimal128)
    for i in failed:
        errors.append(CellError(i, _why(str(text[i].as_py())), str(original[i].as_py())))
        bad[i] = True
    d = _to_decimal128(pc.if_else(pa.array(~bad), text, "0"))
    raw, overflow = _decimal128_words(d)
    refuse(overflow, "out of range")
    raw[bad] = 0
    errors.sort()
    return raw, errors


__all__ = [
    "MAX_UNITS",
    "SCALE",
    "SCALE_DIGITS",
    "CellError",
    "decimals_of",
    "failing_rows",
    "int64_of",
    "raw_from_arrow",
    "raw_from_floats",
    "raw_from_ints",
    "raw_from_objects",
    "raw_text",
    "raw_to_decimal",
]
