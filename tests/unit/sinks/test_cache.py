"""The in-memory latest-state cache, fed real engine events over a real Bus. The same checks
run against Redis in tests/integration/test_sinks_cache.py."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pi5trading.bus import Bus
from pi5trading.events import STRATEGY_STATUS, EquitySample, StrategyStatus
from pi5trading.model import Bar, QuoteTick, TradeTick
from pi5trading.portfolio import PositionEvent
from pi5trading.sinks.cache import LatestState, MemoryLatestState
from tests.unit.sinks.engine_events import Recorded, record_run
from tests.unit.sinks.market_data import market_data

pytestmark = pytest.mark.anyio


def feed(bus: Bus, messages: list[tuple[str, object]]) -> None:
    for topic, payload in messages:
        bus.publish(topic, payload)


def expected_prices(messages: list[tuple[str, object]]) -> dict[str, tuple[int, Decimal, str]]:
    """The latest price per symbol, computed directly from the payloads."""
    out: dict[str, tuple[int, Decimal, str]] = {}
    for _, m in messages:
        if isinstance(m, QuoteTick):
            item = (m.ts_event, (m.bid.as_decimal() + m.ask.as_decimal()) / 2, "quote")
        elif isinstance(m, TradeTick):
            item = (m.ts_event, m.price.as_decimal(), "trade")
        elif isinstance(m, Bar):
            item = (m.ts_event, m.close.as_decimal(), "bar")
        else:
            continue
        if m.symbol not in out or out[m.symbol][0] <= item[0]:
            out[m.symbol] = item
    return out


async def check_state(
    state: LatestState, run: Recorded, messages: list[tuple[str, object]]
) -> None:
    prices = await state.prices()
    want = expected_prices(messages)
    assert {s: (p.ts_ns, p.price, p.source) for s, p in prices.items()} == want
    one = next(iter(want))
    got = await state.price(one)
    assert got is not None
    assert got.price == want[one][1]
    assert await state.price("NOPE") is None

    last_pos = list(run.payloads(PositionEvent))[-1]
    positions = await state.positions("trader")
    assert [(p.instrument, p.quantity, p.avg_price, p.realised_pnl) for p in positions] == [
        ("AAA", last_pos.quantity, last_pos.avg_px, last_pos.realised_pnl)  # type: ignore[attr-defined]
    ]
    assert await state.positions("nobody") == []

    snap = await state.portfolio()
    assert snap is not None
    assert (snap.cash, snap.equity) == (run.final_cash, run.final_equity)
    last_eq = run.payloads(EquitySample)[-1]
    assert snap.ts_ns == last_eq.ts  # type: ignore[attr-defined]

    strategies = await state.strategies()
    assert {k: (v.status, v.error) for k, v in strategies.items()} == {
        "trader": ("failed", "Traceback: boom")
    }


def scenario() -> tuple[Recorded, list[tuple[str, object]]]:
    run = record_run(200)
    messages = list(market_data(3000)) + run.messages
    messages += [
        (STRATEGY_STATUS, StrategyStatus(5, "gone", "running")),
        (STRATEGY_STATUS, StrategyStatus(6, "trader", "failed", "Traceback: boom")),
        (STRATEGY_STATUS, StrategyStatus(7, "gone", "removed")),
    ]
    return run, messages


async def test_memory_cache_holds_the_latest_of_everything() -> None:
    run, messages = scenario()
    state = MemoryLatestState()
    bus = Bus()
    state.subscribe(bus)
    await state.start()
    feed(bus, messages)
    await state.close()
    await check_state(state, run, messages)


async def test_a_late_bar_does_not_replace_a_newer_quote() -> None:
    state = MemoryLatestState()
    state.on_messages([QuoteTick("X", "10.00", "10.02", 1, 1, 200)])
    state.on_messages([Bar("X-1m", "9", "11", "8", "9.50", 5, 100)])
    p = await state.price("X")
    assert p is not None
    assert (p.price, p.source, p.bid, p.ask) == (
        Decimal("10.01"),
        "quote",
        Decimal("10.00"),
        Decimal("10.02"),
    )
