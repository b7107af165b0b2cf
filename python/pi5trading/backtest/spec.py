"""A backtest described as data: what the CLI builds, the optimiser varies and the API stores.

``BacktestSpec`` names the strategy (built-in name, ``file.py[:Class]`` or
``module:Class``), its parameters, the data (a bar file, or ``generated:<bars>[:<seed>]``),
the date range, the venue settings and the risk profile. ``run_spec`` turns it into a
``BacktestResult``; the same spec always gives the same result.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import warnings
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from pi5trading.config import RiskLimitValue
from pi5trading.data.bars import BarFrame, DataReport, Policy, check_bars, load_bars
from pi5trading.data.exact import raw_from_objects
from pi5trading.data.synthetic import random_walk_bars
from pi5trading.exceptions import ConfigurationError
from pi5trading.model import Instrument
from pi5trading.risk import RiskEngine, build_risk_engine
from pi5trading.venue import SimulatedVenue

if TYPE_CHECKING:
    from pi5trading.config import Settings
    from pi5trading.engine import BacktestResult
    from pi5trading.engine.backtest import Progress
    from pi5trading.storage.records import InstrumentRow
    from pi5trading.strategies.base import Strategy


class BacktestSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    strategy: str = "sma_crossover"
    params: dict[str, Any] = {}
    symbol: str | None = None
    """The instrument the bars are for. Default: the database instrument of ``db:<id>``,
    the first word of a file's name (``AAPL.csv``, ``BTCUSDT-1m-2024.csv`` -> ``AAPL``,
    ``BTCUSDT``), ``SIM`` for generated data."""
    data: str = "generated:100000"
    """A CSV/Parquet bar file; ``db:<instrument id>`` for bars stored in the database
    (``pi5trading data import``); or ``generated:<bars>[:<seed>]``, a seeded random walk
    of one-minute bars in US market hours."""
    timestamps: Literal["open", "close"] = "open"
    """Whether the file's timestamps are the bars' open (vendor convention) or close."""
    interval: str | None = None
    """The bar interval (``1m``, ``1d``...). Default: taken from a file's timestamps, the
    one interval stored for a ``db:`` instrument, ``1m`` for generated data."""
    start: str | None = None
    """ISO date/time (UTC unless an offset is given); bars before it are skipped."""
    end: str | None = None
    """ISO date/time; bars from it on are skipped."""
    starting_cash: Decimal = Decimal(100_000)
    venue: dict[str, Any] = {}
    """Keyword arguments of ``SimulatedVenue`` (slippage, commission, market_fill...)."""
    risk: str | None = "default"
    """A risk profile name, or ``None`` for no pre-trade checks."""
    risk_limits: dict[str, RiskLimitValue] = {}
    """Account limits replacing the profile's, by name (``None`` = off); the CLI fills them
    from ``PI5_RISK__*`` when ``--risk`` is not given."""
    data_policy: Policy = "error"
    strategy_id: str | None = None
    tick: Decimal | None = None
    """The instrument's price increment. Default: the instruments table's for ``db:``
    data, else the cent or the data's finer one (a 6-decimal file gets 0.000001)."""
    lot: Decimal | None = None
    """The instrument's quantity increment (default: the table's, else 1)."""
    currency: str | None = None
    """The instrument's currency (default: the table's, else USD)."""
    asset_class: str | None = None
    """EQUITY, ETF, CRYPTO, FX, FUTURE, ... (default: the table's, else EQUITY)."""
    calendar: Literal["session", "24/7"] | None = None
    """``24/7`` for markets that never close (crypto): no trading-hours denials."""

    def __post_init__(self) -> None:
        if self.symbol is None:
            self.symbol = symbol_of(self.data)

    @property
    def instrument(self) -> str:
        """The symbol, set (``__post_init__`` fills it from the data)."""
        return self.symbol or symbol_of(self.data)


def symbol_of(data: str) -> str:
    """The instrument a data source is for (see ``BacktestSpec.symbol``)."""
    if data.startswith("db:") and data[3:]:
        return data[3:]
    if data.startswith("generated:"):
        return "SIM"
    word = re.split(r"[\s_.\-]+", Path(data).stem.strip())[0].upper()
    # A symbol is printable ASCII without spaces, at most 23 characters (the core's limit).
    ok = 0 < len(word) <= 23 and word.isascii() and word.isalnum()
    return word if ok else "SIM"


def parse_time(text: str | None) -> int | None:
    """An ISO date or date-time as UTC ns (``None`` stays ``None``)."""
    if text is None:
        return None
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigurationError(f"not an ISO date/time: {text!r}") from exc
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(t.timestamp()) * 10**9 + t.microsecond * 1000


def load_frame(spec: BacktestSpec) -> BarFrame:
    """The spec's bars, validated, cut to its date range."""
    return load_data(spec)[0]


def load_data(
    spec: BacktestSpec, settings: Settings | None = None
) -> tuple[BarFrame, DataReport | None]:
    """The spec's bars, validated, cut to its date range, and for a file what the reader
    found and (with ``data_policy="repair"``) dropped. ``db:`` bars come from ``settings``'
    database (default: the environment's)."""
    report: DataReport | None = None
    if spec.data.startswith("generated:"):
        parts = spec.data.split(":")
        try:
            n = int(parts[1])
            seed = int(parts[2]) if len(parts) > 2 else 42
        except (IndexError, ValueError) as exc:
            raise ConfigurationError(
                f"data {spec.data!r}: expected generated:<bars>[:<seed>]"
            ) from exc
        if n < 1 or len(parts) > 3:
            raise ConfigurationError(
                f"data {spec.data!r}: expected generated:<bars>[:<seed>] with <bars> >= 1"
            )
        frame, _ = check_bars(
            BarFrame.from_columns(random_walk_bars(n, seed=seed, market_hours=True), spec.data)
        )
    elif spec.data.startswith("db:"):
        frame = _from_database(spec, settings)
    else:
        path = Path(spec.data)
        if path.is_dir():
            raise ConfigurationError(f"data {spec.data}: is a folder, not a bar file")
        if not path.is_file():
            raise ConfigurationError(f"data file not found: {spec.data}")
        frame, report = load_bars(
            path, spec.data_policy, interval=spec.interval, timestamps=spec.timestamps
        )
    cut = frame.between(parse_time(spec.start), parse_time(spec.end))
    if len(cut) == 0 and len(frame) and (spec.start or spec.end):
        first, last = (
            dt.datetime.fromtimestamp(int(t) / 1e9, tz=dt.UTC) for t in frame.ts[[0, -1]]
        )
        raise ConfigurationError(
            f"no bars from --start {spec.start or '(first)'} to --end {spec.end or '(last)'}: "
            f"{spec.data} has bars from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"
        )
    return cut, report


_STORED_INTERVALS = ("1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w")


async def _stored_interval(repo: Any, instrument: str) -> str:
    """The one interval stored for ``instrument`` (``1m`` when none is: the caller then says
    there are no bars); several stored: the user chooses with ``--interval``."""
    found = [i for i in _STORED_INTERVALS if await repo.count_bars(instrument, i)]
    if len(found) > 1:
        raise ConfigurationError(
            f"{instrument!r} has bars of several intervals in the database "
            f"({', '.join(found)}): choose one with --interval"
        )
    return found[0] if found else "1m"


def spec_interval(spec: BacktestSpec, frame: BarFrame) -> str:
    """The interval the spec's bars are run at: the spec's, else the data's."""
    from pi5trading.data.bars import infer_interval

    return spec.interval or infer_interval(frame.ts) or "1m"


def _from_database(spec: BacktestSpec, settings: Settings | None = None) -> BarFrame:
    """Bars of ``db:<instrument id>`` from the configured database (open time + interval
    becomes the engine's close-time stamp)."""
    import asyncio

    import numpy as np

    from pi5trading.config import load_settings
    from pi5trading.data.bars import interval_ns
    from pi5trading.storage.connect import open_repository, prepare_database, sqlite_path

    instrument = spec.data[3:].strip()
    if not instrument:
        raise ConfigurationError(f"data {spec.data!r}: expected db:<instrument id>")
    if settings is None:
        settings = load_settings()
    db_file = sqlite_path(settings.database.url, settings.data_dir)
    if db_file is not None and not db_file.is_file():
        # Reading must not create an empty database.
        raise ConfigurationError(
            f"no bars for {instrument!r}: there is no database at {db_file} yet "
            "(import bars with `pi5trading data import FILE -i INSTRUMENT`)"
        )

    async def fetch() -> tuple[list[Any], str]:
        repo = await open_repository(settings)
        try:
            if settings.database.migrate_on_start:
                # A database from an older version: its tables first (as `runs` does).
                await prepare_database(settings, repo.driver)
            interval = spec.interval or await _stored_interval(repo, instrument)
            bars: list[Any] = await repo.get_bars(
                instrument, interval, parse_time(spec.start), parse_time(spec.end)
            )
            return bars, interval
        finally:
            await repo.close()

    rows, interval = asyncio.run(fetch())
    if not rows:
        raise ConfigurationError(
            f"no {interval} bars for {instrument!r} in the database "
            "(import some with `pi5trading data import`)"
        )
    step = interval_ns(interval)
    # Exact: stored Decimals to raw units, no float in between.
    cols = {}
    for name in ("open", "high", "low", "close", "volume"):
        raw, bad = raw_from_objects([getattr(b, name) for b in rows])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ConfigurationError(f"{spec.data}: bar {i + 1}: {name} is not an exact number")
        cols[name] = raw
    frame, _ = check_bars(
        BarFrame.from_raw(
            np.array([b.ts_ns + step for b in rows], dtype=np.int64),
            cols["open"],
            cols["high"],
            cols["low"],
            cols["close"],
            cols["volume"],
            source=spec.data,
        )
    )
    return frame


def data_instrument(symbol: str, frame: BarFrame) -> Instrument:
    """A US-equity-like instrument whose tick fits the data: $0.01, or 10^-d when prices
    have d > 2 decimals, so real files (adjusted closes, sub-cent ticks) are never refused
    for their tick."""
    return spec_instrument(BacktestSpec(symbol=symbol), frame)[0]


def _places(value: Decimal) -> int:
    return max(0, -int(value.normalize().as_tuple().exponent))


def spec_instrument(
    spec: BacktestSpec, frame: BarFrame, settings: Settings | None = None
) -> tuple[Instrument, list[str]]:
    """The instrument the spec's bars trade as, and notes on what was inferred. Each
    property comes from the spec (CLI options), else the instruments table (``db:`` data,
    in ``settings``' database, default the environment's), else the data (the tick) or the
    US-equity default."""
    row = None
    if spec.data.startswith("db:"):
        row = (
            _instrument_row(spec.data[3:])
            if settings is None
            else _read_row(spec.data[3:], settings)
        )
    notes: list[str] = []
    decimals = frame.price_decimals
    tick = spec.tick if spec.tick is not None else (row.price_increment if row else None)
    if tick is None:
        tick = Decimal(1).scaleb(-max(2, decimals))
        if decimals > 2:
            notes.append(
                f"tick {tick:f} taken from the data's {decimals}-decimal prices (--tick sets it)"
            )
    elif tick <= 0:
        raise ConfigurationError(f"tick {tick}: must be > 0")
    elif decimals > _places(tick):
        notes.append(
            f"prices have {decimals} decimals, finer than the tick {tick:f}: fills use the "
            "data's prices; order prices are rounded to the tick"
        )
    lot = spec.lot if spec.lot is not None else (row.size_increment if row else Decimal(1))
    if lot <= 0:
        raise ConfigurationError(f"lot {lot}: must be > 0")
    currency = spec.currency or (row.currency if row else "USD")
    asset = (spec.asset_class or (row.asset_class if row else "EQUITY")).upper()
    try:
        ins = Instrument(
            spec.instrument,
            row.venue if row else "SIM",
            asset,  # type: ignore[arg-type]  # checked by Instrument, which names it
            currency,
            f"{tick:f}",
            f"{lot:f}",
            calendar=spec.calendar,
        )
    except ValueError as exc:
        raise ConfigurationError(f"instrument {spec.instrument}: {exc}") from exc
    return ins, notes


@functools.lru_cache(maxsize=64)
def _instrument_row(instrument_id: str) -> InstrumentRow | None:
    """The instruments table's row (cached: a sweep runs the same spec many times)."""
    from pi5trading.config import load_settings

    return _read_row(instrument_id, load_settings())


def _read_row(instrument_id: str, settings: Settings) -> InstrumentRow | None:
    import asyncio

    from pi5trading.storage.connect import open_repository

    async def fetch() -> InstrumentRow | None:
        repo = await open_repository(settings)
        try:
            row: InstrumentRow | None = await repo.get_instrument(instrument_id)
            return row
        finally:
            await repo.close()

    return asyncio.run(fetch())


def make_venue(spec: BacktestSpec) -> SimulatedVenue:
    kwargs = dict(spec.venue)
    kwargs.setdefault("starting_cash", spec.starting_cash)
    try:
        return SimulatedVenue(**kwargs)
    except TypeError as exc:
        raise ConfigurationError(f"venue settings: {exc}") from exc


def make_risk(spec: BacktestSpec) -> RiskEngine | None:
    """The spec's risk engine: its profile with its limit overrides, or none."""
    if spec.risk is None:
        if spec.risk_limits:
            raise ConfigurationError("risk limits were given without a risk profile")
        return None
    return build_risk_engine(spec.risk, spec.risk_limits)


def strategy_class(spec: BacktestSpec) -> type[Strategy]:
    """The spec's strategy class, its parameters checked (before any data is read)."""
    from pi5trading.strategies.base import build_config
    from pi5trading.strategies.loader import load_strategy

    cls = load_strategy(spec.strategy)
    build_config(cls.Config, spec.params, strategy=spec.strategy)
    return cls


def run_spec(
    spec: BacktestSpec,
    frame: BarFrame | None = None,
    *,
    progress: Progress | bool = False,
    progress_every: int = 65_536,
    params: dict[str, Any] | None = None,
    data_report: DataReport | None = None,
    strategy: type[Strategy] | None = None,
    settings: Settings | None = None,
) -> BacktestResult:
    """Run ``spec`` (optionally on an already loaded ``frame`` with the reader's
    ``data_report``, with ``params`` overriding the spec's, and with its ``strategy``
    class already loaded). ``progress``: a rich bar, or ``(done, total)`` called every
    ``progress_every`` bars. ``settings``: where ``db:`` data is read (default: the
    environment's)."""
    from pi5trading.engine import BacktestRunner
    from pi5trading.engine.denials import RiskDenialWarning
    from pi5trading.strategies.loader import load_strategy

    cls = strategy if strategy is not None else load_strategy(spec.strategy)
    instance = cls({**spec.params, **(params or {})}, strategy_id=spec.strategy_id)
    runner = BacktestRunner(venue=make_venue(spec), risk=make_risk(spec))
    if frame is None:
        frame, data_report = load_data(spec, settings)
    bars = frame
    instrument, notes = spec_instrument(spec, bars, settings)
    runner.add_instrument(instrument)
    interval = spec_interval(spec, bars)
    runner.add_bars(spec.instrument, bars, interval)
    runner.add_strategy(instance, [spec.instrument])
    with warnings.catch_warnings():
        # Specs run from the CLI and in sweeps: the result's ``risk_warning`` is shown once
        # by the caller (a Python warning per run would repeat it for every sweep point).
        warnings.simplefilter("ignore", RiskDenialWarning)
        result = runner.run(progress=progress, progress_every=progress_every)
    result.data_report = data_report
    result.meta["interval"] = interval
    result.meta["instrument"] = (
        f"{instrument.symbol} ({instrument.asset_class}, {instrument.currency}, "
        f"tick {instrument.tick_size}, lot {instrument.lot_size}) from {spec.data}"
    )
    if notes:
        result.meta["notes"] = notes
    if spec.risk_limits:
        # The engine records the profile's name; the report also shows what replaced it.
        result.meta["risk_limits"] = ", ".join(
            f"{k}={'off' if v is None else v}" for k, v in sorted(spec.risk_limits.items())
        )
    return result
