"""One typed settings object, built from ``PI5_*`` environment variables and ``.env``.

Nesting uses ``__``: ``PI5_API__PORT=9000`` sets ``settings.api.port``. Nothing else in
the package reads ``os.environ``; everything receives a ``Settings`` by argument.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from pi5trading.exceptions import ConfigurationError

ENV_PREFIX = "PI5_"


def _default_data_dir() -> str:
    # XDG data dir, so the embedded SQLite database survives upgrades of the checkout.
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "pi5trading")


class ApiSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The HTTP server."""

    host: str = "127.0.0.1"
    """Address to bind; 127.0.0.1 keeps the API private to the Pi unless you change it."""
    port: int = 8080
    """TCP port of the API and dashboard."""


class LoggingSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Log output."""

    level: str = "INFO"
    """Minimum level: DEBUG, INFO, WARNING, ERROR."""


class DatabaseSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Storage: PostgreSQL (TimescaleDB when present) or the embedded SQLite file."""

    url: str = ""
    """postgresql://user:pass@host:port/db, or sqlite:///path/file.db; empty = SQLite file
    pi5trading.db in data_dir."""
    pool_min_size: int = 1
    """PostgreSQL connections kept open."""
    pool_max_size: int = 5
    """PostgreSQL connections at most (a Pi 5 gains nothing from more)."""
    command_timeout_s: float = 30.0
    """A statement running longer than this fails (and counts against the breaker)."""
    breaker_failure_threshold: int = 5
    """Consecutive connection failures that open the database circuit breaker."""
    breaker_reset_timeout_s: float = 30.0
    """Seconds an open breaker waits before letting one trial call through (half-open)."""
    batch_size: int = 1000
    """Engine events per database write."""
    batch_interval_s: float = 0.5
    """Longest time an engine event waits in the buffer before it is written."""
    buffer_max: int = 100_000
    """Buffered engine events at most; submitters wait beyond this (backpressure)."""
    journal_path: str = ""
    """Durable journal for engine events while the database is down; empty =
    data_dir/journal/events.journal."""
    migrate_on_start: bool = True
    """Apply pending migrations when the server starts (and before `data import`)."""
    compress_after_days: int = 7
    """TimescaleDB only: compress market data, equity and audit chunks older than this
    (0 = never)."""
    market_data_retention_days: int = 0
    """TimescaleDB only: drop bars and ticks older than this (0 = keep forever)."""
    audit_retention_days: int = 730
    """TimescaleDB only: drop audit log entries older than this (0 = keep forever)."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything configurable, with the embedded defaults (SQLite, simulated feed, paper)."""

    data_dir: str = msgspec.field(default_factory=_default_data_dir)
    """Folder for the embedded database, journals and reports."""
    api: ApiSettings = msgspec.field(default_factory=ApiSettings)
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    logging: LoggingSettings = msgspec.field(default_factory=LoggingSettings)


def _nest(env: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX):
            continue
        path = key[len(ENV_PREFIX) :].lower().split("__")
        node = tree
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigurationError(f"{key}: {part!r} is a value, not a section")
            node = child
        node[path[-1]] = value
    return tree


def load_settings(
    env: Mapping[str, str] | None = None, dotenv_path: str | Path | None = ".env"
) -> Settings:
    """Build ``Settings`` from ``env`` (default: the process environment) and a ``.env`` file.

    Variables already in the environment win over ``.env`` entries. Unknown ``PI5_*``
    names and malformed values raise ``ConfigurationError`` naming the variable.
    """
    merged: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        from dotenv import dotenv_values

        merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    merged.update(os.environ if env is None else env)
    try:
        # strict=False lets "8080" from the environment become an int.
        return msgspec.convert(_nest(merged), Settings, strict=False)
    except msgspec.ValidationError as exc:
        hint = f"variables start with {ENV_PREFIX}, sections are separated by __"
        raise ConfigurationError(f"invalid setting: {exc} ({hint})") from exc
