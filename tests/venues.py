"""Venue settings shared by tests that want fills they can compute by hand."""

from __future__ import annotations

from pi5trading import _core


def no_cost_venue(fill: str = "next_open") -> _core.SimulatedVenue:
    """No slippage, no commission, unlimited volume; market orders fill at ``fill``."""
    return _core.SimulatedVenue(
        starting_cash="10000000",
        slippage="none",
        commission_per_share="0",
        commission_minimum="0",
        unlimited_volume=True,
        market_fill=fill,  # type: ignore[arg-type]
    )
