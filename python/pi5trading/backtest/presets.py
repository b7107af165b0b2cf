"""Venue presets of a backtest, by name (``--venue``, and ``venue`` of an API backtest).

Kept apart from ``spec`` so the command line can list them without loading NumPy.
"""

from __future__ import annotations

from typing import Any, Final

VENUE_PRESETS: Final[dict[str, dict[str, Any]]] = {
    "realistic": {},
    "ideal": {
        "slippage": "none",
        "commission_per_share": "0",
        "commission_minimum": "0",
        "unlimited_volume": True,
    },
}
"""``realistic``: the venue defaults (1-tick slippage, $0.005/share with a $1 minimum, 10 %
volume participation). ``ideal``: no costs, no slippage, no volume limit, the settings
other engines' examples use."""

__all__ = ["VENUE_PRESETS"]
