"""Reconciliation: each kind of difference against the stand-in broker, the policy's actions,
the audit trail in a real (SQLite) repository, and invariants of ``compare``."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pi5trading.brokers.alpaca import AlpacaClient
from pi5trading.brokers.execution import BrokerFill, BrokerPosition, OrderRequest
from pi5trading.brokers.reconcile import (
    BrokerState,
    LocalFill,
    LocalOrder,
    LocalState,
    Reconciler,
    compare,
    fetch_broker_state,
    reconcile,
)
from pi5trading.config import load_settings
from pi5trading.storage.connect import storage_lifespan
from tests.standins.alpaca_trading import AlpacaPaperBroker

D = Decimal


def limit(coid: str, qty: str = "10", price: str = "99.50") -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        instrument="AAPL",
        side="buy",
        order_type="limit",
        quantity=D(qty),
        limit_price=D(price),
        time_in_force="gtc",
    )


def local_fill(fill: BrokerFill) -> LocalFill:
    return LocalFill(
        client_order_id=fill.client_order_id,
        instrument=fill.instrument,
        side=fill.side,
        quantity=fill.quantity,
        price=fill.price,
        ts=fill.ts,
    )


async def in_step(client: AlpacaClient, broker: AlpacaPaperBroker) -> LocalState:
    """Books that agree with the broker: a filled market order and a resting limit."""
    broker.prices["AAPL"] = D("187.13")
    await client.submit(
        OrderRequest(
            client_order_id="m-1",
            instrument="AAPL",
            side="buy",
            order_type="market",
            quantity=D(10),
        )
    )
    await client.submit(limit("l-1", qty="5"))
    fills = await client.fills_since(0)
    return LocalState(
        open_orders=[
            LocalOrder(client_order_id="l-1", instrument="AAPL", side="buy", quantity=D(5))
        ],
        fills=[local_fill(f) for f in fills],
        positions={"AAPL": D(10)},
    )


@pytest.mark.anyio
async def test_books_in_step_are_clean(client: AlpacaClient, broker: AlpacaPaperBroker) -> None:
    local = await in_step(client, broker)
    report = await reconcile(client, local)
    assert report.clean, report.differences
    assert (report.orders_checked, report.fills_checked, report.positions_checked) == (2, 2, 1)


@pytest.mark.anyio
async def test_a_fill_we_missed_is_applied_and_the_position_adopted(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    local = await in_step(client, broker)
    order = broker.by_client_id("l-1")
    broker.fill(order["id"], D(2), D("99.40"))  # while we were down
    report = await reconcile(client, local)
    [missing] = report.of_kind("missing_fill")
    assert missing.action == "apply_fill"
    assert missing.client_order_id == "l-1"
    assert isinstance(missing.fill, BrokerFill)
    assert (missing.fill.quantity, missing.fill.price) == (D(2), D("99.40"))
    [mismatch] = report.of_kind("order_mismatch")
    assert (mismatch.action, mismatch.order and mismatch.order.filled_qty) == (
        "adopt_broker_order",
        D(2),
    )
    [position] = report.of_kind("position_mismatch")
    assert (position.action, position.quantity) == ("adopt_position", D(12))
    assert position.detail == "we hold 10; the broker holds 12"
    assert len(report.differences) == 3


@pytest.mark.anyio
async def test_a_fill_just_made_is_left_to_the_next_run_then_reported(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    # While orders flow, the broker's fill and its stream update race the reconciliation:
    # a fill younger than settle_s of an order still open here is no difference yet.
    local = await in_step(client, broker)
    order = broker.by_client_id("l-1")
    broker.fill(order["id"], D(2), D("99.40"))
    [young] = [f for f in (await client.fills_since(0)) if f.client_order_id == "l-1"]
    report = await reconcile(client, local, settle_s=3600)
    assert report.clean, report.differences
    assert report.deferred == 1
    assert report.audit_rows()[0].details["deferred"] == 1
    # A fill of an order no longer open here is not waited for.
    closed = LocalState(open_orders=[], fills=local.fills, positions=local.positions)
    late = await reconcile(client, closed, settle_s=3600)
    assert [d.kind for d in late.differences] == [
        "missing_fill",
        "unknown_order",  # (this state does not know l-1 at all)
        "position_mismatch",
    ]
    # Older than settle_s: reported as before, with the same actions.
    theirs = await fetch_broker_state(client, local)
    later = compare(local, theirs, settle_s=5, ts=young.ts + 6 * 10**9)
    assert sorted(d.kind for d in later.differences) == [
        "missing_fill",
        "order_mismatch",
        "position_mismatch",
    ]
    assert later.deferred == 0
    assert compare(local, theirs, settle_s=5, ts=young.ts + 4 * 10**9).clean


@pytest.mark.anyio
async def test_a_fill_the_broker_does_not_have_is_flagged(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    local = await in_step(client, broker)
    ghost = LocalFill(
        client_order_id="l-1",
        instrument="AAPL",
        side="buy",
        quantity=D(1),
        price=D("99.50"),
        ts=local.fills[0].ts,
    )
    report = await reconcile(
        client,
        LocalState(
            open_orders=local.open_orders,
            fills=[*local.fills, ghost],
            positions={"AAPL": D(11)},
        ),
    )
    [extra] = report.of_kind("extra_fill")
    assert (extra.action, extra.fill) == ("flag_extra_fill", ghost)
    [position] = report.of_kind("position_mismatch")
    assert position.quantity == D(10)


@pytest.mark.anyio
async def test_a_position_we_do_not_hold_at_all(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    local = await in_step(client, broker)
    report = await reconcile(
        client,
        LocalState(open_orders=local.open_orders, fills=local.fills, positions={"MSFT": D(-3)}),
    )
    got = {(d.instrument, d.quantity) for d in report.of_kind("position_mismatch")}
    assert got == {("AAPL", D(10)), ("MSFT", D(0))}


@pytest.mark.parametrize(("policy", "action"), [("flag", "flag_order"), ("adopt", "adopt_order")])
@pytest.mark.anyio
async def test_an_order_we_did_not_place(
    client: AlpacaClient, broker: AlpacaPaperBroker, policy: str, action: str
) -> None:
    local = await in_step(client, broker)
    foreign = broker.add_foreign_order("MSFT", D(3), D("410.00"))
    report = await reconcile(client, local, unknown_orders=policy)  # type: ignore[arg-type]
    [unknown] = report.of_kind("unknown_order")
    assert unknown.action == action
    assert unknown.broker_order_id == foreign["id"]
    assert unknown.order is not None
    assert unknown.order.limit_price == D("410.00")
    assert len(report.differences) == 1


@pytest.mark.parametrize(
    ("close", "status"),
    [("cancel_by_broker", "cancelled"), ("expire", "expired"), ("fill", "filled")],
)
@pytest.mark.anyio
async def test_an_order_we_think_open_that_the_broker_closed(
    client: AlpacaClient, broker: AlpacaPaperBroker, close: str, status: str
) -> None:
    local = await in_step(client, broker)
    order_id = broker.by_client_id("l-1")["id"]
    if close == "fill":
        broker.fill(order_id, D(5), D("99.50"))
    else:
        getattr(broker, close)(order_id)
    report = await reconcile(client, local)
    [closed] = report.of_kind("closed_at_broker")
    assert closed.action == "apply_broker_status"
    assert closed.order is not None
    assert closed.order.status == status
    assert closed.client_order_id == "l-1"
    kinds = sorted(d.kind for d in report.differences)
    expected = ["closed_at_broker"] + (
        ["missing_fill", "position_mismatch"] if close == "fill" else []
    )
    assert kinds == expected


@pytest.mark.anyio
async def test_an_order_the_broker_never_got(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    local = await in_step(client, broker)
    lost = LocalOrder(client_order_id="never-sent", instrument="AAPL", side="sell", quantity=D(1))
    report = await reconcile(
        client,
        LocalState(
            open_orders=[*local.open_orders, lost], fills=local.fills, positions=local.positions
        ),
    )
    [missing] = report.differences
    assert (missing.kind, missing.action, missing.client_order_id) == (
        "missing_at_broker",
        "mark_rejected",
        "never-sent",
    )


@pytest.mark.anyio
async def test_a_replaced_order_is_still_ours_after_a_restart(
    client: AlpacaClient, broker: AlpacaPaperBroker, base_url: str
) -> None:
    local = await in_step(client, broker)
    await client.replace("l-1", limit_price=D("99.60"))
    fresh = AlpacaClient(key_id=broker.key_id, secret_key=broker.secret_key, base_url=base_url)
    try:  # a new process: it knows nothing of the replacement
        report = await reconcile(fresh, local)
    finally:
        await fresh.close()
    assert report.clean, report.differences


@pytest.mark.anyio
async def test_the_report_is_logged_and_recorded_in_the_audit_trail(
    client: AlpacaClient,
    broker: AlpacaPaperBroker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    local = await in_step(client, broker)
    broker.add_foreign_order("MSFT", D(3), D("410.00"))
    settings = load_settings(
        env={"PI5_DATA_DIR": str(tmp_path), "PI5_DATABASE__URL": f"sqlite:///{tmp_path}/t.db"},
        dotenv_path=None,
    )
    async with storage_lifespan(settings) as (repository, _writer):
        report = await reconcile(client, local, record=repository.write)
        stored = await repository.list_audit()
    assert sorted((r.action, r.outcome) for r in stored) == [
        ("broker.reconcile", "failure"),
        ("broker.reconcile.unknown_order", "success"),
    ]
    row = next(r for r in stored if r.action == "broker.reconcile.unknown_order")
    assert row.details["action"] == "flag_order"
    assert row.resource == f"order:{report.differences[0].client_order_id}"
    assert "unknown_order MSFT" in caplog.text
    assert "1 difference(s)" in caplog.text


@pytest.mark.anyio
async def test_the_periodic_reconciler_survives_a_broker_outage(
    client: AlpacaClient, broker: AlpacaPaperBroker
) -> None:
    local = await in_step(client, broker)
    for _ in range(4):
        broker.fault("GET /v2/orders", status=503)
    reports = []

    async def state() -> LocalState:
        return local

    two = anyio.Event()

    async def keep(report: object) -> None:
        reports.append(report)
        if len(reports) == 2:
            two.set()

    reconciler = Reconciler(client, state, interval_s=0.05, on_report=keep)
    with anyio.move_on_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(reconciler.run)
            await two.wait()
            tg.cancel_scope.cancel()
    assert len(reports) == 2
    assert all(r.clean for r in reports)  # type: ignore[attr-defined]


# --- compare: invariants --------------------------------------------------------------

fills_st = st.lists(
    st.builds(
        BrokerFill,
        fill_id=st.uuids().map(str),
        broker_order_id=st.sampled_from(["b1", "b2", "b3"]),
        client_order_id=st.sampled_from(["o1", "o2", "o3"]),
        instrument=st.sampled_from(["AAPL", "MSFT"]),
        side=st.sampled_from(["buy", "sell"]),
        quantity=st.integers(1, 500).map(D),
        price=st.decimals(min_value=D("0.01"), max_value=D("1000"), places=2),
        ts=st.integers(0, 10**18),
        cum_qty=st.integers(1, 1000).map(D),
    ),
    max_size=20,
)


def net(fills: list[BrokerFill]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for f in fills:
        out[f.instrument] = out.get(f.instrument, D(0)) + (
            f.quantity if f.side == "buy" else -f.quantity
        )
    return {k: v for k, v in out.items() if v != 0}


@given(fills_st, st.randoms())
def test_books_built_from_the_brokers_fills_are_clean_in_any_order(
    fills: list[BrokerFill], rnd: object
) -> None:
    mine = [local_fill(f) for f in fills]
    rnd.shuffle(mine)  # type: ignore[attr-defined]
    positions = [
        BrokerPosition(instrument=k, quantity=v, avg_px=D(1)) for k, v in net(fills).items()
    ]
    broker = BrokerState(open_orders=[], fills=fills, positions=positions)
    assert compare(LocalState(fills=mine, positions=net(fills)), broker, ts=0).clean


@given(fills_st.filter(bool), st.data())
def test_each_fill_we_lack_is_one_missing_fill_and_positions_follow_the_broker(
    fills: list[BrokerFill], data: st.DataObject
) -> None:
    dropped = data.draw(st.sets(st.integers(0, len(fills) - 1)))
    kept = [f for i, f in enumerate(fills) if i not in dropped]
    positions = [
        BrokerPosition(instrument=k, quantity=v, avg_px=D(1)) for k, v in net(fills).items()
    ]
    report = compare(
        LocalState(fills=[local_fill(f) for f in kept], positions=net(kept)),
        BrokerState(open_orders=[], fills=fills, positions=positions),
        ts=0,
    )
    missing = report.of_kind("missing_fill")
    assert len(missing) == len(dropped)
    assert report.of_kind("extra_fill") == []
    # After applying the actions our positions are the broker's.
    adopted = dict(net(kept))
    for d in report.of_kind("position_mismatch"):
        assert d.quantity is not None
        adopted[d.instrument] = d.quantity
    assert {k: v for k, v in adopted.items() if v != 0} == net(fills)


@pytest.mark.anyio
async def test_a_brackets_exits_are_found_as_legs_after_a_restart(
    client: AlpacaClient, broker: AlpacaPaperBroker, base_url: str
) -> None:
    from pi5trading.orders import Order

    entry = Order("br-1", "sma", "AAPL", "buy", "limit", 10, price="100", time_in_force="gtc")
    tp = Order("br-1-tp", "sma", "AAPL", "sell", "limit", 10, price="110", time_in_force="gtc")
    sl = Order(
        "br-1-sl", "sma", "AAPL", "sell", "stop_market", 10, trigger_price="95", time_in_force="gtc"
    )
    placed = await client.submit(OrderRequest.from_bracket(entry, tp, sl))
    broker.fill(placed.broker_order_id, D(10), D(100))
    [entry_fill] = await client.fills_since(0)
    exits = [
        LocalOrder(
            client_order_id=o.client_order_id,
            instrument="AAPL",
            side="sell",
            quantity=D(10),
            order_type=o.order_type,
            parent_order_id="br-1",
        )
        for o in (tp, sl)
    ]
    local = LocalState(open_orders=exits, fills=[local_fill(entry_fill)], positions={"AAPL": D(10)})
    fresh = AlpacaClient(key_id=broker.key_id, secret_key=broker.secret_key, base_url=base_url)
    try:  # a new process: it knows the legs only by Alpaca's ids
        assert (await reconcile(fresh, local)).clean
        broker.fill(placed.legs[0].broker_order_id, D(10), D(110))  # take-profit while away
        report = await reconcile(fresh, local)
    finally:
        await fresh.close()
    closed = {
        d.client_order_id: d.order and d.order.status for d in report.of_kind("closed_at_broker")
    }
    assert closed == {"br-1-tp": "filled", "br-1-sl": "cancelled"}
    [missing] = report.of_kind("missing_fill")
    assert missing.client_order_id == "br-1-tp"
    [position] = report.of_kind("position_mismatch")
    assert position.quantity == D(0)
    assert report.of_kind("unknown_order") == []


@pytest.mark.anyio
async def test_after_reconciling_a_fresh_clients_updates_carry_our_leg_ids(
    client: AlpacaClient, broker: AlpacaPaperBroker, base_url: str
) -> None:
    from pi5trading.orders import Order
    from tests.unit.brokers.test_alpaca_stream import listening

    entry = Order("br-2", "sma", "AAPL", "buy", "market", 10)
    tp = Order("br-2-tp", "sma", "AAPL", "sell", "limit", 10, price="110")
    sl = Order("br-2-sl", "sma", "AAPL", "sell", "stop_market", 10, trigger_price="95")
    placed = await client.submit(OrderRequest.from_bracket(entry, tp, sl))
    exits = [
        LocalOrder(
            client_order_id=o.client_order_id,
            instrument="AAPL",
            side="sell",
            quantity=D(10),
            order_type=o.order_type,
            parent_order_id="br-2",
        )
        for o in (tp, sl)
    ]
    fresh = AlpacaClient(key_id=broker.key_id, secret_key=broker.secret_key, base_url=base_url)
    try:
        report = await reconcile(fresh, LocalState(open_orders=exits, positions={"AAPL": D(10)}))
        assert report.of_kind("unknown_order") == []
        async with listening(fresh, broker) as seen:
            broker.fill(placed.legs[1].broker_order_id, D(10), D(95))
            await seen.until(lambda u: len(u) == 2)
    finally:
        await fresh.close()
    assert [(u.client_order_id, u.kind) for u in seen.updates] == [
        ("br-2-sl", "filled"),
        ("br-2-tp", "cancelled"),
    ]
