"""``TradingNode``: the backtest engine on a live (or replay) clock, fed by market data feeds.

One engine thread owns the Rust engine: it drains the ingest queue in batches
(``Engine.step_queue``, GIL released while it waits), fires due timers on the live clock,
publishes every event the engine made on the bus in one call per batch
(``Engine.publish``), and runs the node's commands (add/start/stop/pause/... a strategy)
between batches. The asyncio side awaits those commands, starts and stops the feeds and
runs the shutdown. Bus handlers (the sinks) run on the engine thread: keep them thin and
hand slow work to their own task or thread.

    node = TradingNode(settings=settings.node, starting_cash=Decimal(100_000))
    node.add_instrument("AAPL")
    node.add_feed(feed)
    await node.add_strategy("sma_crossover", {"fast": 10, "slow": 30})
    await node.run()          # until SIGTERM/SIGINT (a second signal forces the stop)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import signal
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, Literal, TypeVar

from pi5trading import _core
from pi5trading.brokers.execution import ExecutionClient
from pi5trading.bus import Bus, IngestQueue
from pi5trading.clock import LiveClock, iso_utc
from pi5trading.config import BrokerSettings, NodeSettings
from pi5trading.engine.backtest import us_equity
from pi5trading.events import STRATEGY_STATUS, StrategyState, StrategyStatus
from pi5trading.exceptions import ConfigurationError, InvalidStateError
from pi5trading.node.broker import BrokerRouter
from pi5trading.node.feed import MarketFeed
from pi5trading.node.strategies import ManagedStrategy, build_strategy
from pi5trading.risk import build_risk_engine
from pi5trading.strategies.base import Strategy, build_config

log = logging.getLogger("pi5trading.node")


PAUSE_SAID_S: Final = 1.0
"""A wait for a consumer longer than this is logged (trading stands still meanwhile)."""

T = TypeVar("T")
Exact = Decimal | int | str
Closer = Callable[[], Awaitable[object] | object]
NodeState = Literal["new", "running", "stopping", "stopped"]
KEEP_RECORDS: Final = 10_000
"""The engine's ``fills()`` / ``denials()`` of a node: the latest, at most this many (a
fill is about 100 bytes; storage and the channels have every one)."""


class TradingNode:
    """Strategies trading on live data through the one engine (see the module docstring).

    ``clock``: ``live`` (wall time: timers fire without data, the engine starts at now
    minus ``settings.late_data_ms``; ``data_delay_s`` behind the wall clock for a vendor
    whose data is that late, ``PI5_FEED__DELAY_S``) or ``replay`` (the data's time only,
    as in a backtest: recorded data as fast as it comes). ``venue`` / ``risk`` /
    ``starting_cash`` as for ``BacktestRunner``.

    ``execution``: a broker (``ExecutionClient``, e.g. Alpaca) fills the orders instead of
    the simulated venue: the venue is external (``SimulatedVenue(external=True)``, made
    here when not given), accepted orders go to the client and its updates come back as
    order events (``pi5trading.node.broker``); ``broker`` gives the reconciliation's
    interval and unknown-order policy. ``node.router`` is the ``BrokerRouter``.
    """

    def __init__(
        self,
        *,
        settings: NodeSettings | None = None,
        venue: _core.SimulatedVenue | None = None,
        risk: str | _core.RiskEngine | None = "default",
        starting_cash: Exact = Decimal(100_000),
        clock: Literal["live", "replay"] = "live",
        bus: Bus | None = None,
        execution: ExecutionClient | None = None,
        broker: BrokerSettings | None = None,
        data_delay_s: float = 0.0,
    ) -> None:
        self.settings = settings if settings is not None else NodeSettings()
        s = self.settings
        self.bus = bus if bus is not None else Bus()
        # Live, data arrives after its time (a minute bar after the next minute's first
        # quote, or after a timer moved the clock): up to late_data_ms of it is taken.
        late_ns = s.late_data_ms * 1_000_000 if clock == "live" else 0
        self.queue = IngestQueue(
            s.queue_capacity, s.queue_policy, s.reorder_window_ms * 1_000_000, late_ns
        )
        if venue is None:
            venue = _core.SimulatedVenue(
                starting_cash=starting_cash, external=execution is not None
            )
        if execution is not None and not venue.external:
            raise ConfigurationError(
                "execution: orders going to a broker need an external venue "
                "(SimulatedVenue(external=True))"
            )
        if isinstance(risk, str):
            risk = build_risk_engine(risk)
        self.engine = _core.Engine(venue, risk)
        self.engine.accept_late(late_ns)
        if clock not in ("live", "replay"):
            raise ConfigurationError(f"clock: expected 'live' or 'replay', got {clock!r}")
        self.mode = clock
        self.clock: LiveClock | None = LiveClock() if clock == "live" else None
        if not 0 <= data_delay_s <= 86_400:
            raise ConfigurationError(f"data_delay_s: {data_delay_s} (0 to 86400 s)")
        self.data_delay_ns = round(data_delay_s * 1e9)
        """How far the live clock runs behind the wall clock: the data's time now."""
        self.instruments: dict[str, _core.Instrument] = {}
        self.feeds: list[MarketFeed] = []
        self.rejected = 0
        """Events the engine refused (before its clock, unknown instrument)."""
        self.sinks: Any = None
        """The sinks wired to this node's bus (``paper_node`` sets them): what the API reads
        the latest prices and state from."""
        self.router: BrokerRouter | None = None
        if execution is not None:
            b = broker if broker is not None else BrokerSettings()
            self.router = BrokerRouter(
                self,
                execution,
                reconcile_interval_s=b.reconcile_interval_s,
                unknown_orders=b.unknown_orders,
                send_within_s=b.send_within_s or None,
            )
        self._strategies: dict[str, ManagedStrategy] = {}
        self._by_index: dict[int, ManagedStrategy] = {}
        self._closers: list[tuple[str, Closer]] = []
        self._commands: queue.SimpleQueue[
            tuple[Callable[[], Any], concurrent.futures.Future[Any]]
        ] = queue.SimpleQueue()
        self._statuses: list[StrategyStatus] = []
        self._order_numbers: dict[str, int] = {}
        self._pressure: list[tuple[Callable[[], bool], str]] = []
        self.paused_s = 0.0
        """Time the engine waited for slow consumers (``add_backpressure``), counted as it
        waits."""
        self.waiting_for: str | None = None
        """The consumer the engine waits for now (``None``: stepping)."""
        self.waiting_since: float | None = None
        """When (``time.monotonic()``) the current wait began."""
        self._pause_listeners: list[Callable[[str, float | None], None]] = []
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()
        self._state: NodeState = "new"
        self._engine_started = False
        self._done = asyncio.Event()
        self._force = asyncio.Event()
        self._stop_task: asyncio.Task[None] | None = None
        self._signals: list[int] = []

    # ------------------------------------------------------------------ setup

    @property
    def state(self) -> NodeState:
        return self._state

    def add_instrument(self, instrument: _core.Instrument | str) -> _core.Instrument:
        """Register an instrument (a symbol is a US equity) before the node starts."""
        if self._state != "new":
            raise InvalidStateError("add_instrument: the node has started")
        ins = us_equity(instrument) if isinstance(instrument, str) else instrument
        if ins.symbol in self.instruments:
            raise ConfigurationError(f"instrument {ins.symbol!r} is already registered")
        self.engine.add_instrument(ins)
        self.instruments[ins.symbol] = ins
        return ins

    def add_feed(self, feed: MarketFeed) -> None:
        """A feed to start with the node (or at once, if it runs) and stop at shutdown."""
        if not isinstance(feed, MarketFeed):
            raise ConfigurationError(
                f"feed: {type(feed).__name__} has no name / async start(queue) / async stop()"
            )
        self.feeds.append(feed)

    def paused_for(self) -> tuple[str, float] | None:
        """What trading has been waiting for, and for how many seconds (``None``: it is
        not)."""
        what, since = self.waiting_for, self.waiting_since
        if what is None or since is None:
            return None
        return what, time.monotonic() - since

    def on_pause(self, listener: Callable[[str, float | None], None]) -> None:
        """``listener(what, None)`` when a wait for a consumer is said (over
        ``PAUSE_SAID_S``), ``listener(what, seconds)`` when it ends; called on the engine
        thread, so it must be quick (``GotifyAlerts.put``)."""
        self._pause_listeners.append(listener)

    def _tell_pause(self, what: str, waited: float | None) -> None:
        for listener in self._pause_listeners:
            try:
                listener(what, waited)
            except Exception:  # a listener's fault must not stop the engine
                log.exception("pause listener failed")

    def add_backpressure(self, full: Callable[[], bool], what: str = "a consumer") -> None:
        """``full()`` (called on the engine thread between batches, so it must be cheap and
        thread-safe) says a consumer of the node's events is behind: the engine stops
        stepping until it is not, and with a ``block`` ingest queue the feeds wait too.
        Memory stays bounded when the database is slower than the market. ``what`` names
        the consumer in the log and ``waiting_for``."""
        self._pressure.append((full, what))

    def on_shutdown(self, closer: Closer, name: str | None = None) -> None:
        """Call ``closer()`` (awaited if it returns an awaitable) at shutdown, after the
        engine stopped and the feeds closed: where sinks flush. Called in registration
        order, each bounded by ``settings.shutdown_timeout_s``."""
        label: str = name or str(getattr(closer, "__qualname__", repr(closer)))
        self._closers.append((label, closer))

    # ------------------------------------------------------------------ strategies

    async def add_strategy(
        self,
        strategy: Strategy | type[Strategy] | str,
        params: Mapping[str, Any] | None = None,
        *,
        strategy_id: str | None = None,
        symbols: Sequence[str] | None = None,
        start: bool = True,
        state: Mapping[str, Any] | None = None,
    ) -> str:
        """Add a strategy: an instance, a class, a built-in name or a ``.py`` file, with
        ``params`` validated against its ``Config``. It trades ``symbols`` (else its
        config's, else every instrument). ``state`` is given to its ``on_load`` when it
        starts. Started at once (or with the node) unless ``start=False``. Returns its id.
        """
        built, source = build_strategy(strategy, params, strategy_id=strategy_id)
        syms = tuple(symbols or built.config.symbols or self.instruments)
        unknown = [s for s in syms if s not in self.instruments]
        if unknown or not syms:
            raise ConfigurationError(
                f"strategy {built.id!r} trades {unknown or 'nothing'}: "
                f"instruments are {sorted(self.instruments)}"
            )

        def add() -> str:
            if built.id in self._strategies:
                raise ConfigurationError(
                    f"a strategy with id {built.id!r} is already in the node: "
                    "pass strategy_id= to tell them apart"
                )
            rec = ManagedStrategy(built, -1, syms, source, saved=dict(state or {}))
            self._strategies[built.id] = rec
            self._set_status(rec, "added")
            if start:
                self._start(rec)
            return built.id

        return await self._call(add)

    async def start_strategy(self, strategy_id: str) -> None:
        """Start an added, stopped or failed strategy (``on_load`` with its saved state,
        then ``on_start``)."""
        await self._call(lambda: self._start(self._get(strategy_id)))

    async def stop_strategy(self, strategy_id: str) -> None:
        """Stop a running or paused strategy: ``on_stop``, its working orders cancelled
        (``settings.failed_orders``), ``on_save`` kept for its next start."""
        await self._call(lambda: self._stop(self._get(strategy_id)))

    async def pause_strategy(self, strategy_id: str) -> None:
        """No callbacks until resumed; its indicators stay warm, its orders still fill."""

        await self._call(lambda: self.pause_now(strategy_id))

    async def resume_strategy(self, strategy_id: str) -> None:
        def resume() -> None:
            rec = self._get(strategy_id)
            rec.check("resume")
            self.engine.set_active(rec.index, True)
            self._set_status(rec, "running")

        await self._call(resume)

    async def reconfigure_strategy(self, strategy_id: str, params: Mapping[str, Any]) -> None:
        """New parameters (validated first: a bad one changes nothing). A running or
        paused strategy is stopped, reconfigured and started again (its indicators warm
        up afresh); the instruments it trades cannot change (remove and add instead)."""

        def reconfigure() -> None:
            rec = self._get(strategy_id)
            rec.check("reconfigure")
            cls = type(rec.strategy)
            cfg = build_config(cls.Config, params, strategy=rec.source)
            if cfg.symbols and tuple(cfg.symbols) != rec.symbols:
                raise ConfigurationError(
                    f"strategy {strategy_id!r}: symbols cannot change from {list(rec.symbols)}"
                    " (remove it and add it again)"
                )
            was_running = rec.status in ("running", "paused")
            if was_running:
                self._stop(rec)
            rec.strategy.config = cfg
            if was_running:
                self._start(rec)

        await self._call(reconfigure)

    async def remove_strategy(self, strategy_id: str) -> None:
        """Stop (if running) and remove; its id is free again. Its positions stay in the
        account (a strategy added later with the same id takes them over)."""

        def remove() -> None:
            rec = self._get(strategy_id)
            rec.check("remove")
            if rec.status in ("running", "paused"):
                self._stop(rec)
            if rec.index >= 0:
                self._orders_of(rec, self.settings.failed_orders)
                self.engine.remove_strategy(rec.index)
                self._by_index.pop(rec.index, None)
            del self._strategies[strategy_id]
            self._set_status(rec, "removed")

        await self._call(remove)

    async def warm_up(self, bars: Sequence[_core.Bar]) -> None:
        """Feed past bars (in time order) to the running strategies' indicators only:
        nothing trades, the clock and the account do not move. What a restarted node does
        before live data, so its strategies trade at once instead of warming up again."""
        if not self._engine_started:
            raise InvalidStateError(
                "warm_up: start the node first (indicators are made in on_start)"
            )
        await self._call(lambda: self.engine.warm_up(list(bars)))

    async def restore_fills(self, fills: Sequence[Any]) -> int:
        """Book the fills made before a restart (from storage, in order) into the account:
        cash and the account's and strategies' positions (under their ids, whether or not
        the strategy is in the node), to the digit. No order, no event, no callback. Call
        it before live data; before ``start``, the strategies' ``on_start`` sees the
        positions. Returns the number booked."""
        if self._state not in ("new", "running"):
            raise InvalidStateError(f"restore_fills: the node is {self._state}")
        return await self._call(lambda: self.engine.restore_fills(list(fills)))

    def resume_order_numbers(self, sent: Mapping[str, int]) -> None:
        """Client order ids used before a restart, per strategy id (``<id>-<n>``, from
        storage): a strategy with one of these ids, added now or later, numbers its orders
        after them, so no id is sent twice. Call before adding the strategies."""
        if self._state != "new":
            raise InvalidStateError("resume_order_numbers: call it before the node starts")
        for strategy_id, n in sent.items():
            self._order_numbers[strategy_id] = max(n, self._order_numbers.get(strategy_id, 0))

    def strategy_indices(self) -> dict[str, int]:
        """Strategy id → the engine's index, for strategies in the engine."""
        return {k: r.index for k, r in self._strategies.items() if r.index >= 0}

    def pause_now(self, strategy_id: str) -> None:
        """Pause at once, on the calling thread: for ``start(prepare=...)`` (the engine
        thread is not running yet); elsewhere use ``pause_strategy``."""
        rec = self._get(strategy_id)
        rec.check("pause")
        self.engine.set_active(rec.index, False)
        self._set_status(rec, "paused")

    async def resume_order_ids(self, strategy_id: str, sent: int) -> None:
        """The strategy had sent ``sent`` orders before a restart: its next client order id
        is ``<id>-<sent + 1>``, so none is sent twice."""

        def resume() -> None:
            rec = self._get(strategy_id)
            if rec.index < 0:
                raise InvalidStateError(f"strategy {strategy_id!r} has not started yet")
            self.engine.resume_order_ids(rec.index, sent)

        await self._call(resume)

    async def collect_states(self) -> dict[str, dict[str, Any]]:
        """Each running or paused strategy's ``on_save()`` now (what a restart after a crash
        gives its ``on_load``); a strategy whose ``on_save`` raises keeps its last state."""

        def collect() -> dict[str, dict[str, Any]]:
            out: dict[str, dict[str, Any]] = {}
            for rec in self._strategies.values():
                if rec.status not in ("running", "paused"):
                    continue
                try:
                    rec.saved = dict(rec.strategy.on_save())
                except Exception:
                    log.exception("strategy %r: on_save raised; its last state is kept", rec.id)
                out[rec.id] = dict(rec.saved)
            return out

        return await self._call(collect)

    async def set_trading_state(
        self, state: str, reason: str, *, strategy_id: str | None = None
    ) -> None:
        """Operator command: the account (or one strategy) to ``active``, ``reducing`` or
        ``halted``; published on the bus as a risk event."""

        def change() -> None:
            self.engine.set_trading_state(state, reason, strategy_id=strategy_id)  # type: ignore[arg-type]
            self.engine.settle()

        await self._call(change)

    def status(self, strategy_id: str) -> StrategyState:
        return self._get(strategy_id).status

    def strategies(self) -> dict[str, StrategyState]:
        """Every strategy in the node and its status."""
        return {k: r.status for k, r in self._strategies.items()}

    def saved_state(self, strategy_id: str) -> dict[str, Any]:
        """What the strategy's ``on_save`` returned when it last stopped."""
        return dict(self._get(strategy_id).saved)

    def failure(self, strategy_id: str) -> str | None:
        """The traceback of the strategy's failure, if it failed."""
        return self._get(strategy_id).error

    # ------------------------------------------------------------------ running

    async def start(
        self,
        start_ts: int | None = None,
        *,
        prepare: Callable[[_core.Engine], object] | None = None,
    ) -> None:
        """Start the engine (clock at ``start_ts``; default: now minus ``late_data_ms``
        live, the first event's time in replay), the engine thread, then the feeds.

        ``prepare(engine)`` runs once the engine has started (strategies' ``on_start``
        done, so their indicators exist) and before any data: where a restarted node puts
        its working orders and risk state back and warms the indicators up."""
        if self._state != "new":
            raise InvalidStateError(f"start: the node is {self._state}")
        if not self.instruments:
            raise ConfigurationError("the node has no instrument: add_instrument() first")
        if start_ts is None and self.clock is not None:
            start_ts = max(0, self._live_ns() - self.settings.late_data_ms * 1_000_000)
        pending = [r for r in self._strategies.values() if r.index >= 0]
        # The node publishes every fill and denial; all kept in the engine too, they would
        # grow for as long as it runs: the latest KEEP_RECORDS only.
        self.engine.start(start_ts, outbox=True, keep_records=KEEP_RECORDS)
        self._engine_started = True
        for rec in pending:
            self._set_status(rec, "running")
        if prepare is not None:
            prepare(self.engine)
        self._after_step()
        self._state = "running"
        self._thread = threading.Thread(target=self._engine_loop, name="pi5-engine", daemon=True)
        self._thread.start()
        if self.router is not None:
            # Before the feeds: the broker's open orders and fills are reconciled first.
            await self.router.start()
        for feed in self.feeds:
            await feed.start(self.queue)
            log.info("feed %s started", feed.name)

    async def run(self, *, signals: bool = True) -> None:
        """Start (if not yet) and wait until the node has stopped. With ``signals``,
        SIGTERM/SIGINT stop it gracefully and a second one forces the stop."""
        if self._state == "new":
            await self.start()
        if signals:
            self.install_signal_handlers()
        try:
            await self._done.wait()
        finally:
            self.remove_signal_handlers()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
            self._signals.append(sig)

    def remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            loop.remove_signal_handler(sig)
        self._signals.clear()

    def _on_signal(self, sig: int) -> None:
        if self._stop_task is None:
            log.info("%s: stopping (a second signal forces it)", signal.Signals(sig).name)
            self._stop_task = asyncio.get_running_loop().create_task(self.stop())
        else:
            log.warning("%s again: forcing the stop", signal.Signals(sig).name)
            self._force.set()

    async def drain(self) -> None:
        """Wait until every event queued so far has been stepped and published."""
        while True:
            if len(self.queue) == 0:
                await self._call(lambda: None)
                if len(self.queue) == 0:
                    return
            await asyncio.sleep(0.001)

    async def call(self, fn: Callable[[_core.Engine], T]) -> T:
        """Run ``fn(engine)`` on the engine thread, between steps (how to read the engine
        while the node runs: ``await node.call(lambda e: e.portfolio)``)."""
        return await self._call(lambda: fn(self.engine))

    async def stop(self) -> None:
        """Stop gracefully: stop the strategies (``on_stop``, ``on_save``), cancel or keep
        their working orders (``settings.shutdown_orders``), stop the engine and publish
        its last events, close the queue and the feeds, then run the shutdown closers.
        ``force()`` (or a second signal) skips whatever is still being waited for."""
        if self._state in ("stopping", "stopped"):
            await self._done.wait()
            return
        started = self._state == "running"
        self._state = "stopping"
        if started:
            if self.router is not None:
                # The strategies stop and their cancels go to the broker while the engine
                # still runs, so the broker's answers are booked (and stored) before it stops.
                await self._bounded("strategies", self._call(self._stop_strategies))
                await self._bounded(
                    "broker answers", self.router.settle(self.settings.shutdown_timeout_s / 2)
                )
            await self._bounded("engine shutdown", self._call(self._shutdown_engine))
            self._halt.set()
            if self._thread is not None:
                await self._bounded("engine thread", asyncio.to_thread(self._thread.join))
        self.queue.close()
        if self.router is not None:
            await self._bounded("broker", self.router.stop())
        if started:
            for feed in self.feeds:
                await self._bounded(f"feed {feed.name}", feed.stop())
        for name, closer in self._closers:
            await self._bounded(name, _awaitable(closer))
        self._state = "stopped"
        self._done.set()
        log.info("node stopped")

    def force(self) -> None:
        """Stop waiting for anything in a running ``stop()``."""
        self._force.set()

    # ------------------------------------------------------------------ engine thread

    def _engine_loop(self) -> None:
        engine, q = self.engine, self.queue
        batch, idle = self.settings.batch_max, self.settings.idle_ms / 1000
        while not self._halt.is_set():
            try:
                engine.step_queue(q, batch, idle)
                if self.clock is not None:
                    due = engine.next_timer_ns
                    if due is not None:
                        now = self._live_ns()
                        if due <= now:
                            engine.step_time(now)
            except Exception:
                # The engine's own error (a strategy's is isolated): report and go on.
                log.exception("engine step failed")
            self._after_step()
            self._run_commands()
            if self._pressure:
                self._wait_for_consumers()
        self._run_commands()

    def _behind(self) -> str | None:
        """The first consumer whose backlog is over its limit (``add_backpressure``)."""
        return next((what for full, what in self._pressure if full()), None)

    def _wait_for_consumers(self) -> None:
        behind = self._behind()
        if behind is None:
            return
        start = last = time.monotonic()
        self.waiting_since = start
        said: str | None = None  # the consumer the log line and alert named
        while behind is not None and not self._halt.is_set():
            self.waiting_for = behind
            time.sleep(0.001)
            now = time.monotonic()
            self.paused_s += now - last
            last = now
            if said is None and now - start >= PAUSE_SAID_S:
                # Trading stands still: an operator must hear it (a blip stays quiet).
                log.warning(
                    "trading paused: waiting for %s to catch up (its backlog is over its "
                    "limit); the engine and its feeds go on when it does",
                    behind,
                )
                said = behind
                self._tell_pause(behind, None)
            self._run_commands()  # stop and other commands still go through
            behind = self._behind()
        self.waiting_for = self.waiting_since = None
        if said is not None:
            waited = time.monotonic() - start
            log.warning("trading goes on after %.1f s waiting", waited)
            self._tell_pause(said, waited)

    def _run_commands(self) -> None:
        while True:
            try:
                fn, fut = self._commands.get_nowait()
            except queue.Empty:
                return
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                result = fn()
            except BaseException as exc:  # handed to the caller, who raises it
                self._after_step()
                fut.set_exception(exc)
            else:
                # Published (and orders handed to the broker) before the caller resumes.
                self._after_step()
                fut.set_result(result)

    def _live_ns(self) -> int:
        """The live clock's time: the wall clock less the vendor's delay."""
        assert self.clock is not None
        return self.clock.timestamp_ns() - self.data_delay_ns

    def _after_step(self) -> None:
        """Failed strategies reported, refused events counted, the events published."""
        engine = self.engine
        failures = engine.take_failures()
        for k, exc in failures:
            self._fail(k, exc)
        rejected = engine.take_rejected()
        if rejected:
            self.rejected += len(rejected)
            topic, ts, message = rejected[0]
            hint = ""
            if "before the engine clock" in message:
                # Said in a trader's terms: what is late and what setting takes it.
                hint = (
                    f" (the node's clock is past it: data older than the node's start less "
                    f"PI5_NODE__LATE_DATA_MS={self.settings.late_data_ms}, or a vendor's "
                    f"late minute, is refused; a vendor whose data runs minutes behind "
                    f"needs PI5_FEED__DELAY_S)"
                )
            log.warning(
                "%d event(s) refused, first %s at %s (%d): %s%s",
                len(rejected), topic, iso_utc(ts, "milliseconds"), ts, message, hint,
            )  # fmt: skip
        if self.router is not None:
            outgoing = engine.take_outgoing()
            if outgoing:
                self.router.post(outgoing)
        try:
            engine.publish(self.bus)
        except Exception:
            log.exception("a bus handler raised while the engine's events were published")
        if self._statuses:
            statuses, self._statuses = self._statuses, []
            try:
                self.bus.publish_many(STRATEGY_STATUS, statuses)
            except Exception:
                log.exception("a bus handler raised on a strategy status")

    def _stop_strategies(self) -> None:
        # Timers due by now fire before the strategies stop, as at a backtest's end.
        self.engine.step_time(int(self.engine.now))
        for rec in list(self._strategies.values()):
            if rec.status in ("running", "paused"):
                self._stop(rec, orders=self.settings.shutdown_orders, shutdown=True)

    def _shutdown_engine(self) -> None:
        self._stop_strategies()
        self.engine.stop()
        self._engine_started = False
        self._halt.set()

    # ------------------------------------------------------------------ strategy changes

    def _get(self, strategy_id: str) -> ManagedStrategy:
        rec = self._strategies.get(strategy_id)
        if rec is None:
            known = ", ".join(sorted(self._strategies)) or "none"
            raise ConfigurationError(
                f"no strategy {strategy_id!r} in the node (there are: {known})"
            )
        return rec

    def _start(self, rec: ManagedStrategy) -> None:
        rec.check("start")
        s = rec.strategy
        if rec.saved:
            try:
                s.on_load(dict(rec.saved))
            except Exception as exc:
                self._failed(rec, exc)
                return
        if rec.index < 0:
            s._attach(self.engine, rec.symbols)
            rec.index = s._k
            self._by_index[rec.index] = rec
            sent = self._order_numbers.get(rec.id, 0)
            if sent:
                self.engine.resume_order_ids(rec.index, sent)
        rec.error = None
        if not self._engine_started:
            return  # started with the engine, in start()
        self._set_status(rec, "running")
        self.engine.start_strategy(rec.index)
        for k, error in self.engine.take_failures():
            self._fail(k, error)

    def _stop(
        self, rec: ManagedStrategy, orders: str | None = None, *, shutdown: bool = False
    ) -> None:
        rec.check("stop")
        self.engine.stop_strategy(rec.index)
        failures = self.engine.take_failures()
        self._orders_of(rec, orders or self.settings.failed_orders)
        for k, error in failures:
            self._fail(k, error)
        if rec.status == "failed":
            return
        try:
            rec.saved = dict(rec.strategy.on_save())
        except Exception as exc:
            self._failed(rec, exc)
            return
        self._set_status(rec, "stopped", shutdown=shutdown)

    def _orders_of(self, rec: ManagedStrategy, policy: str) -> None:
        """Cancel the strategy's working orders (policy ``cancel``) or leave them."""
        if policy != "cancel" or rec.index < 0:
            return
        for oid in self.engine.open_orders(rec.index):
            self.engine.cancel(oid)
        self.engine.settle()

    def _fail(self, k: int, exc: BaseException) -> None:
        rec = self._by_index.get(k)
        if rec is None:
            log.error("strategy #%d failed: %r", k, exc)
            return
        self._failed(rec, exc)

    def _failed(self, rec: ManagedStrategy, exc: BaseException) -> None:
        tb = "".join(traceback.format_exception(exc))
        log.error("strategy %r failed and was stopped:\n%s", rec.id, tb)
        rec.error = tb
        if rec.index >= 0:
            self.engine.set_active(rec.index, False)
            self._orders_of(rec, self.settings.failed_orders)
        self._set_status(rec, "failed", tb)

    def _set_status(
        self,
        rec: ManagedStrategy,
        status: StrategyState,
        error: str | None = None,
        *,
        shutdown: bool = False,
    ) -> None:
        rec.status = status
        ts = self._live_ns() if self.clock is not None else int(self.engine.now)
        self._statuses.append(StrategyStatus(ts, rec.id, status, error, shutdown))
        if self._thread is None:
            self._after_step()  # nothing runs the engine yet: publish now

    # ------------------------------------------------------------------ plumbing

    async def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the engine thread between steps (inline before it runs)."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            if self._state == "stopped":
                raise InvalidStateError("the node has stopped")
            return fn()
        if threading.current_thread() is thread:
            raise InvalidStateError("a strategy callback cannot command the node")
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._commands.put((fn, fut))
        self.queue.wake()  # the engine runs it now, not after its idle wait
        return await asyncio.wrap_future(fut)

    def post_command(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the engine thread between steps without waiting for it (commands
        run in the order posted); its errors are logged. Dropped once the node stopped."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            if self._state == "stopped":
                log.debug("node stopped: command dropped")
                return
            fn()
            return
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        fut.add_done_callback(_log_failure)
        self._commands.put((fn, fut))
        self.queue.wake()

    async def _bounded(self, what: str, aw: Awaitable[object]) -> None:
        """Await ``aw`` for at most the shutdown timeout, or until forced."""
        task = asyncio.ensure_future(aw)
        forced = asyncio.ensure_future(self._force.wait())
        done, _ = await asyncio.wait(
            {task, forced},
            timeout=self.settings.shutdown_timeout_s,
            return_when=asyncio.FIRST_COMPLETED,
        )
        forced.cancel()
        if task not in done:
            task.cancel()
            why = "forced" if self._force.is_set() else "timed out"
            log.warning("shutdown: %s %s", what, why)
        elif (error := task.exception()) is not None:
            log.error("shutdown: %s failed: %r", what, error)


def _log_failure(fut: concurrent.futures.Future[Any]) -> None:
    if not fut.cancelled() and (error := fut.exception()) is not None:
        log.error("a posted command failed: %r", error)


async def _awaitable(closer: Closer) -> None:
    result = closer()
    if isinstance(result, Awaitable):
        await result


__all__ = ["NodeState", "TradingNode"]
