"""The paper-trading node as ``pi5trading serve`` runs it: the configured feed, the node,
its sinks and (by default) two demo strategies, wired in one place.

    async with paper_node(load_settings()) as node:
        ...   # prices move, the demo strategies trade, every event is recorded

Simulated and replayed feeds run on the data's clock (``TradingNode(clock="replay")``):
their time moves at ``PI5_FEED__SPEED`` simulated seconds per real second, so the engine
follows the data, not the wall clock. Vendor feeds run on the live clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import msgspec

from pi5trading import _core
from pi5trading.brokers import BrokerError, execution_client
from pi5trading.clock import iso_utc
from pi5trading.config import Settings
from pi5trading.exceptions import ConfigurationError, InvalidStateError
from pi5trading.feeds.configured import configured_feed
from pi5trading.feeds.feed import FeedStats
from pi5trading.feeds.replay import storage_bars
from pi5trading.feeds.simulated import SimulatedFeed
from pi5trading.node.broker import broker_order_numbers
from pi5trading.node.recovery import (
    NODE_STARTED,
    Recovery,
    Resumed,
    close_stale_orders,
    core_fill,
    read_recovery,
    resume,
    session_start_equity,
    stored_status,
)
from pi5trading.node.trading_node import TradingNode
from pi5trading.risk import configured_risk_engine
from pi5trading.sinks.storage import record_strategy, save_strategy_state
from pi5trading.sinks.wiring import Sinks, open_sinks
from pi5trading.storage.credentials import load_stored_credentials, needed_providers
from pi5trading.storage.errors import DatabaseUnavailableError
from pi5trading.storage.protocol import Repository
from pi5trading.storage.records import AuditRow
from pi5trading.strategies.manual import MANUAL_ID, ManualOrders

log = logging.getLogger("pi5trading.node")

DEMO_STRATEGIES: tuple[tuple[str, str, dict[str, object]], ...] = (
    ("demo-sma", "sma_crossover", {"fast": 5, "slow": 20, "quantity": 10}),
    ("demo-rsi", "rsi_mean_reversion", {"quantity": 10}),
)
"""(id, built-in, parameters) of the strategies a new node starts with
(``PI5_NODE__DEMO_STRATEGIES=false`` turns them off)."""

BROKER_LOOK_BACK_NS = 86_400 * 1_000_000_000
"""How far back a restarted node with working orders and no stored fill asks the broker for
fills it missed."""


def node_clock(settings: Settings) -> Literal["live", "replay"]:
    """The data's clock for simulated and replayed data, the wall clock for vendors."""
    return "replay" if settings.feed.kind in ("simulated", "replay") else "live"


@asynccontextmanager
async def paper_node(settings: Settings) -> AsyncIterator[TradingNode]:
    """A running node with the configured feed, sinks and strategies; stopped (orders by
    ``PI5_NODE__SHUTDOWN_ORDERS``, sinks flushed) when the block ends.

    On a first start it runs the demo strategies (unless ``PI5_NODE__DEMO_STRATEGIES=false``);
    on a restart — after a stop or a crash — it rebuilds the account, working orders,
    strategies and their states, risk state and indicators from storage and resumes
    (``pi5trading.node.recovery``)."""
    # Keys entered through the API (encrypted) where the environment sets none.
    settings = await load_stored_credentials(settings, needed_providers(settings))
    ns = settings.node
    # A broker (PI5_BROKER__PROVIDER=alpaca) fills the orders; the simulated venue otherwise.
    client = execution_client(settings.broker) if settings.broker.provider != "simulated" else None
    node = TradingNode(
        settings=ns,
        clock=node_clock(settings),
        starting_cash=ns.starting_cash,
        risk=configured_risk_engine(settings),  # PI5_RISK__PROFILE and its overrides
        execution=client,
        broker=settings.broker,
        data_delay_s=settings.feed.delay_s,  # vendors only: configured_feed refuses it else
    )
    if settings.feed.delay_s and client is not None:
        log.warning(
            "PI5_FEED__DELAY_S=%g: the strategies see data %g s old while the broker fills "
            "at today's prices",
            settings.feed.delay_s,
            settings.feed.delay_s,
        )
    for symbol in settings.feed.symbol_list():
        node.add_instrument(symbol)
    sinks = await open_sinks(settings, node.bus, order_lookup=node.engine.order)
    node.sinks = sinks
    try:
        await _start(node, settings, sinks)
    except BaseException:
        await sinks.close()
        raise
    try:
        yield node
    finally:
        await node.stop()


async def _start(node: TradingNode, settings: Settings, sinks: Sinks) -> None:
    repo = sinks.storage.repository if sinks.storage is not None else None
    broker = settings.broker.provider != "simulated"
    recovery = await read_recovery(repo, broker=broker) if repo is not None else None
    restarted = recovery is not None and not recovery.fresh
    if recovery is not None:
        node.resume_order_numbers(recovery.order_numbers)
        _register_held_instruments(node, recovery)
    if node.router is not None:
        if sinks.alerts is not None:
            sinks.alerts.watch_breaker(node.router.health, "broker")
        if repo is not None:
            node.router.record = repo.write  # reconciliation runs in the audit trail
        if recovery is not None and recovery.fills:
            # Fills stored are booked from storage; the broker's later ones (made while the
            # node was down) are what the first reconciliation books.
            node.router.since_ns = max(f.ts_ns for f in recovery.fills) + 1
        elif recovery is not None and recovery.open_orders:
            # Working orders but no fill stored: their fills while down, within a day.
            node.router.since_ns = time.time_ns() - BROKER_LOOK_BACK_NS
        if recovery is not None and not recovery.fresh:
            try:
                sent = await broker_order_numbers(node.router.client, node.router.since_ns)
            except BrokerError as exc:
                log.warning("the broker's order ids could not be read: %s", exc)
            else:
                node.resume_order_numbers(sent)
    paused: list[str] = []
    if recovery is not None and recovery.strategies:
        paused = await _add_stored_strategies(node, recovery)
    elif settings.node.demo_strategies:
        await _add_demo_strategies(node, repo)
    await _add_manual(node, repo)
    closed: dict[str, str] = {}
    resume_ns = recovery.last_event_ns if recovery is not None else None
    if recovery is not None and repo is not None:
        now = resume_ns if resume_ns is not None else time.time_ns()
        closed = await close_stale_orders(repo, recovery, list(node.strategy_indices()), now)
        if recovery.fills:
            # Before the engine starts, so the strategies' on_start sees their positions.
            await node.restore_fills([core_fill(f) for f in recovery.fills])
    await sinks.restore()
    feed = configured_feed(
        settings.feed,
        store=repo,  # PI5_FEED__KIND=replay without a folder replays the stored bars
        full=settings,
        start_ns=recovery.feed_start_ns if recovery is not None else None,
        resume_after_ns=resume_ns if restarted else None,
    )
    node.add_feed(feed)
    if sinks.metrics is not None:
        sinks.metrics.watch_feeds(
            lambda: [
                (f.name, feed_counters(stats))
                for f in node.feeds
                if isinstance(stats := getattr(f, "stats", None), FeedStats)
            ]
        )
    if sinks.storage is not None:
        storage, most = sinks.storage, settings.sinks.backlog_max
        node.add_backpressure(lambda: storage.backlog + storage.writer.buffered > most, "storage")
        if sinks.metrics is not None:
            sinks.metrics.watch_pause(lambda: (node.paused_s, node.waiting_for is not None))
        if sinks.alerts is not None:
            node.on_pause(sinks.alerts.watch_pause)
    feed_start = feed.origin_ns if isinstance(feed, SimulatedFeed) else None
    warm: list[_core.Bar] = []
    session_equity = None
    if restarted and repo is not None and recovery is not None:
        at = resume_ns if resume_ns is not None else time.time_ns() - node.data_delay_ns
        warm = await _warmup_bars(repo, settings, at)
        session_equity = await session_start_equity(repo, node.engine, at)
    resumed = Resumed()

    def prepare(engine: _core.Engine) -> None:
        nonlocal resumed
        if recovery is not None and restarted:
            resumed = resume(
                engine,
                recovery,
                starting_cash=settings.node.starting_cash,
                session_start_equity=session_equity,
                warmup=warm,
            )
        for strategy_id in paused:
            node.pause_now(strategy_id)

    _log_trading(node)
    start_ts = resume_ns if restarted and node.mode == "replay" else None
    await node.start(start_ts, prepare=prepare)
    if repo is not None:
        await _record_start(repo, settings, feed_start, restarted)
        _save_states_periodically(node, sinks, settings.node.state_save_interval_s)
        node.on_shutdown(lambda: _save_states(node, sinks), "strategy states")
    node.on_shutdown(sinks.close, "sinks")
    if restarted and recovery is not None:
        log.info(
            "recovered from storage: %d fills booked, %d working orders restored, "
            "%d orders closed, %d bars of warm-up, data resumes after %s",
            len(recovery.fills),
            len(resumed.orders_restored),
            len(closed) + len(resumed.orders_closed),
            resumed.warmed_bars,
            iso_utc(resume_ns),
        )
        for oid, why in {**closed, **resumed.orders_closed}.items():
            log.warning("order %s: %s", oid, why)
    log.info(
        "paper trading: %s feed (%s), %d strategies, %s clock, orders to %s",
        settings.feed.kind,
        settings.feed.symbols,
        len(node.strategies()),
        node.mode,
        settings.broker.provider,
    )


def feed_counters(stats: FeedStats) -> dict[str, float]:
    """A feed's statistics as ``/metrics`` shows them (``pi5_feed_stat``): its counters and
    the age of its last message (-1 before the first)."""
    out: dict[str, float] = {
        k: float(v)
        for k, v in msgspec.structs.asdict(stats).items()
        if k not in ("last_message_mono", "last_ts_event")
    }
    age = stats.last_message_age()
    out["last_message_age_seconds"] = -1.0 if age is None else round(age, 3)
    return out


MANUAL_CLASS = "pi5trading.strategies.manual:ManualOrders"


async def _add_manual(node: TradingNode, repo: Repository | None) -> None:
    """The owner of the orders placed through the API (``manual``), always running."""
    if MANUAL_ID in node.strategies():
        if node.status(MANUAL_ID) == "added":
            await node.start_strategy(MANUAL_ID)
        return
    await node.add_strategy(ManualOrders, strategy_id=MANUAL_ID)
    if repo is not None:
        await record_strategy(repo, MANUAL_ID, name=MANUAL_ID, class_path=MANUAL_CLASS, config={})


def _register_held_instruments(node: TradingNode, recovery: Recovery) -> None:
    """Instruments the stored fills and orders name but the feed no longer carries (the
    symbols changed): registered, so their positions and orders are kept; no data comes."""
    held = {f.instrument_id for f in recovery.fills}
    held |= {o.row.instrument_id for o in recovery.open_orders}
    for symbol in sorted(held - set(node.instruments)):
        node.add_instrument(symbol)
        log.warning(
            "%s: positions or orders are stored but it is not in PI5_FEED__SYMBOLS; "
            "kept without data (add it back to trade it)",
            symbol,
        )


async def _add_demo_strategies(node: TradingNode, repo: Repository | None) -> None:
    for strategy_id, name, params in DEMO_STRATEGIES:
        await node.add_strategy(name, params, strategy_id=strategy_id)
        if repo is not None:
            await record_strategy(
                repo, strategy_id, name=strategy_id, class_path=name, config=dict(params)
            )


async def _add_stored_strategies(node: TradingNode, recovery: Recovery) -> list[str]:
    """Add the stored strategies as they were (running, paused or stopped) with their saved
    state; returns the ids to pause once the engine runs. One that cannot be built any
    more (its file gone, a parameter no longer valid) is reported and left out: its
    positions stay in the account, its working orders are cancelled."""
    paused = []
    for row in recovery.strategies:
        status = stored_status(row)
        try:
            await node.add_strategy(
                row.class_path or row.name,
                row.config,
                strategy_id=row.strategy_id,
                start=status in ("running", "paused"),
                state=row.state,
            )
        except ConfigurationError as exc:
            log.error("strategy %s is not restarted: %s", row.strategy_id, exc)
            continue
        if status == "paused":
            paused.append(row.strategy_id)
    return paused


async def _warmup_bars(repo: Repository, settings: Settings, at_ns: int) -> list[_core.Bar]:
    """The stored bars that closed by ``at_ns`` (the last ``warmup_bars`` per symbol and
    interval), oldest first."""
    n = settings.node.warmup_bars
    if n == 0:
        return []
    bars: list[_core.Bar] = []
    for interval in settings.feed.bar_intervals() or ("1m",):
        step = _core.BarType("X", interval).interval_ns
        # Stored by open time: a bar that closed by at_ns opened by at_ns - interval.
        end = at_ns - step + 1
        for symbol in settings.feed.symbol_list():
            source = storage_bars(repo, symbol, interval, end - n * step, end)
            bars += [b async for b in source.events() if isinstance(b, _core.Bar)][-n:]
    bars.sort(key=lambda b: b.ts_event)
    return bars


async def _record_start(
    repo: Repository, settings: Settings, feed_start: int | None, restarted: bool
) -> None:
    now = time.time_ns()
    details: dict[str, object] = {"feed": settings.feed.kind, "restart": restarted}
    if feed_start is not None:
        details["feed_start_ns"] = feed_start
    await repo.write(
        [AuditRow(f"{NODE_STARTED}:{now}", now, NODE_STARTED, "success", details=details)]
    )


def _save_states_periodically(node: TradingNode, sinks: Sinks, every_s: float) -> None:
    """Store the strategies' ``on_save`` states every ``every_s`` seconds (a crash loses at
    most that much of them); the task ends with the node."""
    if every_s <= 0:
        return

    async def loop() -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await _save_states(node, sinks, await node.collect_states())
            except InvalidStateError:
                return  # the node has stopped
            except DatabaseUnavailableError as exc:
                # An outage: one line, not a traceback every few seconds.
                log.warning("the strategies' states are not saved (will retry): %s", exc)
            except Exception:
                log.exception("saving the strategies' states failed; will retry")

    task = asyncio.get_running_loop().create_task(loop(), name="pi5-strategy-states")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # Registered before the closers that need the node's last states and the sinks.
    node.on_shutdown(stop, "strategy state saver")


def _log_trading(node: TradingNode) -> None:
    """One log line per fill and per refused order: what a trader watching the console
    wants to see (the full record is in the database)."""
    from pi5trading.orders import OrderEvent

    def fill(event: OrderEvent) -> None:
        f = event.fill
        if f is not None:
            log.info(
                "fill %s %s %s %s @ %s (%s)",
                event.strategy_id,
                f.side.lower(),
                f.quantity,
                event.instrument,
                f.price,
                event.client_order_id,
            )

    def refused(event: OrderEvent) -> None:
        why = event.denial.message if event.denial is not None else event.reason
        log.warning("%s %s %s: %s", event.kind, event.strategy_id, event.client_order_id, why)

    node.bus.subscribe("orders.filled", fill)
    node.bus.subscribe("orders.partially_filled", fill)
    node.bus.subscribe("orders.denied", refused)
    node.bus.subscribe("orders.rejected", refused)


async def _save_states(
    node: TradingNode, sinks: Sinks, states: dict[str, dict[str, Any]] | None = None
) -> None:
    """Each strategy's ``on_save()`` state, stored for its ``on_load`` after a restart."""
    if sinks.storage is None:
        return
    if states is None:
        states = {k: node.saved_state(k) for k in node.strategies()}
    for strategy_id, state in states.items():
        try:
            await save_strategy_state(sinks.storage.repository, strategy_id, state)
        except (LookupError, ValueError) as exc:  # unregistered, or not plain JSON
            log.warning("strategy %s: state not saved: %s", strategy_id, exc)
