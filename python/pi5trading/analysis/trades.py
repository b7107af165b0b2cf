"""Closed trades (round trips) as ``Trade`` records.

The engine pairs the fills into round trips in Rust (``Engine.round_trips``,
exact): a trade opens when a strategy's position in an instrument leaves zero and closes
when it returns to zero; scaling in and out inside one trade is averaged (entry and exit
prices are quantity-weighted); a fill that reverses the position closes the trade with the
part that flattens it and opens a new one with the rest. Attribution is per strategy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import overload

import numpy as np

from pi5trading.analysis.records import EXACT, Trade, tidy
from pi5trading.portfolio import RoundTrip

_NANO = Decimal("1e-9")


def _units(raw: int, decimals: int) -> Decimal:
    """``raw · 10^-decimals``, exactly (built from digits: no context rounds it)."""
    return tidy(Decimal(raw).scaleb(-decimals, EXACT))


def _trade(
    strategy_id: str,
    symbol: str,
    sign: int,
    quantity_raw: int,
    entry_ts: int,
    exit_ts: int,
    entry_notional_raw: int,
    exit_notional_raw: int,
    commission_raw: int,
) -> Trade:
    # Notionals are raw price x raw quantity: 10^-18 units.
    entry_notional = _units(entry_notional_raw, 18)
    exit_notional = _units(exit_notional_raw, 18)
    quantity = _units(quantity_raw, 9)
    return Trade(
        strategy_id=strategy_id,
        symbol=symbol,
        side="long" if sign > 0 else "short",
        quantity=quantity,
        entry_ts=entry_ts,
        entry_price=tidy(EXACT.divide(entry_notional, quantity).quantize(_NANO, context=EXACT)),
        exit_ts=exit_ts,
        exit_price=tidy(EXACT.divide(exit_notional, quantity).quantize(_NANO, context=EXACT)),
        commission=_units(commission_raw, 9),
        entry_notional=entry_notional,
        exit_notional=exit_notional,
    )


StoredFill = tuple[int, str, str, str, Decimal, Decimal, Decimal]
"""``(ts, strategy_id, symbol, side, quantity, price, commission)`` of a fill."""


def trades_from_fills(fills: Iterable[StoredFill]) -> list[Trade]:
    """Closed round trips of ``fills`` (in time order), paired exactly as the engine pairs
    them (``rust_core/src/engine/record.rs``: flat -> position -> flat per strategy and
    symbol; a fill that reverses the position closes the trip and opens the next one, its
    commission split by quantity): for fills read back from storage, which the engine no
    longer holds after a restart. Values are taken on the engine's 10^-9 grid."""

    def raw(d: Decimal) -> int:
        return int(d.scaleb(9, EXACT).to_integral_value())

    positions: dict[tuple[str, str], int] = {}
    trips: dict[tuple[str, str], list[int]] = {}
    out: list[Trade] = []
    for ts, sid, symbol, side, quantity, price, commission in fills:
        key = (sid, symbol)
        pos = positions.get(key, 0)
        remaining = raw(quantity) if side == "buy" else -raw(quantity)
        fee, px = raw(commission), raw(price)
        while remaining:
            # [sign, entry_ts, entry_qty, entry_notional, exit_qty, exit_notional, commission]
            t = trips.setdefault(key, [1 if remaining > 0 else -1, ts, 0, 0, 0, 0, 0])
            if (remaining > 0) == (t[0] > 0):
                t[2] += abs(remaining)
                t[3] += abs(remaining) * px
                t[6] += fee
                pos += remaining
                remaining = 0
            else:
                take = min(abs(remaining), abs(pos))
                part = fee
                if take < abs(remaining):  # truncated toward zero, as the engine divides
                    part = abs(fee) * take // abs(remaining) * (1 if fee >= 0 else -1)
                t[4] += take
                t[5] += take * px
                t[6] += part
                fee -= part
                step = take if remaining > 0 else -take
                pos += step
                remaining -= step
                if pos == 0:
                    sign, entry_ts, qty, entry, _, exit_, fees = trips.pop(key)
                    out.append(_trade(sid, symbol, sign, qty, entry_ts, ts, entry, exit_, fees))
        positions[key] = pos
    out.sort(key=lambda t: (t.exit_ts, t.entry_ts, t.strategy_id, t.symbol))
    return out


def trades_from_round_trips(trips: Iterable[RoundTrip]) -> list[Trade]:
    """``Trade`` records: exact quantity, notionals and commission; average prices rounded
    half-even to 10^-9 for display (P&L uses the notionals, not these)."""
    return list(TradeList(trips))


class TradeList(Sequence[Trade]):
    """Closed trades as compact columns, each ``Trade`` built when read (indexing,
    iterating): a million-bar run with tens of thousands of trades keeps ~100 bytes a
    trade instead of a ``Trade`` with seven ``Decimal``s (~1 KB). Compares equal to any
    sequence of the same trades (``result.trades == []``)."""

    __slots__ = ("_ints", "_keys", "_names", "_notionals")

    def __init__(self, trips: Iterable[RoundTrip]) -> None:
        names: dict[tuple[str, str], int] = {}
        keys: list[int] = []
        ints: list[int] = []
        notionals: list[int] = []  # i128 values: Python ints, two a trade
        for t in trips:
            keys.append(names.setdefault((t.strategy_id, t.symbol), len(names)))
            ints += (t.sign, t.quantity_raw, t.entry_ts, t.exit_ts, t.commission_raw)
            notionals += (t.entry_notional_raw, t.exit_notional_raw)
        self._names = list(names)
        self._keys = np.array(keys, dtype=np.int32)
        self._ints = np.array(ints, dtype=np.int64).reshape(-1, 5)
        self._notionals = notionals

    def __len__(self) -> int:
        return int(self._keys.size)

    def _make(self, i: int) -> Trade:
        sid, symbol = self._names[int(self._keys[i])]
        sign, qty, entry_ts, exit_ts, commission = self._ints[i].tolist()
        entry, exit_ = self._notionals[2 * i], self._notionals[2 * i + 1]
        return _trade(sid, symbol, sign, qty, entry_ts, exit_ts, entry, exit_, commission)

    @overload
    def __getitem__(self, index: int) -> Trade: ...
    @overload
    def __getitem__(self, index: slice) -> list[Trade]: ...
    def __getitem__(self, index: int | slice) -> Trade | list[Trade]:
        if isinstance(index, slice):
            return [self._make(i) for i in range(*index.indices(len(self)))]
        n = len(self)
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError("trade index out of range")
        return self._make(i)

    def __iter__(self) -> Iterator[Trade]:
        return (self._make(i) for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TradeList({len(self)} trades)"
