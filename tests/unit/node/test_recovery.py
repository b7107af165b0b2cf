"""A node restarted on the same storage picks up where it stopped: account, strategies and
their states, numbering, data; tried on the embedded default (SQLite), in process."""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pi5trading import _core
from pi5trading.config import NodeSettings, Settings, load_settings
from pi5trading.model import Bar
from pi5trading.node.recovery import OpenOrder, close_stale_orders, read_recovery
from pi5trading.node.runtime import paper_node
from pi5trading.node.trading_node import TradingNode
from pi5trading.risk import build_risk_engine
from pi5trading.sinks.recovery import rebuild_portfolio
from pi5trading.storage.connect import open_repository, prepare_database
from pi5trading.storage.records import FillRow, OrderEventRow, OrderRow
from pi5trading.strategies.base import Strategy

from .test_node import bar_items, feed_through

pytestmark = pytest.mark.anyio


def _settings(tmp_path: Path, **env: str) -> Settings:
    base = {"PI5_DATA_DIR": str(tmp_path), "PI5_FEED__SPEED": "0", "PI5_FEED__SYMBOLS": "AAPL,SPY"}
    return load_settings(env={**base, **env}, dotenv_path=None)


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as c:
        return c.execute(sql).fetchall()


async def _trade_until(node: TradingNode, fills: int) -> None:
    for _ in range(400):
        await asyncio.sleep(0.05)
        if len(await node.call(lambda e: e.fills())) >= fills:
            return
    raise AssertionError("the node did not trade")


def _account(engine: _core.Engine, strategies: list[str], symbols: list[str]) -> dict[str, Any]:
    p = engine.portfolio
    out: dict[str, Any] = {"cash": p.cash, "realised": p.realised_pnl}
    for s in strategies:
        for sym in symbols:
            pos = p.strategy_position(s, sym)
            out[f"{s}/{sym}"] = (pos.quantity, pos.avg_px) if pos is not None else None
    return out


async def test_a_restarted_node_goes_on_from_what_storage_holds(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    db = tmp_path / "pi5trading.db"
    async with paper_node(settings) as first:
        await _trade_until(first, 4)
    first_fills = [f.client_order_id for f in first.engine.fills()]
    last_ts = max(r[0] for r in _rows(db, "select max(ts_ns) from quote_ticks"))

    async with paper_node(settings) as second:
        # The stored strategies run again (not the demo set added twice).
        assert second.strategies() == {
            "demo-sma": "running",
            "demo-rsi": "running",
            "manual": "running",
        }
        await _trade_until(second, 2)
        seen_from = await second.call(lambda e: e.now)
    second_fills = [f.client_order_id for f in second.engine.fills()]
    assert second_fills
    assert not set(second_fills) & set(first_fills)

    # The data went on after the last stored event: nothing sent twice.
    assert seen_from > last_ts
    (dups,) = _rows(
        db, "select count(*) from (select instrument_id, ts_ns, seq from quote_ticks "
        "group by 1, 2, 3 having count(*) > 1)",
    )  # fmt: skip
    assert dups == (0,)
    # No client order id used twice: every order was submitted once.
    submitted = _rows(
        db, "select order_id, count(*) from order_events where status = 'submitted' group by 1"
    )
    assert submitted
    assert all(n == 1 for _, n in submitted)
    first_numbers = {int(o.rpartition("-")[2]) for o in first_fills}
    second_numbers = {int(o.rpartition("-")[2]) for o in second_fills}
    assert min(second_numbers) > min(first_numbers)
    # The second engine's account is every stored fill (both runs) booked: the restart
    # restored the first run's cash and positions to the digit.
    repo = await open_repository(settings)
    try:
        book = await rebuild_portfolio(repo, settings.node.starting_cash)
    finally:
        await repo.close()
    assert len(_rows(db, "select fill_id from fills")) == len(first_fills) + len(second_fills)
    strategies = ["demo-sma", "demo-rsi"]
    symbols = ["AAPL", "SPY"]
    ours = _account(second.engine, strategies, symbols)
    assert ours["cash"] == book.cash
    for s in strategies:
        for sym in symbols:
            pos = book.strategy_position(s, sym)
            expected = (pos.quantity, pos.avg_px) if pos is not None else None
            got = ours[f"{s}/{sym}"]
            if expected is None or expected[0] == 0:
                assert got is None or got[0] == 0
            else:
                assert got == expected


async def test_a_symbol_dropped_from_the_feed_keeps_its_positions(tmp_path: Path) -> None:
    def spy(e: _core.Engine) -> Any:
        pos = e.portfolio.position("SPY")
        return None if pos is None else (pos.quantity, pos.avg_px)

    async with paper_node(_settings(tmp_path)) as first:
        await _trade_until(first, 6)
    before = spy(first.engine)
    assert before is not None
    async with paper_node(_settings(tmp_path, PI5_FEED__SYMBOLS="AAPL")) as second:
        assert set(second.instruments) == {"AAPL", "SPY"}
        await _trade_until(second, 1)
    # No SPY data came: its position is as the first run left it.
    assert spy(second.engine) == before


async def test_an_operator_stop_is_kept_across_a_restart(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    async with paper_node(settings) as first:
        await first.stop_strategy("demo-rsi")
        await first.pause_strategy("demo-sma")
        await asyncio.sleep(0.3)  # the statuses reach storage
    async with paper_node(settings) as second:
        # Paused stays paused; stopped is back in the node, not started.
        assert second.strategies() == {
            "demo-sma": "paused",
            "demo-rsi": "added",
            "manual": "running",
        }
    stored = dict(_rows(tmp_path / "pi5trading.db", "select strategy_id, status from strategies"))
    assert stored == {"demo-sma": "paused", "demo-rsi": "stopped", "manual": "running"}


class Buyer(Strategy):
    """Buys one share at market on every bar."""

    warmup = True

    def on_bar(self, bar: Bar) -> None:
        self.buy(1)


async def _risk_run(
    prepare: Any = None, command: Any = None
) -> tuple[list[str], list[tuple[str, str, str]]]:
    """One strategy buying on every bar of a day, under a daily loss limit of 1000; returns
    the order kinds and the risk state changes (scope, to, cause) published."""
    risk = build_risk_engine("unlimited", {"max_daily_loss": Decimal(1000)})
    node = TradingNode(settings=NodeSettings(), clock="replay", risk=risk)
    node.add_instrument("AAA")
    kinds: list[str] = []
    states: list[tuple[str, str, str]] = []
    node.bus.subscribe("orders.>", lambda e: kinds.append(e.kind))
    node.bus.subscribe(
        "risk.>",
        lambda r: (
            states.append((r.strategy_id or "account", r.to_state, r.cause))
            if r.kind == "state_changed"
            else None
        ),
    )
    items = bar_items(30)
    await node.add_strategy(Buyer(strategy_id="b"))
    await node.start(start_ts=items[0][1] - 1, prepare=prepare)
    if command is not None:
        await command(node)
    await feed_through(node, items)
    await node.stop()
    return kinds, states


async def test_the_risk_state_survives_a_restart() -> None:
    # Without a restored state: the orders go through, nothing changes state.
    kinds, states = await _risk_run()
    assert "filled" in kinds
    assert states == []
    # An operator's halt: published, and every later order denied.
    kinds, states = await _risk_run(
        command=lambda node: node.set_trading_state("halted", "ops: stop everything")
    )
    assert states == [("account", "halted", "admin")]
    assert "denied" in kinds
    assert "filled" not in kinds
    # Restored halted (a drawdown halt from before the restart): no event, all denied.
    kinds, states = await _risk_run(
        prepare=lambda e: e.restore_risk(state="halted", cause="drawdown")
    )
    assert states == []
    assert "filled" not in kinds
    # The session's starting P&L is restored: 5000 made earlier today and 0 now is a loss
    # of 5000 against the limit of 1000, so the first update escalates.
    kinds, states = await _risk_run(
        prepare=lambda e: e.restore_risk(session_start_pnl=Decimal(5000))
    )
    assert [(scope, cause) for scope, _, cause in states] == [("account", "daily_loss")]
    assert "denied" in kinds


async def test_orders_that_cannot_go_back_to_work_are_closed_in_storage(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    repo = await open_repository(settings)
    await prepare_database(settings, repo.driver)
    try:
        common = {"created_ns": 1, "updated_ns": 2, "time_in_force": "gtc"}
        rows = [
            # Its stored fills complete it: its closing event was lost.
            OrderRow("s-1", "s", "AAPL", "buy", "market", Decimal(10), "accepted", **common),
            # A strategy that is not in the node.
            OrderRow("gone-1", "gone", "AAPL", "buy", "limit", Decimal(5), "accepted",
                     limit_price=Decimal("99.5"), **common),
            # A trailing stop (its offset is not stored).
            OrderRow("s-2", "s", "AAPL", "sell", "trailing_stop", Decimal(5), "accepted",
                     **common),
            # A plain limit order: restorable.
            OrderRow("s-3", "s", "AAPL", "buy", "limit", Decimal(5), "accepted",
                     limit_price=Decimal("99.5"), **common),
        ]  # fmt: skip
        events = [
            OrderEventRow(r.order_id, 1, 1, "accepted", None, {"kind": "accepted"}) for r in rows
        ]

        fill = FillRow("s-1:7", "s-1", "s", "AAPL", "buy", Decimal(10), Decimal(100), Decimal(1), 5)
        await repo.write([*rows, *events, fill])
        recovery = await read_recovery(repo)
        assert {o.row.order_id for o in recovery.open_orders} == {"s-1", "gone-1", "s-2", "s-3"}
        assert recovery.last_trade_id == 7
        closed = await close_stale_orders(repo, recovery, ["s"], now_ns=1000)
        assert set(closed) == {"s-1", "gone-1", "s-2"}
        assert [o.row.order_id for o in recovery.open_orders] == ["s-3"]
        s1 = await repo.get_order("s-1")
        assert s1 is not None
        assert (s1.status, s1.filled_quantity) == ("filled", Decimal(10))
        gone = await repo.get_order("gone-1")
        assert gone is not None
        assert gone.status == "cancelled"
        assert "'gone' is not running" in str(gone.reason)
        # Nothing is left open in storage but the restorable one.
        again = await read_recovery(repo)
        assert [o.row.order_id for o in again.open_orders] == ["s-3"]
        assert isinstance(again.open_orders[0], OpenOrder)
    finally:
        await repo.close()


async def test_with_a_broker_the_data_resumes_after_the_market_data_not_the_brokers_times(
    tmp_path: Path,
) -> None:
    """The simulated feed runs on its own clock; a broker stamps order events and fills
    with its own. A restart must go on from where the market data got to, not jump the
    simulated market to the broker's time (seen in the broker fault run, issue 17)."""
    settings = _settings(tmp_path)
    db = tmp_path / "pi5trading.db"
    async with paper_node(settings) as first:
        await _trade_until(first, 2)
    ((market,),) = _rows(db, "select max(ts_ns) from quote_ticks")
    # What a broker's clock a day ahead of the simulated market leaves in storage.
    day = 86_400 * 10**9
    with sqlite3.connect(db) as c:
        for table in ("fills", "order_events", "equity_snapshots"):
            # Through negative values: a unique (…, ts_ns) key must not meet itself.
            c.execute(f"update {table} set ts_ns = -(ts_ns + ?)", (day,))
            c.execute(f"update {table} set ts_ns = -ts_ns")
    repo = await open_repository(settings)
    try:
        ours = await read_recovery(repo)
        brokers = await read_recovery(repo, broker=True)
    finally:
        await repo.close()
    assert ours.last_event_ns is not None
    assert ours.last_event_ns > market + day // 2  # the venue's clock is the feed's
    assert brokers.last_event_ns == market
    assert brokers.fills == ours.fills  # only the resume point differs

    # Nothing but orders stored (quotes and trades not recorded): their times are all
    # there is.
    with sqlite3.connect(db) as c:
        c.execute("delete from quote_ticks")
        c.execute("delete from trade_ticks")
    repo = await open_repository(settings)
    try:
        assert (await read_recovery(repo, broker=True)).last_event_ns == ours.last_event_ns
    finally:
        await repo.close()
