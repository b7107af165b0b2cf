"""Orders and what happens to them: ``Order``, its lifecycle ``OrderEvent`` and ``Fill``.

An ``Order`` is handed to a venue (``pi5trading.venue.SimulatedVenue.submit``), which works
on its own copy; every transition comes back as an ``OrderEvent`` (``kind`` the transition,
``status`` the order's status after it), a fill carrying its ``Fill``::

    from pi5trading.orders import Order

    entry = Order("o-1", "sma", "AAPL", "buy", "limit", 10, price="187.10",
                  time_in_force="day")
    for event in venue.submit(entry, ts):
        if event.kind == "filled":
            print(event.fill.price, event.fill.quantity, event.fill.commission)

Prices and quantities are exact (``Decimal``, ``str``, ``int``, ``Price``/``Quantity``;
never ``float``) and come back as ``Decimal``. Every enum is one lowercase string
(``"buy"``, ``"stop_limit"``, ``"partially_filled"``); timestamps are UTC nanoseconds.
A finished run lists its executions as ``FillRecord``s (``BacktestResult.fills``, a
``FillLog``: a read-only sequence whose records are made when read; time, strategy,
symbol, order id, side and exact raw quantity, price and commission).
Order types, time in force, OCO/OTO/bracket and the lifecycle: ``docs/venue.md``.
"""

from __future__ import annotations

from pi5trading._core import Fill, FillIter, FillLog, FillRecord, Order, OrderEvent

__all__ = ["Fill", "FillIter", "FillLog", "FillRecord", "Order", "OrderEvent"]
