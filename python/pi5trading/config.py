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
BARS_CHUNK_DAYS = 30
"""Default days of bars per TimescaleDB chunk (docs/storage.md § Chunk sizing)."""
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
    rate_limit_per_minute: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 100
    """Requests per minute per client address; over it, 429 with ``Retry-After``."""
    login_rate_limit_per_minute: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 10
    """Login attempts per minute per client address (on top of the account lockout)."""
    cors_origins: str = ""
    """Origins allowed to call the API from a browser (comma separated); empty: none (the
    dashboard is served by the API itself and needs no CORS)."""
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024, le=100_000_000)] = 1_000_000
    """Largest request body accepted (413 above)."""


class LoggingSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Log output."""

    level: LogLevel = "INFO"
    """Minimum level: DEBUG, INFO, WARNING, ERROR, CRITICAL (any case)."""
    format: Literal["auto", "text", "json"] = "auto"
    """``text``, ``json`` (one object per line), or ``auto``: JSON unless on a terminal."""


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
    bars_chunk_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = BARS_CHUNK_DAYS
    """TimescaleDB only: days of bars per chunk (1 to 365), for chunks created from now on.
    Longer chunks compress better (one instrument's 1-minute bars: see docs/storage.md)."""


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


class NodeSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The trading node: its ingest queue, the engine loop and shutdown (docs/paper-trading.md)."""

    queue_capacity: Count = 65_536
    """Events the ingest queue holds between the feeds and the engine."""
    queue_policy: Literal["block", "drop_newest", "drop_oldest"] = "block"
    """When the queue is full: the feed waits (``block``) or an event is dropped."""
    reorder_window_ms: Annotated[int, msgspec.Meta(ge=0, le=60_000)] = 0
    """Events from several feeds are held this long to be released in time order."""
    batch_max: Count = 4096
    """Most events stepped (and published) per engine call."""
    idle_ms: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 5
    """Longest the engine loop waits for data before it runs commands and due timers."""
    late_data_ms: Annotated[int, msgspec.Meta(ge=0, le=86_400_000)] = 60_000
    """Live: how late data may be and still be taken. The engine clock starts this long
    before now (the last closed bar is taken), and later an event stamped up to this long
    before the clock (a bar arriving after the next minute's first quote, or after a timer
    fired) is taken at the clock's time instead of refused."""
    shutdown_orders: Literal["cancel", "keep"] = "cancel"
    """At shutdown, cancel the strategies' working orders or leave them working."""
    failed_orders: Literal["cancel", "keep"] = "cancel"
    """When a strategy fails or is stopped: cancel its working orders or leave them."""
    shutdown_timeout_s: Seconds = 10.0
    """How long shutdown waits for each closer (sinks flushing, feeds closing)."""
    demo_strategies: bool = True
    """``pi5trading serve`` starts two demo strategies (``demo-sma``, ``demo-rsi``) so a new
    node trades at once; ``false`` starts none."""
    starting_cash: Annotated[
        Decimal, msgspec.Meta(extra={"allowed": "a positive amount, such as 100000 or 25000.50"})
    ] = Decimal(100_000)
    """The paper account's cash on its first start (a restart rebuilds it from the fills)."""
    state_save_interval_s: Annotated[float, msgspec.Meta(ge=0, le=86_400)] = 30.0
    """How often the strategies' ``on_save()`` state is stored, so a crash loses at most
    this much of it (``0``: only when they stop)."""
    warmup_bars: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 500
    """After a restart, this many stored bars per symbol and interval warm the strategies'
    indicators up before live data."""


SymbolList = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9._/^=-]+( *, *[A-Za-z0-9._/^=-]+)*$",
        extra={"allowed": "symbols separated by commas, e.g. AAPL,MSFT,SPY"},
    ),
]
IntervalList = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^([0-9]+[smhd])?( *, *[0-9]+[smhd])*$",
        extra={"allowed": "bar intervals separated by commas, e.g. 1m,5m,1h (or empty)"},
    ),
]
FeedKind = Literal["simulated", "replay", "yahoo", "alphavantage", "alpaca"]
Instant = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^$|^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$",
        extra={"allowed": "an ISO 8601 date or time such as 2026-01-02 or 2026-01-02T14:30Z"},
    ),
]
FolderPath = Annotated[
    str,
    msgspec.Meta(pattern=r"^[^\n\r\x00]*$", extra={"allowed": "a folder path (or empty)"}),
]


class FeedSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Market data for the trading node (docs/paper-trading.md, "Market data feeds")."""

    kind: FeedKind = "simulated"
    """Where data comes from: ``simulated`` (the embedded default), ``replay`` or a vendor."""
    symbols: SymbolList = "AAPL,MSFT,SPY"
    """Symbols subscribed at start, comma-separated."""
    bars: IntervalList = "1m"
    """Bar intervals subscribed for each symbol (larger ones are aggregated from 1m)."""
    quotes: bool = True
    """Subscribe to quotes as well as bars."""
    trades: bool = False
    """Subscribe to trades."""
    speed: Annotated[float, msgspec.Meta(ge=0, le=1_000_000)] = 60.0
    """Simulated/replayed seconds per real second; 0: as fast as the node takes them."""
    seed: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] = 42
    """Seed of the simulated feed (same seed, same prices)."""
    calendar: NonEmpty = "XNYS"
    """Session calendar: an exchange code (``XNYS``, ``XNAS``, ...) or ``24/7``."""
    stale_after_s: Seconds = 30.0
    """A live feed without a message this long is reported ``stale``."""
    delay_s: Annotated[float, msgspec.Meta(ge=0, le=86_400)] = 0.0
    """How far a vendor's data runs behind real time (e.g. 900 for a 15-minute delayed
    exchange): the node's clock runs that far behind the wall clock, so the data is on time
    and timers fire on its clock. Vendor feeds only."""
    reconnect_initial_s: Seconds = 0.5
    """First reconnect wait bound (exponential backoff with full jitter)."""
    reconnect_max_s: Seconds = 30.0
    """Largest reconnect wait bound."""
    reconnect_max_attempts: Annotated[int, msgspec.Meta(ge=0, le=_COUNT_LIMIT)] = 0
    """Failed reconnects in a row before the feed gives up; 0: never."""
    replay_dir: FolderPath = ""
    """Replay: a folder of ``<SYMBOL>.csv`` / ``<SYMBOL>.parquet`` bar files; empty: the
    bars stored in the database."""
    replay_from: Instant = ""
    """Replay: first day or instant (ISO 8601, UTC), empty: from the first bar."""
    replay_to: Instant = ""
    """Replay: end (exclusive, ISO 8601, UTC), empty: to the last bar."""

    def symbol_list(self) -> list[str]:
        return [s.strip() for s in self.symbols.split(",") if s.strip()]

    def bar_intervals(self) -> tuple[str, ...]:
        return tuple(s.strip() for s in self.bars.split(",") if s.strip())


RedisUrl = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(|rediss?://.+|unix://.+)$",
        extra={"allowed": "redis://host:port/db, rediss://… (TLS), unix:///path or empty"},
    ),
]
KeyPrefix = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9_.-]+$",
        extra={"allowed": "letters, digits, '_', '.' or '-' (at least one)"},
    ),
]


class RedisSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Redis for the latest-state cache and the WebSocket channels (optional)."""

    url: RedisUrl = ""
    """redis://host:port/db; empty = cache and channels in the node's process."""
    key_prefix: KeyPrefix = "pi5"
    """Prefix of every key and pub/sub channel (several nodes can share one Redis)."""
    command_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 5.0
    """How long an API-only worker waits for the node to answer a command (503 after)."""


class SinksSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the trading node records and publishes (docs/paper-trading.md)."""

    record_bars: bool = True
    """Store the bars the node sees."""
    record_quotes: bool = True
    """Store every quote (the largest table by far on a busy feed)."""
    record_trades: bool = True
    """Store every trade tick."""
    backlog_max: Count = 50_000
    """Events waiting to be recorded (sink backlog + writer buffer) beyond which the engine
    waits, and the feeds with it: memory stays bounded (~700 bytes an event) when the
    database is slower than the market."""
    cache: bool = True
    """Keep the latest prices, positions, account and strategy status for the API."""
    cache_copy_interval_s: Seconds = 0.1
    """With Redis: longest time a change waits before it is copied to Redis."""
    channels: bool = True
    """Publish events to WebSocket clients."""
    channel_queue: Count = 1000
    """Messages a client may leave unread before it is dropped as too slow."""
    metrics: bool = True
    """Count events, orders, fills, denials and the writer's state for /metrics."""


HttpUrl = Annotated[
    str, msgspec.Meta(pattern=r"^https?://\S+$", extra={"allowed": "an http:// or https:// URL"})
]
WsUrl = Annotated[
    str, msgspec.Meta(pattern=r"^wss?://\S+$", extra={"allowed": "a ws:// or wss:// URL"})
]
Retries = Annotated[int, msgspec.Meta(ge=0, le=100)]


class YahooSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Yahoo Finance chart endpoint: history and delayed prices, no key."""

    base_url: HttpUrl = "https://query1.finance.yahoo.com"
    """Chart API host (a stand-in's URL in tests)."""
    poll_interval_s: Seconds = 15.0
    """Seconds between polls of the live (delayed) prices."""
    timeout_s: Seconds = 15.0
    """A request taking longer fails and is retried."""
    max_retries: Retries = 4
    """Retries of a request after a timeout, a 5xx answer or a 429 (then an error)."""


class AlphaVantageSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Alpha Vantage: daily and intraday history; free keys are rate limited."""

    api_key: str = ""
    """Your key (https://www.alphavantage.co/support/#api-key); never logged or shown."""
    base_url: HttpUrl = "https://www.alphavantage.co"
    """API host (a stand-in's URL in tests)."""
    requests_per_minute: Count = 5
    """Requests sent in any 60 s at most (free tier: 5)."""
    requests_per_day: Count = 25
    """Requests sent in any 24 h at most, counted by this process (free tier: 25)."""
    timeout_s: Seconds = 30.0
    """A request taking longer fails and is retried."""
    max_retries: Retries = 4
    """Retries of a request after a timeout, a 5xx answer or a throttle answer."""

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"AlphaVantageSettings(base_url={self.base_url!r}, api_key=<{_set(self.api_key)}>)"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return [("base_url", self.base_url), ("api_key", f"<{_set(self.api_key)}>")]


AlpacaFeed = Literal["iex", "sip"]


class AlpacaSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Alpaca market data: REST history and the WebSocket stream (the broker is separate)."""

    key_id: str = ""
    """API key id (https://app.alpaca.markets → API keys); never logged or shown."""
    secret_key: str = ""
    """API secret key; never logged or shown."""
    data_url: HttpUrl = "https://data.alpaca.markets"
    """Market data REST host (a stand-in's URL in tests)."""
    stream_url: WsUrl = "wss://stream.data.alpaca.markets"
    """Market data WebSocket host; the feed is appended (``/v2/iex``)."""
    feed: AlpacaFeed = "iex"
    """``iex`` (free plan) or ``sip`` (all US exchanges, paid plan)."""
    timeout_s: Seconds = 15.0
    """A request taking longer fails and is retried."""
    max_retries: Retries = 4
    """Retries of a request after a timeout, a 5xx answer or a 429; reconnects of the
    stream in a row."""

    def __repr__(self) -> str:  # the keys stay out of logs and tracebacks
        return (
            f"AlpacaSettings(data_url={self.data_url!r}, stream_url={self.stream_url!r}, "
            f"feed={self.feed!r}, key_id=<{_set(self.key_id)}>, "
            f"secret_key=<{_set(self.secret_key)}>)"
        )

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return [
            ("data_url", self.data_url),
            ("stream_url", self.stream_url),
            ("feed", self.feed),
            ("key_id", f"<{_set(self.key_id)}>"),
            ("secret_key", f"<{_set(self.secret_key)}>"),
        ]


def _set(secret: str) -> str:
    return "set" if secret else "not set"


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


def _redacted_repr(section: msgspec.Struct, name: str) -> str:
    """``Section(field=value, ...)`` with the fields ``SECRET_SETTINGS`` lists as ``***``."""
    shown = ", ".join(
        f"{f}={'***' if (name, f) in SECRET_SETTINGS and v else repr(v)}"
        for f, v in ((f, getattr(section, f)) for f in section.__struct_fields__)
    )
    return f"{type(section).__name__}({shown})"


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
    send_within_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 10.0
    """An order that waited longer than this to be sent (queued behind others while the
    broker is slow or away) is rejected here, not sent late into another market; 0: no
    limit."""
    unknown_orders: Literal["adopt", "flag"] = "flag"
    """Open broker orders we did not place: ``adopt`` (track them) or ``flag`` (report only)."""

    def __repr__(self) -> str:  # keys stay out of logs and tracebacks
        return _redacted_repr(self, "broker")


class AlertsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Push alerts to a Gotify server (docs/paper-trading.md, "Alerts")."""

    gotify_url: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^$|^https?://[^\s]+$",
            extra={"allowed": "an http:// or https:// URL, or empty"},
        ),
    ] = ""
    """The Gotify server (``https://gotify.example.org``); empty: no alerts."""
    gotify_token: str = ""
    """The Gotify application token."""
    fills: bool = False
    """Also send every fill (info)."""
    repeat_s: Annotated[float, msgspec.Meta(ge=0, le=86_400)] = 300.0
    """The same alert again within this many seconds is held back and counted."""
    max_per_minute: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 10
    """At most this many alerts a minute; the rest are counted and mentioned later."""

    def __repr__(self) -> str:  # keys stay out of logs and tracebacks
        return _redacted_repr(self, "alerts")


class AuthSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Users and tokens of the API (docs/api.md, "Security")."""

    jwt_secret: str = ""
    """The key access tokens are signed with (HS256), at least 32 characters. Empty: the
    embedded default (SQLite) generates one and keeps it in ``<data_dir>/jwt_secret``
    (mode 0600); with PostgreSQL the server refuses to start without one."""
    jwt_key_id: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^[A-Za-z0-9._-]{1,32}$",
            extra={"allowed": "1-32 letters, digits, '.', '_' or '-'"},
        ),
    ] = "k1"
    """Named in every token's header (``kid``): change it with the secret to rotate."""
    jwt_previous_keys: str = ""
    """Keys still accepted for tokens signed before a rotation: ``kid:secret`` pairs
    separated by commas (drop them after one access-token lifetime)."""
    issuer: NonEmpty = "pi5trading"
    audience: NonEmpty = "pi5trading-api"
    access_ttl_s: Annotated[int, msgspec.Meta(ge=60, le=86_400)] = 900
    """How long an access token is valid (15 minutes)."""
    refresh_ttl_s: Annotated[int, msgspec.Meta(ge=300, le=90 * 86_400)] = 7 * 86_400
    """How long a refresh token is valid (7 days); every refresh rotates it."""
    login_max_failures: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    """Failed logins in a row before the account is locked for a while."""
    lockout_s: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 60
    """The first lockout; each further failure while locked doubles it (at most 1 hour)."""

    def __repr__(self) -> str:  # keys stay out of logs and tracebacks
        return _redacted_repr(self, "auth")


class SecuritySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Broker and data-vendor credentials entered through the API, encrypted at rest
    (docs/api.md, "Credentials")."""

    credentials_key: str = ""
    """The key stored credentials are encrypted with (AES-256-GCM): 32 random bytes in
    base64 (``pi5trading credentials key`` prints a fresh one). Empty: credentials cannot be
    entered through the API (503), only through the environment."""
    credentials_old_keys: str = ""
    """Keys of before a rotation, still accepted for reading (base64, separated by commas);
    ``pi5trading credentials rotate`` re-encrypts every row under the current key, after
    which they can go."""

    def __repr__(self) -> str:  # keys stay out of logs and tracebacks
        return _redacted_repr(self, "security")


class BacktestsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Backtests submitted through the API, run as background jobs (``PI5_BACKTESTS__*``)."""

    workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    """Jobs running at once, each in a process of its own (the node never waits on one)."""
    max_queued: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 20
    """Jobs waiting for a worker; a submission beyond them is refused (429)."""
    max_bars: Count = 2_000_000
    """Bars one job may run (``generated:N`` and stored bars alike)."""
    timeout_s: Seconds = 1800.0
    """A job running longer is stopped and fails, saying so."""
    memory_mb: Annotated[int, msgspec.Meta(ge=0, le=1_048_576)] = 2048
    """The most memory (MiB) one job's process may take for its data (``RLIMIT_DATA``):
    a strategy that allocates without bound fails its job, saying so, instead of taking
    the Pi's memory from the node. 0: no limit."""
    nice: Annotated[int, msgspec.Meta(ge=0, le=19)] = 10
    """CPU niceness of a job's process (0-19; higher yields more): a job using every core
    it gets must not delay the trading node's next order. 0: the server's own priority."""


CLUSTER_ADDRESS = r"^(|(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5})$"
"""A Dask scheduler's address (``--cluster`` is checked against it too)."""
ClusterAddress = Annotated[
    str,
    msgspec.Meta(
        pattern=CLUSTER_ADDRESS,
        extra={"allowed": "tcp://HOST:PORT or tls://HOST:PORT (tcp://10.0.0.2:8786), or empty"},
    ),
]


class ClusterSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A Dask ``distributed`` scheduler for research (``PI5_CLUSTER__*``, docs/cluster.md):
    optimisation, walk-forward and API backtest jobs run there instead of on local cores."""

    address: ClusterAddress = ""
    """The scheduler, ``tcp://HOST:8786`` (``tls://`` with the TLS files below); empty:
    everything runs on this machine (``optimize --cluster`` overrides it for one run)."""
    connect_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 10.0
    """How long to wait for the scheduler to answer and for at least one worker."""
    retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 2
    """Times a failed task is tried again (a task on a worker that died is re-run anyway)."""
    tls_ca_file: str = ""
    """CA certificate that signed the scheduler's and workers' certificates (``tls://``)."""
    tls_cert_file: str = ""
    """This client's certificate (PEM), signed by that CA."""
    tls_key_file: str = ""
    """This client's private key (PEM)."""


class BackupSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``pi5trading backup`` / ``restore`` (docs/DEPLOYMENT.md, "Backups")."""

    dir: str = ""
    """Folder of the backups; empty = data_dir/backups."""
    keep_days: Days = 7
    """Backups older than this many days are deleted after each successful backup
    (0 = keep every backup)."""
    copy_to: str = ""
    """A second folder every backup is copied to (a USB stick's mount point); it must
    exist: a missing or read-only folder fails the backup. Empty = no copy."""
    pg_bin_dir: str = ""
    """Folder of pg_dump and pg_restore; empty = the PATH, else the newest
    /usr/lib/postgresql/*/bin."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything configurable, with the embedded defaults (SQLite, simulated feed, paper)."""

    data_dir: NonEmpty = msgspec.field(default_factory=_default_data_dir)
    """Folder for the embedded database, journals and reports."""
    api: ApiSettings = msgspec.field(default_factory=ApiSettings)
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    logging: LoggingSettings = msgspec.field(default_factory=LoggingSettings)
    risk: RiskSettings = msgspec.field(default_factory=RiskSettings)
    node: NodeSettings = msgspec.field(default_factory=NodeSettings)
    feed: FeedSettings = msgspec.field(default_factory=FeedSettings)
    redis: RedisSettings = msgspec.field(default_factory=RedisSettings)
    sinks: SinksSettings = msgspec.field(default_factory=SinksSettings)
    yahoo: YahooSettings = msgspec.field(default_factory=YahooSettings)
    alphavantage: AlphaVantageSettings = msgspec.field(default_factory=AlphaVantageSettings)
    alpaca: AlpacaSettings = msgspec.field(default_factory=AlpacaSettings)
    broker: BrokerSettings = msgspec.field(default_factory=BrokerSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    security: SecuritySettings = msgspec.field(default_factory=SecuritySettings)
    alerts: AlertsSettings = msgspec.field(default_factory=AlertsSettings)
    backtests: BacktestsSettings = msgspec.field(default_factory=BacktestsSettings)
    backup: BackupSettings = msgspec.field(default_factory=BackupSettings)
    cluster: ClusterSettings = msgspec.field(default_factory=ClusterSettings)


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
    cash = settings.node.starting_cash
    if not cash.is_finite() or cash <= 0:
        raise ConfigurationError(
            f"{ENV_PREFIX}NODE__STARTING_CASH={str(cash)!r}: expected a positive amount, "
            "such as 100000 or 25000.50"
        )
    db = settings.database
    for low, high in (("pool_min_size", "pool_max_size"), ("batch_size", "buffer_max")):
        if getattr(db, low) > getattr(db, high):
            lo, hi = (f"{ENV_PREFIX}DATABASE__{n.upper()}" for n in (low, high))
            raise ConfigurationError(
                f"{lo}={getattr(db, low)} is above {hi}={getattr(db, high)}: "
                f"{lo} must be at most {hi}"
            )
    return msgspec.structs.replace(settings, risk=risk)


SECRET_SETTINGS = frozenset(
    {
        ("broker", "key_id"),
        ("broker", "secret_key"),
        ("alpaca", "key_id"),
        ("alpaca", "secret_key"),
        ("alphavantage", "api_key"),
        ("auth", "jwt_secret"),
        ("auth", "jwt_previous_keys"),
        ("alerts", "gotify_token"),
        ("security", "credentials_key"),
        ("security", "credentials_old_keys"),
    }
)
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
