"""Every operator of ``Price``, ``Quantity`` and ``Money`` against every kind of operand.

The expected outcome of each pair comes from ``reference`` below: the documented rules
(docs/core.md) written out with ``decimal`` arithmetic, independent of the Rust code.
"""

from __future__ import annotations

import decimal
import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pi5trading.exceptions import ArithmeticOverflowError, InvalidInputError
from pi5trading.model import Money, Price, Quantity

CTX = decimal.Context(prec=80, traps=[decimal.InvalidOperation])
RAW_LIMIT = Decimal(2**63) / 10**9  # |value| must stay below this (i64 raw units of 1e-9)
VALUES = (Price, Quantity, Money)

# Each operand as (kind, value): one of every type a caller might pass.
OPERANDS: list[tuple[str, Any]] = [
    ("Price", Price("2.50")),
    ("Quantity", Quantity("3")),
    ("Money", Money("10.00", "USD")),
    ("int", 4),
    ("Decimal", Decimal("1.5")),
    ("float", 1.5),
    ("str", "2"),
    ("bool", True),
    ("None", None),
    ("object", object()),
]

ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
    "@": operator.matmul,
}
COMPARISON: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def dec(x: Any) -> Decimal:
    """The exact value of an operand as a ``Decimal``."""
    if isinstance(x, Decimal):
        return x
    if isinstance(x, int):
        return Decimal(x)
    out = x.as_decimal()
    assert isinstance(out, Decimal)
    return out


class RefusedError(Exception):
    """The reference says: ``TypeError``."""

    def __init__(self, mentions_from_float: bool) -> None:
        super().__init__()
        self.mentions_from_float = mentions_from_float


def reference(op: str, a: tuple[str, Any], b: tuple[str, Any]) -> tuple[str, Decimal] | bool:
    """The documented result of ``a op b``: ``(kind, exact value)`` or a bool; raises
    ``RefusedError`` where the operation is a ``TypeError``."""
    (ka, va), (kb, vb) = a, b
    scalars = ("int", "Decimal")
    floaty = "float" in (ka, kb)
    if op in ("+", "-"):
        if ka == kb and ka in ("Price", "Quantity", "Money"):
            fn = CTX.add if op == "+" else CTX.subtract
            return ka, fn(dec(va), dec(vb))
        raise RefusedError(floaty)
    if op == "*":
        if {ka, kb} == {"Price", "Quantity"}:
            return "Money", CTX.multiply(dec(va), dec(vb))
        if ka in ("Price", "Quantity", "Money") and kb in scalars:
            return ka, CTX.multiply(dec(va), dec(vb))
        if kb in ("Price", "Quantity", "Money") and ka in scalars:
            return kb, CTX.multiply(dec(va), dec(vb))
        raise RefusedError(floaty)
    if op in COMPARISON:
        # A price or quantity compares with a number exactly (``bar.close > 0``); money
        # only with money (it has a currency).
        numbers = {ka, kb} <= {"Price", "int", "Decimal"} or {ka, kb} <= {
            "Quantity",
            "int",
            "Decimal",
        }
        if ka == kb or (numbers and "Money" not in (ka, kb)):
            return bool(COMPARISON[op](dec(va), dec(vb)))
        if op in ("==", "!="):
            return op == "!="
        raise RefusedError(floaty)
    # Division, modulo, powers, matmul: never defined (not exact).
    raise RefusedError(False)


def cases() -> list[Any]:
    out = []
    for kind, value in OPERANDS[:3]:
        for op in [*ARITHMETIC, *COMPARISON]:
            for other in OPERANDS:
                out.append(pytest.param(op, (kind, value), other, id=f"{kind}{op}{other[0]}"))
                if other[0] not in ("Price", "Quantity", "Money"):
                    out.append(pytest.param(op, other, (kind, value), id=f"{other[0]}{op}{kind}"))
    return out


@pytest.mark.parametrize(("op", "a", "b"), cases())
def test_operator_against_operand(op: str, a: tuple[str, Any], b: tuple[str, Any]) -> None:
    fn = {**ARITHMETIC, **COMPARISON}[op]
    try:
        want = reference(op, a, b)
    except RefusedError as r:
        with pytest.raises(TypeError) as info:
            fn(a[1], b[1])
        if r.mentions_from_float:
            assert "from_float" in str(info.value)
        return
    got = fn(a[1], b[1])
    if isinstance(want, bool):
        assert got is want
        return
    kind, value = want
    assert type(got).__name__ == kind
    assert got.as_decimal() == value
    # The precision follows Decimal's exponent rules: 2.50 * 1.5 = 3.750.
    assert str(got.as_decimal()) == str(value)
    if kind == "Money":
        assert got.currency == "USD"


@pytest.mark.parametrize("x", [Price("-2.50"), Quantity("-3"), Money("-10.00", "USD")])
def test_unary(x: Price | Quantity | Money) -> None:
    v = x.as_decimal()
    for fn, want in ((operator.neg, -v), (operator.pos, v), (abs, abs(v))):
        got = fn(x)
        assert type(got) is type(x)
        assert got.as_decimal() == want
        assert str(got.as_decimal()) == str(want)


def test_prices_and_quantities_equal_to_numbers_hash_like_them() -> None:
    for text in ["2", "2.50", "-3.25", "0.000000001", "123456.789", "0", "-1"]:
        for value in (Price(text), Quantity(text)):
            assert value == Decimal(text)
            assert hash(value) == hash(Decimal(text))
    assert Price("2") == 2
    assert {Price("2"): "x"}[2] == "x"  # a dict finds it by the number
    assert Price("0.1") > 0
    assert not (Quantity("5") < 5)
    assert 3 < Price("3.000000001")  # noqa: SIM300 (the reflected comparison is the point)
    assert Price("2.5") < Decimal("2.5000000001")  # beyond the core's 9 places: still exact


def test_unary_overflow_is_an_error() -> None:
    for cls in (Price, Quantity):
        low = cls.from_raw(-(2**63), 9)
        with pytest.raises(ArithmeticOverflowError):
            operator.neg(low)
        with pytest.raises(ArithmeticOverflowError):
            abs(low)
    m = Money.from_raw(-(2**63), 9, "USD")
    with pytest.raises(ArithmeticOverflowError):
        operator.neg(m)
    with pytest.raises(ArithmeticOverflowError):
        abs(m)


def test_money_in_two_currencies_does_not_mix() -> None:
    usd, eur = Money("1.00", "USD"), Money("1.00", "EUR")
    assert usd != eur
    for fn in (operator.add, operator.sub, operator.lt):
        with pytest.raises(InvalidInputError, match="currency"):
            fn(usd, eur)


def test_integer_like_factors_are_exact_and_bools_are_refused() -> None:
    np = pytest.importorskip("numpy")
    assert Price("1.25") * np.int64(3) == Price("3.75")
    assert Money("1.25", "USD") * np.int32(2) == Money("2.50", "USD")
    with pytest.raises(TypeError, match="from_float"):
        Quantity(2) * np.float64(1.5)
    with pytest.raises(TypeError):
        Price(1) * False


def test_bad_decimal_factors() -> None:
    with pytest.raises(InvalidInputError, match="factor"):
        Price(1) * Decimal("NaN")
    with pytest.raises(InvalidInputError, match="factor"):
        Price(1) * Decimal("1E+20")
    with pytest.raises(ArithmeticOverflowError):
        Price(2) * 2**70


# ----- properties against the decimal reference -----


def fits(d: Decimal) -> bool:
    return -RAW_LIMIT <= d < RAW_LIMIT


def places(d: Decimal) -> int:
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


@st.composite
def exact_values(draw: st.DrawFn, max_places: int = 9, max_abs: int = 10**9) -> Decimal:
    p = draw(st.integers(0, max_places))
    digits = draw(st.integers(-max_abs * 10**p, max_abs * 10**p))
    return Decimal(digits).scaleb(-p)


def nine_places(d: Decimal) -> bool:
    return d == d.quantize(Decimal("1e-9"), context=CTX)


@given(exact_values(), exact_values())
def test_price_times_quantity_is_money_from_product(p: Decimal, q: Decimal) -> None:
    price, qty = Price(p), Quantity(q)
    want = CTX.multiply(p, q)
    if not nine_places(want):
        with pytest.raises(InvalidInputError, match="from_product"):
            price * qty
        return
    if not fits(want):
        with pytest.raises(ArithmeticOverflowError):
            price * qty
        return
    got = price * qty
    assert isinstance(got, Money)
    assert got == Money.from_product(price, qty, "USD", 9)
    assert got == qty * price
    assert got.as_decimal() == want
    assert got.precision == min(9, places(p) + places(q))


@given(exact_values(), exact_values(max_abs=10**6))
def test_decimal_scaling_is_exact_or_refused(a: Decimal, f: Decimal) -> None:
    want = CTX.multiply(a, f)
    for value in (Price(a), Quantity(a), Money(a, "EUR")):
        if not nine_places(want):
            with pytest.raises(InvalidInputError, match="round explicitly"):
                value * f
        elif not fits(want):
            with pytest.raises(ArithmeticOverflowError):
                value * f
        else:
            got = value * f
            assert type(got) is type(value)
            assert got == f * value
            assert got.as_decimal() == want
            assert got.precision == min(9, places(a) + places(f))
