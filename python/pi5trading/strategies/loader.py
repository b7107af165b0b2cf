"""Find a strategy class from a name, a file or a module path.

``load_strategy(spec)`` accepts:

- a built-in name (``sma_crossover``, ``rsi_mean_reversion`` ... see ``BUILTIN``; the
  original system's ids ``moving_avg_crossover`` and ``bollinger_bounce`` are aliases);
- ``path/to/file.py``: the one ``Strategy`` subclass defined in that file;
- ``path/to/file.py:ClassName``;
- ``package.module:ClassName`` (importable from ``sys.path``).

Every failure is a ``ConfigurationError`` that says what was wrong: a missing file or
module, a syntax error (with its line), an error raised while importing, no such class,
a class that is not a ``Strategy``, no or several strategies in a file.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from pi5trading.exceptions import ConfigurationError
from pi5trading.strategies.base import Strategy
from pi5trading.strategies.bollinger_reversion import BollingerReversion
from pi5trading.strategies.donchian_breakout import DonchianBreakout
from pi5trading.strategies.momentum import MomentumStrategy
from pi5trading.strategies.opening_range_breakout import OpeningRangeBreakout
from pi5trading.strategies.rsi_mean_reversion import RsiMeanReversion
from pi5trading.strategies.sma_crossover import MovingAverageCrossover
from pi5trading.strategies.vwap_bounce import VwapBounce

BUILTIN: dict[str, type[Strategy]] = {
    cls.name: cls
    for cls in (
        MovingAverageCrossover,
        RsiMeanReversion,
        BollingerReversion,
        VwapBounce,
        OpeningRangeBreakout,
        MomentumStrategy,
        DonchianBreakout,
    )
}
"""Built-in strategies by registry name."""

ALIASES: dict[str, str] = {
    "moving_avg_crossover": "sma_crossover",
    "bollinger_bounce": "bollinger_reversion",
}
"""The original system's config ids that differ from ours."""


def load_strategy(spec: str, *, source: str | None = None) -> type[Strategy]:
    """The strategy class named by ``spec`` (see the module docstring). ``source``: the
    text of the file ``spec`` names, used instead of reading it (a cluster worker gets the
    file shipped with the job and loads it the same way, under the same module name)."""
    spec = spec.strip()
    if not spec:
        raise ConfigurationError("strategy: empty name")
    name = ALIASES.get(spec, spec)
    if name in BUILTIN:
        return BUILTIN[name]
    target, sep, cls_name = spec.rpartition(":")
    if not sep:
        target, cls_name = spec, ""
    if sep and not cls_name:
        raise ConfigurationError(f"strategy {spec!r}: no class name after ':'")
    if _is_path(target):
        module = _import_file(Path(target), source)
    elif sep:
        module = _import_module(target)
    else:
        import difflib

        close = difflib.get_close_matches(name, BUILTIN, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigurationError(
            f"unknown strategy {spec!r}: {hint}not a built-in ({', '.join(sorted(BUILTIN))}), "
            "a .py file or a module:Class path"
        )
    where = target
    if cls_name:
        return _pick(module, cls_name, where)
    found = _defined_strategies(module)
    if not found:
        raise ConfigurationError(f"{where}: defines no Strategy subclass")
    if len(found) > 1:
        names = ", ".join(c.__name__ for c in found)
        raise ConfigurationError(
            f"{where}: defines several strategies ({names}): choose one with {where}:ClassName"
        )
    return found[0]


def _is_path(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def _syntax_error(where: str, exc: SyntaxError) -> ConfigurationError:
    line = f"line {exc.lineno}" if exc.lineno is not None else "unknown line"
    text = f": {exc.text.strip()}" if exc.text else ""
    return ConfigurationError(f"{where}: syntax error at {line}: {exc.msg}{text}")


def strategy_file(spec: str) -> Path | None:
    """The file a strategy spec names (``path.py`` or ``path.py:Class``), else ``None``."""
    spec = spec.strip()
    if ALIASES.get(spec, spec) in BUILTIN:
        return None
    target, sep, _ = spec.rpartition(":")
    if not sep:
        target = spec
    return Path(target) if _is_path(target) else None


def _import_file(path: Path, source: str | None = None) -> ModuleType:
    if source is None:
        if not path.is_file():
            raise ConfigurationError(f"strategy file not found: {path}")
        resolved = path.resolve()
        try:
            source = resolved.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"{path}: cannot read the strategy file: {exc}") from exc
    else:
        # Shipped text: the path is the client's (absolute), so the module name is too.
        resolved = path
    try:
        # dont_inherit: the file is compiled with its own __future__ imports, not ours.
        code = compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise _syntax_error(str(path), exc) from exc
    # A stable, unique module name per file: classes pickle and msgspec resolves the
    # config's annotations through sys.modules.
    digest = hashlib.sha1(str(resolved).encode(), usedforsecurity=False).hexdigest()[:12]
    mod_name = f"pi5trading_user_strategy_{resolved.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(mod_name, resolved)
    if spec is None:  # pragma: no cover - a .py file always has a spec
        raise ConfigurationError(f"{path}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        exec(code, module.__dict__)
    except Exception as exc:
        del sys.modules[mod_name]
        raise ConfigurationError(
            f"{path}: error while importing: {type(exc).__name__}: {exc}"
        ) from exc
    return module


def _import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except SyntaxError as exc:
        raise _syntax_error(exc.filename or name, exc) from exc
    except ModuleNotFoundError as exc:
        raise ConfigurationError(f"strategy module {name!r} not found ({exc})") from exc
    except Exception as exc:
        raise ConfigurationError(
            f"module {name!r}: error while importing: {type(exc).__name__}: {exc}"
        ) from exc


def _defined_strategies(module: ModuleType) -> list[type[Strategy]]:
    """Strategy subclasses defined in ``module`` (not the ones it imports)."""
    return [
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, Strategy)
        and v is not Strategy
        and v.__module__ == module.__name__
    ]


def _pick(module: ModuleType, cls_name: str, where: str) -> type[Strategy]:
    obj = getattr(module, cls_name, None)
    if obj is None:
        available = ", ".join(c.__name__ for c in _defined_strategies(module)) or "none"
        raise ConfigurationError(
            f"{where}: no class {cls_name!r} (strategies defined there: {available})"
        )
    if not (isinstance(obj, type) and issubclass(obj, Strategy)):
        raise ConfigurationError(
            f"{where}:{cls_name} is not a Strategy subclass (got {type(obj).__name__} "
            f"{obj!r}); subclass pi5trading.strategies.Strategy"
        )
    return obj
