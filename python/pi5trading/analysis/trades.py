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

from pi5trading.analysis.records import EXACT, Trade, tidy
from pi5trading.portfolio import RoundTrip

_NANO = Decimal("1e-9")


def _units(raw: int, decimals: int) -> Decimal:
    """``raw · 10^-decimals``, exactly (built from digits: no context rounds it)."""
    return tidy(Decimal(raw).scaleb(-decimals, EXACT))


def trades_from_round_trips(trips: Iterable[RoundTrip]) -> list[Trade]:
    """``Trade`` records: exact quantity, notionals and commission; average prices rounded
    half-even to 10^-9 for display (P&L uses the notionals, not these)."""
    out = []
    for t in trips:
        # Notionals are raw price x raw quantity: 10^-18 units.
        entry_notional = _units(t.entry_notional_raw, 18)
        exit_notional = _units(t.exit_notional_raw, 18)
        quantity = _units(t.quantity_raw, 9)
        out.append(
            Trade(
                strategy_id=t.strategy_id,
                symbol=t.symbol,
                side="long" if t.sign > 0 else "short",
                quantity=quantity,
                entry_ts=t.entry_ts,
                entry_price=tidy(
                    EXACT.divide(entry_notional, quantity).quantize(_NANO, context=EXACT)
                ),
                exit_ts=t.exit_ts,
                exit_price=tidy(
                    EXACT.divide(exit_notional, quantity).quantize(_NANO, context=EXACT)
                ),
                commission=_units(t.commission_raw, 9),
                entry_notional=entry_notional,
                exit_notional=exit_notional,
            )
        )
    return out
