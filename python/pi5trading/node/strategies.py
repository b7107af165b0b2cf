"""The node's strategy book: each instance, where it came from, its status, its saved state.

A strategy goes ``added`` → ``running`` ⇄ ``paused`` → ``stopped`` (→ ``running`` again, or
reconfigured) → ``removed``; a strategy whose callback raises becomes ``failed`` (it can be
started again once fixed by a reconfigure). Every change is a ``StrategyStatus`` on the bus.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pi5trading.events import StrategyState
from pi5trading.exceptions import ConfigurationError
from pi5trading.strategies.base import Strategy
from pi5trading.strategies.loader import load_strategy

# Which changes each status allows (the node's commands check them before acting).
ALLOWED: dict[str, frozenset[StrategyState]] = {
    "start": frozenset({"added", "stopped", "failed"}),
    "stop": frozenset({"running", "paused"}),
    "pause": frozenset({"running"}),
    "resume": frozenset({"paused"}),
    "reconfigure": frozenset({"added", "running", "paused", "stopped", "failed"}),
    "remove": frozenset({"added", "running", "paused", "stopped", "failed"}),
}


@dataclass(slots=True)
class ManagedStrategy:
    """One strategy instance in the node."""

    strategy: Strategy
    index: int
    """The engine's number for it."""
    symbols: tuple[str, ...]
    source: str
    """The built-in name or file it was loaded from, or its class name."""
    status: StrategyState = "added"
    error: str | None = None
    """The traceback of the failure, when ``failed``."""
    saved: dict[str, Any] = field(default_factory=dict)
    """What its ``on_save`` returned when it last stopped (given to ``on_load`` on start)."""

    @property
    def id(self) -> str:
        return self.strategy.id

    def check(self, action: str) -> None:
        """Raise ``InvalidStateError`` if ``action`` is not allowed in this status."""
        from pi5trading.exceptions import InvalidStateError

        if self.status not in ALLOWED[action]:
            raise InvalidStateError(
                f"cannot {action} strategy {self.id!r}: it is {self.status}"
                f" (allowed when {', '.join(sorted(ALLOWED[action]))})"
            )


def build_strategy(
    spec: Strategy | type[Strategy] | str,
    params: Mapping[str, Any] | None = None,
    *,
    strategy_id: str | None = None,
) -> tuple[Strategy, str]:
    """A strategy instance from an instance, a class, a built-in name or a file
    (``path.py`` or ``path.py:Class``), its parameters validated; and its source name.

    Raises ``ConfigurationError`` naming what is wrong (unknown strategy, bad parameter).
    """
    if isinstance(spec, Strategy):
        if params:
            raise ConfigurationError(
                f"strategy {spec.id!r}: parameters go with a name or class, not an instance"
            )
        if strategy_id is not None and strategy_id != spec.id:
            raise ConfigurationError(
                f"strategy {spec.id!r}: give an instance its id when you create it "
                f"(strategy_id={strategy_id!r})"
            )
        return spec, type(spec).name or type(spec).__name__
    if isinstance(spec, str):
        cls = load_strategy(spec)
        source = spec
    elif isinstance(spec, type) and issubclass(spec, Strategy):
        cls = spec
        source = cls.name or cls.__name__
    else:
        raise ConfigurationError(
            f"strategy: expected a Strategy, its class, a built-in name or a file, got {spec!r}"
        )
    return cls(dict(params or {}), strategy_id=strategy_id), source


__all__ = ["ALLOWED", "ManagedStrategy", "build_strategy"]
