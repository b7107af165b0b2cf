"""What a run produces: closed trades and the equity curve, as plain records.

Money is ``Decimal`` (exact, from the ledger); analytics convert to float only for
statistics. These records cross into the API and reports, so they are msgspec Structs.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec
import numpy as np
import numpy.typing as npt

NANOS_PER_SECOND = 1_000_000_000
NANOS_PER_DAY = 86_400 * NANOS_PER_SECOND


class Trade(msgspec.Struct, frozen=True, kw_only=True):
    """A closed round trip: entry to exit of one position, net of costs."""

    strategy_id: str
    symbol: str
    side: Literal["long", "short"]
    quantity: Decimal
    entry_ts: int
    """UTC nanoseconds of the entry fill."""
    entry_price: Decimal
    exit_ts: int
    exit_price: Decimal
    commission: Decimal = Decimal(0)
    """Entry and exit commissions of this trade together."""

    @property
    def gross_pnl(self) -> Decimal:
        sign = 1 if self.side == "long" else -1
        return (self.exit_price - self.entry_price) * self.quantity * sign

    @property
    def net_pnl(self) -> Decimal:
        return self.gross_pnl - self.commission

    @property
    def return_pct(self) -> float:
        basis = self.entry_price * self.quantity
        return float(self.net_pnl / basis * 100) if basis else 0.0


class EquityCurve:
    """Mark-to-market account equity sampled at each bar (UTC ns timestamps, ascending).

    Held as NumPy arrays: a million-bar curve costs 16 MB and no Python loop.
    """

    __slots__ = ("equity", "ts")

    def __init__(self, ts: npt.ArrayLike, equity: npt.ArrayLike) -> None:
        self.ts = np.ascontiguousarray(ts, dtype=np.int64)
        self.equity = np.ascontiguousarray(equity, dtype=np.float64)
        if self.ts.shape != self.equity.shape or self.ts.ndim != 1:
            raise ValueError(
                f"equity curve: {self.ts.size} timestamps but {self.equity.size} values"
            )
        if self.ts.size > 1:
            back = np.flatnonzero(np.diff(self.ts) < 0)
            if back.size:
                raise ValueError(f"equity curve: timestamp at index {back[0] + 1} goes backwards")

    def __len__(self) -> int:
        return int(self.ts.size)

    def arrays(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        return self.ts, self.equity
