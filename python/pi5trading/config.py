"""One typed settings object, built from ``PI5_*`` environment variables and ``.env``.

Nesting uses ``__``: ``PI5_API__PORT=9000`` sets ``settings.api.port``. Nothing else in
the package reads ``os.environ``; everything receives a ``Settings`` by argument.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, TypeAlias

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


RiskLimitUnit: TypeAlias = Literal["quantity", "money", "fraction", "count", "nanoseconds"]

RISK_PROFILES = ("conservative", "default", "aggressive", "unlimited")
"""The risk engine's profiles (docs/risk.md § Profiles)."""

RISK_LIMITS: dict[str, RiskLimitUnit] = {
    "max_quantity": "quantity",
    "min_quantity": "quantity",
    "max_notional": "money",
    "min_notional": "money",
    "price_collar": "fraction",
    "max_position_quantity": "quantity",
    "max_position_notional": "money",
    "max_orders_per_second": "count",
    "max_orders_per_minute": "count",
    "max_orders_per_session": "count",
    "max_open_orders": "count",
    "duplicate_window_ns": "nanoseconds",
    "max_gross_exposure": "money",
    "max_net_exposure": "money",
    "max_open_positions": "count",
    "max_concentration": "fraction",
    "max_daily_loss": "money",
    "max_drawdown": "fraction",
    "min_cash_balance": "money",
}
"""The account limits ``PI5_RISK__<NAME>`` may set, in docs/risk.md order, and how each is
written. (``max_loss`` is per strategy, ``tick_size``/``lot_size`` per instrument: code sets
those on the ``RiskEngine``.)"""

RiskLimitValue: TypeAlias = Decimal | int | None
"""A limit's value: ``Decimal`` for quantities, money and fractions, ``int`` for counts and
nanoseconds, ``None`` for off."""


class RiskSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Pre-trade risk: a profile and the account limits that replace its values."""

    profile: str = "default"
    """``conservative``, ``default``, ``aggressive`` or ``unlimited`` (docs/risk.md)."""
    limits: dict[str, RiskLimitValue] = msgspec.field(default_factory=dict)
    """Overrides by limit name (``RISK_LIMITS``), from ``PI5_RISK__<NAME>``; ``None``
    (written ``off``) switches a limit off."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything configurable, with the embedded defaults (SQLite, simulated feed, paper)."""

    data_dir: str = msgspec.field(default_factory=_default_data_dir)
    """Folder for the embedded database, journals and reports."""
    api: ApiSettings = msgspec.field(default_factory=ApiSettings)
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    logging: LoggingSettings = msgspec.field(default_factory=LoggingSettings)
    risk: RiskSettings = msgspec.field(default_factory=RiskSettings)


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
    tree = _nest(merged)
    risk = _risk_settings(tree.pop("risk", {}))
    try:
        # strict=False lets "8080" from the environment become an int.
        settings = msgspec.convert(tree, Settings, strict=False)
    except msgspec.ValidationError as exc:
        hint = f"variables start with {ENV_PREFIX}, sections are separated by __"
        raise ConfigurationError(f"invalid setting: {exc} ({hint})") from exc
    return msgspec.structs.replace(settings, risk=risk)


_RISK = f"{ENV_PREFIX}RISK__"
_RAW_MAX = 2**63 - 1  # the engine's values are 64-bit integers of 10^-9 units
_COUNT_MAX = 2**32 - 1
_EXAMPLES = {
    "quantity": "a quantity such as 500",
    "money": "an amount such as 25000",
    "fraction": "a fraction such as 0.2 (20 %)",
}


def _risk_settings(section: Any) -> RiskSettings:
    """``PI5_RISK__PROFILE`` and ``PI5_RISK__<LIMIT>``, each checked with its variable named."""
    if not isinstance(section, dict):
        raise ConfigurationError(f"{ENV_PREFIX}RISK: risk is a section, set {_RISK}<NAME>")
    section = dict(section)
    profile = section.pop("profile", "default")
    if not isinstance(profile, str) or profile.strip() not in RISK_PROFILES:
        raise ConfigurationError(
            f"{_RISK}PROFILE={profile!r}: unknown risk profile (one of {', '.join(RISK_PROFILES)})"
        )
    limits: dict[str, RiskLimitValue] = {}
    for name, text in sorted(section.items()):
        var = f"{_RISK}{name.upper()}"
        unit = RISK_LIMITS.get(name)
        if unit is None or not isinstance(text, str):
            raise ConfigurationError(
                f"{var}: not an account risk limit; {_RISK}PROFILE or {_RISK}<NAME> with "
                f"NAME one of {', '.join(n.upper() for n in RISK_LIMITS)}"
            )
        limits[name] = _risk_limit(var, unit, text.strip())
    return RiskSettings(profile=profile.strip(), limits=limits)


def _risk_limit(var: str, unit: RiskLimitUnit, text: str) -> RiskLimitValue:
    if text.lower() == "off":
        return None
    if unit in ("count", "nanoseconds"):
        top = _COUNT_MAX if unit == "count" else _RAW_MAX
        if not (text.isascii() and text.isdigit()) or int(text) > top:
            raise ConfigurationError(f"{var}={text!r}: expected a whole number 0..{top}, or off")
        return int(text)
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise ConfigurationError(f"{var}={text!r}: expected {_EXAMPLES[unit]}, or off")
    if value < 0:
        raise ConfigurationError(f"{var}={text!r}: must be >= 0")
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -9:
        # Rounding would change the limit silently; the engine counts in 10^-9 units.
        raise ConfigurationError(f"{var}={text!r}: more than 9 decimal places")
    if value * 10**9 > _RAW_MAX:
        raise ConfigurationError(f"{var}={text!r}: too large (at most {_RAW_MAX // 10**9})")
    if unit == "fraction" and value > 1:
        raise ConfigurationError(f"{var}={text!r}: a fraction is at most 1 (0.2 = 20 %)")
    return value
