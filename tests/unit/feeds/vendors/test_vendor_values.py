"""Exact values from vendor text: prices on the tick, sizes, times, Retry-After."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pi5trading.feeds.vendor import (
    exact_quantity,
    ns_to_rfc3339,
    on_tick,
    retry_after_s,
    rfc3339_ns,
    scrub,
)
from pi5trading.model import Instrument

TICKS = ["0.01", "0.05", "0.0001", "0.25", "1"]


@given(
    value=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(100_000), places=13),
    tick=st.sampled_from(TICKS),
)
def test_a_price_is_rounded_once_half_even_to_the_tick(value: Decimal, tick: str) -> None:
    inst = Instrument("X", "XNAS", "EQUITY", "USD", tick_size=tick, lot_size="1")
    step = Decimal(tick)
    expected = (value / step).to_integral_value(ROUND_HALF_EVEN) * step
    price = on_tick(inst, value)
    assert price.as_decimal() == expected
    assert price.precision == inst.price_precision


def test_yahoo_float32_noise_comes_back_as_the_cents() -> None:
    inst = Instrument("X", "XNAS", "EQUITY", "USD", tick_size="0.01", lot_size="1")
    assert str(on_tick(inst, Decimal("185.63999938964844"))) == "185.64"
    # Exactly half a tick goes to the even cent; a hair above goes up (one rounding only).
    assert str(on_tick(inst, Decimal("1.005"))) == "1.00"
    assert str(on_tick(inst, Decimal("1.0050000000001"))) == "1.01"
    with pytest.raises(ValueError, match="not a number"):
        on_tick(inst, Decimal("NaN"))


def test_sizes_are_exact_and_never_negative() -> None:
    assert str(exact_quantity(Decimal("1200"))) == "1200"
    assert exact_quantity(Decimal("0.00012345")).as_decimal() == Decimal("0.00012345")
    with pytest.raises(ValueError, match="size >= 0"):
        exact_quantity(Decimal(-1))


@given(st.integers(min_value=0, max_value=4_102_444_800 * 10**9))
def test_rfc3339_round_trips_to_the_nanosecond(ns: int) -> None:
    assert rfc3339_ns(ns_to_rfc3339(ns)) == ns


def test_rfc3339_offsets_and_bad_text() -> None:
    assert rfc3339_ns("2024-01-02T09:30:00.5-05:00") == rfc3339_ns("2024-01-02T14:30:00.5Z")
    assert rfc3339_ns("2024-01-02T14:30:00.123456789Z") % 10**9 == 123_456_789
    with pytest.raises(ValueError, match="not RFC 3339"):
        rfc3339_ns("yesterday")


def test_retry_after_in_seconds_as_a_date_or_a_reset_time() -> None:
    now = 1_700_000_000.0
    assert retry_after_s(httpx.Response(429, headers={"Retry-After": "7"}), now) == 7
    when = dt.datetime.fromtimestamp(now + 30, dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert retry_after_s(httpx.Response(429, headers={"Retry-After": when}), now) == 30
    reset = {"X-RateLimit-Reset": str(int(now) + 12)}
    assert retry_after_s(httpx.Response(429, headers=reset), now) == 12
    assert retry_after_s(httpx.Response(429), now) is None


def test_scrub_removes_secrets_and_key_like_query_values() -> None:
    text = "GET /query?function=X&apikey=ABC123&symbol=IBM said ABC123 and token=zz"
    assert scrub(text, ["ABC123"]) == (
        "GET /query?function=X&apikey=***&symbol=IBM said *** and token=***"
    )


@given(st.integers(min_value=1, max_value=10_000_000))
def test_yahoo_float32_prices_give_back_the_cents_below_100000(cents_: int) -> None:
    import json

    from tests.standins.tape import float32_noise

    inst = Instrument("X", "XNAS", "EQUITY", "USD", tick_size="0.01", lot_size="1")
    text = json.dumps(float32_noise(cents_))  # what Yahoo's JSON holds
    assert on_tick(inst, Decimal(text)).as_decimal() == Decimal(cents_).scaleb(-2)
