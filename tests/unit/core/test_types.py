"""Exact value types and market data events through the Python API.

References are Python's ``decimal`` module (exact with a wide context), never our code.
"""

from __future__ import annotations

import decimal
import pickle
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pi5trading.exceptions import ArithmeticOverflowError, InvalidInputError
from pi5trading.model import (
    ROUNDING_MODES,
    Bar,
    BarType,
    Instrument,
    Money,
    Price,
    Quantity,
    QuoteTick,
    TradeTick,
)

CTX = decimal.Context(prec=80, traps=[decimal.InvalidOperation])
RAW_MAX = 2**63 - 1
RAW_MIN = -(2**63)
NANO = Decimal("1e-9")


def exact(raw: int) -> Decimal:
    return CTX.multiply(Decimal(raw), NANO)


def fits(d: Decimal) -> bool:
    raw = CTX.multiply(d, Decimal(10**9))
    return RAW_MIN <= raw <= RAW_MAX


@st.composite
def decimals(draw: st.DrawFn, max_places: int = 9) -> Decimal:
    places = draw(st.integers(0, max_places))
    unit = 10 ** (9 - places)
    raw = draw(st.integers(-(-RAW_MIN // unit), RAW_MAX // unit)) * unit
    return exact(raw).quantize(Decimal(1).scaleb(-places))


rounding_modes = st.sampled_from(ROUNDING_MODES)


# ----- conversions -----


@given(decimals())
def test_decimal_round_trip_is_exact(d: Decimal) -> None:
    p = Price(d)
    back = p.as_decimal()
    assert back == d
    assert back.as_tuple().exponent == d.as_tuple().exponent  # same declared places
    assert p.precision == -int(d.as_tuple().exponent)
    assert str(p) == format(back, "f")
    assert Price(str(d)) == p
    assert Quantity(d).as_decimal() == d


@given(st.integers(-(10**9), 10**9))
def test_int_is_whole_units(n: int) -> None:
    p = Price(n)
    assert p.raw == n * 10**9
    assert p.precision == 0
    assert p.as_decimal() == n


@given(decimals(), st.integers(1, 5))
def test_more_than_nine_places_is_refused(d: Decimal, extra: int) -> None:
    tiny = Decimal(1).scaleb(-(9 + extra))
    with pytest.raises(InvalidInputError, match=r"^invalid price: .*decimal places"):
        Price(d + tiny if d >= 0 else d - tiny)
    # Trailing zeros beyond the ninth place lose nothing and are accepted.
    assert Price(d.quantize(Decimal(1).scaleb(-(9 + extra)))) == Price(d)


@pytest.mark.parametrize(
    "bad", ["9223372037", "-9223372037", "1e20", "NaN", "Infinity", "abc", "", "1_0"]
)
def test_out_of_range_and_malformed_text(bad: str) -> None:
    with pytest.raises(InvalidInputError, match=r"^invalid price: "):
        Price(bad)
    with pytest.raises(InvalidInputError, match=r"^invalid price: "):
        Price(Decimal(bad) if bad not in ("abc", "", "1_0") else bad)


def test_numpy_integers_are_exact_and_numpy_floats_are_not() -> None:
    np = pytest.importorskip("numpy")
    assert Price(np.int64(7)) == Price(7)
    assert Quantity(np.uint32(3)).precision == 0
    with pytest.raises(TypeError, match="from_float"):
        Price(np.float64(1.5))


def test_float_only_when_asked() -> None:
    with pytest.raises(TypeError, match="from_float"):
        Price(0.1)  # type: ignore[arg-type]
    assert Price.from_float(0.1, 2) == Price("0.10")
    assert Price("1.25").as_float() == 1.25


@given(st.floats(-1e9, 1e9, allow_nan=False), st.integers(0, 9))
def test_from_float_rounds_the_exact_binary_value_half_even(x: float, places: int) -> None:
    want = Decimal(x).quantize(Decimal(1).scaleb(-places), rounding=decimal.ROUND_HALF_EVEN)
    assert Price.from_float(x, places).as_decimal() == want


def test_precision_declaration_never_drops_digits() -> None:
    assert str(Price("1.5", precision=3)) == "1.500"
    with pytest.raises(InvalidInputError, match=r"^invalid price: .*round it explicitly"):
        Price("1.555", precision=2)
    with pytest.raises(InvalidInputError, match=r"^invalid precision"):
        Price("1", precision=10)
    with pytest.raises(InvalidInputError, match=r"^invalid price"):
        Price.from_raw(1, 2)


# ----- arithmetic -----


@given(decimals(), decimals())
def test_add_sub_exact_or_overflow(a: Decimal, b: Decimal) -> None:
    for op, ref in ((Price.__add__, CTX.add), (Price.__sub__, CTX.subtract)):
        want = ref(a, b)
        if fits(want):
            got = op(Price(a), Price(b))
            assert got.as_decimal() == want
        else:
            with pytest.raises(ArithmeticOverflowError):
                op(Price(a), Price(b))


@given(decimals(), st.integers(-1000, 1000))
def test_integer_multiplication(a: Decimal, k: int) -> None:
    want = CTX.multiply(a, k)
    if fits(want):
        assert (Price(a) * k).as_decimal() == want
        assert (k * Price(a)).as_decimal() == want
    else:
        with pytest.raises(ArithmeticOverflowError):
            Price(a) * k


@given(decimals(max_places=4), decimals(max_places=6), st.integers(0, 9), rounding_modes)
def test_money_from_product_is_rounded_once(
    p: Decimal, q: Decimal, places: int, rounding: str
) -> None:
    want = CTX.multiply(p, q).quantize(Decimal(1).scaleb(-places), rounding=rounding, context=CTX)
    if fits(want):
        m = Money.from_product(Price(p), Quantity(q), "USD", places, rounding)  # type: ignore[arg-type]
        assert m.as_decimal() == want
        assert m.currency == "USD"
    else:
        with pytest.raises(ArithmeticOverflowError):
            Money.from_product(Price(p), Quantity(q), "USD", places, rounding)  # type: ignore[arg-type]


@given(
    st.integers(-(10**12), 10**12),
    st.integers(1, 10**6),
    st.sampled_from([0, 1, -1, 2]),
    rounding_modes,
)
def test_round_to_tick_matches_decimal(q: int, tick_raw: int, off: int, rounding: str) -> None:
    # x sits at q ticks plus half a tick (+/- a hair): ties and near-ties for every mode.
    tick = Price.from_raw(tick_raw * 2, 9)
    x = Price.from_raw(q * tick.raw + tick_raw + off, 9)
    t, xd = tick.as_decimal(), x.as_decimal()
    steps = CTX.divide(xd, t).quantize(Decimal(1), rounding=rounding, context=CTX)
    got = x.round_to(tick, rounding)  # type: ignore[arg-type]
    assert got.as_decimal() == CTX.multiply(steps, t)
    assert got.is_multiple_of(tick)


@given(decimals(), st.integers(0, 9), rounding_modes)
def test_round_to_places_matches_decimal(d: Decimal, places: int, rounding: str) -> None:
    want = d.quantize(Decimal(1).scaleb(-places), rounding=rounding, context=CTX)
    if fits(want):
        got = Price(d).round(places, rounding)  # type: ignore[arg-type]
        assert got.as_decimal() == want
        assert got.precision == places


def test_unknown_rounding_is_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"^invalid rounding"):
        Price("1.5").round(0, "nearest")  # type: ignore[arg-type]


@given(decimals(), decimals())
def test_comparison_and_hash_follow_the_value(a: Decimal, b: Decimal) -> None:
    pa, pb = Price(a), Price(b)
    assert (pa < pb) == (a < b)
    assert (pa == pb) == (a == b)
    assert (pa >= pb) == (a >= b)
    if a == b:
        assert hash(pa) == hash(pb)
    assert Price("1.5") == Price("1.50")
    assert hash(Price("1.5")) == hash(Price("1.50"))
    assert Price("1") != Quantity("1")  # different kinds of value never compare equal


def test_overflow_never_wraps() -> None:
    top = Price.from_raw(RAW_MAX, 9)
    with pytest.raises(ArithmeticOverflowError, match="Price::add"):
        top + Price.from_raw(1, 9)
    with pytest.raises(ArithmeticOverflowError):
        -Price.from_raw(RAW_MIN, 9)


def test_money_keeps_currencies_apart() -> None:
    usd, eur = Money("1.50", "USD"), Money("1.50", "eur")
    assert eur.currency == "EUR"
    assert usd + usd == Money("3.00", "USD")
    assert usd != eur
    with pytest.raises(InvalidInputError, match=r"^invalid currency"):
        usd + eur
    with pytest.raises(InvalidInputError, match=r"^invalid currency"):
        _ = usd < eur
    assert str(usd) == "1.50 USD"
    assert repr(usd) == "Money('1.50', 'USD')"
    assert Money.from_float(0.1 + 0.2, "USD") == Money("0.30", "USD")
    with pytest.raises(InvalidInputError, match=r"^invalid currency"):
        Money("1", "US D")


def test_pickle_round_trip() -> None:
    for v in (Price("-12.3400"), Quantity("5"), Money("7.25", "USD")):
        back = pickle.loads(pickle.dumps(v))
        assert back == v
        assert str(back) == str(v)
    events: list[object] = [
        Instrument("X", "SIM", "CRYPTO", "USDT", "0.05", "0.001", "0.01", price_precision=3),
        BarType("AAPL", "5m"),
        Bar("BRK-B-1m", "1.0", "2", "0.5", "1.5", "10.25", 7),
        QuoteTick("A", "1", "2", "3", "4", 5),
        TradeTick("A", "1.5", "2", "SELLER", "t-9", 3),
    ]
    for e in events:
        back = pickle.loads(pickle.dumps(e))
        assert back == e
        assert repr(back) == repr(e)


# ----- instruments and events -----


def aapl() -> Instrument:
    return Instrument("AAPL", "XNAS", "EQUITY", "USD", tick_size="0.01", lot_size=1)


def test_instrument_increments() -> None:
    i = aapl()
    assert (i.price_precision, i.size_precision, i.min_quantity) == (2, 0, Quantity(1))
    assert str(i.make_price(Decimal("187.1"))) == "187.10"
    with pytest.raises(InvalidInputError, match=r"^invalid price: .*decimal places"):
        i.make_price("187.123")
    fine = Instrument("X", "SIM", "CRYPTO", "USDT", tick_size="0.05", lot_size="0.001")
    with pytest.raises(InvalidInputError, match=r"^invalid price: .*tick size"):
        fine.make_price("1.02")
    assert str(fine.round_price("1.025", "ROUND_HALF_EVEN")) == "1.00"
    assert str(fine.round_price("1.025", "ROUND_CEILING")) == "1.05"
    assert str(fine.round_quantity("0.0015", "ROUND_HALF_EVEN")) == "0.002"
    assert i.notional("187.10", 3) == Money("561.30", "USD")
    assert i == aapl()
    assert hash(i) == hash(aapl())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tick_size": "0"}, "tick_size"),
        ({"lot_size": "-1"}, "lot_size"),
        ({"lot_size": "10", "min_quantity": "5"}, "min_quantity"),
        ({"price_precision": 1}, "price_precision"),
        ({"symbol": "A B"}, "symbol"),
        ({"venue": ""}, "venue"),
        ({"currency": "DOLLARS!"}, "currency"),
        ({"asset_class": "STOCK"}, "asset_class"),
    ],
)
def test_instrument_validation_names_the_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {
        "symbol": "AAPL",
        "venue": "XNAS",
        "asset_class": "EQUITY",
        "currency": "USD",
        "tick_size": "0.01",
        "lot_size": "1",
    }
    args.update(kwargs)
    with pytest.raises(InvalidInputError, match=f"^invalid {field}: "):
        Instrument(**args)  # type: ignore[arg-type]


def bar(**kw: object) -> Bar:
    args: dict[str, object] = {
        "bar_type": "AAPL-1m",
        "open": "10.00",
        "high": "11.00",
        "low": "9.00",
        "close": "10.50",
        "volume": 100,
        "ts_event": 60_000_000_000,
    }
    args.update(kw)
    return Bar(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"high": "10.40"}, "high"),  # below close
        ({"high": "9.99"}, "high"),  # below open
        ({"low": "10.01"}, "low"),  # above open
        ({"low": "12"}, "low"),  # above high
        ({"volume": -1}, "volume"),
        ({"open": "1e-10"}, "open"),
        ({"close": "abc"}, "close"),
        ({"bar_type": "AAPL-1y"}, "interval"),
        ({"bar_type": "AAPL"}, "bar_type"),
    ],
)
def test_bar_validation_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError, match=f"^invalid {field}: "):
        bar(**kwargs)


@given(
    st.lists(st.integers(-(10**6), 10**6), min_size=4, max_size=4),
    st.integers(0, 10**6),
)
def test_bar_accepts_exactly_the_consistent_ohlc(prices: list[int], volume: int) -> None:
    o, h, lo, c = (Price.from_raw(p * 10**7, 2) for p in prices)
    ok = lo <= h and h >= max(o, c) and lo <= min(o, c)
    if ok:
        b = bar(open=o, high=h, low=lo, close=c, volume=volume)
        assert (b.open, b.high, b.low, b.close, b.volume) == (o, h, lo, c, Quantity(volume))
    else:
        with pytest.raises(InvalidInputError, match=r"^invalid (high|low): "):
            bar(open=o, high=h, low=lo, close=c, volume=volume)


def test_bar_fields_and_instrument_binding() -> None:
    b = bar()
    assert b.bar_type == BarType("AAPL", "1m")
    assert b.bar_type.topic == "data.bars.AAPL.1m"
    assert b.bar_type.interval_ns == 60 * 10**9
    assert str(BarType.parse("BRK-B-5m")) == "BRK-B-5m"
    assert b.close.as_decimal() == Decimal("10.50")
    assert b.ts_event == 60_000_000_000
    assert b == bar()
    assert bar(instrument=aapl()).open == Price(10)
    with pytest.raises(InvalidInputError, match=r"^invalid open: .*tick size"):
        bar(open="10.005", instrument=aapl())
    with pytest.raises(InvalidInputError, match=r"^invalid symbol: "):
        bar(bar_type="MSFT-1m", instrument=aapl())
    with pytest.raises(InvalidInputError, match=r"^invalid volume: .*lot size"):
        bar(volume="1.5", instrument=aapl())


def test_ticks_validate_and_name_fields() -> None:
    q = QuoteTick("AAPL", "187.10", "187.12", 100, 200, 5)
    assert (q.bid, q.ask, q.bid_size, q.ask_size, q.ts_event) == (
        Price("187.10"),
        Price("187.12"),
        Quantity(100),
        Quantity(200),
        5,
    )
    with pytest.raises(InvalidInputError, match=r"^invalid bid: "):
        QuoteTick("AAPL", "187.13", "187.12", 1, 1, 0)
    with pytest.raises(InvalidInputError, match=r"^invalid ask_size: "):
        QuoteTick("AAPL", "1", "2", 1, -1, 0)
    with pytest.raises(InvalidInputError, match=r"^invalid ask: "):
        QuoteTick("AAPL", "1", "2.001", 1, 1, 0, instrument=aapl())
    t = TradeTick("AAPL", "187.11", 10, "BUYER", "T-1", 7)
    assert (t.price, t.size, t.aggressor_side, t.trade_id) == (
        Price("187.11"),
        Quantity(10),
        "BUYER",
        "T-1",
    )
    with pytest.raises(InvalidInputError, match=r"^invalid size: "):
        TradeTick("AAPL", "1", -1, "SELLER", "T-2", 0)
    with pytest.raises(InvalidInputError, match=r"^invalid aggressor_side: "):
        TradeTick("AAPL", "1", 1, "BUY", "T-2", 0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"^invalid trade_id: "):
        TradeTick("AAPL", "1", 1, "SELLER", "", 0)


def test_timestamps_are_unsigned_nanoseconds() -> None:
    with pytest.raises(InvalidInputError, match=r"^invalid ts_event: "):
        bar(ts_event=-1)
    with pytest.raises(InvalidInputError, match=r"^invalid ts_event: "):
        QuoteTick("A", "1", "2", 1, 1, 2**64)
    assert bar(ts_event=2**64 - 1).ts_event == 2**64 - 1


def test_format_specs_apply_to_the_exact_value() -> None:
    assert f"{Price('1234.5'):>12,.2f}" == "    1,234.50"
    assert f"{Quantity(3):03}" == "003"
    assert f"{Price('0.1'):.20f}" == "0.10000000000000000000"  # no float noise


def test_input_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match=r"^invalid high"):
        bar(high="10.4")
