"""pi5trading: a self-hosted algorithmic trading system for the Raspberry Pi 5.

The Rust core is reached through public modules, never ``pi5trading._core`` directly:
``model`` (exact values, instruments, market data), ``indicators``, ``orders``, ``venue``,
``portfolio``, ``risk``, ``clock`` and ``bus``; ``engine`` runs strategies over them,
``analysis`` turns a run's equity curve and trades into statistics and a report, and
``backtest`` describes, optimises and records backtests. ``build_info()`` tells how the
core was built.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from pi5trading import _core
from pi5trading._core import build_info
from pi5trading.exceptions import (
    ArithmeticOverflowError,
    ConfigurationError,
    InvalidInputError,
    InvalidStateError,
    Pi5TradingError,
)

try:
    __version__: str = version("pi5trading")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = _core.__version__

__all__ = [
    "ArithmeticOverflowError",
    "ConfigurationError",
    "InvalidInputError",
    "InvalidStateError",
    "Pi5TradingError",
    "__version__",
    "build_info",
]
