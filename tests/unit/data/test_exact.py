"""Exact fixed-point conversions: decimal text, Arrow decimals, ints and floats to raw units."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pi5trading import _core
from pi5trading.data.exact import (
    MAX_UNITS,
    decimals_of,
    raw_from_arrow,
    raw_from_floats,
    raw_from_objects,
    raw_text,
    raw_to_decimal,
)

# Plain decimal text as vendors write it: optional sign, leading zeros, up to 9 decimals,
# a bare trailing point; the whole part stays inside the int64 raw range.
DECIMAL_TEXT = st.builds(
    lambda sign, zeros, whole, point, fraction: (
        f"{sign}{'0' * zeros}{whole}{'.' if point or fraction else ''}{fraction}"
    ),
    st.sampled_from(["", "+", "-"]),
    st.integers(0, 2),
    st.integers(0, MAX_UNITS - 1),
    st.booleans(),
    st.text("0123456789", max_size=9),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(DECIMAL_TEXT, min_size=1, max_size=40))
def test_any_decimal_text_with_up_to_9_places_is_exact(texts: list[str]) -> None:
    raw, errors, rounded = raw_from_arrow(pa.array(texts))
    assert errors == []
    assert not rounded
    assert raw.tolist() == [int(Decimal(t) * 10**9) for t in texts]


@settings(max_examples=200, deadline=None)
@given(DECIMAL_TEXT)
def test_text_to_raw_to_decimal_round_trips(text: str) -> None:
    raw, _, _ = raw_from_arrow(pa.array([text]))
    places = decimals_of(raw)
    back = raw_to_decimal(int(raw[0]), places)
    assert back == Decimal(text)
    assert Decimal(raw_text(int(raw[0]))) == Decimal(text)
    # The file's precision is the fewest places that write the value exactly.
    exponent = Decimal(text).normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    assert places == max(0, -exponent) or Decimal(text) == 0


def test_bad_text_cells_are_named_with_their_reason() -> None:
    cells = ["1.5", "abc", "", "1.0000000001", "99999999999", "1,5", " 2.25 ", "nan", "1e-3"]
    raw, errors, _ = raw_from_arrow(pa.array(cells))
    assert [(e.row, e.message, e.value) for e in errors] == [
        (1, "not a number", "abc"),
        (2, "empty", ""),
        (3, "more than 9 decimals", "1.0000000001"),
        (4, "out of range", "99999999999"),
        (5, "',' in a number (thousands separators are not supported)", "1,5"),
        (7, "not a number", "nan"),
    ]
    assert raw[[0, 6, 8]].tolist() == [1_500_000_000, 2_250_000_000, 1_000_000]
    # Trailing zeros beyond the ninth place lose nothing: accepted.
    assert raw_from_arrow(pa.array(["1.5000000000"]))[0].tolist() == [1_500_000_000]


def test_decimal_comma() -> None:
    raw, errors, _ = raw_from_arrow(
        pa.array(["1,5", "2", "0,000000001", "1.5"]), decimal_comma=True
    )
    assert raw[:3].tolist() == [1_500_000_000, 2_000_000_000, 1]
    assert [(e.row, e.message) for e in errors] == [
        (3, "'.' in a file whose numbers use a decimal comma")
    ]


def test_arrow_decimal_int_and_null_columns() -> None:
    dec = pa.array([Decimal("1.123456789"), Decimal("2.5"), None], pa.decimal128(20, 9))
    raw, errors, rounded = raw_from_arrow(dec)
    assert raw.tolist() == [1_123_456_789, 2_500_000_000, 0]
    assert [(e.row, e.message) for e in errors] == [(2, "empty")]
    assert not rounded
    fine = pa.array([Decimal("1.1234567890001"), Decimal("1.1234567890000")], pa.decimal128(20, 13))
    raw, errors, _ = raw_from_arrow(fine)
    assert [(e.row, e.message) for e in errors] == [(0, "more than 9 decimals")]
    assert raw[1] == 1_123_456_789
    raw, errors, _ = raw_from_arrow(pa.array([3, -2, 10**12]))
    assert raw[:2].tolist() == [3 * 10**9, -2 * 10**9]
    assert [(e.row, e.message) for e in errors] == [(2, "out of range")]


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.floats(min_value=-(MAX_UNITS - 1), max_value=MAX_UNITS - 1, allow_nan=False, width=64),
        min_size=1,
        max_size=30,
    )
)
def test_floats_round_half_even_from_their_exact_value(xs: list[float]) -> None:
    raw, bad = raw_from_floats(np.array(xs))
    assert not bad.any()
    exact = [int(Decimal(x).scaleb(9).to_integral_value(ROUND_HALF_EVEN)) for x in xs]
    assert raw.tolist() == exact


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=1e-9, max_value=9e6, allow_nan=False))
def test_floats_convert_like_the_engine(x: float) -> None:
    raw, _ = raw_from_floats(np.array([x]))
    assert int(raw[0]) == _core.Price.from_float(x, 9).raw


def test_float_ties_and_bad_floats() -> None:
    # 0.0009765625 * 10^9 = 976562.5 exactly: half to even.
    raw, bad = raw_from_floats(np.array([0.0009765625, 0.0029296875, 0.1 + 0.2]))
    assert raw.tolist() == [976_562, 2_929_688, 300_000_000]
    assert not bad.any()
    _, bad = raw_from_floats(np.array([np.nan, np.inf, 1e12, 5.0]))
    assert bad.tolist() == [True, True, True, False]
    raw, errors, rounded = raw_from_arrow(pa.array([1.5, float("nan"), None]))
    assert rounded
    assert [(e.row, e.message, e.value) for e in errors] == [
        (1, "not a number", "nan"),
        (2, "empty", ""),
    ]


def test_python_objects_are_exact() -> None:
    raw, bad = raw_from_objects([Decimal("1.25"), 3, "0.000000001", 0.5, Decimal("1e-10"), "x"])
    assert raw[:4].tolist() == [1_250_000_000, 3 * 10**9, 1, 500_000_000]
    assert bad.tolist() == [False, False, False, False, True, True]


@pytest.mark.parametrize(
    ("values", "places"),
    [
        ([1_500_000_000, 2_000_000_000], 1),
        ([10**9, 5 * 10**9], 0),
        ([123_000, 124_000], 6),
        ([1], 9),
        ([0, 0], 0),
        ([-250_000_000], 2),
    ],
)
def test_decimals_of(values: list[int], places: int) -> None:
    assert decimals_of(np.array(values, dtype=np.int64)) == places
