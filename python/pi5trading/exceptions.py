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


__all__ = [
    "ArithmeticOverflowError",
    "ConfigurationError",
    "InvalidInputError",
    "InvalidStateError",
    "Pi5TradingError",
]
