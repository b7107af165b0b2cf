"""Broker routing: a ``TradingNode`` whose orders an ``ExecutionClient`` (Alpaca) fills.

The engine runs over an *external* venue (``SimulatedVenue(external=True)``): orders pass
pre-trade risk and are ``submitted`` as always, but instead of matching them the engine
queues requests (``Engine.take_outgoing``). After each engine step the node hands them to
this router, which sends them from the event loop (the engine thread never waits on the
network), one at a time in the order the engine made them. What the broker reports
(``client.updates()``) goes back to the engine thread through the node's command queue,
in the broker's order, as ``Engine.apply_broker_update``: the same order, fill and
position events a simulated fill makes, to the strategies, the bus and storage.

- A submit the broker refuses (4xx) becomes a ``rejected`` event with the broker's reason;
  a refused cancel or replace a ``cancel_rejected`` / ``modify_rejected``.
- The broker down (5xx, timeouts after the client's retries): a cancel or replace is
  answered ``cancel_rejected`` / ``modify_rejected`` ("broker unavailable: ..."), so the
  strategy knows its order still stands; a submit stays ``submitted`` (it may or may not
  have arrived) until the reconciliation settles it: the broker has it (its updates
  follow) or has none (``rejected``). Client order ids make every retry idempotent.
- The reconciliation (``brokers.reconcile``) runs at start and every
  ``reconcile_interval_s``; its actions are applied to the engine's books here (see
  ``apply_report``) and recorded in the audit trail.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from pi5trading import _core
from pi5trading.brokers.execution import (
    BrokerError,
    BrokerFill,
    BrokerOrder,
    BrokerOrderUpdate,
    ExecutionClient,
    OrderNotFoundError,
    OrderRejectedError,
    OrderRequest,
)
from pi5trading.brokers.reconcile import (
    LocalFill,
    LocalOrder,
    LocalState,
    Reconciler,
    ReconciliationReport,
    UnknownOrderPolicy,
)
from pi5trading.exceptions import InvalidInputError, InvalidStateError, Pi5TradingError
from pi5trading.resilience import CircuitBreaker
from pi5trading.storage.records import AuditRow

if TYPE_CHECKING:
    from pi5trading.node.trading_node import TradingNode

log = logging.getLogger("pi5trading.node.broker")

Record = Callable[[Sequence[AuditRow]], Awaitable[object]]

FILL_WINDOW_NS = 3600 * 1_000_000_000
"""Fills are compared over the last hour once the node has run that long (the window moves
with each reconciliation, so memory and the broker's fill history stay bounded; a fill the
stream missed is found within the first reconciliations after it)."""
T = TypeVar("T")
SETTLE_S = 5.0
"""Periodic reconciliations leave a broker fill this young of an order still open here to
the next run (its stream update is most likely on the way); the one at start does not."""
BROKER_FAILURES_TO_OPEN = 3
BROKER_OPEN_S = 365 * 86400.0
"""Open until the broker answers again (no half-open by time: nobody tries on a timer but
the reconciliation, whose success closes it)."""


@dataclass
class RouterStats:
    """Counts since start; read them, never write them."""

    submitted: int = 0
    cancels: int = 0
    modifies: int = 0
    refused_by_broker: int = 0
    send_errors: int = 0
    updates: int = 0
    updates_applied: int = 0
    updates_repeated: int = 0
    updates_refused: int = 0
    reconciliations: int = 0
    fills_from_reconciliation: int = 0
    too_late: int = 0
    """Submits rejected here for having waited over ``send_within_s`` to be sent."""


class BrokerRouter:
    """Between a node's engine (external venue) and an ``ExecutionClient``; the node
    owns it (``TradingNode(execution=client)``) and starts and stops it."""

    def __init__(
        self,
        node: TradingNode,
        client: ExecutionClient,
        *,
        reconcile_interval_s: float | None = None,
        unknown_orders: UnknownOrderPolicy = "flag",
        record: Record | None = None,
        send_within_s: float | None = None,
    ) -> None:
        self.node = node
        self.send_within_s = send_within_s
        """A submit that waited longer to be sent is rejected, not sent (``None``: never)."""
        self.client = client
        self.reconcile_interval_s = reconcile_interval_s
        self.unknown_orders: UnknownOrderPolicy = unknown_orders
        self.record = record
        self.stats = RouterStats()
        self.since_ns = time.time_ns()
        """Fills at or after this are compared with the broker's (earlier ones were
        booked from storage)."""
        self.reports: list[ReconciliationReport] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._requests: asyncio.Queue[_core.OutgoingRequest] | None = None
        self._early: list[_core.OutgoingRequest] = []
        self._unsent: dict[str, float] = {}
        """Submits queued or in flight, with when (monotonic) they were handed over: not yet
        at the broker as far as we know, so the reconciliation must not call them missing."""
        self._fills: list[LocalFill] = []
        self._cancelling: set[str] = set()
        """Orders whose cancel the broker took, until they close."""
        self._tasks: list[asyncio.Task[None]] = []
        self._reconciler: Reconciler | None = None
        self._idle = asyncio.Event()
        self.health = CircuitBreaker(
            "broker", failure_threshold=BROKER_FAILURES_TO_OPEN, reset_timeout=BROKER_OPEN_S
        )
        """The broker's reachability, as a breaker that never refuses a call: it opens after
        ``BROKER_FAILURES_TO_OPEN`` requests or reconciliations in a row fail for want of
        the broker (not when the broker refuses an order), and closes at the next answer.
        `/ready` reports it (``breaker:broker``) and alerts follow it (``serve`` wires it to
        Gotify); orders keep going to the broker either way."""

    # ------------------------------------------------------------------ engine thread

    def post(self, requests: Sequence[_core.OutgoingRequest]) -> None:
        """Hand the engine's requests to the event loop (called on the engine thread
        after each step; never blocks)."""
        now = time.monotonic()
        for r in requests:
            if r.kind == "submit":
                self._unsent[r.client_order_id] = now
        loop = self._loop
        if loop is None or self._requests is None:
            self._early.extend(requests)
            return
        queue = self._requests
        loop.call_soon_threadsafe(_put_all, queue, list(requests))

    def apply(self, update: BrokerOrderUpdate) -> bool:
        """Apply one broker update to the engine (on the engine thread). An update the
        engine cannot take (an order not ours, a repeat past what it has) is logged and
        counted, never raised."""
        self.stats.updates += 1
        fill = update.kind == "filled" and update.fill_qty is not None
        try:
            applied = self.node.engine.apply_broker_update(
                update.client_order_id,
                update.kind,
                update.ts,
                quantity=update.fill_qty if fill else None,
                price=update.fill_price if fill else None,
                commission=update.commission if fill else None,
                filled_qty=update.filled_qty if fill and update.filled_qty > 0 else None,
                reason=update.reason,
            )
        except (InvalidInputError, InvalidStateError) as exc:
            self.stats.updates_refused += 1
            # After the engine stopped (answers to the shutdown's cancels) it is expected.
            level = logging.DEBUG if self.node.state != "running" else logging.WARNING
            log.log(
                level,
                "broker update %s for order %s not applied: %s",
                update.broker_event or update.kind,
                update.client_order_id,
                exc,
            )
            return False
        if not applied:
            self.stats.updates_repeated += 1
            return False
        self.stats.updates_applied += 1
        if fill and update.fill_qty is not None and update.fill_price is not None:
            self._book(update.client_order_id, update.fill_qty, update.fill_price, update.ts)
        return True

    def _book(self, client_order_id: str, qty: Decimal, price: Decimal, ts: int) -> None:
        order = self.node.engine.order(client_order_id)
        if order is not None:
            self._fills.append(
                LocalFill(
                    client_order_id=client_order_id,
                    instrument=order.instrument,
                    side=order.side,
                    quantity=qty,
                    price=price,
                    ts=ts,
                )
            )

    def local_state(self) -> LocalState:
        """What the engine believes (on the engine thread): its open orders (less the
        submits not yet at the broker), the fills booked since start, net positions."""
        engine = self.node.engine
        orders: list[LocalOrder] = []
        for k in self.node.strategy_indices().values():
            for oid in engine.open_orders(k):
                o = engine.order(oid)
                if o is None or oid in self._unsent:
                    continue
                orders.append(
                    LocalOrder(
                        client_order_id=oid,
                        instrument=o.instrument,
                        side=o.side,
                        quantity=o.quantity,
                        filled_qty=o.filled_qty,
                        status=o.status,
                        order_type=o.order_type,
                    )
                )
        positions = {
            symbol: p.quantity
            for symbol, p in engine.portfolio.positions().items()
            if p.quantity != 0
        }
        return LocalState(
            open_orders=orders,
            fills=list(self._fills),
            positions=positions,
            since=self.since_ns,
        )

    def apply_report(self, report: ReconciliationReport) -> dict[str, int]:
        """Apply the reconciliation's actions to the engine's books (on the engine thread):

        - ``apply_fill``: the broker's fill is booked on its order, once (idempotent by the
          order's cumulative filled quantity, so a fill the stream brings later is not
          booked again); a fill of an order we do not know is reported, not booked;
        - ``apply_broker_status``: the order takes the broker's end (cancelled, expired,
          rejected; a filled one is closed by its fills);
        - ``mark_rejected``: an order the broker never got is ``rejected``;
        - ``adopt_order``: an open broker order with one of our strategies' client order
          ids (``<strategy>-<n>``: sent before a crash that lost its record) is put back
          into the engine as that strategy's working order, with what it has filled; any
          other unknown order is only reported (as with ``flag_order``);
        - ``adopt_position``, ``adopt_broker_order``, ``flag_extra_fill``: reported
          (logged and audited); the engine's books change only through fills and order
          ends.

        Returns counts of what was applied."""
        engine = self.node.engine
        done = {"fills": 0, "ended": 0, "rejected": 0, "adopted": 0, "reported": 0}
        adopted: list[BrokerOrder] = []
        for d in report.of_kind("unknown_order"):
            if d.action == "adopt_order" and d.order is not None and self._adopt(d.order):
                adopted.append(d.order)
                done["adopted"] += 1
        fills = sorted(
            (d.fill for d in report.of_kind("missing_fill") if isinstance(d.fill, BrokerFill)),
            key=lambda f: (f.ts, f.cum_qty),
        )
        for f in fills:
            if not f.client_order_id or engine.order(f.client_order_id) is None:
                log.warning(
                    "reconciliation: broker fill %s of order %s (%s %s %s @ %s) is not one "
                    "of ours; not booked",
                    f.fill_id,
                    f.client_order_id or f.broker_order_id,
                    f.side,
                    f.quantity,
                    f.instrument,
                    f.price,
                )
                done["reported"] += 1
                continue
            update = BrokerOrderUpdate(
                client_order_id=f.client_order_id,
                broker_order_id=f.broker_order_id,
                instrument=f.instrument,
                kind="filled",
                status="partially_filled",
                ts=f.ts,
                broker_event="fill",
                filled_qty=f.cum_qty,
                fill_qty=f.quantity,
                fill_price=f.price,
                commission=f.commission,
                recovered=True,
            )
            if self.apply(update):
                done["fills"] += 1
                self.stats.fills_from_reconciliation += 1
        for bo in adopted:
            # Filled before the window the fills were compared over: the rest at the
            # broker's average price, so the account holds what the broker says.
            mine = engine.order(bo.client_order_id)
            if mine is not None and bo.avg_px is not None and mine.filled_qty < bo.filled_qty:
                update = BrokerOrderUpdate(
                    client_order_id=bo.client_order_id,
                    broker_order_id=bo.broker_order_id,
                    instrument=bo.instrument,
                    kind="filled",
                    status="partially_filled",
                    ts=bo.updated_ns or time.time_ns(),
                    broker_event="fill",
                    filled_qty=bo.filled_qty,
                    fill_qty=bo.filled_qty - mine.filled_qty,
                    fill_price=bo.avg_px,
                    recovered=True,
                )
                done["fills"] += int(self.apply(update))
        for d in report.differences:
            oid = d.client_order_id
            if d.action == "apply_broker_status" and d.order is not None and oid:
                mine = engine.order(oid)
                if mine is None or mine.status in ("filled", "cancelled", "expired", "rejected"):
                    continue
                status = d.order.status
                if status in ("cancelled", "expired", "rejected"):
                    kind = status
                    reason = f"reconciliation: {d.order.broker_status or status} at the broker"
                    applied = self.apply(_update(oid, d.instrument, kind, reason))
                    done["ended"] += int(applied)
                elif mine.filled_qty < d.order.filled_qty:
                    log.error(
                        "reconciliation: order %s is %s at the broker with %s filled; we "
                        "have %s and no fill to book for the rest",
                        oid,
                        status,
                        d.order.filled_qty,
                        mine.filled_qty,
                    )
                    done["reported"] += 1
            elif d.action == "mark_rejected" and oid:
                reason = "reconciliation: the broker has no such order"
                done["rejected"] += int(self.apply(_update(oid, d.instrument, "rejected", reason)))
            elif d.action not in ("apply_fill", "adopt_order"):
                done["reported"] += 1
        return done

    def _adopt(self, bo: BrokerOrder) -> bool:
        """Put an open broker order of one of our strategies back into the engine."""
        oid = bo.client_order_id
        sid, _, n = oid.rpartition("-")
        engine = self.node.engine
        if not n.isdigit() or sid not in self.node.strategy_indices() or engine.order(oid):
            log.warning("reconciliation: broker order %s is not one of ours; flagged", oid)
            return False
        try:
            order = _core.Order(
                oid,
                sid,
                bo.instrument,
                bo.side,
                bo.order_type,  # type: ignore[arg-type]
                bo.quantity,
                price=bo.limit_price,
                trigger_price=bo.stop_price,
                time_in_force=bo.time_in_force,  # type: ignore[arg-type]
            )
            # Its fills are booked next, through its lifecycle (apply_report).
            engine.restore_order(order)
        except (InvalidInputError, InvalidStateError, ValueError) as exc:
            log.warning("reconciliation: broker order %s cannot be adopted: %s", oid, exc)
            return False
        log.warning(
            "reconciliation: adopted broker order %s (%s %s %s, %s filled) for strategy %s",
            oid,
            bo.side,
            bo.quantity,
            bo.instrument,
            bo.filled_qty,
            sid,
        )
        return True

    # ------------------------------------------------------------------ event loop

    async def start(self) -> None:
        """Start sending, listening and (with an interval) reconciling; the first
        reconciliation runs before this returns."""
        self._loop = asyncio.get_running_loop()
        self._requests = asyncio.Queue()
        if self._early:
            early, self._early = self._early, []
            _put_all(self._requests, early)
        self._tasks.append(self._loop.create_task(self._send_loop(), name="pi5-broker-send"))
        self._tasks.append(self._loop.create_task(self._updates_loop(), name="pi5-broker-updates"))
        self._reconciler = Reconciler(
            self.client,
            self._local_state,
            interval_s=self.reconcile_interval_s or 0.0,
            unknown_orders=self.unknown_orders,
            record=self.record,
            on_report=self._on_report,
        )
        try:
            await self.reconcile()  # a broker away at start counts for its health too
        except BrokerError as exc:
            log.warning("reconciliation at start skipped: %s", exc)
        if self.reconcile_interval_s:
            self._tasks.append(
                self._loop.create_task(self._reconcile_loop(), name="pi5-broker-reconcile")
            )

    async def reconcile(self, settle_s: float = 0.0) -> ReconciliationReport:
        """Reconcile now (and apply the actions); ``settle_s``: see ``reconcile.compare``
        (the periodic runs leave fills younger than ``SETTLE_S`` to the next one)."""
        if self._reconciler is None:
            raise InvalidStateError("the broker router has not started")
        try:
            report = await self._reconciler.run_once(settle_s)
        except BrokerError as exc:
            self.health.record_failure(exc)
            raise
        self.health.record_success()
        return report

    async def flush(self) -> None:
        """Wait until every request posted so far has been sent (tests, shutdown)."""
        if self._requests is None:
            return
        while self._requests.qsize() or self._busy:
            self._idle.clear()
            await self._idle.wait()

    async def settle(self, within_s: float) -> None:
        """Send what is queued, then wait (at most ``within_s``) until every order whose
        cancel the broker took has closed in the engine: what a shutdown does before the
        engine stops, so the cancels are booked."""
        deadline = time.monotonic() + within_s

        def still_open() -> set[str]:
            engine = self.node.engine
            closed = ("filled", "cancelled", "expired", "rejected")
            self._cancelling = {
                oid
                for oid in self._cancelling
                if (o := engine.order(oid)) is not None and o.status not in closed
            }
            return self._cancelling

        try:
            await asyncio.wait_for(self.flush(), within_s)
            while await self._command(still_open):
                if time.monotonic() > deadline:
                    log.warning(
                        "shutdown: %d cancel(s) not answered by the broker yet",
                        len(self._cancelling),
                    )
                    return
                await asyncio.sleep(0.02)
        except TimeoutError:
            log.warning("shutdown: requests for the broker still queued")

    async def stop(self) -> None:
        """Send what is left (bounded by the node's shutdown timeout), then stop
        listening and close the client."""
        for task in self._tasks[2:]:
            task.cancel()  # the reconciliation
        try:
            # Half the node's bound: the client must still be closed within it.
            await asyncio.wait_for(self.flush(), self.node.settings.shutdown_timeout_s / 2)
        except TimeoutError:
            left = self._requests.qsize() if self._requests is not None else 0
            log.warning("shutdown: %d request(s) for the broker not sent", left)
        finally:
            # Closing the client ends its update stream (the iterator returns) and its
            # connections; what is still running is then cancelled.
            with contextlib.suppress(Exception):
                await self.client.close()
            for task in self._tasks[1:2]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(asyncio.shield(task), 1.0)
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._tasks.clear()

    _busy = False

    async def _send_loop(self) -> None:
        assert self._requests is not None
        while True:
            request = await self._requests.get()
            self._busy = True
            try:
                await self._send(request)
            except Exception:
                log.exception("sending %r to the broker failed", request)
            finally:
                self._busy = False
                if self._requests.empty():
                    self._idle.set()

    async def _send(self, r: _core.OutgoingRequest) -> None:
        oid = r.client_order_id
        try:
            if r.kind == "submit":
                order = r.order
                if order is None:
                    return
                now = time.monotonic()
                waited = now - self._unsent.get(oid, now)
                limit = self.send_within_s
                if limit is not None and waited > limit:
                    # Queued behind others while the broker was slow or away: sent now,
                    # it would trade in a market the strategy never saw. Never sent.
                    self.stats.too_late += 1
                    why = (
                        f"not sent: waited {waited:.1f} s for the broker "
                        f"(PI5_BROKER__SEND_WITHIN_S={limit:g})"
                    )
                    log.warning("order %s %s", oid, why)
                    # Posted, not awaited: a queue that fell behind must drain at once, not
                    # one engine round trip per order (which let it grow without end).
                    update = _update(oid, _instrument(r), "rejected", why)
                    self.node.post_command(functools.partial(self.apply, update))
                    return
                self.stats.submitted += 1
                await self.client.submit(_request(r, order))
            elif r.kind == "cancel":
                self.stats.cancels += 1
                await self.client.cancel(oid)
                self._cancelling.add(oid)
            else:
                self.stats.modifies += 1
                await self.client.replace(
                    oid, quantity=r.quantity, limit_price=r.price, stop_price=r.trigger_price
                )
            self.health.record_success()
        except (OrderRejectedError, OrderNotFoundError, InvalidInputError) as exc:
            # The broker (or the request's own check) refused it: the order's answer.
            self.stats.refused_by_broker += 1
            if not isinstance(exc, InvalidInputError):
                self.health.record_success()  # it answered
            kind = {"submit": "rejected", "cancel": "cancel_rejected"}.get(
                r.kind, "modify_rejected"
            )
            why = _reason(exc)
            await self._command(lambda: self.apply(_update(oid, _instrument(r), kind, why)))
        except BrokerError as exc:
            self.stats.send_errors += 1
            self.health.record_failure(exc)
            if r.kind == "submit":
                log.error(
                    "submit of %s failed (%s): left submitted; the reconciliation settles it",
                    oid,
                    exc,
                )
            else:
                why = f"broker unavailable: {exc}"
                kind = "cancel_rejected" if r.kind == "cancel" else "modify_rejected"
                await self._command(lambda: self.apply(_update(oid, _instrument(r), kind, why)))
        finally:
            if r.kind == "submit":
                self._unsent.pop(oid, None)

    async def _updates_loop(self) -> None:
        stream = self.client.updates()
        try:
            async for update in stream:
                # Not awaited one by one: the command queue keeps their order, and the
                # stream is not held up by the engine's batches.
                self.node.post_command(functools.partial(self.apply, update))
        except BrokerError as exc:
            log.error("broker update stream ended: %s", exc)
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()  # its connection closes now, not when collected

    async def _reconcile_loop(self) -> None:
        assert self._reconciler is not None
        interval = self.reconcile_interval_s or 60.0
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reconcile(SETTLE_S)
            except BrokerError as exc:
                log.warning("reconciliation skipped: %s", exc)
            except InvalidStateError:
                return  # the node stopped

    async def _local_state(self) -> LocalState:
        def state() -> LocalState:
            if self.stats.reconciliations:
                # Not before the first: after a restart it looks back to the last stored fill.
                self._move_window(time.time_ns())
            return self.local_state()

        return await self._command(state)

    async def _on_report(self, report: ReconciliationReport) -> None:
        self.stats.reconciliations += 1
        self.reports.append(report)
        del self.reports[:-100]  # the latest hundred (each is also in the audit trail)
        if report.clean:
            return
        done = await self._command(lambda: self.apply_report(report))
        log.info("reconciliation applied: %s", done)

    def _move_window(self, now_ns: int) -> None:
        """Compare fills over the last ``FILL_WINDOW_NS`` from now on (engine thread)."""
        since = max(self.since_ns, now_ns - FILL_WINDOW_NS)
        if since > self.since_ns:
            self.since_ns = since
            self._fills = [f for f in self._fills if f.ts >= since]

    async def _command(self, fn: Callable[[], T]) -> T:
        return await self.node._call(fn)


async def broker_order_numbers(client: ExecutionClient, since_ns: int) -> dict[str, int]:
    """The highest ``n`` of each ``<strategy>-<n>`` client order id the broker holds (open
    orders, fills since ``since_ns``): a restarted node numbers after them too, so no id the
    broker has seen is sent again (a crash can lose an order's record, not the order)."""
    ids = [o.client_order_id for o in await client.open_orders()]
    ids += [f.client_order_id for f in await client.fills_since(since_ns)]
    out: dict[str, int] = {}
    for oid in ids:
        sid, _, n = oid.rpartition("-")
        if sid and n.isdigit():
            out[sid] = max(out.get(sid, 0), int(n))
    return out


def _put_all(
    queue: asyncio.Queue[_core.OutgoingRequest], requests: list[_core.OutgoingRequest]
) -> None:
    for r in requests:
        queue.put_nowait(r)


def _request(r: _core.OutgoingRequest, order: _core.Order) -> OrderRequest:
    """The broker request for a submit; a trailing stop takes its offset from the
    request (an engine ``Order`` does not show it)."""
    if order.order_type != "trailing_stop_market":
        return OrderRequest.from_order(order)
    return OrderRequest(
        client_order_id=order.client_order_id,
        instrument=order.instrument,
        side=order.side,
        order_type="trailing_stop_market",
        quantity=order.quantity,
        time_in_force=order.time_in_force,
        trail_price=r.trail_price,
        trail_percent=r.trail_percent,
        expire_time=order.expire_time,
        strategy_id=order.strategy_id,
    )


def _instrument(r: _core.OutgoingRequest) -> str:
    return r.order.instrument if r.order is not None else ""


def _reason(exc: Pi5TradingError) -> str:
    return str(exc) or type(exc).__name__


def _update(oid: str, instrument: str, kind: Any, reason: str) -> BrokerOrderUpdate:
    return BrokerOrderUpdate(
        client_order_id=oid,
        broker_order_id="",
        instrument=instrument or "?",
        kind=kind,
        status="rejected" if kind == "rejected" else "accepted",
        ts=time.time_ns(),
        broker_event=kind,
        reason=reason,
    )


__all__ = ["BrokerRouter", "RouterStats", "broker_order_numbers"]
