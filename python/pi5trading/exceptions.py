"""The exception tree of pi5trading.

The Rust core raises these same classes (it imports them from here), so one
``except Pi5TradingError`` catches every engine error, and input errors are also
plain ``ValueError`` for code that does not know about us.
"""

from __future__ import annotations


class Pi5TradingError(Exception):
    """Base class of every pi5trading error."""


class InvalidInputError(Pi5TradingError, ValueError):
    """A value given to the engine is invalid; the message names the field."""


class ArithmeticOverflowError(Pi5TradingError, OverflowError):
    """Exact arithmetic would overflow; money never wraps."""


class InvalidStateError(Pi5TradingError, RuntimeError):
    """The operation is not allowed in the current state."""


class ConfigurationError(Pi5TradingError, ValueError):
    """A setting (environment variable or .env entry) is invalid."""


class StrategyError(Pi5TradingError):
    """A strategy's callback raised during a run. ``__cause__`` is the strategy's own
    exception; the message names the strategy's file and line, the callback and the bar."""

    def __init__(
        self,
        message: str,
        *,
        strategy_id: str | None,
        callback: str,
        filename: str,
        lineno: int,
        ts: int | None,
    ) -> None:
        super().__init__(message)
        self.strategy_id = strategy_id
        self.callback = callback
        self.filename = filename
        self.lineno = lineno
        self.ts = ts
        """The engine clock (the bar's close time, UTC ns) when it raised; ``None`` in
        ``on_start``."""


__all__ = [
    "ArithmeticOverflowError",
    "ConfigurationError",
    "InvalidInputError",
    "InvalidStateError",
    "Pi5TradingError",
    "StrategyError",
]
