"""Closed trades (round trips) as ``Trade`` records.

The engine pairs the fills into round trips in Rust (``BacktestEngine.round_trips``,
exact): a trade opens when a strategy's position in an instrument leaves zero and closes
when it returns to zero; scaling in and out inside one trade is averaged (entry and exit
prices are quantity-weighted); a fill that reverses the position closes the trade with the
part that flattens it and opens a new one with the rest. Attribution is per strategy.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Literal

from pi5trading.backtest.records import Trade

_SCALE = Decimal(10**9)
_NANO = Decimal("1e-9")

FillTuple = tuple[int, str, str, str, Literal["buy", "sell"], int, int, int]
"""``(ts, strategy_id, symbol, client_order_id, side, quantity_raw, price_raw,
commission_raw)``, as ``BacktestEngine.fills()`` returns them."""

RoundTripTuple = tuple[str, str, int, int, int, int, int, int, int]
"""``(strategy_id, symbol, sign, entry_ts, exit_ts, quantity_raw, entry_notional,
exit_notional, commission_raw)``, as ``BacktestEngine.round_trips()`` returns them."""


def trades_from_round_trips(trips: Iterable[RoundTripTuple]) -> list[Trade]:
    """``Trade`` records with exact average prices rounded half-even to 10^-9."""
    out = []
    for sid, symbol, sign, entry_ts, exit_ts, qty, entry_n, exit_n, commission in trips:
        q = Decimal(qty)
        out.append(
            Trade(
                strategy_id=sid,
                symbol=symbol,
                side="long" if sign > 0 else "short",
                quantity=q / _SCALE,
                entry_ts=entry_ts,
                entry_price=(Decimal(entry_n) / q / _SCALE).quantize(_NANO),
                exit_ts=exit_ts,
                exit_price=(Decimal(exit_n) / q / _SCALE).quantize(_NANO),
                commission=Decimal(commission) / _SCALE,
            )
        )
    return out
