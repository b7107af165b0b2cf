"""The simulated venue: fills orders against bars, quotes and trades, with its own account.

``SimulatedVenue`` is configured by keyword: fill timing (``market_fill``), slippage
(``slippage="none" | "ticks" | "rate" | "volume"``), commission (per share, per order,
rate, minimum, maximum), volume participation, latency and the account (cash or margin,
shorting, buying power)::

    from pi5trading.orders import Order
    from pi5trading.venue import SimulatedVenue

    venue = SimulatedVenue(starting_cash="100000", slippage="none",
                           commission_per_share="0.005", commission_minimum="1")
    venue.add_instrument("AAPL")                      # tick 0.01, lot 1
    venue.submit(Order("o-1", "sma", "AAPL", "buy", "market", 10), ts)
    events = venue.process_bar("AAPL", ts_close, "100", "101", "99", "100.5", 12_000)
    venue.portfolio.equity

Every command returns the events it caused, in order. The fill rules, each model and its
default: ``docs/venue.md``.

``SimulatedVenue(external=True)`` keeps orders and the account but lets a broker match:
the engine queues ``OutgoingRequest``s for it (``docs/venue.md``, "External-venue mode").
"""

from __future__ import annotations

from pi5trading._core import OutgoingRequest, SimulatedVenue

__all__ = ["OutgoingRequest", "SimulatedVenue"]
