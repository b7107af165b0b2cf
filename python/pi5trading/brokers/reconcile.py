"""Reconciliation: our open orders, fills and positions against the broker's, with a policy.

Run on start and every ``PI5_BROKER__RECONCILE_INTERVAL_S``. The policy:

- **The broker is the source of truth for fills and positions.** A fill the broker has and
  we do not is to be booked (``apply_fill``); a fill we booked that the broker does not
  have is flagged (``flag_extra_fill``: it cannot be undone at the broker; the position
  correction below makes our books right); a position that differs is set to the broker's
  (``adopt_position``).
- **Orders we think open:** closed at the broker (filled, cancelled, expired, rejected)
  -> take the broker's final state (``apply_broker_status``); unknown to the broker ->
  ``mark_rejected`` (it never arrived); open at both but with another quantity or filled
  quantity -> ``adopt_broker_order``.
- **Open broker orders we did not place** (placed on the web dashboard, by another
  program on the same keys): ``adopt_order`` (track them as ours) or ``flag_order`` (report
  only), by ``PI5_BROKER__UNKNOWN_ORDERS``.

Nothing here changes the engine: the report lists each difference and the action the
engine (or its operator) applies; it is logged and recorded in the audit trail as
``AuditRow``s (``broker.reconcile`` for the run, ``broker.reconcile.<kind>`` per
difference), written through the storage layer by the caller (``record=repository.write``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any, Literal, TypeAlias

import anyio
import msgspec

from pi5trading.brokers.execution import (
    BrokerError,
    BrokerFill,
    BrokerOrder,
    BrokerPosition,
    ExecutionClient,
    OrderStatus,
    Side,
)
from pi5trading.storage.records import AuditRow

log = logging.getLogger(__name__)

UnknownOrderPolicy: TypeAlias = Literal["adopt", "flag"]
DifferenceKind: TypeAlias = Literal[
    "missing_fill",
    "extra_fill",
    "position_mismatch",
    "unknown_order",
    "closed_at_broker",
    "missing_at_broker",
    "order_mismatch",
]
Action: TypeAlias = Literal[
    "apply_fill",
    "flag_extra_fill",
    "adopt_position",
    "adopt_order",
    "flag_order",
    "apply_broker_status",
    "mark_rejected",
    "adopt_broker_order",
]


class LocalOrder(msgspec.Struct, frozen=True, kw_only=True):
    """An order our engine holds open."""

    client_order_id: str
    instrument: str
    side: Side
    quantity: Decimal
    filled_qty: Decimal = Decimal(0)
    status: OrderStatus = "accepted"
    order_type: str = ""
    parent_order_id: str | None = None
    """For an exit of a bracket/OTO (or the stop of an OCO): the order it hangs on; the
    broker may know it only as a leg of that order, under an id of its own."""


class LocalFill(msgspec.Struct, frozen=True, kw_only=True):
    """A fill our engine booked."""

    client_order_id: str
    instrument: str
    side: Side
    quantity: Decimal
    price: Decimal
    ts: int


class LocalState(msgspec.Struct, frozen=True, kw_only=True):
    """What our engine believes: open orders, the fills booked since ``since`` (UTC ns)
    and the net position per instrument (short < 0; flat instruments may be left out)."""

    open_orders: list[LocalOrder] = msgspec.field(default_factory=list)
    fills: list[LocalFill] = msgspec.field(default_factory=list)
    positions: dict[str, Decimal] = msgspec.field(default_factory=dict)
    since: int = 0


class BrokerState(msgspec.Struct, frozen=True, kw_only=True):
    """What the broker says, fetched by ``fetch_broker_state``. ``ours``: the broker's
    current state of each of our open orders it no longer lists open (``None``: unknown)."""

    open_orders: list[BrokerOrder]
    fills: list[BrokerFill]
    positions: list[BrokerPosition]
    ours: dict[str, BrokerOrder | None] = msgspec.field(default_factory=dict)


class Difference(msgspec.Struct, frozen=True, kw_only=True):
    """One way our books and the broker's differ, and what the policy does about it."""

    kind: DifferenceKind
    action: Action
    instrument: str
    detail: str
    """In words: ours vs the broker's."""
    client_order_id: str | None = None
    broker_order_id: str | None = None
    fill: BrokerFill | LocalFill | None = None
    order: BrokerOrder | None = None
    """The broker's order (closed, changed or unknown to us)."""
    quantity: Decimal | None = None
    """For a position: the broker's quantity, which becomes ours."""


class ReconciliationReport(msgspec.Struct, frozen=True, kw_only=True):
    ts: int
    broker: str
    since: int
    differences: list[Difference]
    orders_checked: int
    fills_checked: int
    positions_checked: int
    deferred: int = 0
    """Broker fills left to the next run: younger than the run's ``settle_s``, of orders
    still open here (the update stream is most likely delivering them), with the order
    and position differences they explain."""
    run_id: str = msgspec.field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def clean(self) -> bool:
        return not self.differences

    def of_kind(self, kind: DifferenceKind) -> list[Difference]:
        return [d for d in self.differences if d.kind == kind]

    def audit_rows(self) -> list[AuditRow]:
        """The run and each difference as audit log entries (the system is the actor)."""
        rows = [
            AuditRow(
                event_id=f"reconcile-{self.run_id}",
                ts_ns=self.ts,
                action="broker.reconcile",
                outcome="success" if self.clean else "failure",
                resource=f"broker:{self.broker}",
                details={
                    "differences": len(self.differences),
                    "orders_checked": self.orders_checked,
                    "fills_checked": self.fills_checked,
                    "positions_checked": self.positions_checked,
                    "deferred": self.deferred,
                    "since_ns": self.since,
                },
            )
        ]
        for i, d in enumerate(self.differences):
            details: dict[str, Any] = {"action": d.action, "detail": d.detail}
            if d.broker_order_id is not None:
                details["broker_order_id"] = d.broker_order_id
            if d.quantity is not None:
                details["broker_quantity"] = str(d.quantity)
            rows.append(
                AuditRow(
                    event_id=f"reconcile-{self.run_id}-{i}",
                    ts_ns=self.ts,
                    action=f"broker.reconcile.{d.kind}",
                    outcome="success",
                    resource=f"order:{d.client_order_id}"
                    if d.client_order_id is not None
                    else f"position:{d.instrument}",
                    details=details,
                )
            )
        return rows


def compare(
    local: LocalState,
    broker: BrokerState,
    *,
    unknown_orders: UnknownOrderPolicy = "flag",
    ts: int | None = None,
    broker_name: str = "broker",
    settle_s: float = 0.0,
) -> ReconciliationReport:
    """The differences between our books and the broker's, each with its policy action.

    With ``settle_s``, a broker fill younger than that (by ``ts``) of an order still open
    here is left to the next run, with the order and position differences it explains:
    while orders flow, the stream's update for a fill the broker just made is usually on
    its way, and reporting it made every busy run look broken (issue 17)."""
    out: list[Difference] = []
    now = time.time_ns() if ts is None else ts
    settle_ns = int(settle_s * 1e9)
    open_here = {lo.client_order_id for lo in local.open_orders}
    young: list[BrokerFill] = []

    # Fills: matched as (client order id, side, quantity, price) multisets since ``since``.
    def key(f: BrokerFill | LocalFill) -> tuple[str, str, Decimal, Decimal]:
        return (f.client_order_id, f.side, f.quantity, f.price)

    broker_fills = [f for f in broker.fills if f.ts >= local.since]
    local_fills = [f for f in local.fills if f.ts >= local.since]
    unmatched = Counter(key(f) for f in local_fills)
    for bf in broker_fills:
        if unmatched[key(bf)] > 0:
            unmatched[key(bf)] -= 1
            continue
        if settle_ns and bf.client_order_id in open_here and now - bf.ts < settle_ns:
            young.append(bf)
            continue
        out.append(
            Difference(
                kind="missing_fill",
                action="apply_fill",
                instrument=bf.instrument,
                client_order_id=bf.client_order_id or None,
                broker_order_id=bf.broker_order_id,
                fill=bf,
                detail=f"broker filled {bf.side} {bf.quantity} @ {bf.price}; we have no such fill",
            )
        )
    extra = Counter(key(f) for f in broker_fills)
    for lf in local_fills:
        if extra[key(lf)] > 0:
            extra[key(lf)] -= 1
            continue
        out.append(
            Difference(
                kind="extra_fill",
                action="flag_extra_fill",
                instrument=lf.instrument,
                client_order_id=lf.client_order_id,
                fill=lf,
                detail=f"we booked {lf.side} {lf.quantity} @ {lf.price}; the broker has none such",
            )
        )

    # Orders.
    broker_open = {o.client_order_id: o for o in broker.open_orders}
    matched_ids: set[str] = set()
    settling = {f.client_order_id for f in young}
    for lo in local.open_orders:
        bo = broker_open.get(lo.client_order_id)
        if bo is None and lo.client_order_id in broker.ours:
            bo = broker.ours[lo.client_order_id]
            if bo is None:
                out.append(
                    Difference(
                        kind="missing_at_broker",
                        action="mark_rejected",
                        instrument=lo.instrument,
                        client_order_id=lo.client_order_id,
                        detail=f"we hold it {lo.status}; the broker has no such order",
                    )
                )
                continue
        if bo is None:
            continue  # not asked about (fetch_broker_state asks about every one)
        matched_ids.add(bo.broker_order_id)
        if lo.client_order_id in settling:
            continue  # its young fill explains the difference, if any
        if not bo.is_open:
            out.append(
                Difference(
                    kind="closed_at_broker",
                    action="apply_broker_status",
                    instrument=lo.instrument,
                    client_order_id=lo.client_order_id,
                    broker_order_id=bo.broker_order_id,
                    order=bo,
                    detail=f"we hold it {lo.status}; the broker has it {bo.status} "
                    f"({bo.filled_qty} of {bo.quantity} filled)",
                )
            )
        elif bo.quantity != lo.quantity or bo.filled_qty != lo.filled_qty:
            out.append(
                Difference(
                    kind="order_mismatch",
                    action="adopt_broker_order",
                    instrument=lo.instrument,
                    client_order_id=lo.client_order_id,
                    broker_order_id=bo.broker_order_id,
                    order=bo,
                    detail=f"we hold {lo.filled_qty} of {lo.quantity} filled; the broker "
                    f"{bo.filled_qty} of {bo.quantity}",
                )
            )
    for bo in broker.open_orders:
        if bo.client_order_id in open_here or bo.broker_order_id in matched_ids:
            continue
        out.append(
            Difference(
                kind="unknown_order",
                action="adopt_order" if unknown_orders == "adopt" else "flag_order",
                instrument=bo.instrument,
                client_order_id=bo.client_order_id,
                broker_order_id=bo.broker_order_id,
                order=bo,
                detail=f"the broker has an open {bo.side} {bo.order_type} for {bo.quantity} "
                "we did not place",
            )
        )

    # Positions: the broker's net quantity wins.
    theirs = {p.instrument: p.quantity for p in broker.positions}
    instruments = sorted(set(theirs) | set(local.positions))
    in_flight: dict[str, Decimal] = {}
    for f in young:
        signed = f.quantity if f.side == "buy" else -f.quantity
        in_flight[f.instrument] = in_flight.get(f.instrument, Decimal(0)) + signed
    for instrument in instruments:
        mine = local.positions.get(instrument, Decimal(0))
        held = theirs.get(instrument, Decimal(0))
        if mine != held and mine != held - in_flight.get(instrument, Decimal(0)):
            out.append(
                Difference(
                    kind="position_mismatch",
                    action="adopt_position",
                    instrument=instrument,
                    quantity=held,
                    detail=f"we hold {mine}; the broker holds {held}",
                )
            )
    return ReconciliationReport(
        ts=time.time_ns() if ts is None else ts,
        broker=broker_name,
        since=local.since,
        differences=out,
        orders_checked=len(local.open_orders) + len(broker.open_orders),
        fills_checked=len(local_fills) + len(broker_fills),
        positions_checked=len(instruments),
        deferred=len(young),
    )


async def fetch_broker_state(client: ExecutionClient, local: LocalState) -> BrokerState:
    """The broker's open orders, fills since ``local.since`` and positions, and the current
    state of each of our open orders it does not list open (replacements followed; legs
    found through their parent order and named with our ids)."""
    open_orders = await client.open_orders()
    listed = {o.client_order_id for o in open_orders}
    ours: dict[str, BrokerOrder | None] = {}
    parents: dict[str, BrokerOrder | None] = {}
    legs: dict[str, str] = {}  # broker order id of a leg -> our client order id
    for lo in local.open_orders:
        if lo.client_order_id in listed:
            continue
        found = await client.order(lo.client_order_id)
        if found is None and lo.parent_order_id is not None:
            if lo.parent_order_id not in parents:
                parents[lo.parent_order_id] = await client.order(lo.parent_order_id)
            parent = parents[lo.parent_order_id]
            found = _leg_for(lo, parent) if parent is not None else None
            if found is not None:
                legs[found.broker_order_id] = lo.client_order_id
        ours[lo.client_order_id] = found
    fills = [
        msgspec.structs.replace(f, client_order_id=legs[f.broker_order_id])
        if f.broker_order_id in legs
        else f
        for f in await client.fills_since(local.since)
    ]
    positions = await client.positions()
    return BrokerState(open_orders=open_orders, fills=fills, positions=positions, ours=ours)


def _leg_for(order: LocalOrder, parent: BrokerOrder) -> BrokerOrder | None:
    """The broker leg of ``parent`` that is our ``order``: the limit is the take-profit,
    the stop (or stop-limit) the stop-loss."""
    want_limit = order.order_type == "limit"
    for leg in parent.legs:
        if (leg.order_type == "limit") == want_limit and leg.side == order.side:
            return msgspec.structs.replace(leg, client_order_id=order.client_order_id)
    return None


async def reconcile(
    client: ExecutionClient,
    local: LocalState,
    *,
    unknown_orders: UnknownOrderPolicy = "flag",
    record: Callable[[Sequence[AuditRow]], Awaitable[object]] | None = None,
    settle_s: float = 0.0,
) -> ReconciliationReport:
    """Compare, log each difference, and hand the audit rows to ``record`` (e.g. the
    repository's ``write``). ``settle_s``: see ``compare``."""
    broker = await fetch_broker_state(client, local)
    for found in broker.ours.values():
        if found is not None and found.is_open:
            client.follow(found)  # a leg or a replacement: its updates carry our id again
    report = compare(
        local, broker, unknown_orders=unknown_orders, broker_name=client.name, settle_s=settle_s
    )
    for d in report.differences:
        log.warning(
            "reconciliation with %s: %s %s%s: %s -> %s",
            report.broker,
            d.kind,
            d.instrument,
            f" order {d.client_order_id}" if d.client_order_id else "",
            d.detail,
            d.action,
        )
    log.info(
        "reconciliation with %s: %d difference(s); %d orders, %d fills, %d positions checked%s",
        report.broker,
        len(report.differences),
        report.orders_checked,
        report.fills_checked,
        report.positions_checked,
        f"; {report.deferred} fill(s) younger than {settle_s:g} s left to the next run"
        if report.deferred
        else "",
    )
    if record is not None:
        await record(report.audit_rows())
    return report


class Reconciler:
    """Reconcile on start and then every ``interval_s`` until cancelled.

    ``local_state`` returns what the engine believes at that moment; ``on_report``
    receives each report (to apply the actions). A broker outage skips one round (logged),
    it does not end the loop.
    """

    def __init__(
        self,
        client: ExecutionClient,
        local_state: Callable[[], Awaitable[LocalState]],
        *,
        interval_s: float,
        unknown_orders: UnknownOrderPolicy = "flag",
        record: Callable[[Sequence[AuditRow]], Awaitable[object]] | None = None,
        on_report: Callable[[ReconciliationReport], Awaitable[object]] | None = None,
    ) -> None:
        self.client = client
        self.local_state = local_state
        self.interval_s = interval_s
        self.unknown_orders: UnknownOrderPolicy = unknown_orders
        self.record = record
        self.on_report = on_report
        self.reports = 0

    async def run_once(self, settle_s: float = 0.0) -> ReconciliationReport:
        report = await reconcile(
            self.client,
            await self.local_state(),
            unknown_orders=self.unknown_orders,
            record=self.record,
            settle_s=settle_s,
        )
        self.reports += 1
        if self.on_report is not None:
            await self.on_report(report)
        return report

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except BrokerError as exc:
                log.warning("reconciliation skipped: %s", exc)
            await anyio.sleep(self.interval_s)


__all__ = [
    "Action",
    "BrokerState",
    "Difference",
    "DifferenceKind",
    "LocalFill",
    "LocalOrder",
    "LocalState",
    "Reconciler",
    "ReconciliationReport",
    "UnknownOrderPolicy",
    "compare",
    "fetch_broker_state",
    "reconcile",
]
