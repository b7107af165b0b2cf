"""What a run produces: closed trades and the equity curve, as plain records.

Money is ``Decimal`` (exact, from the ledger); analytics convert to float only for
statistics. These records cross into the API and reports, so they are msgspec Structs.
Everything that writes them (CSV, JSON, HTML, the CLI) writes plain decimals: ``plain``.
"""

from __future__ import annotations

from decimal import Context, Decimal
from typing import Any, Literal

import msgspec
import numpy as np
import numpy.typing as npt

NANOS_PER_SECOND = 1_000_000_000
NANOS_PER_DAY = 86_400 * NANOS_PER_SECOND

# Raw fixed-point products are i128 (at most 39 digits): at this precision nothing rounds.
EXACT = Context(prec=80)
_ONE = Decimal(1)


def tidy(d: Decimal) -> Decimal:
    """``d`` without trailing zeros and without a positive exponent (``str`` stays plain for
    everyday values: 9.880000000 -> 9.88, 0E-9 -> 0, 100 stays 100, not 1E+2)."""
    n = d.normalize(EXACT)
    exponent = n.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        return n.quantize(_ONE, context=EXACT)
    return n


def plain(d: Decimal) -> str:
    """``d`` as written in files and tables: all its digits, no exponent, no trailing zeros
    (``str`` gives 0E-9 for a zero on the 10^-9 grid and 1.5E-7 for small values)."""
    if d.is_zero():
        return "0"
    return format(d.normalize(EXACT), "f")


def plain_builtins(obj: Any, **kwargs: Any) -> Any:
    """``msgspec.to_builtins(obj)`` with every ``Decimal`` as a ``plain`` string."""
    return _plain_tree(msgspec.to_builtins(obj, builtin_types=(Decimal,), **kwargs))


def _plain_tree(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return plain(obj)
    if isinstance(obj, dict):
        return {k: _plain_tree(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain_tree(v) for v in obj]
    return obj


class Trade(msgspec.Struct, frozen=True, kw_only=True):
    """A closed round trip: entry to exit of one position, net of costs.

    ``entry_price``/``exit_price`` are quantity-weighted averages for display, rounded to
    10^-9; P&L comes from the exact notionals, so a trade scaled in or out at several
    prices has no rounding residue (66 shares: -9.02, not -9.020000022).
    """

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
    entry_notional: Decimal | None = None
    """Exact Σ price x quantity of the entry fills (None: ``entry_price x quantity``)."""
    exit_notional: Decimal | None = None
    """Exact Σ price x quantity of the exit fills (None: ``exit_price x quantity``)."""

    @property
    def entry_value(self) -> Decimal:
        """What the entry fills cost (or raised, short), exactly."""
        if self.entry_notional is not None:
            return self.entry_notional
        return EXACT.multiply(self.entry_price, self.quantity)

    @property
    def exit_value(self) -> Decimal:
        if self.exit_notional is not None:
            return self.exit_notional
        return EXACT.multiply(self.exit_price, self.quantity)

    @property
    def gross_pnl(self) -> Decimal:
        diff = EXACT.subtract(self.exit_value, self.entry_value)
        return tidy(diff if self.side == "long" else EXACT.minus(diff))

    @property
    def net_pnl(self) -> Decimal:
        return tidy(EXACT.subtract(self.gross_pnl, self.commission))

    @property
    def return_pct(self) -> float:
        basis = self.entry_value
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
