"""Exact values and market data: the engine's data model.

Money is exact: ``Price``, ``Quantity`` and ``Money`` are fixed-point integers (units of
10^-9) with a declared number of decimal places, built from ``Decimal``, ``str`` or
``int``; floats only through ``from_float`` / ``as_float``::

    from decimal import Decimal
    from pi5trading.model import Bar, Instrument, Money, Price, Quantity

    aapl = Instrument("AAPL", "XNAS", "EQUITY", "USD", tick_size="0.01", lot_size="1")
    price = aapl.make_price(Decimal("187.10"))      # must sit on the tick
    fill = aapl.round_price("187.125", "ROUND_HALF_UP")
    cost = Money.from_product(price, Quantity(10), "USD")   # Money('1871.00', 'USD')
    bar = Bar("AAPL-1m", "187.00", "187.30", "186.90", "187.10", 1200, ts_event=...)

Invalid input raises ``pi5trading.exceptions.InvalidInputError`` (a ``ValueError``) whose
message starts with ``invalid <field>:``. Timestamps are ``int`` UTC nanoseconds.
See ``docs/core.md``.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

from pi5trading._core import (
    Bar,
    BarType,
    Instrument,
    Money,
    Price,
    Quantity,
    QuoteTick,
    TradeTick,
)

Rounding: TypeAlias = Literal[
    "ROUND_HALF_EVEN",
    "ROUND_HALF_UP",
    "ROUND_HALF_DOWN",
    "ROUND_FLOOR",
    "ROUND_CEILING",
    "ROUND_DOWN",
    "ROUND_UP",
]
"""Rounding modes, spelled like the ``decimal`` module's constants (same meaning)."""

ROUNDING_MODES: tuple[Rounding, ...] = (
    "ROUND_HALF_EVEN",
    "ROUND_HALF_UP",
    "ROUND_HALF_DOWN",
    "ROUND_FLOOR",
    "ROUND_CEILING",
    "ROUND_DOWN",
    "ROUND_UP",
)

__all__ = [
    "ROUNDING_MODES",
    "Bar",
    "BarType",
    "Instrument",
    "Money",
    "Price",
    "Quantity",
    "QuoteTick",
    "Rounding",
    "TradeTick",
]
