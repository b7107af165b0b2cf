"""Venue settings shared by tests that want fills they can compute by hand."""

from __future__ import annotations

from typing import Any

from pi5trading.venue import SimulatedVenue


def no_cost_venue(fill: str = "next_open") -> SimulatedVenue:
    """No slippage, no commission, unlimited volume; market orders fill at ``fill``."""
    return SimulatedVenue(
        starting_cash="10000000",
        slippage="none",
        commission_per_share="0",
        commission_minimum="0",
        unlimited_volume=True,
        market_fill=fill,  # type: ignore[arg-type]
    )


def fill_rows(fills: list[Any]) -> list[tuple[Any, ...]]:
    """Engine ``FillRecord``s as plain tuples ``(ts, strategy_id, symbol, client_order_id,
    side, quantity_raw, price_raw, commission_raw)``, for compact comparisons."""
    return [
        (
            f.ts,
            f.strategy_id,
            f.symbol,
            f.client_order_id,
            f.side,
            f.quantity_raw,
            f.price_raw,
            f.commission_raw,
        )
        for f in fills
    ]
