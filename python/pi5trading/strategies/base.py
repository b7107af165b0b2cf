"""The strategy API: subclass ``Strategy``, give it a ``Config``, react to bars.

A strategy is a plain Python class. The engine (Rust) feeds the indicators it registers
before each callback, and calls ``on_bar`` only once they are all ready (set
``warmup = True`` on the class to be called during warm-up too). Orders go through
``buy``/``sell``/``submit_order``, which pass the same pre-trade risk checks as orders from
the API; a market order sent from ``on_bar`` fills at the next bar's open (see
docs/strategies.md for the fill conventions).

Example::

    class SmaCross(Strategy):
        class Config(StrategyConfig):
            fast: int = 10
            slow: int = 30
            quantity: Decimal = Decimal(100)

        def on_start(self) -> None:
            fast = self.indicator(SMA(self.config.fast))
            slow = self.indicator(SMA(self.config.slow))
            self.cross = self.crossover(fast, slow)

        def on_bar(self, bar: Bar) -> None:
            if self.cross.value > 0 and self.is_flat():
                self.buy(self.config.quantity)
            elif self.cross.value < 0 and not self.is_flat():
                self.close_position()
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import re
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Final, Literal, TypeVar

import msgspec

from pi5trading import _core
from pi5trading.exceptions import ConfigurationError, InvalidStateError

Side = Literal["buy", "sell"]
OrderType = Literal[
    "market", "limit", "stop_market", "stop_limit", "market_if_touched", "trailing_stop_market"
]
TimeInForce = Literal["gtc", "day", "ioc", "fok", "gtd"]
SizingMethod = Literal[
    "fixed_quantity",
    "fixed_notional",
    "percent_of_equity",
    "fixed_risk",
    "fixed_fractional_risk",
    "volatility_scaled",
    "kelly",
]
Exact = Decimal | int | str

_I = TypeVar("_I")
_S = TypeVar("_S")
_SCALE = 10**9


@dataclasses.dataclass(frozen=True)
class Bounds:
    """The range a numeric parameter takes (a text parameter: its length), checked in one
    place (``convert_config``) for every strategy: an absurd but well-typed value
    (``quantity: 1e30``, ``stop_pct: 1e308``) is refused there, naming the parameter and
    the range, never clamped. Put it in the field's ``Annotated`` with ``.meta`` (the JSON
    schema's minimum and maximum): ``Annotated[float, B, B.meta]``."""

    low: int | float | Decimal | None = None
    high: int | float | Decimal | None = None
    low_open: bool = False
    """The range excludes ``low`` (``0 < x``)."""
    high_open: bool = False
    max_length: int | None = None
    """For text: the most characters."""

    def allows(self, value: object) -> bool:
        if isinstance(value, str):
            return self.max_length is None or len(value) <= self.max_length
        if not isinstance(value, int | float | Decimal) or isinstance(value, bool):
            return True  # not a number: the type check's business
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or not (
            value >= self.high if self.high_open else value > self.high
        )

    def describe(self, name: str) -> str:
        if self.max_length is not None:
            return f"at most {self.max_length} characters"
        low = "" if self.low is None else f"{self.low} {'<' if self.low_open else '<='} "
        high = "" if self.high is None else f" {'<' if self.high_open else '<='} {self.high}"
        return f"{low}{name}{high}"

    @property
    def meta(self) -> msgspec.Meta:
        """The range in the parameters' JSON schema (``/api/v1/strategies/types``)."""
        schema: dict[str, Any] = {}
        if self.low is not None:
            schema["exclusiveMinimum" if self.low_open else "minimum"] = self.low
        if self.high is not None:
            schema["exclusiveMaximum" if self.high_open else "maximum"] = self.high
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        return msgspec.Meta(extra_json_schema=schema)


MAX_PERIOD: Final = 1 << 24
"""The longest indicator period (rust_core/src/indicators/mod.rs ``MAX_PERIOD``)."""
MAX_QUANTITY: Final = Decimal(1_000_000_000)
"""The largest order quantity a built-in takes: 10^9 units, within the core's fixed-point
quantity (an i64 of 10^-9 units, about 9.2 * 10^9)."""
PERIOD: Final = Bounds(1, MAX_PERIOD)
QUANTITY: Final = Bounds(0, MAX_QUANTITY, low_open=True)
PERCENT: Final = Bounds(0, 100, low_open=True)
"""A distance from a price in percent: above 0, at most 100."""
LEVEL: Final = Bounds(0, 100)
"""An oscillator's level (RSI): 0 to 100."""
NAME: Final = Bounds(max_length=64)
"""A short text parameter (a time zone, a time of day)."""

Period = Annotated[int, PERIOD, PERIOD.meta]
"""A parameter that is an indicator's period: 1 to 2**24 (the indicators' longest), refused
with the other parameters' errors (a 422 from the API), not when the strategy starts."""
Quantity = Annotated[Decimal, QUANTITY, QUANTITY.meta]
"""An order quantity: above 0, at most ``MAX_QUANTITY``."""
Percent = Annotated[float, PERCENT, PERCENT.meta]
Level = Annotated[float, LEVEL, LEVEL.meta]
Name = Annotated[str, NAME, NAME.meta]


class StrategyConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every strategy's parameters. Subclass it as ``Config`` inside the strategy.

    Fields need defaults (the strategy must run with no parameters given). Override
    ``validate`` for rules between fields; raise ``ValueError`` with a clear message.
    """

    symbols: tuple[str, ...] = ()
    """Instruments the strategy trades; empty = every instrument of the backtest."""

    def validate(self) -> None:
        """Check rules between fields (e.g. fast < slow); raise ``ValueError``."""


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def build_config(
    cls: type[StrategyConfig], params: Mapping[str, Any] | None, *, strategy: str | None = None
) -> StrategyConfig:
    """``params`` converted to ``cls`` (strings from a CLI become numbers), validated.

    Raises ``ConfigurationError`` naming the parameter, its value and what it takes
    (``strategy`` names the strategy in the message).
    """
    cfg = convert_config(cls, params, strategy=strategy)
    try:
        cfg.validate()
    except ValueError as exc:
        raise ConfigurationError(f"invalid strategy parameters: {exc}") from exc
    return cfg


def convert_config(
    cls: type[StrategyConfig], params: Mapping[str, Any] | None, *, strategy: str | None = None
) -> StrategyConfig:
    """``params`` converted to ``cls``, each value checked against its field's type, but
    not ``validate``d (rules between fields); errors as in ``build_config``."""
    try:
        cfg = msgspec.convert(dict(params or {}), cls, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigurationError(_parameter_error(cls, params or {}, str(exc), strategy)) from exc
    # "NaN" and "Infinity" convert to a Decimal or float; no parameter means them, and a
    # NaN would fail later in a comparison (InvalidOperation) instead of here, named.
    bounds = _bounds(cls)
    for f in msgspec.structs.fields(cls):
        value = getattr(cfg, f.name)
        if isinstance(value, Decimal | float) and not _finite(value):
            raise ConfigurationError(
                f"invalid strategy parameter {f.name}={value!s}: expected a finite number"
            )
        b = bounds.get(f.name)
        if b is not None and not b.allows(value):
            shown = (
                f"{value[:20]!r}... ({len(value)} characters)"
                if isinstance(value, str) and len(value) > 40
                else f"{value!s}"
            )
            raise ConfigurationError(
                f"invalid strategy parameter {f.name}={shown}: out of range,"
                f" allowed: {b.describe(f.name)}"
            )
    return cfg


@functools.cache
def _bounds(cls: type[StrategyConfig]) -> dict[str, Bounds]:
    """Each field's ``Bounds`` from its annotation (``Annotated[...]``, or one inside an
    optional ``... | None``)."""
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception:  # a user's Config whose annotations do not resolve: msgspec's check
        return {}
    out: dict[str, Bounds] = {}
    for name, hint in hints.items():
        for h in (hint, *typing.get_args(hint)):
            found = [m for m in getattr(h, "__metadata__", ()) if isinstance(m, Bounds)]
            if found:
                out[name] = found[0]
                break
    return out


def _finite(value: Decimal | float) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)


def _parameter_error(
    cls: type[StrategyConfig], params: Mapping[str, Any], error: str, strategy: str | None
) -> str:
    """msgspec's ``Expected `int`, got `str` - at `$.fast``` as the parameter, its value
    and what it takes; an unknown name with the names there are."""
    unknown = re.fullmatch(r"Object contains unknown field `(.+)`", error)
    if unknown:
        owner = f"{strategy}'s" if strategy else "the"
        known = ", ".join(
            f"{f.name}={f.default!r}" if isinstance(f.default, str) else f"{f.name}={f.default}"
            for f in msgspec.structs.fields(cls)
            if f.name != "symbols"
        )
        if not known:
            return f"unknown parameter {unknown.group(1)!r} ({strategy or 'it'} takes none)"
        import difflib

        names = [f.name for f in msgspec.structs.fields(cls) if f.name != "symbols"]
        close = difflib.get_close_matches(unknown.group(1), names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown parameter {unknown.group(1)!r} ({hint}{owner} parameters: {known})"
    m = re.fullmatch(r"(?s)(.*?) - at `\$\.(\w+)`.*", error)
    if m is None:
        return f"invalid strategy parameter: {error}"
    name = m.group(2)
    what = m.group(1).replace("`", "")
    return f"invalid strategy parameter {name}={params.get(name)!r}: {what[:1].lower()}{what[1:]}"


class Strategy:
    """Base class of every strategy. See the module docstring for an example."""

    Config: ClassVar[type[StrategyConfig]] = StrategyConfig
    name: ClassVar[str] = ""
    """Registry name of a built-in strategy (e.g. ``sma_crossover``)."""
    warmup: ClassVar[bool] = False
    """Call ``on_bar`` while indicators are still warming up."""

    def __init__(
        self,
        config: StrategyConfig | Mapping[str, Any] | None = None,
        *,
        strategy_id: str | None = None,
    ) -> None:
        if isinstance(config, StrategyConfig):
            if not isinstance(config, self.Config):
                raise ConfigurationError(
                    f"{type(self).__name__} needs a {self.Config.__name__}, "
                    f"got {type(config).__name__}"
                )
            config.validate()
            self.config: Any = config
        else:
            self.config = build_config(
                self.Config, config, strategy=self.name or type(self).__name__
            )
        self.id: str = strategy_id or self.name or _snake(type(self).__name__)
        self.log = logging.getLogger(f"pi5trading.strategy.{self.id}")
        self._engine: Any = None
        self._k = -1
        self._symbols: tuple[str, ...] = ()
        # The symbol a call without one means (set when attached to one instrument).
        self._only_symbol: str | None = None
        self._only_state: tuple[str, Any] | None = None
        self._states: dict[str, Any] = {}
        # Indicator object id -> engine slot (``indicator``/``crossover``).
        self._slot_map: dict[int, int] = {}

    # ------------------------------------------------------------------ lifecycle

    def on_start(self) -> None:
        """Called once before the first bar: register indicators here."""

    def on_bar(self, bar: _core.Bar) -> None:
        """Called for each bar of the strategy's instruments (after indicators update)."""

    def on_order(self, event: _core.OrderEvent) -> None:
        """Called for each lifecycle event of the strategy's orders."""

    def on_fill(self, event: _core.OrderEvent) -> None:
        """Called for each fill of the strategy's orders (``event.fill`` holds it)."""

    def on_position(self, event: _core.PositionEvent) -> None:
        """Called when one of the strategy's positions opens, changes or closes."""

    def on_timer(self, event: _core.TimeEvent) -> None:
        """Called when one of the strategy's timers or alerts fires (``event.name``,
        ``event.ts_event``), in time order with the bars."""

    def on_stop(self) -> None:
        """Called once after the last bar."""

    def on_save(self) -> dict[str, Any]:
        """State to keep across restarts of a trading node: a small dict of plain values
        (numbers, strings, lists, dicts). The node calls it after ``on_stop``; backtests
        never do."""
        return {}

    def on_load(self, state: dict[str, Any]) -> None:
        """Take back what ``on_save`` returned. The node calls it before ``on_start`` when
        it starts the strategy with saved state; backtests never do."""

    # ------------------------------------------------------------------ wiring

    def _attach(self, engine: Any, symbols: tuple[str, ...]) -> None:
        """Bind to an engine (called by the runner)."""
        cls = type(self)

        def handler(name: str) -> Any:
            # Only overridden callbacks are handed to the engine: it never calls a no-op.
            return (
                getattr(self, name) if getattr(cls, name) is not getattr(Strategy, name) else None
            )

        self._engine = engine
        self._symbols = symbols
        self._only_symbol = symbols[0] if len(symbols) == 1 else None
        self._k = engine.add_strategy(
            self.id,
            list(symbols),
            on_bar=handler("on_bar"),
            on_order=handler("on_order"),
            on_fill=handler("on_fill"),
            on_position=handler("on_position"),
            on_timer=handler("on_timer"),
            on_start=handler("on_start"),
            on_stop=handler("on_stop"),
            warmup=self.warmup,
        )

    def _require_engine(self) -> Any:
        if self._engine is None:
            raise InvalidStateError(f"strategy {self.id!r} is not attached to an engine")
        return self._engine

    @property
    def symbols(self) -> tuple[str, ...]:
        """The instruments this strategy receives bars for."""
        return self._symbols

    def _symbol(self, symbol: str | None) -> str:
        if symbol is not None:
            return symbol
        if self._only_symbol is not None:
            return self._only_symbol
        raise ValueError(
            f"strategy {self.id!r} trades {len(self._symbols)} instruments: name the symbol"
        )

    # ------------------------------------------------------------------ per-symbol state

    def per_symbol(self, make: Callable[[str], _S]) -> dict[str, _S]:
        """Build one state object per traded symbol (``make(symbol)``, e.g. its
        indicators and flags), kept by the strategy; read it back in callbacks with
        ``state(bar)`` or ``state_of(symbol)``. Call it in ``on_start``::

            self.per_symbol(lambda s: self.indicator(RSI(14), s))
            ...
            symbol, rsi = self.state(bar)
        """
        states = {s: make(s) for s in self._symbols}
        self._states = states
        # One instrument (the common case): no per-bar lookup at all.
        self._only_state = next(iter(states.items())) if len(states) == 1 else None
        return states

    def state(self, bar: _core.Bar) -> tuple[str, Any]:
        """``(symbol, state)`` for ``bar``'s instrument, from ``per_symbol``."""
        only = self._only_state
        if only is not None:
            return only
        symbol: str = bar.bar_type.symbol
        return symbol, self._states[symbol]

    def state_of(self, symbol: str) -> Any:
        """The ``per_symbol`` state of ``symbol``."""
        try:
            return self._states[symbol]
        except KeyError:
            raise InvalidStateError(
                f"strategy {self.id!r} has no per_symbol() state for {symbol!r}"
                " (call per_symbol() in on_start)"
            ) from None

    # ------------------------------------------------------------------ clock

    def set_timer(
        self, name: str, interval_ns: int, start: int | None = None, stop: int | None = None
    ) -> None:
        """Call ``on_timer`` every ``interval_ns`` from ``start`` (default: now) until
        ``stop`` (UTC ns). Backtests fire timers on the simulated clock, in order with the
        bars: a timer due at a bar's close time fires after that bar's callbacks."""
        self._require_engine().set_timer(self._k, name, interval_ns, start, stop)

    def set_time_alert(self, name: str, at: int) -> None:
        """Call ``on_timer`` once at ``at`` (UTC ns, not in the past)."""
        self._require_engine().set_time_alert(self._k, name, at)

    def cancel_timer(self, name: str) -> bool:
        """Cancel a pending timer or alert; ``False`` if there was none."""
        return bool(self._require_engine().cancel_timer(self._k, name))

    # ------------------------------------------------------------------ indicators

    def indicator(self, indicator: _I, symbol: str | None = None) -> _I:
        """Register ``indicator`` (from ``pi5trading.indicators``) on ``symbol``'s bars.

        The engine feeds it each bar in Rust before ``on_bar``; single-series indicators
        take the close. Returns the same object, so ``self.fast = self.indicator(SMA(10))``.
        """
        engine = self._require_engine()
        slot = engine.register_indicator(self._k, self._symbol(symbol), indicator)
        self._slots[id(indicator)] = slot
        return indicator

    @property
    def _slots(self) -> dict[int, int]:
        # Never through ``self.__dict__``: on CPython 3.11 touching an instance's
        # ``__dict__`` makes every later ``self.x`` read take the slow generic path
        # (several times the instructions), on every bar (docs/strategies.md, "Keeping
        # it fast").
        return self._slot_map

    def crossover(self, a: object, b: object) -> _core.CrossOver:
        """A ``CrossOver`` of two registered indicators (``value``: +1 up, -1 down, 0)."""
        engine = self._require_engine()
        try:
            sa, sb = self._slots[id(a)], self._slots[id(b)]
        except KeyError:
            raise ValueError("crossover: register both indicators first") from None
        cross: _core.CrossOver = engine.register_crossover(sa, sb)
        return cross

    def crossover_level(self, indicator: object, level: float) -> _core.CrossOver:
        """A ``CrossOver`` of a registered indicator and a fixed level (e.g. RSI and 30):
        +1 on the bar it moves above ``level``, -1 below. Use it with ``when_crossed`` so
        threshold strategies also run Python only where something happens."""
        engine = self._require_engine()
        try:
            slot = self._slots[id(indicator)]
        except KeyError:
            raise ValueError("crossover_level: register the indicator first") from None
        cross: _core.CrossOver = engine.register_level_cross(slot, float(level))
        return cross

    def when_crossed(self, cross: _core.CrossOver, handler: Any) -> None:
        """Call ``handler(bar, direction)`` only on bars where ``cross`` fires (+1 up,
        -1 down). The engine checks the cross in Rust, so a strategy that only acts on
        crosses runs no Python on the other bars."""
        self._require_engine().on_cross(cross, handler)

    # ------------------------------------------------------------------ orders

    def submit_order(
        self,
        side: Side,
        quantity: Exact,
        order_type: OrderType = "market",
        symbol: str | None = None,
        *,
        price: Exact | None = None,
        trigger_price: Exact | None = None,
        trailing_offset: Exact | None = None,
        trailing_offset_type: Literal["price", "basis_points"] = "price",
        time_in_force: TimeInForce = "gtc",
        expire_time: int | None = None,
        reduce_only: bool = False,
        post_only: bool = False,
        tags: list[str] | None = None,
    ) -> str:
        """Send any order type; returns its client order id.

        Quantities and prices are exact (``Decimal``, ``int`` or ``str``; floats are
        refused so money is never rounded behind your back). The outcome (accepted,
        denied by risk with the reason, filled ...) arrives in ``on_order``.
        """
        engine = self._require_engine()
        oid: str = engine.next_order_id(self._k)
        order = _core.Order(
            oid,
            self.id,
            self._symbol(symbol),
            side,
            order_type,
            quantity,
            price=price,
            trigger_price=trigger_price,
            trailing_offset=trailing_offset,
            trailing_offset_type=trailing_offset_type,
            time_in_force=time_in_force,
            expire_time=expire_time,
            reduce_only=reduce_only,
            post_only=post_only,
            tags=tags,
            ts_init=engine.now,
        )
        engine.submit(self._k, order)
        return oid

    def buy(
        self,
        quantity: Exact,
        symbol: str | None = None,
        *,
        limit: Exact | None = None,
        stop: Exact | None = None,
        time_in_force: TimeInForce = "gtc",
        tags: list[str] | None = None,
    ) -> str:
        """Buy ``quantity``: market by default, limit with ``limit``, stop with ``stop``
        (stop-limit with both)."""
        return self._simple("buy", quantity, symbol, limit, stop, time_in_force, tags)

    def sell(
        self,
        quantity: Exact,
        symbol: str | None = None,
        *,
        limit: Exact | None = None,
        stop: Exact | None = None,
        time_in_force: TimeInForce = "gtc",
        tags: list[str] | None = None,
    ) -> str:
        """Sell ``quantity``: market by default, limit with ``limit``, stop with ``stop``."""
        return self._simple("sell", quantity, symbol, limit, stop, time_in_force, tags)

    def _simple(
        self,
        side: Side,
        quantity: Exact,
        symbol: str | None,
        limit: Exact | None,
        stop: Exact | None,
        tif: TimeInForce,
        tags: list[str] | None,
    ) -> str:
        if limit is None and stop is None and tags is None and tif == "gtc":
            # The common case, built in Rust in one call.
            oid: str = self._engine.submit_market(self._k, self._symbol(symbol), side, quantity)
            return oid
        kind: OrderType
        if limit is not None and stop is not None:
            kind = "stop_limit"
        elif limit is not None:
            kind = "limit"
        elif stop is not None:
            kind = "stop_market"
        else:
            kind = "market"
        return self.submit_order(
            side,
            quantity,
            kind,
            symbol,
            price=limit,
            trigger_price=stop,
            time_in_force=tif,
            tags=tags,
        )

    def close_position(self, symbol: str | None = None) -> str | None:
        """Flatten the strategy's position in ``symbol`` with a reduce-only market order
        (cancelling its working orders there first). Returns the order id, or ``None``
        when already flat."""
        oid: str | None = self._require_engine().close_position(self._k, self._symbol(symbol))
        return oid

    def cancel(self, client_order_id: str) -> None:
        """Cancel a working order; the result arrives in ``on_order``."""
        self._require_engine().cancel(client_order_id)

    def modify(
        self,
        client_order_id: str,
        *,
        quantity: Exact | None = None,
        price: Exact | None = None,
        trigger_price: Exact | None = None,
    ) -> None:
        """Change a working order's quantity or prices; the result arrives in ``on_order``."""
        self._require_engine().modify(
            client_order_id, quantity=quantity, price=price, trigger_price=trigger_price
        )

    # ------------------------------------------------------------------ sizing

    def size(
        self,
        method: SizingMethod,
        side: Side = "buy",
        symbol: str | None = None,
        *,
        price: Exact | None = None,
        **params: Exact,
    ) -> Decimal:
        """Order quantity by a sizing ``method`` of the risk engine, on this account,
        rounded down to the lot and clipped to the risk limits.

        Methods and their parameters are the risk engine's (see docs/risk.md, "Position
        sizing"); ``price`` defaults to the last price. Example:
        ``self.size("fixed_fractional_risk", risk_fraction="0.01", stop_price=stop)``.
        """
        q: Decimal = self._require_engine().size_order(
            self._k, self._symbol(symbol), method, side, price, **params
        )
        return q

    # ------------------------------------------------------------------ state

    def position(self, symbol: str | None = None) -> _core.Position | None:
        """The strategy's own position in ``symbol`` (``None`` if it never traded it)."""
        pos: _core.Position | None = self._require_engine().position(self._k, self._symbol(symbol))
        return pos

    def position_qty(self, symbol: str | None = None) -> Decimal:
        """Signed quantity held by this strategy (0 when flat)."""
        raw = self._require_engine().position_raw(self._k, self._symbol(symbol))
        return Decimal(raw) / _SCALE

    def is_flat(self, symbol: str | None = None) -> bool:
        """True when the strategy holds nothing in ``symbol`` (the cheap per-bar check)."""
        # Called on every bar by most strategies: no helper call on the common path.
        sym = self._only_symbol if symbol is None else symbol
        if sym is None:
            sym = self._symbol(None)  # raises: several instruments, none named
        return bool(self._engine.position_raw(self._k, sym) == 0)

    def open_orders(self) -> list[str]:
        """Client ids of the strategy's working orders."""
        ids: list[str] = self._require_engine().open_orders(self._k)
        return ids

    @property
    def portfolio(self) -> _core.Portfolio:
        """A snapshot of the whole account (cash, positions, P&L of every strategy)."""
        p: _core.Portfolio = self._require_engine().portfolio
        return p

    @property
    def now(self) -> int:
        """The engine clock (UTC ns): the close time of the bar being processed."""
        t: int = self._require_engine().now
        return t
