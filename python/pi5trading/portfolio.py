"""Exact accounting: cash, netting positions and P&L with per-strategy attribution.

A venue books its fills into its ``Portfolio`` (``SimulatedVenue.portfolio``); a
``Portfolio`` can also be driven by hand::

    from pi5trading.portfolio import Portfolio

    book = Portfolio("100000")
    events = book.apply_fill("sma", "AAPL", "buy", 10, "187.10", commission="1.00")
    book.mark("AAPL", "188.00")
    book.position("AAPL").unrealised_pnl, book.strategy_pnl("sma")

``Position`` is a snapshot valued at its mark (signed quantity); ``PositionEvent`` says a
position opened, changed or closed (``strategy_id`` ``None`` for the account's netting
position); a ``RoundTrip`` is one closed position of a strategy, flat to flat, as a run
pairs it from the fills (exact raw notionals). Money is ``Decimal`` and the identity
``cash + Σ market_value == starting_cash + realised_pnl + unrealised_pnl - commissions``
holds exactly after every event (``docs/venue.md``).
"""

from __future__ import annotations

from pi5trading._core import Portfolio, Position, PositionEvent, RoundTrip

__all__ = ["Portfolio", "Position", "PositionEvent", "RoundTrip"]
