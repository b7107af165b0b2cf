"""The engine over an external venue, from Python: orders queued for a broker and not
matched, broker updates applied as order events with exact money, refused updates that
change nothing (with messages that say why)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pi5trading import _core
from pi5trading.engine import us_equity
from pi5trading.exceptions import InvalidInputError, InvalidStateError
from pi5trading.model import Bar
from pi5trading.strategies.base import Strategy

T0 = 1_704_898_860_000_000_000
MIN = 60_000_000_000


class Recorder(Strategy):
    warmup = True

    def on_start(self) -> None:
        self.events: list[tuple[str, str]] = []

    def on_order(self, event: _core.OrderEvent) -> None:
        self.events.append((event.client_order_id, event.kind))


def started() -> tuple[_core.Engine, Recorder]:
    venue = _core.SimulatedVenue(starting_cash=Decimal(100_000), external=True)
    assert venue.external
    e = _core.Engine(venue, None)
    e.add_instrument(us_equity("AAA"))
    s = Recorder(strategy_id="s")
    s._attach(e, ("AAA",))
    e.start(T0, outbox=True)
    assert e.external
    return e, s


def test_orders_wait_for_the_broker_and_fills_are_booked_exactly() -> None:
    e, s = started()
    limit = s.buy(10, limit=Decimal("99.95"))
    market = s.buy(5)  # no price known: this engine has no risk engine to refuse it
    # Bars mark, never match.
    e.step_bar(Bar("AAA-1m", Decimal(99), Decimal(99), Decimal(99), Decimal(99), 10, T0 + MIN))
    out = e.take_outgoing()
    assert [(r.kind, r.client_order_id) for r in out] == [("submit", limit), ("submit", market)]
    assert out[0].order is not None
    assert out[0].order.price == Decimal("99.95")
    assert e.order(limit).status == "submitted"  # type: ignore[union-attr]

    assert e.apply_broker_update(limit, "accepted", T0 + MIN + 1)
    assert e.apply_broker_update(
        limit, "filled", T0 + MIN + 2, quantity=4, price="99.95", commission="0.35", filled_qty=4
    )
    # The same fill told again (a reconnecting stream): skipped.
    assert not e.apply_broker_update(
        limit, "filled", T0 + MIN + 3, quantity=4, price="99.95", filled_qty=4
    )
    cash = e.portfolio.cash
    assert cash == Decimal(100_000) - Decimal(4) * Decimal("99.95") - Decimal("0.35")
    s.modify(limit, price=Decimal("99.90"))
    [change] = e.take_outgoing()
    assert (change.kind, change.price, change.quantity) == ("modify", Decimal("99.90"), None)
    assert e.order(limit).price == Decimal("99.95")  # type: ignore[union-attr]
    e.apply_broker_update(limit, "modify_accepted", T0 + MIN + 4)
    assert e.order(limit).price == Decimal("99.90")  # type: ignore[union-attr]
    s.cancel(limit)
    assert [r.kind for r in e.take_outgoing()] == ["cancel"]
    e.apply_broker_update(limit, "cancelled", T0 + MIN + 5, reason="by request")
    e.apply_broker_update(market, "rejected", T0 + MIN + 6, reason="insufficient buying power")
    assert s.events == [
        (limit, "submitted"),
        (market, "submitted"),
        (limit, "accepted"),
        (limit, "filled"),
        (limit, "modify_accepted"),
        (limit, "cancelled"),
        (market, "rejected"),
    ]
    topics = [t for t, _ in e.take_events()]
    assert "orders.filled" in topics
    assert "positions.AAA" in topics


def test_bad_updates_raise_and_change_nothing() -> None:
    e, s = started()
    oid = s.buy(10, limit=Decimal(100))
    e.apply_broker_update(oid, "accepted", T0)
    before = (e.portfolio.cash, e.order(oid).filled_qty)  # type: ignore[union-attr]
    with pytest.raises(InvalidInputError, match="unknown order nope-1"):
        e.apply_broker_update("nope-1", "accepted", T0)
    with pytest.raises(InvalidInputError, match="overfills the order"):
        e.apply_broker_update(oid, "filled", T0, quantity=11, price=100)
    with pytest.raises(InvalidInputError, match="needs quantity and price"):
        e.apply_broker_update(oid, "filled", T0, quantity=1)
    with pytest.raises(InvalidInputError, match="only a filled update"):
        e.apply_broker_update(oid, "cancelled", T0, quantity=1)
    with pytest.raises(InvalidInputError, match="not a broker update"):
        e.apply_broker_update(oid, "exploded", T0)  # type: ignore[arg-type]
    assert (e.portfolio.cash, e.order(oid).filled_qty) == before  # type: ignore[union-attr]
    e.apply_broker_update(oid, "filled", T0, quantity=10, price=100)
    with pytest.raises(InvalidInputError, match="a fill on an order already filled"):
        e.apply_broker_update(oid, "filled", T0, quantity=1, price=100)
    with pytest.raises(InvalidStateError, match="already filled"):
        e.apply_broker_update(oid, "cancelled", T0)


def test_a_simulated_venue_takes_no_broker_update() -> None:
    e = _core.Engine(_core.SimulatedVenue(), None)
    e.add_instrument(us_equity("AAA"))
    s = Recorder(strategy_id="s")
    s._attach(e, ("AAA",))
    e.start(T0)
    oid = s.buy(1, limit=Decimal(1))
    assert e.take_outgoing() == []
    with pytest.raises(InvalidStateError, match="external venue only"):
        e.apply_broker_update(oid, "accepted", T0)


def test_a_backtest_refuses_an_external_venue() -> None:
    from pi5trading.engine.backtest import BacktestRunner
    from pi5trading.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="not a backtest"):
        BacktestRunner(venue=_core.SimulatedVenue(external=True))
