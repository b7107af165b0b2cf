"""What a run's risk denials add up to, and the warning when they swamp it.

A backtest in which the risk engine refuses most orders still "succeeds": it just trades
far less than the strategy asked for. That is almost always a setting at odds with the
data (intraday trading hours on 24/7 or daily bars, a notional limit below one lot), so
the run says so, naming the check, its count and the change that lifts it.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from pi5trading.config import RISK_LIMITS

MOSTLY = 0.5
"""A run warns when more than this share of its orders was denied."""

# Codes whose limit has another name in the settings (``PI5_RISK__<NAME>``).
_SETTING = {
    "rate_limit_second": "max_orders_per_second",
    "rate_limit_minute": "max_orders_per_minute",
    "duplicate_order": "duplicate_window_ns",
}

_HINTS = {
    "outside_trading_hours": (
        "the profile's trading hours (New York 09:30-16:00) do not fit these bars: give the "
        "instrument its calendar (Instrument(..., calendar='24/7') for crypto and FX), or run "
        "without trading hours (risk=None in Python, --risk unlimited on the command line)"
    ),
    "insufficient_buying_power": "the orders cost more than the cash: size them smaller",
    "short_selling_not_allowed": "the account cannot sell short: use a margin account",
    "no_reference_price": "orders came before the instrument had a price (first bar)",
    "price_off_tick": "order prices are off the instrument's tick: round them to it",
    "quantity_off_lot": "order quantities are off the instrument's lot: round them to it",
}


class DenialLike(Protocol):
    @property
    def client_order_id(self) -> str: ...
    @property
    def code(self) -> str: ...
    @property
    def action(self) -> str: ...


class RiskDenialWarning(UserWarning):
    """Most of a run's orders were denied by the risk engine."""


def hint(code: str) -> str:
    """How to lift denials with ``code``, in one sentence."""
    if code in _HINTS:
        return _HINTS[code]
    setting = _SETTING.get(code, code)
    if setting in RISK_LIMITS:
        return (
            f"raise the limit (PI5_RISK__{setting.upper()}=..., or "
            f"RiskEngine.set_limit('{setting}', ...)), or pick a looser profile (--risk)"
        )
    return "see docs/risk.md for this check"


def summary(denials: Sequence[DenialLike], orders: int) -> str | None:
    """One line when more than ``MOSTLY`` of the ``orders`` a run sent (denied ones
    included) were denied, else ``None``. A refused change of a working order
    (``action == "modify"``) is not a denied order."""
    denied = [d.code for d in denials if d.action == "submit"]
    orders = max(orders, len(denied))
    if not denied or len(denied) <= MOSTLY * orders:
        return None
    code, count = Counter(denied).most_common(1)[0]
    return (
        f"risk denied {len(denied):,} of {orders:,} orders ({len(denied) / orders:.0%}); "
        f"{count:,} by {code}: {hint(code)}"
    )


def warn_if_mostly_denied(denials: Sequence[DenialLike], orders: int) -> str | None:
    """Warn (``RiskDenialWarning``) when denials swamp the run; returns the message, or
    ``None`` when there is nothing to say."""
    message = summary(denials, orders)
    if message is not None:
        warnings.warn(message, RiskDenialWarning, stacklevel=3)
    return message
