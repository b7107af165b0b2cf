"""The storage writer sink: every event the node publishes, recorded through the batched writer.

The bus calls ``StorageSink.on_messages`` synchronously, on the node's engine thread, once
per published batch. That call only queues the payloads (``Handoff``); the sink's task on
the event loop converts them (bars into their encoded rows by the core,
``_core.bar_rows``; everything else by ``RecordConverter``) and hands the records to the
``EventWriter`` (which batches, writes, and journals during an outage, see
docs/storage.md), so the node never waits for the database. ``backlog`` (readable from any
thread) and ``await wait_for_room()`` let the node slow down if it outruns the writer.

Strategy status is not an engine event for the writer: it updates the ``strategies`` row
(and opens or closes a ``strategy_runs`` row) directly, retried on the next tick while the
database is down. ``save_strategy_state`` stores a strategy's ``on_save()`` dict.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

import msgspec

from pi5trading import _core
from pi5trading.events import StrategyStatus
from pi5trading.sinks.handoff import Handoff
from pi5trading.sinks.records import ACCOUNT, DONE_KEPT, RecordConverter
from pi5trading.storage.errors import ConstraintError, DatabaseUnavailableError
from pi5trading.storage.protocol import Repository
from pi5trading.storage.records import (
    EncodedRow,
    EquityRow,
    OrderRow,
    PositionRow,
    StrategyRow,
    StrategyRunRow,
)
from pi5trading.storage.writer import EventWriter

log = logging.getLogger(__name__)

# The node's strategy states in the storage vocabulary (strategies.status).
STRATEGY_STATUS: Final[dict[str, str]] = {
    "added": "stopped",
    "running": "running",
    "paused": "paused",
    "stopped": "stopped",
    "failed": "error",
    "removed": "stopped",
}

_CHUNK: Final = 2000
"""Payloads converted between two yields to the event loop."""


class StorageSink:
    """Use as ``sink.subscribe(bus); await sink.start(); …; await sink.close()``.

    ``mode`` is what a strategy run is recorded as (``paper`` or ``live``).
    """

    def __init__(
        self,
        writer: EventWriter,
        repository: Repository,
        *,
        converter: RecordConverter | None = None,
        order_lookup: Callable[[str], _core.Order | None] | None = None,
        mode: str = "paper",
        max_backlog: int = 200_000,
        skip: frozenset[type] = frozenset(),
        core_bars: bool = True,
        core_records: bool = True,
    ) -> None:
        self.writer = writer
        self.skip = skip
        """Payload types not recorded (market data switched off by ``PI5_SINKS__RECORD_*``)."""
        self.core_bars = core_bars and _core.Bar not in skip
        """Bars encoded into their rows by the core (``_core.bar_rows``), not by the
        converter: the same rows, without a Python object per price (False: the
        converter, the reference the tests compare the core's rows with)."""
        self.repository = repository
        self.converter = converter or RecordConverter(core=core_records)
        """``core_records`` (when no converter is given): order events, orders, positions
        and equity samples converted by the core into their encoded rows
        (``RecordConverter(core=True)``); False: by the Python converter, the reference."""
        self.mode = mode
        self.max_backlog = max_backlog
        self._lookup = order_lookup
        self._known_orders: set[str] = set()
        self._handoff = Handoff()
        self._pumping = asyncio.Lock()
        self._statuses: list[StrategyStatus] = []
        self._runs: dict[str, StrategyRunRow] = {}
        self._room = asyncio.Event()
        self._room.set()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._sub_ids: list[int] = []
        self.received = 0
        self.conversion_errors = 0

    # -- bus side (synchronous, on the node's thread) --

    def subscribe(self, bus: _core.Bus, priority: int = -100) -> list[int]:
        """Subscribe to every topic at once (low priority: strategies are served first).

        One subscription, not one per topic: the records then reach the writer in the
        engine's order, so what a crash leaves in the database is a prefix of what the
        engine did (recovery resumes the data after the last stored event)."""
        self._sub_ids.append(bus.subscribe(">", self.on_messages, priority, batch=True))
        return list(self._sub_ids)

    def unsubscribe(self, bus: _core.Bus) -> None:
        for sid in self._sub_ids:
            bus.unsubscribe(sid)
        self._sub_ids.clear()

    def on_messages(self, messages: Sequence[object]) -> None:
        """Queue a batch of payloads for recording; called on the node's engine thread.

        Only an append under a lock: conversion to records happens in the sink's task, so
        the feed-to-order path does not pay for it. With an ``order_lookup`` the terms of
        an order seen for the first time are looked up here, on the engine's thread, and
        queued ahead of its event."""
        self.received += len(messages)
        if self._lookup is not None:
            messages = self._with_terms(messages)
        self._handoff.put(messages)

    def _with_terms(self, messages: Sequence[object]) -> Sequence[object]:
        # On the engine thread, for every published batch (quotes included): the core
        # finds the orders seen for the first time; the batch is copied only when an
        # order's terms go in. A modify carries its own new terms (OrderEvent.modified).
        firsts = _core.first_order_events(messages, self._known_orders)
        if not firsts:
            return messages
        lookup = self._lookup
        assert lookup is not None
        out = list(messages)
        for i, oid in reversed(firsts):
            order = lookup(oid)
            if order is not None:
                out.insert(i, order)
        return out

    # -- async side --

    @property
    def backlog(self) -> int:
        """Payloads received and not yet handed to the writer."""
        return len(self._handoff)

    async def start(self) -> None:
        if self._task is None:
            self._handoff.bind()
            await self.writer.start()
            self._task = asyncio.create_task(self._run(), name="pi5trading-storage-sink")

    async def wait_for_room(self) -> None:
        """Wait while the backlog is above ``max_backlog`` (the node's backpressure hook)."""
        while len(self._handoff) > self.max_backlog:
            self._room.clear()
            self._handoff.notify()
            await self._room.wait()

    async def flush(self) -> None:
        """Hand everything converted so far to the writer and write it out (or journal it)."""
        await self._pump()
        await self.writer.flush()

    async def close(self) -> None:
        """Stop, flush the backlog and the writer; what the database cannot take is journaled."""
        self._closed = True
        if self._task is not None:
            self._handoff.notify()
            await self._task
            self._task = None
        await self._pump()
        await self.writer.close()

    async def _run(self) -> None:
        interval = self.writer.flush_interval
        while not self._closed:
            await self._handoff.wait(interval)
            try:
                await self._pump()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("storage sink: handing events to the writer failed")

    async def _pump(self) -> None:
        # One pump at a time (the task, flush, close): records reach the writer in order.
        async with self._pumping:
            await self._pump_locked()

    async def _pump_locked(self) -> None:
        convert = self.converter.convert_into
        encode = self.converter.encode
        skip = self.skip
        bars = self.core_bars
        while batch := self._handoff.take():
            for start in range(0, len(batch), _CHUNK):
                # Writable: the converter's records and the core's encoded rows.
                records: list[Any] = []
                # What the core converts becomes its encoded rows, in place: order kept.
                chunk = encode(batch[start : start + _CHUNK], bars=bars)
                for m in chunk:
                    t = type(m)
                    if t is tuple or t is EncodedRow:
                        records.append(m)  # no bus payload is a tuple or an EncodedRow
                        continue
                    if t is ValueError:
                        # The core could not convert a payload; the others are kept.
                        self.conversion_errors += 1
                        log.error("cannot record a payload: %s", m)
                        continue
                    if skip and t in skip:
                        continue
                    try:
                        convert(m, records)
                    except Exception:
                        # A payload we cannot record must not stop the others.
                        self.conversion_errors += 1
                        log.exception("cannot record %r", m)
                    if isinstance(m, StrategyStatus):
                        self._statuses.append(m)
                # submit_many yields to the loop when the writer's buffer is full; between
                # chunks the node gets the loop back even when it is not.
                await self.writer.submit_many(records)
                await asyncio.sleep(0)
            self._room.set()
        if self._statuses:
            await self._record_statuses()

    async def _record_statuses(self) -> None:
        pending, self._statuses = self._statuses, []
        for i, status in enumerate(pending):
            try:
                await self._record_status(status)
            except DatabaseUnavailableError as exc:
                # Keep the rest, in order, for the next tick.
                log.warning("strategy status not stored yet (%s); will retry", exc)
                self._statuses[:0] = pending[i:]
                return

    async def _record_status(self, s: StrategyStatus) -> None:
        repo = self.repository
        stored = STRATEGY_STATUS[s.status]
        # Stopped by a node shutdown: the strategy keeps its status (it runs again when
        # the node restarts); only its run is closed.
        # The row's updated_ns is its last status change on the node's clock: an older
        # change replayed after a restart never overwrites a newer one.
        now = s.ts
        updated = s.shutdown or await repo.save_strategy_status(s.strategy_id, stored, now)
        if not updated:
            # The node registers strategies (record_strategy), maybe just after this status:
            # keep the status in a minimal row, never over a registered one.
            try:
                await repo.create_strategy(
                    StrategyRow(s.strategy_id, s.strategy_id, "", now, now, status=stored)
                )
            except ConstraintError:
                await repo.save_strategy_status(s.strategy_id, stored, now)
        run = self._runs.get(s.strategy_id)
        if s.status == "running" and run is None:
            run = StrategyRunRow(f"{s.strategy_id}:{s.ts}", s.strategy_id, self.mode, s.ts)
            await repo.save_strategy_run(run)
            self._runs[s.strategy_id] = run
        elif s.status in ("stopped", "failed", "removed"):
            if run is None:
                # After a restart: close the run an earlier process left open.
                latest = await repo.list_strategy_runs(s.strategy_id, limit=1)
                run = latest[0] if latest and latest[0].status == "running" else None
            if run is not None:
                await repo.save_strategy_run(
                    msgspec.structs.replace(
                        run,
                        status="failed" if s.status == "failed" else "stopped",
                        stopped_ns=s.ts,
                        error=s.error,
                    )
                )
            self._runs.pop(s.strategy_id, None)


async def record_strategy(
    repository: Repository,
    strategy_id: str,
    *,
    name: str,
    class_path: str,
    config: dict[str, Any],
    ts_ns: int | None = None,
) -> StrategyRow:
    """Register (or re-register after a reconfigure) a strategy instance and its config.

    Its saved state and status are kept when the row already exists.
    """
    _check_json(strategy_id, "config", config)
    now = time.time_ns() if ts_ns is None else ts_ns
    # The status sink may write the row at the same time: its status and saved state are
    # never overwritten here, only what the strategy is.
    changed = await repository.update_strategy_config(
        strategy_id, name=name, class_path=class_path, config=config
    )
    if not changed:
        try:
            # updated_ns 0: the first status change, on the node's clock, applies.
            await repository.create_strategy(
                StrategyRow(strategy_id, name, class_path, now, 0, config=config)
            )
        except ConstraintError:
            await repository.update_strategy_config(
                strategy_id, name=name, class_path=class_path, config=config
            )
    row = await repository.get_strategy(strategy_id)
    assert row is not None
    return row


async def save_strategy_state(
    repository: Repository, strategy_id: str, state: dict[str, Any]
) -> None:
    """Store what a strategy's ``on_save()`` returned, to hand to ``on_load`` after a restart.

    Raises ``ValueError`` when the state is not a JSON object of plain values, and
    ``LookupError`` when no such strategy is registered (``record_strategy`` first).
    """
    _check_json(strategy_id, "saved state", state)
    if not await repository.save_strategy_state(strategy_id, state):
        raise LookupError(f"strategy {strategy_id!r} is not registered; record_strategy first")


def _check_json(strategy_id: str, what: str, value: object) -> None:
    if not isinstance(value, dict):
        raise ValueError(
            f"strategy {strategy_id!r}: {what} must be a dict, not {type(value).__name__}"
        )
    try:
        # Round trip: what is stored must read back as the same plain values.
        back = msgspec.json.decode(msgspec.json.encode(value))
    except (TypeError, msgspec.EncodeError) as exc:
        raise ValueError(f"strategy {strategy_id!r}: {what} is not JSON: {exc}") from None
    if back != value:
        raise ValueError(
            f"strategy {strategy_id!r}: {what} does not survive JSON unchanged (use str, int, "
            "float, bool, None, lists and dicts with str keys; Decimal as str)"
        )


class Restored(msgspec.Struct, frozen=True, kw_only=True):
    """What ``restore_converter`` read back (also what the node needs to resume)."""

    open_orders: list[OrderRow]
    positions: list[PositionRow]
    equity: EquityRow | None


async def restore_converter(repository: Repository, converter: RecordConverter) -> Restored:
    """After a restart: load the open orders (terms, events, fills), the latest position
    snapshots of every known strategy and of the account, and the latest equity into
    ``converter``, so ids continue and replayed events are recognised. Returns what it read.
    """
    orders = await repository.list_orders(open_only=True, limit=1_000_000)
    # The latest final orders (oldest first), so an event of one that comes again is a
    # replay, as before the restart.
    open_ids = {row.order_id for row in orders}
    recent = await repository.list_orders(limit=DONE_KEPT)
    converter.restore_done([o.order_id for o in reversed(recent) if o.order_id not in open_ids])
    for row in orders:
        events = await repository.get_order_events(row.order_id)
        fills = await repository.list_fills(order_id=row.order_id, limit=1_000_000)
        converter.restore_order(row, events, fills)
    strategies = [s.strategy_id for s in await repository.list_strategies()]
    positions: list[PositionRow] = []
    for sid in [ACCOUNT, *strategies]:
        positions.extend(await repository.latest_positions(sid))
    equity = await repository.latest_equity(ACCOUNT)
    converter.restore_snapshots(positions, equity)
    return Restored(open_orders=orders, positions=positions, equity=equity)


__all__ = [
    "STRATEGY_STATUS",
    "Restored",
    "StorageSink",
    "record_strategy",
    "restore_converter",
    "save_strategy_state",
]
