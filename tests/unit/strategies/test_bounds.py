"""Every built-in strategy parameter has a range (issue 17): an absurd but well-typed value
is refused in one place (``convert_config``) naming the parameter and the range, never
clamped; each end of the range itself is taken by the range check."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from pi5trading.exceptions import ConfigurationError
from pi5trading.strategies import BUILTIN
from pi5trading.strategies.base import Bounds, _bounds, convert_config

UNBOUNDED = {"symbols", "kind", "exit_at"}
"""Not numbers or free text: a list of symbols (their own checks), and choices."""


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_parameter_has_a_range(name: str) -> None:
    cfg = BUILTIN[name].Config
    fields = {f.name for f in msgspec.structs.fields(cfg)}
    assert set(_bounds(cfg)) == fields - UNBOUNDED


def _outside(b: Bounds, integer: bool) -> list[object]:
    if b.max_length is not None:
        return ["x" * (b.max_length + 1), "x" * 5000]
    step = Decimal(1) if integer else Decimal("0.5")
    out: list[object] = []
    if b.low is not None:
        out += [b.low, -(10**30)] if b.low_open else [Decimal(b.low) - step, -(10**30)]
    if b.high is not None:
        out += [b.high] if b.high_open else [Decimal(b.high) + step]
        out += [10**30] if integer else [10**30, "1e308"]
    return out


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_values_outside_a_range_are_refused_naming_it(name: str) -> None:
    cfg = BUILTIN[name].Config
    defaults = cfg()
    for field, b in _bounds(cfg).items():
        default = getattr(defaults, field)
        integer = isinstance(default, int) and not isinstance(default, bool)
        for value in _outside(b, integer):
            with pytest.raises(ConfigurationError) as err:
                convert_config(cfg, {field: str(value)}, strategy=name)
            message = str(err.value)
            assert message.startswith(f"invalid strategy parameter {field}="), message
            assert message.endswith(f"out of range, allowed: {b.describe(field)}"), message
            assert "\n" not in message


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_the_ends_of_a_range_pass_the_range_check(name: str) -> None:
    cfg = BUILTIN[name].Config
    for field, b in _bounds(cfg).items():
        if b.max_length is not None:
            continue  # text: its own check (a time zone, a time of day) comes after
        ends = [e for e, open_ in ((b.low, b.low_open), (b.high, b.high_open)) if e is not None]
        for end, open_ in zip(ends, (b.low_open, b.high_open), strict=False):
            if open_:
                continue
            got = convert_config(cfg, {field: str(end)}, strategy=name)
            assert getattr(got, field) == end


def test_the_quantity_is_refused_not_clamped() -> None:
    cfg = BUILTIN["sma_crossover"].Config
    with pytest.raises(
        ConfigurationError,
        match=r"^invalid strategy parameter quantity=1E\+30: out of range, "
        r"allowed: 0 < quantity <= 1000000000$",
    ):
        convert_config(cfg, {"quantity": "1e30"})
    assert convert_config(cfg, {"quantity": "1000000000"}).quantity == Decimal(10**9)  # type: ignore[attr-defined]


def test_the_ranges_are_in_the_json_schema() -> None:
    schema = msgspec.json.schema(BUILTIN["vwap_bounce"].Config)
    props = schema["$defs"][next(iter(schema["$defs"]))]["properties"]
    assert props["stop_pct"]["exclusiveMinimum"] == 0
    assert props["stop_pct"]["maximum"] == 100
    assert props["ema_period"]["maximum"] == 1 << 24
    assert props["timezone"]["maxLength"] == 64
