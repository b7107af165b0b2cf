"""Typed stubs for ``pi5trading._core``, the Rust extension.

Keep in step with ``rust_core/src/python/``; ``make lint`` runs ``mypy.stubtest``.
"""

from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import (
    Any,
    ClassVar,
    Literal,
    Self,
    TypeAlias,
    TypedDict,
    final,
    overload,
    type_check_only,
)

import numpy as np
import numpy.typing as npt

__all__ = ["__version__", "build_info"]

__version__: str

@type_check_only
class BuildInfo(TypedDict):
    version: str
    target_arch: str
    target_os: str
    profile: str

def build_info() -> BuildInfo:
    """Version, target architecture (e.g. ``aarch64``), OS and build profile."""

# ----- indicators (rust_core/src/python/indicators.rs) -----
# Prices: float (or int units, Decimal, Price, Quantity), rounded half to even onto the grid;
# `*_raw` methods take int raw units. `value` is NaN until `is_ready`.

__all__ += [
    "ATR",
    "EMA",
    "MACD",
    "ROC",
    "RSI",
    "SMA",
    "VWAP",
    "WMA",
    "BollingerBands",
    "Donchian",
    "Momentum",
    "StdDev",
    "atr",
    "bollinger",
    "donchian",
    "ema",
    "macd",
    "momentum",
    "roc",
    "rsi",
    "sma",
    "stddev",
    "vwap",
    "wma",
]

_Price: TypeAlias = float | Decimal | Price | Quantity
_FloatArray: TypeAlias = npt.NDArray[np.float64]

@final
class SMA:
    """Simple moving average, exact: the window mean rounded half to even to 10^-9.

    Ready after ``period`` inputs.
    """

    def __new__(cls, period: int) -> Self: ...
    def update(self, price: _Price) -> None:
        """Feed one price, rounded half to even onto the 10^-9 grid."""
    def update_raw(self, raw: int) -> None:
        """Feed one raw value (int units of 10^-9)."""
    def reset(self) -> None:
        """Back to the freshly constructed state."""
    @property
    def value(self) -> float:
        """The mean in price units; NaN until ready."""
    @property
    def value_raw(self) -> int | None:
        """The exact mean in raw units; None until ready."""
    @property
    def is_ready(self) -> bool: ...
    @property
    def count(self) -> int:
        """Inputs since construction or the last ``reset()``."""
    @property
    def period(self) -> int: ...

@final
class EMA:
    """Exponential moving average, ``alpha = 2 / (period + 1)``, seeded with the SMA of the
    first ``period`` inputs, then ``ema += alpha * (x - ema)`` in f64. Ready after ``period``.
    """

    def __new__(cls, period: int) -> Self: ...
    def update(self, price: _Price) -> None: ...
    def update_raw(self, raw: int) -> None: ...
    def reset(self) -> None: ...
    @property
    def value(self) -> float: ...
    @property
    def is_ready(self) -> bool: ...
    @property
    def count(self) -> int: ...
    @property
    def period(self) -> int: ...
    @property
    def alpha(self) -> float: ...

@final
class WMA:
    """Linearly weighted moving average (newest weight ``period``), exact on the 10^-9 grid.

    Ready after ``period`` inputs.
    """

    def __new__(cls, period: int) -> Self: ...
    def update(self, price: _Price) -> None: ...
    def update_raw(self, raw: int) -> None: ...
    def reset(self) -> None: ...
    @property
    def value(self) -> float: ...
    @property
    def value_raw(self) -> int | None: ...
    @property
    def is_ready(self) -> bool: ...
    @property
    def count(self) -> int: ...
    @property
    def period(self) -> int: ...

@final
class RSI:
    """Relative Strength Index with Wilder's smoothing, 0..100; 50 on a flat series.

    Ready after ``period + 1`` inputs.
    """

    def __new__(cls, period: int = 14) -> Self: ...
    def update(self, price: _Price) -> None: ...
    def update_raw(self, raw: int) -> None: ...
    def reset(self) -> None: ...
    @property
    def value(self) -> float: ...
    @property
    def is_ready(self) -> bool: ...
    @property
    def count(self) -> int: ...
    @property
    def period(self) -> int: ...

@final
class ROC:
    """Rate of change in percent, ``100 * (x[t] - x[t-period]) / x[t-period]``.

    Ready after ``period + 1`` inputs.
    """

    def __new__(cls, period: int) -> Self: ...
    def update(self, price: _Price) -> None: ...
    def update_raw(self, raw: int) -> None: ...
    def reset(self) -> None: ...
    @property
    def value(self) -> float: ...
    @property
    def is_ready(self) -> bool: ...
    @property
    def count(self) -> int: ...
    @property
    def period(self) -> int: ...

@final
class Momentum:
    """Momentum ``x[t] - x[t-period]``, exact. Ready after ``period + 1`` inputs."""

    def __new__(cls, period: int) -> Self: ...
    def update(self, price: _Price) -> None: ...
    def update_raw(self, raw: int) -> None: ...
    def reset(self) -> None: ...
    @property
    def value(self) -> float: ...
    @property
    def value_raw(self) -> int | None: ...
    @property
    def is_ready(self) -> bool: ...
    @property
    def count(self) -> int: ...
    @property
    def period(self) -> int: ...

@final
class StdDev:
    """Rolling standard deviation: ``ddof=0`` population (default), ``ddof=1`` sample.

    Exact integer numerator ``n*sum(x^2) - sum(x)^2``. Ready after ``period`` inputs.
    """

    def __new__(cls, period: int, ddof: int = 0) -> Self: ...
    def update(self, price: _Price) -> None: ...
    def update_raw(self, raw: int) -> None: ...
    def reset(self) -> None: ...
    @property
    def value(self) -> float: ...
    @property
    def variance(self) -> float: ...
    @property
    def is_ready(self) -> bool: ...
    @property
    def count(self) -> int: ...
    @property
    def period(self) -> int: ...
    @property
    def ddof(self) -> int: ...

@final
class MACD:
    """MACD line ``EMA(fast) - EMA(slow)``, its ``signal`` EMA and the ``histogram``.

    Ready after ``slow + signal - 1`` inputs; ``line`` is defined from input ``slow``.
    ``value`` is the line once ready.
    """

    def __new__(cls, fast: int = 12, slow: int = 26, signal: int = 9) -> Self: ...
    def update(self, price: _Price) -> None: ...
    def update_raw(self, raw: int) -> None: ...
    def reset(self) -> None: ...
    @property
    def value(self) -> float: ...
    @property
    def line(self) -> float: ...
    @property
    def signal(self) -> float: ...
    @property
    def histogram(self) -> float: ...
    @property
    def is_ready(self) -> bool: ...
    @property
    def count(self) -> int: ...
    @property
    def fast_period(self) -> int: ...
    @property
    def slow_period(self) -> int: ...
    @property
    def signal_period(self) -> int: ...

@final
class BollingerBands:
    """Bollinger Bands: exact SMA middle, ``middle +/- k * population std``.

    Ready after ``period`` inputs. ``value`` is the middle band.
    """

    def __new__(cls, period: int = 20, k: float = 2.0) -> Self: ...
    def update(self, price: _Price) -> None: ...
    def update_raw(self, raw: int) -> None: ...
    def reset(self) -> None: ...
    @property
    def value(self) -> float: ...
    @property
    def middle(self) -> float: ...
    @property
    def middle_raw(self) -> int | None: ...
    @property
    def upper(self) -> float: ...
    @property
    def lower(self) -> float: ...
    @property
    def percent_b(self) -> float:
        """``(last - lower) / (upper - lower)``; 0.5 when the bands coincide."""
    @property
    def bandwidth(self) -> float:
        """``(upper - lower) / middle``."""
    @property
    def is_ready(self) -> bool: ...
    @property
    def count(self) -> int: ...
    @property
    def period(self) -> int: ...
    @property
    def k(self) -> float: ...

@final
class ATR:
    """Average True Range with Wilder's smoothing. Ready after ``period`` bars."""

    def __new__(cls, period: int = 14) -> Self: ...
    def update_bar(self, high: _Price, low: _Price, close: _Price) -> None:
        """Feed one bar; ``high < low`` raises ``InvalidInputError``."""
    def update_bar_raw(self, high: int, low: int, close: int) -> None: ...
    def reset(self) -> None: ...
    @property
    def value(self) -> float: ...
    @property
    def is_ready(self) -> bool: ...
    @property
    def count(self) -> int: ...
    @property
    def period(self) -> int: ...

@final
class VWAP:
    """VWAP of the typical price ``(high + low + close) / 3``, exact.

    With ``session_ns`` the sums restart when ``(ts_ns - offset_ns) // session_ns``
    changes (``86_400 * 10**9`` resets at UTC midnight). Ready once the session has a
    positive volume.
    """

    def __new__(cls, session_ns: int | None = None, offset_ns: int = 0) -> Self: ...
    def update_bar(
        self, high: _Price, low: _Price, close: _Price, volume: _Price, ts_ns: int = 0
    ) -> None: ...
    def update_bar_raw(
        self, high: int, low: int, close: int, volume: int, ts_ns: int = 0
    ) -> None: ...
    def reset(self) -> None: ...
    @property
    def value(self) -> float: ...
    @property
    def value_raw(self) -> int | None: ...
    @property
    def is_ready(self) -> bool: ...
    @property
    def count(self) -> int: ...
    @property
    def session_ns(self) -> int | None: ...
    @property
    def offset_ns(self) -> int: ...

@final
class Donchian:
    """Donchian channel: highest high, lowest low, their midpoint; exact.

    Ready after ``period`` inputs. ``value`` is the middle.
    """

    def __new__(cls, period: int = 20) -> Self: ...
    def update(self, price: _Price) -> None:
        """Feed one value of a single series (used as both high and low)."""
    def update_raw(self, raw: int) -> None: ...
    def update_bar(self, high: _Price, low: _Price) -> None: ...
    def update_bar_raw(self, high: int, low: int) -> None: ...
    def reset(self) -> None: ...
    @property
    def value(self) -> float: ...
    @property
    def upper(self) -> float: ...
    @property
    def middle(self) -> float: ...
    @property
    def lower(self) -> float: ...
    @property
    def upper_raw(self) -> int | None: ...
    @property
    def middle_raw(self) -> int | None: ...
    @property
    def lower_raw(self) -> int | None: ...
    @property
    def is_ready(self) -> bool: ...
    @property
    def count(self) -> int: ...
    @property
    def period(self) -> int: ...

# Batch forms: ``values`` are prices (converted to float64, then to the 10^-9 grid), or
# with ``raw=True`` 1-D int64 arrays of raw units. Output float64, NaN during warm-up.
def sma(values: npt.ArrayLike, period: int, *, raw: bool = False) -> _FloatArray: ...
def ema(values: npt.ArrayLike, period: int, *, raw: bool = False) -> _FloatArray: ...
def wma(values: npt.ArrayLike, period: int, *, raw: bool = False) -> _FloatArray: ...
def rsi(values: npt.ArrayLike, period: int, *, raw: bool = False) -> _FloatArray: ...
def roc(values: npt.ArrayLike, period: int, *, raw: bool = False) -> _FloatArray: ...
def momentum(values: npt.ArrayLike, period: int, *, raw: bool = False) -> _FloatArray: ...
def stddev(
    values: npt.ArrayLike, period: int, ddof: int = 0, *, raw: bool = False
) -> _FloatArray: ...
def macd(
    values: npt.ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9, *, raw: bool = False
) -> tuple[_FloatArray, _FloatArray, _FloatArray]:
    """``(line, signal, histogram)``."""

def bollinger(
    values: npt.ArrayLike, period: int = 20, k: float = 2.0, *, raw: bool = False
) -> tuple[_FloatArray, _FloatArray, _FloatArray, _FloatArray, _FloatArray]:
    """``(middle, upper, lower, percent_b, bandwidth)``."""

def atr(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    period: int = 14,
    *,
    raw: bool = False,
) -> _FloatArray: ...
def vwap(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike,
    *,
    ts_ns: npt.NDArray[np.int64] | None = None,
    session_ns: int | None = None,
    offset_ns: int = 0,
    raw: bool = False,
) -> _FloatArray: ...
def donchian(
    high: npt.ArrayLike, low: npt.ArrayLike, period: int = 20, *, raw: bool = False
) -> tuple[_FloatArray, _FloatArray, _FloatArray]:
    """``(upper, middle, lower)``."""

# ----- types, clock, bus (rust_core/src/python/{types,clock,bus}.rs) -----
# Exact values are int raw units of 10^-9 plus a declared precision (decimal places, <= 9).
# Inputs accept Decimal, str or int (exact); a float is refused unless passed to
# ``from_float`` explicitly. Invalid values raise ``InvalidInputError`` naming the field.

__all__ += [
    "Bar",
    "BarType",
    "Bus",
    "IngestQueue",
    "Instrument",
    "LiveClock",
    "Money",
    "Price",
    "Quantity",
    "QuoteTick",
    "TestClock",
    "TimeEvent",
    "TradeTick",
]

_RoundingMode: TypeAlias = Literal[
    "ROUND_HALF_EVEN",
    "ROUND_HALF_UP",
    "ROUND_HALF_DOWN",
    "ROUND_FLOOR",
    "ROUND_CEILING",
    "ROUND_DOWN",
    "ROUND_UP",
]
_AssetClassName: TypeAlias = Literal[
    "EQUITY", "ETF", "CRYPTO", "FX", "FUTURE", "OPTION", "INDEX", "COMMODITY"
]
_AggressorSideName: TypeAlias = Literal["BUYER", "SELLER", "NO_AGGRESSOR"]
_Calendar: TypeAlias = Literal["session", "24/7"]
_BackpressurePolicy: TypeAlias = Literal["block", "drop_newest", "drop_oldest"]
_PriceLike: TypeAlias = Price | Decimal | str | int
_QuantityLike: TypeAlias = Quantity | Decimal | str | int

@final
class Price:
    """An exact price: ``raw`` units of 10^-9 declared with ``precision`` decimal places.

    ``Price("1.50")`` has precision 2; equality, ordering and hashing use the value only
    (``Price("1.5") == Price("1.50")``). Arithmetic is exact; overflow raises
    ``ArithmeticOverflowError``. ``precision`` re-declares the value and refuses to drop
    digits (round explicitly with ``round``/``round_to``).

    Operators: ``+``/``-``/ordering with another ``Price``; ``*`` by an ``int`` or ``Decimal``
    (precision: the sum of both, as ``Decimal``; a product needing more than 9 places raises
    ``InvalidInputError``); ``Price * Quantity`` is ``Money`` in USD, exact (see
    ``Money.from_product`` for another currency or rounding). Anything else raises
    ``TypeError`` (for a float, pointing to ``from_float``); ``==`` with another class is False.
    """

    def __new__(cls, value: _PriceLike, precision: int | None = None) -> Self: ...
    @staticmethod
    def from_raw(raw: int, precision: int) -> Price:
        """From raw units of 10^-9 (no digits beyond ``precision``)."""
    @staticmethod
    def from_float(value: float, precision: int) -> Price:
        """A float rounded half-even, on its exact binary value, to ``precision`` places."""
    @property
    def raw(self) -> int: ...
    @property
    def precision(self) -> int: ...
    def as_decimal(self) -> Decimal:
        """The exact value as a ``Decimal`` with ``precision`` places."""
    def as_float(self) -> float:
        """The nearest float (analytics only)."""
    def round(self, precision: int, rounding: _RoundingMode = "ROUND_HALF_EVEN") -> Price:
        """Rounded to ``precision`` decimal places."""
    def round_to(self, increment: Price, rounding: _RoundingMode = "ROUND_HALF_EVEN") -> Price:
        """Rounded to a multiple of ``increment`` (a tick size)."""
    def is_multiple_of(self, increment: Price) -> bool: ...
    def __add__(self, other: Price, /) -> Price: ...
    def __sub__(self, other: Price, /) -> Price: ...
    def __radd__(self, other: Price, /) -> Price: ...
    def __rsub__(self, other: Price, /) -> Price: ...
    @overload
    def __mul__(self, other: Quantity, /) -> Money: ...
    @overload
    def __mul__(self, other: int | Decimal, /) -> Price: ...
    def __rmul__(self, factor: int | Decimal, /) -> Price: ...
    def __neg__(self) -> Price: ...
    def __pos__(self) -> Price: ...
    def __abs__(self) -> Price: ...
    def __bool__(self) -> bool: ...
    def __lt__(self, other: Price, /) -> bool: ...
    def __le__(self, other: Price, /) -> bool: ...
    def __gt__(self, other: Price, /) -> bool: ...
    def __ge__(self, other: Price, /) -> bool: ...
    def __format__(self, spec: str, /) -> str:
        """Format specs as for ``Decimal``, applied to the exact value."""
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[type[Price], tuple[str]]: ...

@final
class Quantity:
    """An exact quantity; same representation and rules as ``Price``.

    Signed (position deltas); market data constructors require sizes >= 0.
    """

    def __new__(cls, value: _QuantityLike, precision: int | None = None) -> Self: ...
    @staticmethod
    def from_raw(raw: int, precision: int) -> Quantity: ...
    @staticmethod
    def from_float(value: float, precision: int) -> Quantity: ...
    @property
    def raw(self) -> int: ...
    @property
    def precision(self) -> int: ...
    def as_decimal(self) -> Decimal: ...
    def as_float(self) -> float: ...
    def round(self, precision: int, rounding: _RoundingMode = "ROUND_HALF_EVEN") -> Quantity: ...
    def round_to(
        self, increment: Quantity, rounding: _RoundingMode = "ROUND_HALF_EVEN"
    ) -> Quantity:
        """Rounded to a multiple of ``increment`` (a lot size)."""
    def is_multiple_of(self, increment: Quantity) -> bool: ...
    def __add__(self, other: Quantity, /) -> Quantity: ...
    def __sub__(self, other: Quantity, /) -> Quantity: ...
    def __radd__(self, other: Quantity, /) -> Quantity: ...
    def __rsub__(self, other: Quantity, /) -> Quantity: ...
    @overload
    def __mul__(self, other: Price, /) -> Money: ...
    @overload
    def __mul__(self, other: int | Decimal, /) -> Quantity: ...
    def __rmul__(self, factor: int | Decimal, /) -> Quantity: ...
    def __neg__(self) -> Quantity: ...
    def __pos__(self) -> Quantity: ...
    def __abs__(self) -> Quantity: ...
    def __bool__(self) -> bool: ...
    def __lt__(self, other: Quantity, /) -> bool: ...
    def __le__(self, other: Quantity, /) -> bool: ...
    def __gt__(self, other: Quantity, /) -> bool: ...
    def __ge__(self, other: Quantity, /) -> bool: ...
    def __format__(self, spec: str, /) -> str:
        """Format specs as for ``Decimal``, applied to the exact value."""
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[type[Quantity], tuple[str]]: ...

@final
class Money:
    """An exact amount in ``currency`` (1-7 letters/digits, e.g. ``USD``, ``USDT``).

    Adding, subtracting or ordering amounts of two currencies raises
    ``InvalidInputError``; ``==`` between them is False. ``str()`` is ``"12.50 USD"``.
    ``*`` by an ``int`` or ``Decimal`` is exact, as for ``Price``; other operands raise
    ``TypeError``.
    """

    def __new__(
        cls, value: Money | Decimal | str | int, currency: str, precision: int | None = None
    ) -> Self: ...
    @staticmethod
    def from_raw(raw: int, precision: int, currency: str) -> Money: ...
    @staticmethod
    def from_float(value: float, currency: str, precision: int | None = None) -> Money:
        """Rounded half-even to ``precision`` (default: the currency's, e.g. 2 for USD)."""
    @staticmethod
    def from_product(
        price: Price,
        quantity: Quantity,
        currency: str,
        precision: int | None = None,
        rounding: _RoundingMode = "ROUND_HALF_EVEN",
    ) -> Money:
        """``price * quantity`` computed exactly, rounded once to ``precision``."""
    @property
    def raw(self) -> int: ...
    @property
    def precision(self) -> int: ...
    @property
    def currency(self) -> str: ...
    def as_decimal(self) -> Decimal: ...
    def as_float(self) -> float: ...
    def round(self, precision: int, rounding: _RoundingMode = "ROUND_HALF_EVEN") -> Money: ...
    def __add__(self, other: Money, /) -> Money: ...
    def __sub__(self, other: Money, /) -> Money: ...
    def __radd__(self, other: Money, /) -> Money: ...
    def __rsub__(self, other: Money, /) -> Money: ...
    def __mul__(self, factor: int | Decimal, /) -> Money: ...
    def __rmul__(self, factor: int | Decimal, /) -> Money: ...
    def __neg__(self) -> Money: ...
    def __pos__(self) -> Money: ...
    def __abs__(self) -> Money: ...
    def __bool__(self) -> bool: ...
    def __lt__(self, other: Money, /) -> bool: ...
    def __le__(self, other: Money, /) -> bool: ...
    def __gt__(self, other: Money, /) -> bool: ...
    def __ge__(self, other: Money, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[type[Money], tuple[str, str]]: ...

@final
class Instrument:
    """A tradable instrument. ``min_quantity`` defaults to the lot size; the precisions
    default to those of the tick and lot sizes.

    ``calendar`` says when it trades, for the risk engine's trading-hours check:
    ``"session"`` (the risk session's hours: New York 09:30-16:00 on weekdays in the built-in
    profiles) or ``"24/7"`` (never outside trading hours). Default: ``"24/7"`` for
    ``CRYPTO`` and ``FX``, ``"session"`` otherwise.
    """

    def __new__(
        cls,
        symbol: str,
        venue: str,
        asset_class: _AssetClassName,
        currency: str,
        tick_size: _PriceLike,
        lot_size: _QuantityLike,
        min_quantity: _QuantityLike | None = None,
        price_precision: int | None = None,
        size_precision: int | None = None,
        calendar: _Calendar | None = None,
    ) -> Self: ...
    @property
    def symbol(self) -> str: ...
    @property
    def venue(self) -> str: ...
    @property
    def asset_class(self) -> _AssetClassName: ...
    @property
    def calendar(self) -> _Calendar: ...
    @property
    def currency(self) -> str: ...
    @property
    def tick_size(self) -> Price: ...
    @property
    def lot_size(self) -> Quantity: ...
    @property
    def min_quantity(self) -> Quantity: ...
    @property
    def price_precision(self) -> int: ...
    @property
    def size_precision(self) -> int: ...
    def make_price(self, value: _PriceLike) -> Price:
        """A price that must sit on the tick, declared with ``price_precision``."""
    def make_quantity(self, value: _QuantityLike) -> Quantity:
        """A quantity that must sit on the lot, declared with ``size_precision``."""
    def round_price(
        self, price: _PriceLike, rounding: _RoundingMode = "ROUND_HALF_EVEN"
    ) -> Price: ...
    def round_quantity(
        self, quantity: _QuantityLike, rounding: _RoundingMode = "ROUND_HALF_EVEN"
    ) -> Quantity: ...
    def notional(
        self,
        price: _PriceLike,
        quantity: _QuantityLike,
        rounding: _RoundingMode = "ROUND_HALF_EVEN",
    ) -> Money:
        """``price * quantity`` in the instrument's currency at its usual precision."""
    def __hash__(self) -> int: ...
    def __reduce__(
        self,
    ) -> tuple[type[Instrument], tuple[str, str, str, str, str, str, str, int, int, _Calendar]]: ...

@final
class BarType:
    """A symbol and an interval (``30s``, ``1m``, ``5m``, ``1h``, ``1d``, ``1w``)."""

    def __new__(cls, symbol: str, interval: str) -> Self: ...
    @staticmethod
    def parse(text: str) -> BarType:
        """Parses ``SYMBOL-INTERVAL`` (split at the last ``-``), e.g. ``AAPL-1m``."""
    @property
    def symbol(self) -> str: ...
    @property
    def interval(self) -> str: ...
    @property
    def interval_ns(self) -> int: ...
    @property
    def topic(self) -> str:
        """The bus topic of these bars: ``data.bars.<symbol>.<interval>``."""
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[type[BarType], tuple[str, str]]: ...

@final
class Bar:
    """An OHLCV bar; ``ts_event`` (its close time) is UTC nanoseconds.

    Validates ``low <= high``, ``high >= max(open, close)``, ``low <= min(open, close)``,
    ``volume >= 0``; with ``instrument`` also the symbol and tick/lot multiples.
    """

    def __new__(
        cls,
        bar_type: BarType | str,
        open: _PriceLike,
        high: _PriceLike,
        low: _PriceLike,
        close: _PriceLike,
        volume: _QuantityLike,
        ts_event: int,
        *,
        instrument: Instrument | None = None,
    ) -> Self: ...
    @property
    def bar_type(self) -> BarType: ...
    @property
    def symbol(self) -> str:
        """The instrument's symbol (``bar_type.symbol`` without the intermediate object)."""
    @property
    def topic(self) -> str:
        """The bus topic of this bar, ``data.bars.<symbol>.<interval>``."""
    @property
    def close_f(self) -> float:
        """The close as a float, for fast comparisons in callbacks."""
    @property
    def open(self) -> Price: ...
    @property
    def high(self) -> Price: ...
    @property
    def low(self) -> Price: ...
    @property
    def close(self) -> Price: ...
    @property
    def volume(self) -> Quantity: ...
    @property
    def ts_event(self) -> int: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[type[Bar], tuple[str, str, str, str, str, str, int]]: ...

@final
class QuoteTick:
    """Best bid/ask with sizes; validates ``bid <= ask`` and sizes >= 0."""

    def __new__(
        cls,
        symbol: str,
        bid: _PriceLike,
        ask: _PriceLike,
        bid_size: _QuantityLike,
        ask_size: _QuantityLike,
        ts_event: int,
        *,
        instrument: Instrument | None = None,
    ) -> Self: ...
    @property
    def symbol(self) -> str: ...
    @property
    def bid(self) -> Price: ...
    @property
    def ask(self) -> Price: ...
    @property
    def bid_size(self) -> Quantity: ...
    @property
    def ask_size(self) -> Quantity: ...
    @property
    def ts_event(self) -> int: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[type[QuoteTick], tuple[str, str, str, str, str, int]]: ...

@final
class TradeTick:
    """A trade: price, size (>= 0), aggressor side and the venue's trade id."""

    def __new__(
        cls,
        symbol: str,
        price: _PriceLike,
        size: _QuantityLike,
        aggressor_side: _AggressorSideName,
        trade_id: str,
        ts_event: int,
        *,
        instrument: Instrument | None = None,
    ) -> Self: ...
    @property
    def symbol(self) -> str: ...
    @property
    def price(self) -> Price: ...
    @property
    def size(self) -> Quantity: ...
    @property
    def aggressor_side(self) -> _AggressorSideName: ...
    @property
    def trade_id(self) -> str: ...
    @property
    def ts_event(self) -> int: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[type[TradeTick], tuple[str, str, str, str, str, int]]: ...

@final
class TimeEvent:
    """A timer or alert firing: ``name``, scheduled ``ts_event``, scheduling ``seq``."""

    def __new__(cls, name: str, ts_event: int, seq: int = 0) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def ts_event(self) -> int: ...
    @property
    def seq(self) -> int: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[type[TimeEvent], tuple[str, int, int]]: ...

@final
class TestClock:
    """A simulated clock moved by the data. Timers fire in ``(ts_event, seq)`` order."""

    __test__: ClassVar[bool]
    def __new__(cls, start_ns: int = 0) -> Self: ...
    def timestamp_ns(self) -> int: ...
    def set_timer(
        self, name: str, interval_ns: int, start_ns: int | None = None, stop_ns: int | None = None
    ) -> None:
        """Fires at ``start + k * interval`` (k >= 1) while ``<= stop``; start defaults to now."""
    def set_time_alert(self, name: str, at_ns: int) -> None:
        """Fires once at ``at_ns`` (not in the past)."""
    def cancel_timer(self, name: str) -> bool: ...
    @property
    def timer_names(self) -> list[str]: ...
    def next_time_ns(self, name: str) -> int | None: ...
    def next_deadline_ns(self) -> int | None: ...
    def advance_time(self, to_ns: int) -> list[TimeEvent]:
        """Moves to ``to_ns``; returns the events due on the way, in firing order."""

@final
class LiveClock:
    """Wall-clock UTC time that never goes backwards; timers fire when polled.

    An alert set in the past fires at the next ``poll``, stamped with the time it was set.
    """

    def __new__(cls) -> Self: ...
    def timestamp_ns(self) -> int: ...
    def set_timer(
        self, name: str, interval_ns: int, start_ns: int | None = None, stop_ns: int | None = None
    ) -> None: ...
    def set_time_alert(self, name: str, at_ns: int) -> None: ...
    def cancel_timer(self, name: str) -> bool: ...
    @property
    def timer_names(self) -> list[str]: ...
    def next_time_ns(self, name: str) -> int | None: ...
    def next_deadline_ns(self) -> int | None: ...
    def poll(self) -> list[TimeEvent]:
        """The events due now, in firing order."""

@final
class Bus:
    """Topics (``data.bars.AAPL.1m``), patterns with ``*`` (one segment) and a trailing
    ``>`` (one or more segments), dispatch by descending priority then subscription order.

    Run to completion: a message published during a dispatch (from a handler or another
    thread) is queued and delivered right after the current message.
    """

    def __new__(cls) -> Self: ...
    def subscribe(
        self,
        pattern: str,
        handler: Callable[[Any], object],
        priority: int = 0,
        *,
        batch: bool = False,
    ) -> int:
        """Returns the subscription id. With ``batch=True`` the handler gets a list."""
    def subscribe_counter(self, pattern: str, priority: int = 0) -> int:
        """A Rust-side handler that counts messages (read with ``counter``)."""
    def counter(self, id: int) -> int: ...
    def unsubscribe(self, id: int) -> bool: ...
    def subscriptions(self) -> list[tuple[int, str, int]]:
        """``(id, pattern, priority)`` in subscription order."""
    def dispatch_order(self, topic: str) -> list[int]:
        """The subscription ids ``topic`` is dispatched to, in order."""
    def publish(self, topic: str, message: object) -> int:
        """Returns the number of handlers called (0 if queued behind a running dispatch)."""
    def publish_many(self, topic: str, messages: Iterable[object]) -> int:
        """Each message in order as by ``publish``; batch handlers get the whole list
        once, after the per-message handlers. Returns the number of handler calls."""
    def process_pending(self) -> int:
        """Delivers messages left queued when a handler raised: those published during
        that dispatch, and the rest of the ``publish_many``/``drain`` it interrupted."""
    @property
    def pending(self) -> int: ...
    def drain(
        self, queue: IngestQueue, max_events: int | None = None, timeout: float | None = None
    ) -> int:
        """Publishes up to ``max_events`` queued events in ``(ts_event, arrival)`` order,
        waiting up to ``timeout`` seconds (GIL released) for the first. Returns the count."""

@final
class IngestQueue:
    """A bounded queue from feed threads to the engine thread (drained by ``Bus.drain``).

    When full: ``block`` waits (GIL released), ``drop_newest`` discards the new event,
    ``drop_oldest`` discards the oldest queued one. Events older than one already
    released are dropped as late (``stats()["dropped_late"]``), or, up to ``late_ns``
    older, released at once out of order (``stats()["delivered_late"]``).
    """

    def __new__(
        cls,
        capacity: int = 65536,
        policy: _BackpressurePolicy = "block",
        reorder_window_ns: int = 0,
        late_ns: int = 0,
    ) -> Self: ...
    def send(
        self, topic: str, ts_event: int, message: object
    ) -> Literal["accepted", "accepted_dropped_oldest", "dropped_newest", "closed"]: ...
    def send_many(self, topic: str, events: Iterable[tuple[int, object]]) -> int:
        """Queues ``(ts_event, message)`` pairs under one lock; returns how many were queued."""
    def wake(self) -> None:
        """Wake the receiver waiting for events without sending one (it returns empty)."""
    def close(self) -> None: ...
    @property
    def capacity(self) -> int: ...
    @property
    def policy(self) -> _BackpressurePolicy: ...
    def __len__(self) -> int: ...
    def stats(self) -> IngestStats: ...

@type_check_only
class IngestStats(TypedDict):
    enqueued: int
    delivered: int
    dropped_newest: int
    dropped_oldest: int
    dropped_late: int
    delivered_late: int
    blocked: int
    rejected_closed: int

# ----- orders, venue, portfolio (rust_core/src/python/{orders,venue,portfolio}.rs) -----
# Prices and quantities go in as Decimal, str, int or Price/Quantity (never float) and come
# out as Decimal. Every enum-like value is one lowercase string. Timestamps are UNIX ns (UTC).

__all__ += [
    "Fill",
    "Order",
    "OrderEvent",
    "Portfolio",
    "Position",
    "PositionEvent",
    "SimulatedVenue",
]

_Exact: TypeAlias = Decimal | str | int | Price | Quantity | Money
_Side: TypeAlias = Literal["buy", "sell"]
_OrderType: TypeAlias = Literal[
    "market", "limit", "stop_market", "stop_limit", "market_if_touched", "trailing_stop_market"
]
_TimeInForce: TypeAlias = Literal["gtc", "day", "ioc", "fok", "gtd"]
_OrderStatus: TypeAlias = Literal[
    "initialized",
    "denied",
    "submitted",
    "accepted",
    "rejected",
    "partially_filled",
    "filled",
    "cancelled",
    "expired",
]
_OrderEventKind: TypeAlias = Literal[
    "initialized",
    "denied",
    "submitted",
    "accepted",
    "rejected",
    "triggered",
    "modify_accepted",
    "modify_rejected",
    "cancel_rejected",
    "filled",
    "cancelled",
    "expired",
]
_VenueEvent: TypeAlias = OrderEvent | PositionEvent

@final
class Order:
    """An order to hand to ``SimulatedVenue.submit``; the venue works on its own copy.

    ``price`` is the limit (limit, stop_limit); ``trigger_price`` the stop/touch level
    (stop_market, stop_limit, market_if_touched; optional initial trigger of a trailing
    stop); ``trailing_offset`` a price distance or, with ``trailing_offset_type=
    "basis_points"``, whole basis points. ``expire_time`` only with ``"gtd"``.
    """

    def __new__(
        cls,
        client_order_id: str,
        strategy_id: str,
        instrument: str,
        side: _Side,
        order_type: _OrderType,
        quantity: _Exact,
        *,
        price: _Exact | None = None,
        trigger_price: _Exact | None = None,
        trailing_offset: _Exact | None = None,
        trailing_offset_type: Literal["price", "basis_points"] = "price",
        time_in_force: _TimeInForce = "gtc",
        expire_time: int | None = None,
        reduce_only: bool = False,
        post_only: bool = False,
        tags: list[str] | None = None,
        ts_init: int = 0,
    ) -> Self: ...
    @property
    def client_order_id(self) -> str: ...
    @property
    def venue_order_id(self) -> int | None: ...
    @property
    def strategy_id(self) -> str: ...
    @property
    def instrument(self) -> str: ...
    @property
    def side(self) -> _Side: ...
    @property
    def order_type(self) -> _OrderType: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def price(self) -> Decimal | None: ...
    @property
    def trigger_price(self) -> Decimal | None: ...
    @property
    def time_in_force(self) -> _TimeInForce: ...
    @property
    def expire_time(self) -> int | None: ...
    @property
    def reduce_only(self) -> bool: ...
    @property
    def post_only(self) -> bool: ...
    @property
    def tags(self) -> list[str]: ...
    @property
    def status(self) -> _OrderStatus: ...
    @property
    def filled_qty(self) -> Decimal: ...
    @property
    def leaves_qty(self) -> Decimal: ...
    @property
    def avg_px(self) -> Decimal | None: ...
    @property
    def parent_order_id(self) -> str | None: ...
    @property
    def child_order_ids(self) -> list[str]: ...
    @property
    def linked_order_ids(self) -> list[str]: ...
    @property
    def is_open(self) -> bool: ...
    @property
    def is_terminal(self) -> bool: ...
    def deny(self, ts: int, reason: str) -> OrderEvent:
        """Pre-trade risk refused the order (``initialized`` -> ``denied``)."""

@final
class Fill:
    """One execution; ``commission`` is in the account currency."""

    @property
    def trade_id(self) -> int: ...
    @property
    def venue_order_id(self) -> int: ...
    @property
    def side(self) -> _Side: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def commission(self) -> Decimal: ...
    @property
    def liquidity(self) -> Literal["maker", "taker"]: ...

@final
class OrderEvent:
    """One lifecycle transition; ``status`` is the order's status after it."""

    @property
    def client_order_id(self) -> str: ...
    @property
    def strategy_id(self) -> str: ...
    @property
    def instrument(self) -> str: ...
    @property
    def kind(self) -> _OrderEventKind: ...
    @property
    def status(self) -> _OrderStatus: ...
    @property
    def ts(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def fill(self) -> Fill | None: ...
    @property
    def denial(self) -> Denial | None:
        """The risk engine's structured reason for ``denied`` / ``modify_rejected``."""
    @property
    def modified(self) -> tuple[Decimal, Decimal | None, Decimal | None] | None:
        """For ``modify_accepted``: the terms put in force, (quantity, price, trigger_price)."""

@final
class PositionEvent:
    """``strategy_id`` is ``None`` for the account's netting position."""

    @property
    def instrument(self) -> str: ...
    @property
    def strategy_id(self) -> str | None: ...
    @property
    def kind(self) -> Literal["opened", "changed", "closed"]: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def avg_px(self) -> Decimal | None: ...
    @property
    def realised_pnl(self) -> Decimal: ...
    @property
    def ts(self) -> int: ...

@final
class Position:
    """A snapshot of a netting position valued at its mark (signed quantity)."""

    @property
    def instrument(self) -> str: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def avg_px(self) -> Decimal | None: ...
    @property
    def cost(self) -> Decimal: ...
    @property
    def mark(self) -> Decimal | None: ...
    @property
    def market_value(self) -> Decimal: ...
    @property
    def realised_pnl(self) -> Decimal: ...
    @property
    def unrealised_pnl(self) -> Decimal: ...
    @property
    def commissions(self) -> Decimal: ...

@final
class Portfolio:
    """Cash, netting positions and exact P&L with per-strategy attribution.

    Identity (exact): ``cash + Σ market_value == starting_cash + realised_pnl +
    unrealised_pnl - commissions`` (realised P&L is gross of commissions).
    """

    def __new__(
        cls,
        starting_cash: _Exact | None = None,
        *,
        account_type: Literal["cash", "margin"] = "cash",
        allow_short: bool = False,
    ) -> Self: ...
    def apply_fill(
        self,
        strategy_id: str,
        instrument: str,
        side: _Side,
        quantity: _Exact,
        price: _Exact,
        commission: _Exact | None = None,
        ts: int = 0,
    ) -> list[PositionEvent]: ...
    def mark(self, instrument: str, price: _Exact) -> None: ...
    @property
    def account_type(self) -> Literal["cash", "margin"]: ...
    @property
    def starting_cash(self) -> Decimal: ...
    @property
    def cash(self) -> Decimal: ...
    @property
    def buying_power(self) -> Decimal: ...
    @property
    def equity(self) -> Decimal: ...
    @property
    def realised_pnl(self) -> Decimal: ...
    @property
    def unrealised_pnl(self) -> Decimal: ...
    @property
    def commissions(self) -> Decimal: ...
    @property
    def exposure(self) -> Decimal: ...
    @property
    def net_exposure(self) -> Decimal: ...
    @property
    def identity_residual(self) -> Decimal: ...
    def position(self, instrument: str) -> Position | None: ...
    def positions(self) -> dict[str, Position]: ...
    def strategies(self) -> list[str]: ...
    def strategy_position(self, strategy_id: str, instrument: str) -> Position | None: ...
    def strategy_pnl(self, strategy_id: str) -> tuple[Decimal, Decimal, Decimal]:
        """``(realised, unrealised, commissions)`` attributed to the strategy."""

@final
class SimulatedVenue:
    """A simulated venue with its own account; fill rules and defaults in docs/venue.md.

    Rates (``slippage_rate``, ``commission_rate``, ``commission_max_rate``,
    ``participation``) are fractions (``"0.0005"`` = 5 bps); money amounts are in the
    account currency. Defaults: 1-tick slippage, $0.005/share (min $1, max 1 %), 10 %
    participation, no latency, market orders at the next bar's open, cash account.
    Every command returns the events it caused, in order.
    """

    def __new__(
        cls,
        *,
        starting_cash: _Exact | None = None,
        account_type: Literal["cash", "margin"] = "cash",
        allow_short: bool = False,
        slippage: Literal["none", "ticks", "rate", "volume"] = "ticks",
        slippage_ticks: int = 1,
        slippage_rate: _Exact | None = None,
        slippage_per_participation: _Exact | None = None,
        commission_per_share: _Exact | None = None,
        commission_per_order: _Exact | None = None,
        commission_rate: _Exact | None = None,
        commission_minimum: _Exact | None = None,
        commission_max_rate: _Exact | None = None,
        participation: _Exact | None = None,
        unlimited_volume: bool = False,
        latency_ns: int = 0,
        market_fill: Literal["next_open", "this_close"] = "next_open",
        session_close_minutes: int = 960,
        check_buying_power: bool = True,
        external: bool = False,
    ) -> Self: ...
    @property
    def external(self) -> bool:
        """External-venue mode: orders are kept here and matched by a broker
        (``Engine.take_outgoing`` / ``Engine.apply_broker_update``; docs/venue.md)."""
    def add_instrument(
        self,
        instrument: Instrument | str,
        tick_size: _Exact | None = None,
        lot_size: _Exact | None = None,
    ) -> None: ...
    def submit(self, order: Order, ts: int) -> list[_VenueEvent]: ...
    def submit_oco(self, orders: list[Order], ts: int) -> list[_VenueEvent]: ...
    def submit_oto(self, parent: Order, children: list[Order], ts: int) -> list[_VenueEvent]: ...
    def submit_bracket(
        self, entry: Order, take_profit: Order, stop_loss: Order, ts: int
    ) -> list[_VenueEvent]: ...
    def cancel(self, client_order_id: str, ts: int) -> list[_VenueEvent]: ...
    def modify(
        self,
        client_order_id: str,
        ts: int,
        *,
        quantity: _Exact | None = None,
        price: _Exact | None = None,
        trigger_price: _Exact | None = None,
    ) -> list[_VenueEvent]: ...
    def process(self, data: Bar | QuoteTick | TradeTick) -> list[_VenueEvent]: ...
    def process_bar(
        self,
        instrument: str,
        ts: int,
        open: _Exact,
        high: _Exact,
        low: _Exact,
        close: _Exact,
        volume: _Exact | None = None,
        *,
        ts_open: int | None = None,
    ) -> list[_VenueEvent]:
        """A bar that opened at ``ts_open`` (default ``ts``) and closed at ``ts``.

        Fills, triggers and expiries are stamped where the intrabar path reaches their
        price (docs/venue.md); ``process(bar)`` takes the open time from the bar's interval.
        """
    def process_quote(
        self,
        instrument: str,
        ts: int,
        bid: _Exact,
        ask: _Exact,
        bid_size: _Exact | None = None,
        ask_size: _Exact | None = None,
    ) -> list[_VenueEvent]: ...
    def process_trade(
        self, instrument: str, ts: int, price: _Exact, size: _Exact | None = None
    ) -> list[_VenueEvent]: ...
    def advance(self, ts: int) -> list[_VenueEvent]: ...
    @property
    def now(self) -> int: ...
    def order(self, client_order_id: str) -> Order | None: ...
    def open_orders(self) -> list[Order]: ...
    def depth(
        self, instrument: str, side: _Side, levels: int = 10
    ) -> list[tuple[Decimal, Decimal, int]]: ...
    @property
    def portfolio(self) -> Portfolio: ...
    def purge_closed(self) -> int: ...

# ----- risk (rust_core/src/python/risk.rs) -----
# Quantities, prices and money: Decimal/str/int (exact); fractions (collar, concentration,
# drawdown, sizing ratios) as Decimal fractions (0.2 = 20 %); counts as int; ts in UTC ns.

__all__ += [
    "Denial",
    "RiskAccount",
    "RiskEngine",
    "RiskEvent",
    "denial_codes",
    "limit_names",
    "position_size",
    "risk_profiles",
]

_TradingState: TypeAlias = Literal["active", "reducing", "halted"]
_StateCause: TypeAlias = Literal["daily_loss", "drawdown", "strategy_loss", "admin", "new_session"]
_RiskAccountLike: TypeAlias = RiskAccount | Portfolio
_SizingMethod: TypeAlias = Literal[
    "fixed_quantity",
    "fixed_notional",
    "percent_of_equity",
    "fixed_risk",
    "fixed_fractional_risk",
    "volatility_scaled",
    "kelly",
]

@final
class RiskAccount:
    """A plain account to check against: cash, positions, last prices, P&L, open orders."""

    def __new__(cls, cash: _Exact | None = None, *, shorts_allowed: bool = False) -> Self: ...
    @property
    def cash(self) -> Decimal: ...
    @cash.setter
    def cash(self, value: _Exact) -> None: ...
    @property
    def realised_pnl(self) -> Decimal:
        """P&L not visible from the positions (realised, net of commissions)."""
    @realised_pnl.setter
    def realised_pnl(self, value: _Exact) -> None: ...
    @property
    def pending_buy_notional(self) -> Decimal:
        """Value of open buy orders, reserved against buying power."""
    @pending_buy_notional.setter
    def pending_buy_notional(self, value: _Exact) -> None: ...
    @property
    def shorts_allowed(self) -> bool: ...
    @shorts_allowed.setter
    def shorts_allowed(self, value: bool) -> None: ...
    @property
    def equity(self) -> Decimal: ...
    @property
    def gross_exposure(self) -> Decimal: ...
    @property
    def net_exposure(self) -> Decimal: ...
    @property
    def total_pnl(self) -> Decimal: ...
    def set_position(
        self,
        instrument: str,
        quantity: _Exact,
        avg_price: _Exact,
        strategy_id: str | None = None,
    ) -> None:
        """Sets a signed position (and the strategy's share); the last price defaults to it."""
    def set_last_price(self, instrument: str, price: _Exact) -> None: ...
    def set_strategy_pnl(self, strategy_id: str, pnl: _Exact) -> None: ...
    def set_open_orders(self, count: int, strategy_id: str | None = None) -> None: ...
    def set_working_quantity(self, instrument: str, buy: _Exact, sell: _Exact) -> None:
        """Unfilled quantity of working orders in ``instrument`` by side (counted in REDUCING)."""

@final
class Denial:
    """A risk denial: data, not an exception (codes: ``denial_codes()``)."""

    @property
    def code(self) -> str: ...
    @property
    def scope(self) -> Literal["account", "strategy", "instrument"]: ...
    @property
    def message(self) -> str: ...
    @property
    def limit(self) -> Decimal | int:
        """Decimal for quantities, money and fractions; int for counts and nanoseconds."""
    @property
    def actual(self) -> Decimal | int:
        """The value that broke the limit, in the limit's unit."""

@final
class RiskEvent:
    """A trading-state change (``state_changed``) or a new risk day (``session_started``)."""

    @property
    def kind(self) -> Literal["state_changed", "session_started"]: ...
    @property
    def ts(self) -> int: ...
    @property
    def strategy_id(self) -> str | None:
        """``None`` for the account."""
    @property
    def from_state(self) -> _TradingState | None: ...
    @property
    def to_state(self) -> _TradingState | None: ...
    @property
    def cause(
        self,
    ) -> Literal["daily_loss", "drawdown", "strategy_loss", "admin", "new_session"] | None: ...
    @property
    def message(self) -> str: ...
    @property
    def date(self) -> str | None:
        """Local date of a new risk session, ``YYYY-MM-DD``."""
    @property
    def cancel_open_orders(self) -> bool:
        """The engine should cancel open orders (entering HALTED with ``cancel_on_halt``)."""
    @property
    def flatten_positions(self) -> bool:
        """The engine should close positions (entering HALTED with ``flatten_on_halt``)."""

@final
class RiskEngine:
    """Pre-trade risk: limits, trading state and sizing (see docs/risk.md).

    ``profile``: ``conservative``, ``default`` (the original system's limits),
    ``aggressive`` or ``unlimited``.
    """

    def __new__(cls, profile: str = "default") -> Self: ...
    @property
    def profile(self) -> str: ...
    @property
    def state(self) -> _TradingState: ...
    @property
    def cause(self) -> str | None: ...
    @property
    def equity_peak(self) -> Decimal | None: ...
    @property
    def session_orders(self) -> int: ...
    @property
    def check_buying_power(self) -> bool: ...
    @check_buying_power.setter
    def check_buying_power(self, value: bool) -> None: ...
    def strategy_state(self, strategy_id: str) -> _TradingState: ...
    def set_limit(
        self,
        name: str,
        value: _Exact | None,
        *,
        strategy_id: str | None = None,
        instrument: str | None = None,
    ) -> None:
        """Sets a limit by name (``limit_names()``); ``None`` switches it off at that level."""
    def get_limit(
        self, name: str, *, strategy_id: str | None = None, instrument: str | None = None
    ) -> Decimal | int | None: ...
    def add_instrument(
        self,
        instrument: Instrument | str,
        tick_size: _Exact | None = None,
        lot_size: _Exact | None = None,
        *,
        calendar: _Calendar | None = None,
    ) -> None:
        """An ``Instrument`` (its grid and calendar) or a symbol with its tick and lot size.

        ``calendar`` overrides the instrument's; for a symbol it keeps the one registered
        before (default ``"session"``). A ``"24/7"`` instrument is never denied for hours.
        """
    def calendar(self, instrument: str) -> _Calendar:
        """``"session"`` (the session's trading hours apply) or ``"24/7"``."""
    def set_session(
        self,
        time_zone: str,
        *,
        reset_at: str = "00:00",
        open: str | None = ...,
        close: str = "16:00",
        weekdays: list[int] = ...,
        holidays: list[str] = ...,
        early_closes: dict[str, str] | None = None,
    ) -> None:
        """Time zone (IANA name or ``+HH:MM``), risk-day reset and trading hours (local).

        ``open`` defaults to ``"09:30"``; ``None`` trades around the clock. ``weekdays``
        (0 = Monday) default to Monday-Friday; ``holidays`` are local ``YYYY-MM-DD`` dates;
        ``early_closes`` maps half days (local ``YYYY-MM-DD``) to their ``HH:MM`` close.
        """
    def set_actions(
        self,
        *,
        on_daily_loss: _TradingState = "reducing",
        on_drawdown: _TradingState = "halted",
        on_strategy_loss: _TradingState = "reducing",
        cancel_on_halt: bool = True,
        flatten_on_halt: bool = False,
    ) -> None: ...
    def check(
        self,
        account: _RiskAccountLike,
        strategy_id: str,
        instrument: str,
        side: _Side,
        quantity: _Exact,
        *,
        price: _Exact | None = None,
        trigger_price: _Exact | None = None,
        ts: int,
    ) -> Denial | None:
        """``None`` passes the order (and counts it for the flow limits); else a Denial."""
    def check_order(self, order: Order, account: _RiskAccountLike, *, ts: int) -> Denial | None: ...
    def update(self, account: _RiskAccountLike, *, ts: int) -> None:
        """Session roll-over, equity peak and loss limits; call after fills and marks."""
    def set_state(
        self, state: _TradingState, reason: str, account: _RiskAccountLike, *, ts: int
    ) -> None: ...
    def set_strategy_state(
        self, strategy_id: str, state: _TradingState, reason: str, *, ts: int
    ) -> None: ...
    def drain_events(self) -> list[RiskEvent]: ...
    def session_pnl(self, account: _RiskAccountLike) -> Decimal: ...
    def max_order_quantity(
        self,
        account: _RiskAccountLike,
        strategy_id: str,
        instrument: str,
        side: _Side,
        price: _Exact | None = None,
    ) -> Decimal: ...
    def size_order(
        self,
        account: _RiskAccountLike,
        method: _SizingMethod,
        strategy_id: str,
        instrument: str,
        side: _Side,
        price: _Exact | None = None,
        **params: _Exact | None,
    ) -> Decimal:
        """``position_size`` for this account, clipped to the limits."""
    def stats(self) -> dict[str, int]: ...

def denial_codes() -> list[str]: ...
def limit_names() -> list[str]: ...
def risk_profiles() -> list[str]: ...
def position_size(
    method: _SizingMethod,
    equity: _Exact,
    price: _Exact,
    lot_size: _Exact | None = None,
    **params: _Exact | None,
) -> Decimal:
    """Quantity for ``method`` at ``price``, rounded down to ``lot_size`` (default 1)."""

# ---------------------------------------------------------------- engine

__all__ += [
    "CrossOver",
    "DenialRecord",
    "Engine",
    "FillIter",
    "FillLog",
    "FillRecord",
    "OutgoingRequest",
    "RoundTrip",
    "raw_from_floats",
]

_Indicator: TypeAlias = (
    SMA | EMA | WMA | RSI | ROC | Momentum | StdDev | MACD | BollingerBands | ATR | VWAP | Donchian
)

@final
class CrossOver:
    """Crossover of two series: ``value`` is +1 on the update where the first moved above
    the second, -1 where it moved below, 0 otherwise (an equality in between does not hide
    a cross). One returned by an engine is updated by it (``update``/``reset`` refuse)."""

    def __new__(cls) -> Self: ...
    def update(self, a: float | None, b: float | None) -> None:
        """Feed the two current values (``None`` or NaN while warming up)."""
    @property
    def value(self) -> int: ...
    @property
    def side(self) -> int:
        """+1 first above, -1 below, 0 unknown."""
    def reset(self) -> None: ...

def raw_from_floats(
    values: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Floats as raw units (10^-9), rounded half to even from their exact binary value;
    the mask marks NaN, infinite and out-of-range values (raw 0)."""

@final
class FillRecord:
    """One execution of a run; exact raw integers (10^-9 units), ``ts`` its market time."""

    @property
    def ts(self) -> int: ...
    @property
    def strategy_id(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def client_order_id(self) -> str: ...
    @property
    def side(self) -> _Side: ...
    @property
    def quantity_raw(self) -> int: ...
    @property
    def price_raw(self) -> int: ...
    @property
    def commission_raw(self) -> int: ...
    def __eq__(self, value: object, /) -> bool: ...
    __hash__: ClassVar[None]  # type: ignore[assignment]

@final
class FillLog(Sequence[FillRecord]):
    """A run's fills as a read-only sequence; each ``FillRecord`` is made when read (the
    fills stay in the engine's compact form, shared, never copied)."""

    def __len__(self) -> int: ...
    @overload
    def __getitem__(self, key: int, /) -> FillRecord: ...
    @overload
    def __getitem__(self, key: slice, /) -> list[FillRecord]: ...
    def __iter__(self) -> FillIter: ...
    def __eq__(self, value: object, /) -> bool: ...
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def round_trips(self) -> tuple[list[RoundTrip], list[tuple[str, str, int]]]:
        """Closed round trips in exit order, and the positions still open
        ``(strategy_id, symbol, quantity_raw)``, from these fills."""

@final
class FillIter(Iterator[FillRecord]):
    def __iter__(self) -> Self: ...
    def __next__(self) -> FillRecord: ...

@final
class RoundTrip:
    """A closed round trip (flat -> position -> flat) of one strategy and instrument."""

    @property
    def strategy_id(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def sign(self) -> int:
        """+1 long, -1 short."""
    @property
    def entry_ts(self) -> int: ...
    @property
    def exit_ts(self) -> int: ...
    @property
    def quantity_raw(self) -> int: ...
    @property
    def entry_notional_raw(self) -> int:
        """Σ quantity x price of the entries (raw x raw, exact)."""
    @property
    def exit_notional_raw(self) -> int: ...
    @property
    def commission_raw(self) -> int: ...

@final
class DenialRecord:
    """An order the risk engine refused during a run."""

    @property
    def ts(self) -> int: ...
    @property
    def strategy_id(self) -> str: ...
    @property
    def client_order_id(self) -> str: ...
    @property
    def denial(self) -> Denial:
        """Code, scope, limit, actual and message."""
    @property
    def action(self) -> Literal["submit", "modify"]:
        """``submit``: the order was refused; ``modify``: a change was refused, the order
        stands."""
    @property
    def code(self) -> str: ...
    @property
    def message(self) -> str: ...

@final
class OutgoingRequest:
    """A request for the broker: ``submit`` (``order``), ``cancel``, ``modify`` (new
    ``quantity`` / ``price`` / ``trigger_price``, ``None`` unchanged)."""

    @property
    def kind(self) -> Literal["submit", "cancel", "modify"]: ...
    @property
    def client_order_id(self) -> str: ...
    @property
    def ts(self) -> int: ...
    @property
    def order(self) -> Order | None: ...
    @property
    def quantity(self) -> Decimal | None: ...
    @property
    def price(self) -> Decimal | None: ...
    @property
    def trigger_price(self) -> Decimal | None: ...
    @property
    def trail_price(self) -> Decimal | None:
        """A trailing stop's offset as a price distance."""
    @property
    def trail_percent(self) -> Decimal | None:
        """A trailing stop's offset in percent (basis points / 100)."""

@final
class Engine:
    """The trading engine (Rust): one event loop and one command path (risk, then venue)
    for backtests and live trading; Python strategies plug in through callbacks.

    Built from a configured ``SimulatedVenue`` and optional ``RiskEngine`` (both copied;
    the risk engine starts fresh with the same configuration). Usually driven by
    ``pi5trading.engine.BacktestRunner``.
    """

    def __new__(cls, venue: SimulatedVenue, risk: RiskEngine | None = None) -> Self: ...
    def add_instrument(self, instrument: Instrument) -> None: ...
    def add_bars(
        self,
        symbol: str,
        interval: str,
        ts: npt.NDArray[np.int64],
        open: npt.ArrayLike,
        high: npt.ArrayLike,
        low: npt.ArrayLike,
        close: npt.ArrayLike,
        volume: npt.ArrayLike,
    ) -> int:
        """Validated bars (int64 raw units or float64 prices); returns the row count."""
    def add_strategy(
        self,
        strategy_id: str,
        symbols: list[str],
        *,
        on_bar: Callable[[Bar], object] | None = None,
        on_order: Callable[[OrderEvent], object] | None = None,
        on_fill: Callable[[OrderEvent], object] | None = None,
        on_position: Callable[[PositionEvent], object] | None = None,
        on_timer: Callable[[TimeEvent], object] | None = None,
        on_start: Callable[[], object] | None = None,
        on_stop: Callable[[], object] | None = None,
        warmup: bool = False,
    ) -> int: ...
    def add_target_positions(
        self, strategy_id: str, symbol: str, target: npt.NDArray[np.int64]
    ) -> int:
        """A vectorised strategy: the signed raw position wanted after each bar."""
    def set_timer(
        self,
        strategy: int,
        name: str,
        interval_ns: int,
        start: int | None = None,
        stop: int | None = None,
    ) -> None: ...
    def set_time_alert(self, strategy: int, name: str, at: int) -> None: ...
    def cancel_timer(self, strategy: int, name: str) -> bool: ...
    def register_indicator(self, strategy: int, symbol: str, indicator: _Indicator) -> int: ...
    def register_crossover(self, a: int, b: int) -> CrossOver: ...
    def register_level_cross(self, a: int, level: float) -> CrossOver: ...
    def size_order(
        self,
        strategy: int,
        symbol: str,
        method: _SizingMethod,
        side: _Side,
        price: _Exact | None = None,
        **params: _Exact | None,
    ) -> Decimal: ...
    def on_cross(self, crossover: CrossOver, handler: Callable[[Bar, int], object]) -> None:
        """Call ``handler(bar, direction)`` only on the bars where ``crossover`` fires."""
    def submit(self, strategy: int, order: Order) -> _OrderStatus: ...
    def next_order_id(self, strategy: int) -> str: ...
    def submit_market(self, strategy: int, symbol: str, side: _Side, quantity: _Exact) -> str: ...
    def close_position(self, strategy: int, symbol: str) -> str | None: ...
    def cancel(self, client_order_id: str) -> None: ...
    def modify(
        self,
        client_order_id: str,
        *,
        quantity: _Exact | None = None,
        price: _Exact | None = None,
        trigger_price: _Exact | None = None,
    ) -> None: ...
    def order(self, client_order_id: str) -> Order | None: ...
    def position(self, strategy: int, symbol: str) -> Position | None: ...
    def position_raw(self, strategy: int, symbol: str) -> int: ...
    def open_orders(self, strategy: int) -> list[str]: ...
    @property
    def portfolio(self) -> Portfolio: ...
    @property
    def now(self) -> int: ...
    @property
    def progress(self) -> tuple[int, int]: ...
    def run(
        self,
        progress: Callable[[int, int], object] | None = None,
        progress_every: int = 65536,
    ) -> None: ...
    # Live stepping (the trading node): start, then step events as they come, then stop.
    def start(
        self,
        start_ts: int | None = None,
        *,
        outbox: bool = False,
        isolate: bool = True,
        keep_records: int | None = None,
    ) -> None:
        """Start stepping: clock at ``start_ts``, every ``on_start``. With ``outbox`` every
        event made is kept for ``publish`` / ``take_events``. With ``isolate`` a strategy
        that raises is stopped alone (``take_failures``); without, its exception ends the
        step (a backtest). With ``keep_records=n`` only the latest ``n`` fills and
        denials (at most) stay for ``fills()`` / ``denials()`` (a live node publishes
        them; all kept, they would grow for as long as it runs)."""
    def step_bar(self, bar: Bar) -> None: ...
    def step_quote(self, quote: QuoteTick) -> None: ...
    def step_trade(self, trade: TradeTick) -> None: ...
    def step_time(self, ts: int) -> None:
        """Move the clock with no data: timers due by ``ts`` fire."""
    def step_many(self, events: Iterable[tuple[str, int, object]]) -> int:
        """Step ``(topic, ts_event, message)`` in order in one call; messages that are not
        bars, quotes or trades only pass to the outbox. Returns the market events stepped."""
    def step_queue(
        self, queue: IngestQueue, max_events: int | None = None, timeout: float | None = None
    ) -> int:
        """Drain ``queue`` (waiting up to ``timeout`` s, GIL released) and step the events as
        ``step_many``. Returns the number drained."""
    def stop(self) -> None: ...
    def start_strategy(self, strategy: int) -> None: ...
    def stop_strategy(self, strategy: int) -> None: ...
    def remove_strategy(self, strategy: int) -> None: ...
    def warm_up(self, bars: list[Bar]) -> None:
        """Feed past bars to the indicators only: nothing trades, the clock stays."""
    def restore_fills(self, fills: Iterable[FillRecord | Any]) -> int:
        """Book fills made before a restart into the account (cash, positions) in order:
        no order, no event. ``FillRecord``s or objects with their attributes."""
    def resume_order_ids(self, strategy: int, n: int) -> None:
        """Continue the strategy's client order ids after ``n`` (never goes back)."""
    def restore_order(
        self,
        order: Order,
        fills: Sequence[tuple[_Exact, _Exact, _Exact]] | None = None,
        *,
        triggered: bool = False,
    ) -> None:
        """Put an order working before a restart back into the venue with its earlier
        ``(quantity, price, commission)`` fills: no risk check, no event, no callback.
        Linked orders (bracket, OCO, OTO), IOC and FOK are refused."""
    def accept_late(self, late_ns: int) -> None:
        """Live: take events stamped up to ``late_ns`` before the engine clock (a bar that
        arrives after its close, once a quote or a timer moved the clock past it) at the
        clock's time, which does not go back; no timer fires for them and strategies see
        their own times. 0 (the default) refuses every one, as a backtest must."""
    def announce_positions(self) -> None:
        """Queue a ``changed`` event for every position (account and strategies, flat ones
        included) for the next ``publish``: a restarted node's account on the bus. Each is
        stamped with its position's last fill, not the engine's clock."""
    def resume_trade_ids(self, n: int) -> None:
        """Number the venue's next trades after ``n`` (no fill id used twice)."""
    def set_trading_state(
        self, state: _TradingState, reason: str, *, strategy_id: str | None = None
    ) -> None:
        """Operator command: the account (or one strategy) to active/reducing/halted;
        published as a risk event with the next step or ``settle()``."""
    def restore_risk(
        self,
        *,
        session_start_pnl: _Exact | None = None,
        equity_peak: _Exact | None = None,
        state: _TradingState = "active",
        cause: _StateCause | None = None,
        strategies: list[tuple[str, _TradingState, _StateCause | None]] | None = None,
    ) -> None:
        """The risk engine's state from before a restart (session in progress, its
        starting P&L, equity peak, trading states); emits nothing."""
    def risk_status(self) -> dict[str, Any] | None:
        """The risk engine's state now (state, cause, session_pnl, equity_peak,
        session_orders, strategies), or None without a risk engine."""
    def risk_day_start(self, ts: int) -> int | None:
        """UTC ns at which the risk day holding ``ts`` started (None without risk)."""
    def set_active(self, strategy: int, active: bool) -> None:
        """Pause (``False``) or resume a strategy's callbacks (indicators stay fed)."""
    def is_active(self, strategy: int) -> bool: ...
    def settle(self) -> None:
        """Deliver what commands between steps caused; sample the account."""
    @property
    def external(self) -> bool:
        """Orders go to a broker (the venue is external) instead of the simulated match."""
    def take_outgoing(self) -> list[OutgoingRequest]:
        """The requests for the broker made since the last call, in order."""
    def apply_broker_update(
        self,
        client_order_id: str,
        kind: Literal[
            "submitted",
            "accepted",
            "rejected",
            "triggered",
            "modify_accepted",
            "modify_rejected",
            "cancel_rejected",
            "filled",
            "cancelled",
            "expired",
            "notice",
        ],
        ts: int,
        *,
        quantity: _Exact | None = None,
        price: _Exact | None = None,
        commission: _Exact | None = None,
        filled_qty: _Exact | None = None,
        reason: str = "",
    ) -> bool:
        """Apply what the broker reported about an order; its events reach the strategies
        and the outbox. ``False``: a repeat that changed nothing. Raises (changing nothing)
        for an unknown order, an overfill, a fill on a closed order."""
    @property
    def next_timer_ns(self) -> int | None: ...
    def take_failures(self) -> list[tuple[int, BaseException]]:
        """``(strategy index, exception)`` of strategies whose callback raised."""
    def take_rejected(self) -> list[tuple[str, int, str]]:
        """``(topic, ts_event, message)`` of events the engine refused."""
    def take_events(self) -> list[tuple[str, Any]]:
        """Every event made since the last call, ``(topic, object)`` in order."""
    def publish(self, bus: Bus) -> int:
        """Publish every event made since the last call on ``bus``; returns the count."""
    def equity_curve(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...
    def position_open(self) -> npt.NDArray[np.bool_]: ...
    def fills(self) -> FillLog: ...
    def round_trips(self) -> tuple[list[RoundTrip], list[tuple[str, str, int]]]:
        """Closed round trips (exact notionals, raw units) and the positions still open."""
    @property
    def traded_notional_raw(self) -> int: ...
    def last_denial(self) -> DenialRecord | None:
        """The risk engine's latest refusal."""
    def denials(self) -> list[DenialRecord]: ...
    @property
    def orders_routed(self) -> int:
        """New orders the strategies sent during the run (denied ones included)."""

# -- the sinks' per-event work (rust_core/src/python/sinks.rs) --

__all__ += [
    "bar_message",
    "bar_rows",
    "copy_text",
    "first_order_events",
    "order_message",
    "position_message",
]

def bar_rows(messages: Sequence[object]) -> list[object]:
    """``messages`` with every ``Bar`` replaced by its encoded ``bars`` row (a tuple:
    instrument id, interval, open time, then open, high, low, close, volume as exact
    decimal strings); other payloads passed through, in order."""

def copy_text(rows: Sequence[tuple[object, ...]]) -> bytes:
    """PostgreSQL COPY text of encoded rows (tab-separated, ``\\N`` for None, escaped)."""

def bar_message(bar: Bar) -> bytes:
    """The JSON of a bar's channel message, as msgspec encodes ``to_message(bar)``."""

def order_message(event: OrderEvent) -> tuple[str, bytes]:
    """An order event's channel message: its topic and the JSON ``to_message`` + msgspec
    make of it."""

def position_message(event: PositionEvent) -> tuple[str, bytes]:
    """A position event's channel message: its topic and its JSON (as ``order_message``)."""

def first_order_events(messages: Sequence[object], known: set[str]) -> list[tuple[int, str]]:
    """Where in ``messages`` an order event's order is not in ``known`` (with its id);
    ``known`` gains each order seen and loses each order an event leaves final."""

# -- the storage sink's converter (rust_core/src/python/records.rs) --

__all__ += ["EncodedRow", "RecordEncoder"]

@final
class EncodedRow:
    """One row already encoded for its table (what ``TableSpec.encode`` gives)."""

    @property
    def kind(self) -> str:
        """Its record's tag: ``fill``, ``order_event``, ``order``, ``position``, ``equity``."""
    @property
    def row(self) -> tuple[Any, ...]:
        """The values in column order (money as exact decimal text, details as JSON text)."""

@final
class RecordEncoder:
    """Order events, orders, position events and equity samples as ``EncodedRow``s, with
    ``RecordConverter``'s state (``pi5trading.sinks.records``); bars as encoded rows."""

    def __new__(cls, order_lookup: Callable[[str], Order | None] | None = None) -> Self: ...
    def encode(self, messages: Sequence[object], bars: bool = True) -> list[Any]:
        """``messages`` with what it converts replaced by its rows (a payload it cannot
        convert by the ``ValueError`` saying why), the rest left in place, in order."""
    def remember_order(self, order: Order) -> None: ...
    def restore_order(
        self,
        order_id: str,
        side: str,
        order_type: str,
        quantity: str,
        time_in_force: str,
        limit_price: str | None,
        stop_price: str | None,
        expire_time: int | None,
        links: str | None,
        seq: int,
        created_ns: int,
        updated_ns: int,
        fills: Sequence[tuple[str, str]],
        seen: Sequence[tuple[int, str, int, str]],
    ) -> None: ...
    def restore_done(self, order_ids: Sequence[str]) -> None:
        """After a restart: orders storage has as final, oldest first (a later event of
        one is a replay)."""
    def restore_position(
        self,
        strategy_id: str,
        instrument: str,
        ts_ns: int,
        quantity: str,
        avg_price: str,
        realized_pnl: str,
    ) -> None: ...
    def restore_equity(self, ts_ns: int, cash: str, equity: str) -> None: ...
    @property
    def open_orders(self) -> int: ...
    @property
    def orders_without_terms(self) -> int: ...
    @property
    def replays_dropped(self) -> int: ...
