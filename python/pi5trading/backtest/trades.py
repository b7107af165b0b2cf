"""Closed trades (round trips) from a run's fills.

A trade opens when a strategy's position in an instrument leaves zero and closes when it
returns to zero; scaling in and out inside one trade is averaged (entry and exit prices
are quantity-weighted). A fill that reverses the position closes the trade with the part
that flattens it and opens a new one with the rest. Attribution is per strategy, so two
strategies on one instrument have their own trades.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Literal

from pi5trading.backtest.records import Trade

_SCALE = Decimal(10**9)

FillTuple = tuple[int, str, str, str, Literal["buy", "sell"], int, int, int]
"""``(ts, strategy_id, symbol, client_order_id, side, quantity_raw, price_raw,
commission_raw)``, as ``BacktestEngine.fills()`` returns them."""


class _Open:
    __slots__ = (
        "commission",
        "entry_cost",
        "entry_qty",
        "entry_ts",
        "exit_qty",
        "exit_value",
        "sign",
    )

    def __init__(self, ts: int, sign: int) -> None:
        self.entry_ts = ts
        self.sign = sign
        self.entry_qty = 0  # raw
        self.entry_cost = 0  # raw qty x raw price
        self.exit_qty = 0
        self.exit_value = 0
        self.commission = 0  # raw money


def _close(key: tuple[str, str], t: _Open, exit_ts: int) -> Trade:
    q = Decimal(t.entry_qty) / _SCALE
    entry_px = Decimal(t.entry_cost) / Decimal(t.entry_qty) / _SCALE
    exit_px = Decimal(t.exit_value) / Decimal(t.exit_qty) / _SCALE
    return Trade(
        strategy_id=key[0],
        symbol=key[1],
        side="long" if t.sign > 0 else "short",
        quantity=q,
        entry_ts=t.entry_ts,
        entry_price=entry_px.quantize(Decimal("1e-9")),
        exit_ts=exit_ts,
        exit_price=exit_px.quantize(Decimal("1e-9")),
        commission=Decimal(t.commission) / _SCALE,
    )


def trades_from_fills(fills: Iterable[FillTuple]) -> tuple[list[Trade], dict[tuple[str, str], int]]:
    """Round trips in exit order, and the still-open raw position per (strategy, symbol)."""
    position: dict[tuple[str, str], int] = {}
    opened: dict[tuple[str, str], _Open] = {}
    out: list[Trade] = []
    for ts, sid, symbol, _oid, side, qty, price, commission in fills:
        key = (sid, symbol)
        signed = qty if side == "buy" else -qty
        pos = position.get(key, 0)
        remaining, fee = signed, commission
        while remaining:
            t = opened.get(key)
            if t is None:
                t = opened[key] = _Open(ts, 1 if remaining > 0 else -1)
            if (remaining > 0) == (t.sign > 0):  # adds to the trade
                t.entry_qty += abs(remaining)
                t.entry_cost += abs(remaining) * price
                t.commission += fee
                pos += remaining
                remaining = 0
            else:  # reduces it; may close and reverse
                take = min(abs(remaining), abs(pos))
                part = fee * take // abs(remaining) if take < abs(remaining) else fee
                t.exit_qty += take
                t.exit_value += take * price
                t.commission += part
                fee -= part
                step = take if remaining > 0 else -take
                pos += step
                remaining -= step
                if pos == 0:
                    out.append(_close(key, t, ts))
                    del opened[key]
        position[key] = pos
    out.sort(key=lambda t: (t.exit_ts, t.entry_ts, t.strategy_id, t.symbol))
    return out, {k: v for k, v in position.items() if v}
