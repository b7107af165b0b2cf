"""One typed settings object, built from ``PI5_*`` environment variables and ``.env``.

Nesting uses ``__``: ``PI5_API__PORT=9000`` sets ``settings.api.port``. Nothing else in
the package reads ``os.environ``; everything receives a ``Settings`` by argument.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias, get_args

import msgspec
import msgspec.inspect as mi

from pi5trading.exceptions import ConfigurationError

ENV_PREFIX = "PI5_"
_COUNT_LIMIT = 2**31 - 1  # counts and sizes end up in C ints (asyncpg, SQLite)


def _default_data_dir() -> str:
    # XDG data dir, so the embedded SQLite database survives upgrades of the checkout.
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "pi5trading")


# Each setting's range is part of its type: ``load_settings`` checks it for every command
# and names the variable, its value and what is allowed (``_allowed``).
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Count = Annotated[int, msgspec.Meta(ge=1, le=_COUNT_LIMIT)]
Days = Annotated[int, msgspec.Meta(ge=0, le=36_500)]
Seconds = Annotated[float, msgspec.Meta(gt=0, le=86_400)]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
DatabaseUrl = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(|postgres(ql)?://.+|sqlite:.+)$",
        extra={"allowed": "postgresql://user:pass@host:port/db, sqlite:///path/file.db or empty"},
    ),
]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class ApiSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The HTTP server."""

    host: NonEmpty = "127.0.0.1"
    """Address to bind; 127.0.0.1 keeps the API private to the Pi unless you change it."""
    port: Port = 8080
    """TCP port of the API and dashboard."""


class LoggingSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Log output."""

    level: LogLevel = "INFO"
    """Minimum level: DEBUG, INFO, WARNING, ERROR, CRITICAL (any case)."""


class DatabaseSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Storage: PostgreSQL (TimescaleDB when present) or the embedded SQLite file."""

    url: DatabaseUrl = ""
    """postgresql://user:pass@host:port/db, or sqlite:///path/file.db; empty = SQLite file
    pi5trading.db in data_dir."""
    pool_min_size: Annotated[int, msgspec.Meta(ge=0, le=_COUNT_LIMIT)] = 1
    """PostgreSQL connections kept open."""
    pool_max_size: Count = 5
    """PostgreSQL connections at most (a Pi 5 gains nothing from more)."""
    command_timeout_s: Seconds = 30.0
    """A statement running longer than this fails (and counts against the breaker)."""
    breaker_failure_threshold: Count = 5
    """Consecutive connection failures that open the database circuit breaker."""
    breaker_reset_timeout_s: Seconds = 30.0
    """Seconds an open breaker waits before letting one trial call through (half-open)."""
    batch_size: Count = 1000
    """Engine events per database write."""
    batch_interval_s: Seconds = 0.5
    """Longest time an engine event waits in the buffer before it is written."""
    buffer_max: Count = 100_000
    """Buffered engine events at most; submitters wait beyond this (backpressure)."""
    journal_path: str = ""
    """Durable journal for engine events while the database is down; empty =
    data_dir/journal/events.journal."""
    migrate_on_start: bool = True
    """Apply pending migrations when the server starts (and before `data import`)."""
    compress_after_days: Days = 7
    """TimescaleDB only: compress market data, equity and audit chunks older than this
    (0 = never)."""
    market_data_retention_days: Days = 0
    """TimescaleDB only: drop bars and ticks older than this (0 = keep forever)."""
    audit_retention_days: Days = 730
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


BrokerProvider = Literal["simulated", "alpaca"]
ApiKeyText = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[!-~]*$",
        extra={"allowed": "printable ASCII without spaces (or empty)"},
    ),
]
HttpsUrl = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^https?://[^\s/]+(:\d+)?/?$",
        extra={"allowed": "a base URL such as https://paper-api.alpaca.markets"},
    ),
]
StreamUrl = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(|wss?://\S+)$",
        extra={
            "allowed": "a WebSocket URL such as wss://paper-api.alpaca.markets/stream, or empty"
        },
    ),
]


class BrokerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where orders go: the simulated venue (default) or Alpaca (paper unless confirmed live)."""

    provider: BrokerProvider = "simulated"
    """``simulated`` (our own fills) or ``alpaca``."""
    key_id: ApiKeyText = ""
    """Alpaca API key id (APCA-API-KEY-ID); never logged or shown."""
    secret_key: ApiKeyText = ""
    """Alpaca API secret key; never logged or shown."""
    live: bool = False
    """Trade with real money at live_url; also needs i_understand_live_trading=yes."""
    i_understand_live_trading: Literal["no", "yes"] = "no"
    """The confirmation live trading needs: ``yes``."""
    paper_url: HttpsUrl = "https://paper-api.alpaca.markets"
    """Alpaca paper trading REST base URL."""
    live_url: HttpsUrl = "https://api.alpaca.markets"
    """Alpaca live trading REST base URL (used only when live)."""
    stream_url: StreamUrl = ""
    """trade_updates WebSocket URL; empty = the REST base URL's host, wss, path /stream."""
    request_timeout_s: Seconds = 10.0
    """A REST call taking longer than this is a timeout (retried where safe)."""
    max_retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 3
    """Retries of a failed REST call (5xx, 429, timeout) before giving up."""
    rate_limit_per_minute: Count = 200
    """REST calls per minute at most (Alpaca allows 200)."""
    reconcile_interval_s: Seconds = 60.0
    """Seconds between reconciliations of orders, fills and positions with the broker."""
    unknown_orders: Literal["adopt", "flag"] = "flag"
    """Open broker orders we did not place: ``adopt`` (track them) or ``flag`` (report only)."""

    def __repr__(self) -> str:
        # The keys must never reach a log line or a traceback through a repr.
        shown = ", ".join(
            f"{f}={'***' if f in ('key_id', 'secret_key') and v else repr(v)}"
            for f, v in ((f, getattr(self, f)) for f in self.__struct_fields__)
        )
        return f"BrokerSettings({shown})"


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything configurable, with the embedded defaults (SQLite, simulated feed, paper)."""

    data_dir: NonEmpty = msgspec.field(default_factory=_default_data_dir)
    """Folder for the embedded database, journals and reports."""
    api: ApiSettings = msgspec.field(default_factory=ApiSettings)
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    logging: LoggingSettings = msgspec.field(default_factory=LoggingSettings)
    risk: RiskSettings = msgspec.field(default_factory=RiskSettings)
    broker: BrokerSettings = msgspec.field(default_factory=BrokerSettings)


def _nest(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """The ``PI5_*`` variables as a tree of sections, and each path's variable name."""
    tree: dict[str, Any] = {}
    names: dict[tuple[str, ...], str] = {}
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
        if isinstance(node.get(path[-1]), dict):
            raise ConfigurationError(f"{key}: {path[-1]!r} is a section: set {key}__<NAME>")
        # Spaces around a value (easy to leave in .env) are never meant.
        node[path[-1]] = value.strip()
        names[tuple(path)] = key
    return tree, names


def load_settings(
    env: Mapping[str, str] | None = None, dotenv_path: str | Path | None = ".env"
) -> Settings:
    """Build ``Settings`` from ``env`` (default: the process environment) and a ``.env`` file.

    Variables already in the environment win over ``.env`` entries. Unknown ``PI5_*``
    names and values out of their range raise ``ConfigurationError`` naming the variable,
    its value and what is allowed.
    """
    merged: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        from dotenv import dotenv_values

        merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    merged.update(os.environ if env is None else env)
    tree, names = _nest(merged)
    risk = _risk_settings(tree.pop("risk", {}))
    logging = tree.get("logging")
    if isinstance(logging, dict) and str(logging.get("level")).upper() in get_args(LogLevel):
        logging["level"] = logging["level"].upper()  # `debug` means DEBUG
    try:
        # strict=False lets "8080" from the environment become an int.
        settings = msgspec.convert(tree, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigurationError(_explain(str(exc), tree, names)) from exc
    db = settings.database
    for low, high in (("pool_min_size", "pool_max_size"), ("batch_size", "buffer_max")):
        if getattr(db, low) > getattr(db, high):
            lo, hi = (f"{ENV_PREFIX}DATABASE__{n.upper()}" for n in (low, high))
            raise ConfigurationError(
                f"{lo}={getattr(db, low)} is above {hi}={getattr(db, high)}: "
                f"{lo} must be at most {hi}"
            )
    return msgspec.structs.replace(settings, risk=risk)


SECRET_SETTINGS = frozenset({("broker", "key_id"), ("broker", "secret_key")})
"""Settings never shown: not in reprs, errors or ``pi5trading info``."""


def _var(path: Sequence[str], names: Mapping[tuple[str, ...], str]) -> str:
    return names.get(tuple(path), ENV_PREFIX + "__".join(p.upper() for p in path))


def _explain(error: str, tree: Mapping[str, Any], names: Mapping[tuple[str, ...], str]) -> str:
    """msgspec's ``Expected `int` >= 1 - at `$.api.port``` as the variable, its value and
    what the setting allows (from its type)."""
    m = re.fullmatch(r"(?s)(.*?)(?: - at `\$((?:\.\w+)*)`)?", error)
    message, at = (m.group(1), m.group(2) or "") if m else (error, "")
    path = [p for p in at.split(".") if p]
    unknown = re.fullmatch(r"Object contains unknown field `(\w+)`", message)
    info = _field_info(path)
    if unknown:
        path.append(unknown.group(1))
        # The variable as written (PI5_APII__PORT, not the section it would make).
        given = next((v for k, v in sorted(names.items()) if k[: len(path)] == tuple(path)), None)
        var = given or _var(path, names)
        if info is None or not isinstance(info, mi.StructType):
            return f"{var}: unknown setting"
        known = ", ".join(
            _var([*path[:-1], f.name], {}) + ("__*" if _is_section(f.type) else "")
            for f in info.fields
        )
        return f"{var}: unknown setting (the settings are {known})"
    value: Any = tree
    for p in path:
        value = value.get(p) if isinstance(value, dict) else None
    var = _var(path, names)
    if info is not None and _is_section(info):
        return f"{var}: {path[-1]} is a section: set {var}__<NAME>"
    if isinstance(value, dict):
        inner = next(k for k in names if k[: len(path)] == tuple(path))
        return f"{names[inner]}: {var} is a value, not a section"
    allowed = _allowed(info) if info is not None else message
    if tuple(path) in SECRET_SETTINGS:
        return f"{var}=***: expected {allowed}"  # a mistyped key is still a secret
    return f"{var}={value!r}: expected {allowed}"


def _field_info(path: Sequence[str]) -> mi.Type | None:
    """The type of the setting at ``path`` (``None`` if there is none)."""
    t: mi.Type = mi.type_info(Settings)
    for p in path:
        if isinstance(t, mi.Metadata):
            t = t.type
        if not isinstance(t, mi.StructType):
            return None
        field = next((f for f in t.fields if f.name == p), None)
        if field is None:
            return None
        t = field.type
    return t


def _is_section(t: mi.Type) -> bool:
    return isinstance(t.type if isinstance(t, mi.Metadata) else t, mi.StructType | mi.DictType)


def _allowed(t: mi.Type) -> str:
    """What a setting of type ``t`` accepts, in words."""
    if isinstance(t, mi.Metadata):
        if t.extra and "allowed" in t.extra:
            return str(t.extra["allowed"])
        t = t.type
    if isinstance(t, mi.IntType | mi.FloatType):
        what = "a whole number" if isinstance(t, mi.IntType) else "a number"
        if t.ge is not None and t.le is not None:
            return f"{what} from {t.ge} to {t.le}"
        low = f">= {t.ge}" if t.ge is not None else f"> {t.gt}" if t.gt is not None else ""
        high = f"at most {t.le}" if t.le is not None else ""
        return f"{what} {low}, {high}" if low and high else f"{what} {low or high}".strip()
    if isinstance(t, mi.BoolType):
        return "true or false"
    if isinstance(t, mi.LiteralType):
        return "one of " + ", ".join(str(v) for v in t.values)
    if isinstance(t, mi.StrType) and t.min_length:
        return "a non-empty text"
    return "a text"


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
