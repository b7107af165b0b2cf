"""Closed trades (round trips) as ``Trade`` records.

The engine pairs the fills into round trips in Rust (``Engine.round_trips``,
exact): a trade opens when a strategy's position in an instrument leaves zero and closes
when it returns to zero; scaling in and out inside one trade is averaged (entry and exit
prices are quantity-weighted); a fill that reverses the position closes the trade with the
part that flattens it and opens a new one with the rest. Attribution is per strategy.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from pi5trading.analysis.records import Trade
from pi5trading.portfolio import RoundTrip

_SCALE = Decimal(10**9)
_NANO = Decimal("1e-9")


def trades_from_round_trips(trips: Iterable[RoundTrip]) -> list[Trade]:
    """``Trade`` records with exact average prices rounded half-even to 10^-9."""
    out = []
    for t in trips:
        q = Decimal(t.quantity_raw)
        out.append(
            Trade(
                strategy_id=t.strategy_id,
                symbol=t.symbol,
                side="long" if t.sign > 0 else "short",
                quantity=q / _SCALE,
                entry_ts=t.entry_ts,
                entry_price=(Decimal(t.entry_notional_raw) / q / _SCALE).quantize(_NANO),
                exit_ts=t.exit_ts,
                exit_price=(Decimal(t.exit_notional_raw) / q / _SCALE).quantize(_NANO),
                commission=Decimal(t.commission_raw) / _SCALE,
            )
        )
    return out
