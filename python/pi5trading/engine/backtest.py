"""``BacktestRunner``: strategies + bars + venue + risk -> a deterministic result.

The loop runs in Rust (``_core.Engine``); this module wires it, shows progress and
turns what the engine recorded into trades, statistics and reports. Same inputs, same
fills, same report, byte for byte.
"""

from __future__ import annotations

import datetime as dt
import inspect
import linecache
import os
import sysconfig
import traceback
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import cache, cached_property
from pathlib import Path
from types import CodeType
from typing import Any

import numpy as np
import numpy.typing as npt

from pi5trading import _core
from pi5trading.analysis.montecarlo import ChunkMap, MonteCarloResult, resample_trades
from pi5trading.analysis.performance import Performance, analyse
from pi5trading.analysis.records import EquityCurve
from pi5trading.analysis.report import DEFAULT_EQUITY_RESOLUTION, write_report
from pi5trading.analysis.trades import TradeList
from pi5trading.data.bars import BarFrame, DataReport, check_bars, is_checked
from pi5trading.engine.denials import warn_if_mostly_denied
from pi5trading.exceptions import ConfigurationError, InvalidInputError, StrategyError
from pi5trading.risk import build_risk_engine
from pi5trading.strategies.base import Strategy

Exact = Decimal | int | str
Progress = Callable[[int, int], None]
_SCALE = 10**9


def us_equity(symbol: str, venue: str = "SIM") -> _core.Instrument:
    """A US stock: $0.01 tick, 1-share lot, USD."""
    return _core.Instrument(symbol, venue, "EQUITY", "USD", "0.01", "1")


class BacktestResult:
    """What a run produced: equity curve, fills, closed trades, statistics.

    Trades and statistics are computed on first access, so a caller that only needs the
    fills (an optimiser's inner loop) does not pay for them.
    """

    def __init__(
        self,
        *,
        curve: EquityCurve,
        fills: Sequence[_core.FillRecord],
        denials: list[_core.DenialRecord],
        final_portfolio: _core.Portfolio,
        bars: dict[str, BarFrame],
        meta: dict[str, Any],
        round_trips: tuple[list[_core.RoundTrip], list[tuple[str, str, int]]] | None = None,
        position_open: npt.NDArray[np.bool_] | None = None,
        traded_notional: float | None = None,
        orders: int = 0,
    ) -> None:
        self.curve = curve
        self.fills = fills
        self.denials = denials
        self.portfolio = final_portfolio
        self.bars = bars
        self.meta = meta
        self._trips = round_trips
        self._position_open = position_open
        self._traded_notional = traded_notional
        self.orders = orders
        """New orders the strategies sent (denied ones included)."""
        self.risk_warning: str | None = None
        """Set when the risk engine denied most orders: which check, and how to lift it."""
        self.data_report: DataReport | None = None
        """What the bar reader found in the data file and, with ``repair``, dropped
        (``run_spec`` sets it; shown in the report)."""

    @classmethod
    def from_engine(
        cls, engine: _core.Engine, bars: dict[str, BarFrame], meta: dict[str, Any]
    ) -> BacktestResult:
        """Collect what ``engine`` recorded after its run (cheap; trades and statistics
        are built on first access)."""
        ts, equity = engine.equity_curve()
        return cls(
            curve=EquityCurve(ts, equity),
            fills=engine.fills(),
            denials=engine.denials(),
            final_portfolio=engine.portfolio,
            bars=bars,
            meta=meta,
            position_open=engine.position_open(),
            traded_notional=engine.traded_notional_raw / _SCALE,
            orders=engine.orders_routed,
        )

    @cached_property
    def _round_trips(self) -> tuple[TradeList, dict[tuple[str, str], Decimal]]:
        # Computed from the fills when first asked for, and not kept: the trades are.
        if self._trips is not None:
            trips, still_open = self._trips
            self._trips = None
        elif isinstance(self.fills, _core.FillLog):
            trips, still_open = self.fills.round_trips()
        else:
            trips, still_open = [], []
        return (
            TradeList(trips),
            {(sid, sym): Decimal(q) / _SCALE for sid, sym, q in still_open},
        )

    @property
    def trades(self) -> TradeList:
        """Closed round trips, in exit order (a sequence of ``Trade``s, each built when
        read)."""
        return self._round_trips[0]

    @property
    def open_positions(self) -> dict[tuple[str, str], Decimal]:
        """Positions still open at the end, by (strategy, symbol)."""
        return self._round_trips[1]

    @cached_property
    def performance(self) -> Performance:
        # The statistics read every trade a few times: build them once, for this call only.
        return analyse(
            self.curve,
            list(self.trades),
            starting_equity=float(self.portfolio.starting_cash),
            position_open=self._position_open,
            traded_notional=self._traded_notional,
        )

    def monte_carlo(
        self, simulations: int = 1000, seed: int = 0, *, chunk_map: ChunkMap | None = None
    ) -> MonteCarloResult | None:
        return resample_trades(
            self.trades,
            self.performance.starting_equity,
            simulations=simulations,
            seed=seed,
            chunk_map=chunk_map,
        )

    def write_report(
        self,
        folder: str | Path,
        *,
        title: str | None = None,
        monte_carlo: bool | int = True,
        equity_resolution: str = DEFAULT_EQUITY_RESOLUTION,
        chunk_map: ChunkMap | None = None,
    ) -> Path:
        """Write report.html / report.json / trades.csv / equity.csv into ``folder``.

        ``monte_carlo``: the resamples (``True``: 1,000; ``False`` or 0: none), their chunks
        run by ``chunk_map`` when given (a cluster).

        ``equity_resolution``: ``bar`` (every bar), ``1m`` … ``1d`` (the last equity of
        each period); the default writes one row an hour."""
        prices = {s: (f.ts, f.close) for s, f in self.bars.items()}
        sims = (1000 if monte_carlo else 0) if isinstance(monte_carlo, bool) else monte_carlo
        return write_report(
            folder,
            title=title or f"Backtest: {', '.join(self.meta.get('strategies', []))}",
            meta=self.meta,
            perf=self.performance,
            curve=self.curve,
            trades=list(self.trades),  # read several times: built once, for this call
            prices=prices,
            montecarlo=self.monte_carlo(sims, chunk_map=chunk_map) if sims > 0 else None,
            equity_resolution=equity_resolution,
            data=self.data_report,
        )


class BacktestRunner:
    """Configure and run one backtest.

    ``venue``: a configured ``_core.SimulatedVenue`` (fill, slippage, commission, latency
    and account settings; see docs/venue.md), or ``None`` for the defaults with
    ``starting_cash``. ``risk``: a profile name (``conservative``, ``default``,
    ``aggressive``, ``unlimited``), a configured ``_core.RiskEngine``, or ``None`` for no
    pre-trade checks. Each run starts from a fresh copy of both.
    """

    def __init__(
        self,
        *,
        starting_cash: Exact = Decimal(100_000),
        venue: _core.SimulatedVenue | None = None,
        risk: str | _core.RiskEngine | None = "default",
    ) -> None:
        self.venue = (
            venue if venue is not None else _core.SimulatedVenue(starting_cash=starting_cash)
        )
        if self.venue.external:
            # Nothing would ever fill: an external venue waits for a broker's updates.
            raise ConfigurationError(
                "venue: external=True is for a trading node with a broker, not a backtest"
            )
        if isinstance(risk, str):
            risk = build_risk_engine(risk)
        self.risk = risk
        self.instruments: dict[str, _core.Instrument] = {}
        self.bars: dict[str, tuple[str, BarFrame]] = {}
        self.quotes: dict[str, list[_core.QuoteTick]] = {}
        self.strategies: list[tuple[Strategy, tuple[str, ...]]] = []

    def add_instrument(self, instrument: _core.Instrument | str) -> _core.Instrument:
        ins = us_equity(instrument) if isinstance(instrument, str) else instrument
        self.instruments[ins.symbol] = ins
        return ins

    def add_bars(self, symbol: str, bars: BarFrame, interval: str = "1m") -> None:
        """Add one instrument's bars (registering a US-equity instrument if unknown)."""
        if symbol not in self.instruments:
            self.add_instrument(symbol)
        if symbol in self.bars:
            raise InvalidInputError(f"bars for {symbol!r} were already added")
        if len(bars) == 0:
            raise InvalidInputError(f"no bars for {symbol!r} (check the date range)")
        # Validation in one place (the reader's): a bad row is named by its source line
        # here, before anything runs. Frames from the loaders were checked already.
        if not is_checked(bars):
            check_bars(bars)
        self.bars[symbol] = (interval, bars)

    def add_quotes(self, symbol: str, quotes: Sequence[_core.QuoteTick]) -> None:
        """Add one instrument's quotes, in time order (registering a US-equity instrument
        if unknown). A run with quotes steps bars and quotes in time order through the
        live node's path (``Engine.step_many``); orders fill against the quotes."""
        if symbol not in self.instruments:
            self.add_instrument(symbol)
        if symbol in self.quotes:
            raise InvalidInputError(f"quotes for {symbol!r} were already added")
        if not quotes:
            raise InvalidInputError(f"no quotes for {symbol!r}")
        last = -1
        for i, q in enumerate(quotes):
            if q.symbol != symbol:
                raise InvalidInputError(f"quote #{i} is for {q.symbol!r}, not {symbol!r}")
            if q.ts_event < last:
                raise InvalidInputError(
                    f"quote #{i} of {symbol!r} at {q.ts_event} is before the one before it"
                )
            last = q.ts_event
        self.quotes[symbol] = list(quotes)

    def add_strategy(self, strategy: Strategy, symbols: Sequence[str] | None = None) -> None:
        """Add a strategy; it trades ``symbols``, else its config's, else every symbol."""
        if any(s.id == strategy.id for s, _ in self.strategies):
            raise ConfigurationError(
                f"two strategies share the id {strategy.id!r}: pass strategy_id= to tell them apart"
            )
        syms = tuple(symbols or strategy.config.symbols or ())
        self.strategies.append((strategy, syms))

    def run(
        self, progress: Progress | bool = False, progress_every: int = 65_536
    ) -> BacktestResult:
        """Run every bar through the engine and collect the result; ``progress`` (a rich
        bar, or a ``(done, total)`` callable) hears every ``progress_every`` bars."""
        if not self.bars and not self.quotes:
            raise InvalidInputError("no bars: add_bars() first")
        if not self.strategies:
            raise InvalidInputError("no strategy: add_strategy() first")
        engine = _core.Engine(self.venue, self.risk)
        for ins in self.instruments.values():
            engine.add_instrument(ins)
        stepped = _stepped_events(self.bars, self.quotes) if self.quotes else None
        if stepped is None:
            for symbol, (interval, f) in self.bars.items():
                # Raw or float columns, read in place by the engine (no copy).
                ts, cols = f.engine_columns()
                engine.add_bars(symbol, interval, ts, *cols)
        all_symbols = tuple(dict.fromkeys([*self.bars, *self.quotes]))
        for strategy, syms in self.strategies:
            chosen = syms or all_symbols
            unknown = [s for s in chosen if s not in all_symbols]
            if unknown:
                raise ConfigurationError(
                    f"strategy {strategy.id!r} trades {unknown} but no bars were added for them"
                )
            strategy._attach(engine, chosen)
        callback = _RichProgress() if progress is True else (progress or None)
        try:
            if stepped is None:
                engine.run(callback, progress_every)
            else:
                # Quotes: the live path, one event at a time in time order; a strategy's
                # exception still ends the run.
                engine.start(stepped[0][1], isolate=False)
                engine.step_many(stepped)
                engine.stop()
        except Exception as exc:
            failure = _strategy_error(exc, engine, self.strategies, callback)
            if failure is None:
                raise
            raise failure from exc
        finally:
            if callback is not None and hasattr(callback, "close"):
                callback.close()
        if stepped is not None and (refused := engine.take_rejected()):
            topic, at, message = refused[0]
            raise InvalidInputError(f"{topic} at {at}: {message}")
        result = self._collect(engine)
        result.risk_warning = warn_if_mostly_denied(result.denials, result.orders)
        return result

    def _collect(self, engine: _core.Engine) -> BacktestResult:
        portfolio: _core.Portfolio = engine.portfolio
        meta: dict[str, Any] = {
            "strategies": [s.id for s, _ in self.strategies],
            "symbols": list(self.bars),
            "bars": sum(len(f) for _, f in self.bars.values()),
            "starting_cash": str(portfolio.starting_cash),
            "risk": self.risk.profile if self.risk is not None else "none",
        }
        for s, _ in self.strategies:
            meta[f"params[{s.id}]"] = _params(s)
        return BacktestResult.from_engine(engine, {s: f for s, (_, f) in self.bars.items()}, meta)


def _stepped_events(
    bars: dict[str, tuple[str, BarFrame]], quotes: dict[str, list[_core.QuoteTick]]
) -> list[tuple[str, int, object]]:
    """Bars and quotes as ``(topic, ts, event)`` in time order, ties in the order the
    series were added (bars first), as a node replaying them would step them."""
    rows: list[tuple[int, int, int, str, object]] = []
    k = 0
    for symbol, (interval, f) in bars.items():
        ts, o, h, lo, c, v = f.raw_columns()
        topic = f"data.bars.{symbol}.{interval}"
        for i in range(len(f)):
            bar = _core.Bar(
                f"{symbol}-{interval}",
                Decimal(int(o[i])).scaleb(-9),
                Decimal(int(h[i])).scaleb(-9),
                Decimal(int(lo[i])).scaleb(-9),
                Decimal(int(c[i])).scaleb(-9),
                Decimal(int(v[i])).scaleb(-9),
                int(ts[i]),
            )
            rows.append((int(ts[i]), k, i, topic, bar))
        k += 1
    for symbol, qs in quotes.items():
        topic = f"data.quotes.{symbol}"
        rows.extend((q.ts_event, k, i, topic, q) for i, q in enumerate(qs))
        k += 1
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return [(topic, ts, ev) for ts, _, _, topic, ev in rows]


def _code_of(fn: object) -> CodeType | None:
    code = getattr(fn, "__code__", None) or getattr(type(fn).__call__, "__code__", None)
    return code if isinstance(code, CodeType) else None


@cache
def _library_dirs() -> tuple[str, ...]:
    """Folders whose frames are not the user's: this package, the standard library and
    installed packages."""
    paths = sysconfig.get_paths()
    dirs = {str(Path(__file__).parents[1])} | {paths[k] for k in ("stdlib", "purelib", "platlib")}
    return tuple(os.path.join(d, "") for d in dirs)


def _strategy_error(
    exc: Exception,
    engine: _core.Engine,
    strategies: Sequence[tuple[Strategy, tuple[str, ...]]],
    progress: object,
) -> StrategyError | None:
    """``exc`` as a ``StrategyError`` naming the user's file, line, callback and bar, if a
    strategy callback raised it (``None`` for the engine's own errors and the progress
    callback's)."""
    tb = exc.__traceback__
    # The first frame is run() itself; the next one is what the engine called back.
    entry = tb.tb_next if tb is not None else None
    if entry is None or entry.tb_frame.f_code is _code_of(progress):
        return None
    owner = entry.tb_frame.f_locals.get("self")
    if not isinstance(owner, Strategy):
        owner = strategies[0][0] if len(strategies) == 1 else None
    own_file = inspect.getsourcefile(type(owner)) if owner is not None else None
    frames = list(traceback.walk_tb(entry))
    # The deepest frame in the user's code: the line they wrote, not the library below it.
    frame, lineno = next(
        (
            (f, n)
            for f, n in reversed(frames)
            if f.f_code.co_filename == own_file
            or not f.f_code.co_filename.startswith(_library_dirs())
        ),
        frames[0],
    )
    callback = entry.tb_frame.f_code.co_name
    filename = frame.f_code.co_filename
    ts = None if callback == "on_start" else int(engine.now)
    if callback == "on_start":
        when = "before the first bar"
    elif callback == "on_stop":
        when = "after the last bar"
    else:
        when = f"on the bar closing {_utc(ts)}"
    shown = os.path.relpath(filename) if filename.startswith(os.getcwd()) else filename
    who = f"strategy {owner.id!r}" if owner is not None else "a strategy"
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    line = linecache.getline(filename, lineno).strip()
    func = frame.f_code.co_name
    via = func if func == callback else f"{func} called from {callback}"
    message = f"{shown}, line {lineno}, in {via} ({who}, {when}): {text}"
    return StrategyError(
        message + (f"\n    {line}" if line else ""),
        strategy_id=owner.id if owner is not None else None,
        callback=callback,
        filename=filename,
        lineno=lineno,
        ts=ts,
    )


def _utc(ns: int | None) -> str:
    if ns is None:
        return "?"
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _params(strategy: Strategy) -> str:
    import msgspec

    d = msgspec.to_builtins(strategy.config)
    return ", ".join(f"{k}={v}" for k, v in d.items() if k != "symbols")


class _RichProgress:
    """A rich progress bar fed by the engine's ``(done, total)`` callback."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._p = Progress(
            TextColumn("backtest"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("bars"),
            TimeRemainingColumn(),
            transient=False,
        )
        self._task: Any = None
        self._p.start()

    def __call__(self, done: int, total: int) -> None:
        if self._task is None:
            self._task = self._p.add_task("run", total=total)
        self._p.update(self._task, completed=done)

    def close(self) -> None:
        self._p.stop()
