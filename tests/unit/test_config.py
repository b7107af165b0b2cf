from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from pi5trading.config import RISK_LIMITS, RISK_PROFILES, RiskSettings, load_settings
from pi5trading.exceptions import ConfigurationError, InvalidInputError
from pi5trading.risk import (
    RiskEngine,
    account_limits,
    configured_risk_engine,
    limit_names,
    risk_profiles,
)


def test_defaults_are_the_embedded_setup(tmp_path: Path) -> None:
    s = load_settings(env={}, dotenv_path=None)
    assert s.api.host == "127.0.0.1"
    assert s.api.port == 8080
    assert s.logging.level == "INFO"


def test_nested_env_and_type_conversion() -> None:
    s = load_settings(env={"PI5_API__PORT": "9001", "PI5_API__HOST": "0.0.0.0"}, dotenv_path=None)
    assert s.api.port == 9001
    assert s.api.host == "0.0.0.0"


def test_dotenv_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PI5_API__PORT=9100\nPI5_LOGGING__LEVEL=DEBUG\n")
    s = load_settings(env={"PI5_API__PORT": "9200"}, dotenv_path=env_file)
    assert s.api.port == 9200
    assert s.logging.level == "DEBUG"


def test_bad_value_names_the_setting() -> None:
    with pytest.raises(ConfigurationError) as err:
        load_settings(env={"PI5_API__PORT": "eighty"}, dotenv_path=None)
    assert str(err.value) == "PI5_API__PORT='eighty': expected a whole number from 1 to 65535"


def test_unknown_setting_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match=r"^PI5_APII__PORT: unknown setting .*PI5_API__\*"):
        load_settings(env={"PI5_APII__PORT": "1"}, dotenv_path=None)
    with pytest.raises(
        ConfigurationError,
        match=r"^PI5_API__PORTT: unknown setting \(the settings are PI5_API__HOST, PI5_API__PORT, ",
    ):
        load_settings(env={"PI5_API__PORTT": "1"}, dotenv_path=None)


# (variable, value, the whole message): every setting is checked against its range.
OUT_OF_RANGE = [
    ("PI5_API__PORT", "0", "expected a whole number from 1 to 65535"),
    ("PI5_API__PORT", "65536", "expected a whole number from 1 to 65535"),
    ("PI5_API__HOST", "", "expected a non-empty text"),
    ("PI5_DATA_DIR", "", "expected a non-empty text"),
    ("PI5_LOGGING__LEVEL", "LOUD", "expected one of CRITICAL, DEBUG, ERROR, INFO, WARNING"),
    (
        "PI5_DATABASE__URL",
        "mysql://db/x",
        "expected postgresql://user:pass@host:port/db, sqlite:///path/file.db or empty",
    ),
    ("PI5_DATABASE__POOL_MIN_SIZE", "-1", "expected a whole number from 0 to 2147483647"),
    ("PI5_DATABASE__POOL_MAX_SIZE", "0", "expected a whole number from 1 to 2147483647"),
    ("PI5_DATABASE__COMMAND_TIMEOUT_S", "0", "expected a number > 0, at most 86400"),
    ("PI5_DATABASE__COMMAND_TIMEOUT_S", "nan", "expected a number > 0, at most 86400"),
    (
        "PI5_DATABASE__BREAKER_FAILURE_THRESHOLD",
        "0",
        "expected a whole number from 1 to 2147483647",
    ),
    ("PI5_DATABASE__BREAKER_RESET_TIMEOUT_S", "inf", "expected a number > 0, at most 86400"),
    ("PI5_DATABASE__BATCH_SIZE", "-5", "expected a whole number from 1 to 2147483647"),
    ("PI5_DATABASE__BATCH_INTERVAL_S", "-1", "expected a number > 0, at most 86400"),
    ("PI5_DATABASE__BUFFER_MAX", "0", "expected a whole number from 1 to 2147483647"),
    ("PI5_DATABASE__MIGRATE_ON_START", "maybe", "expected true or false"),
    ("PI5_DATABASE__COMPRESS_AFTER_DAYS", "-1", "expected a whole number from 0 to 36500"),
    ("PI5_DATABASE__MARKET_DATA_RETENTION_DAYS", "x", "expected a whole number from 0 to 36500"),
    ("PI5_DATABASE__AUDIT_RETENTION_DAYS", "1.5", "expected a whole number from 0 to 36500"),
    ("PI5_DATABASE__BARS_CHUNK_DAYS", "0", "expected a whole number from 1 to 365"),
    ("PI5_NODE__QUEUE_CAPACITY", "0", "expected a whole number from 1 to 2147483647"),
    ("PI5_NODE__QUEUE_POLICY", "wait", "expected one of block, drop_newest, drop_oldest"),
    ("PI5_NODE__REORDER_WINDOW_MS", "-1", "expected a whole number from 0 to 60000"),
    ("PI5_NODE__BATCH_MAX", "0", "expected a whole number from 1 to 2147483647"),
    ("PI5_NODE__IDLE_MS", "0", "expected a whole number from 1 to 1000"),
    ("PI5_NODE__LATE_DATA_MS", "x", "expected a whole number from 0 to 86400000"),
    ("PI5_NODE__SHUTDOWN_ORDERS", "close", "expected one of cancel, keep"),
    ("PI5_NODE__FAILED_ORDERS", "drop", "expected one of cancel, keep"),
    ("PI5_NODE__SHUTDOWN_TIMEOUT_S", "0", "expected a number > 0, at most 86400"),
    ("PI5_API__RATE_LIMIT_PER_MINUTE", "0", "expected a whole number from 1 to 1000000"),
    ("PI5_API__LOGIN_RATE_LIMIT_PER_MINUTE", "x", "expected a whole number from 1 to 10000"),
    ("PI5_API__MAX_BODY_BYTES", "10", "expected a whole number from 1024 to 100000000"),
    ("PI5_AUTH__JWT_KEY_ID", "a b", "expected 1-32 letters, digits, '.', '_' or '-'"),
    ("PI5_AUTH__ISSUER", "", "expected a non-empty text"),
    ("PI5_AUTH__AUDIENCE", "", "expected a non-empty text"),
    ("PI5_AUTH__ACCESS_TTL_S", "10", "expected a whole number from 60 to 86400"),
    ("PI5_AUTH__REFRESH_TTL_S", "10", "expected a whole number from 300 to 7776000"),
    ("PI5_AUTH__LOGIN_MAX_FAILURES", "0", "expected a whole number from 1 to 100"),
    ("PI5_AUTH__LOCKOUT_S", "0", "expected a whole number from 1 to 86400"),
    ("PI5_ALERTS__GOTIFY_URL", "gotify.local", "expected an http:// or https:// URL, or empty"),
    ("PI5_ALERTS__FILLS", "often", "expected true or false"),
    ("PI5_ALERTS__REPEAT_S", "-1", "expected a number from 0 to 86400"),
    ("PI5_ALERTS__MAX_PER_MINUTE", "0", "expected a whole number from 1 to 1000"),
    ("PI5_BACKUP__KEEP_DAYS", "-1", "expected a whole number from 0 to 36500"),
    ("PI5_LOGGING__FORMAT", "xml", "expected one of auto, json, text"),
    ("PI5_REDIS__COMMAND_TIMEOUT_S", "0", "expected a number > 0, at most 300"),
    ("PI5_NODE__DEMO_STRATEGIES", "some", "expected true or false"),
    ("PI5_NODE__STARTING_CASH", "-5", "expected a positive amount, such as 100000 or 25000.50"),
    ("PI5_NODE__STATE_SAVE_INTERVAL_S", "-1", "expected a number from 0 to 86400"),
    ("PI5_NODE__WARMUP_BARS", "x", "expected a whole number from 0 to 100000"),
    # feed (issue 12)
    (
        "PI5_FEED__KIND",
        "bloomberg",
        "expected one of alpaca, alphavantage, replay, simulated, yahoo",
    ),
    ("PI5_FEED__SYMBOLS", "", "expected symbols separated by commas, e.g. AAPL,MSFT,SPY"),
    (
        "PI5_FEED__BARS",
        "1x",
        "expected bar intervals separated by commas, e.g. 1m,5m,1h (or empty)",
    ),
    ("PI5_FEED__QUOTES", "maybe", "expected true or false"),
    ("PI5_FEED__TRADES", "2", "expected true or false"),
    ("PI5_FEED__SPEED", "-1", "expected a number from 0 to 1000000"),
    ("PI5_FEED__SEED", "-1", "expected a whole number from 0 to 9223372036854775807"),
    ("PI5_FEED__CALENDAR", "", "expected a non-empty text"),
    ("PI5_FEED__STALE_AFTER_S", "0", "expected a number > 0, at most 86400"),
    ("PI5_FEED__DELAY_S", "-1", "expected a number from 0 to 86400"),
    ("PI5_FEED__DELAY_S", "1e9", "expected a number from 0 to 86400"),
    ("PI5_FEED__RECONNECT_INITIAL_S", "0", "expected a number > 0, at most 86400"),
    ("PI5_FEED__RECONNECT_MAX_S", "-3", "expected a number > 0, at most 86400"),
    ("PI5_FEED__RECONNECT_MAX_ATTEMPTS", "-1", "expected a whole number from 0 to 2147483647"),
    ("PI5_FEED__REPLAY_DIR", "a\nb", "expected a folder path (or empty)"),
    (
        "PI5_FEED__REPLAY_FROM",
        "yesterday",
        "expected an ISO 8601 date or time such as 2026-01-02 or 2026-01-02T14:30Z",
    ),
    (
        "PI5_FEED__REPLAY_TO",
        "2026-13",
        "expected an ISO 8601 date or time such as 2026-01-02 or 2026-01-02T14:30Z",
    ),
    (
        "PI5_REDIS__URL",
        "http://x",
        "expected redis://host:port/db, rediss://… (TLS), unix:///path or empty",
    ),
    (
        "PI5_REDIS__KEY_PREFIX",
        "a b",
        "expected letters, digits, '_', '.' or '-' (at least one)",
    ),
    ("PI5_SINKS__RECORD_BARS", "maybe", "expected true or false"),
    ("PI5_SINKS__RECORD_QUOTES", "2", "expected true or false"),
    ("PI5_SINKS__RECORD_TRADES", "yes please", "expected true or false"),
    ("PI5_SINKS__BACKLOG_MAX", "0", "expected a whole number from 1 to 2147483647"),
    ("PI5_SINKS__CACHE", "x", "expected true or false"),
    ("PI5_SINKS__CACHE_COPY_INTERVAL_S", "0", "expected a number > 0, at most 86400"),
    ("PI5_SINKS__CHANNELS", "x", "expected true or false"),
    ("PI5_SINKS__CHANNEL_QUEUE", "-1", "expected a whole number from 1 to 2147483647"),
    ("PI5_SINKS__METRICS", "x", "expected true or false"),
    ("PI5_YAHOO__BASE_URL", "query1.finance.yahoo.com", "expected an http:// or https:// URL"),
    ("PI5_YAHOO__POLL_INTERVAL_S", "0", "expected a number > 0, at most 86400"),
    ("PI5_YAHOO__TIMEOUT_S", "-1", "expected a number > 0, at most 86400"),
    ("PI5_YAHOO__MAX_RETRIES", "101", "expected a whole number from 0 to 100"),
    ("PI5_ALPHAVANTAGE__BASE_URL", "ftp://x", "expected an http:// or https:// URL"),
    ("PI5_ALPHAVANTAGE__REQUESTS_PER_MINUTE", "0", "expected a whole number from 1 to 2147483647"),
    ("PI5_ALPHAVANTAGE__REQUESTS_PER_DAY", "x", "expected a whole number from 1 to 2147483647"),
    ("PI5_ALPHAVANTAGE__TIMEOUT_S", "0", "expected a number > 0, at most 86400"),
    ("PI5_ALPHAVANTAGE__MAX_RETRIES", "-1", "expected a whole number from 0 to 100"),
    ("PI5_ALPACA__DATA_URL", "data.alpaca.markets", "expected an http:// or https:// URL"),
    ("PI5_ALPACA__STREAM_URL", "https://stream", "expected a ws:// or wss:// URL"),
    ("PI5_ALPACA__FEED", "otc", "expected one of iex, sip"),
    ("PI5_ALPACA__TIMEOUT_S", "0", "expected a number > 0, at most 86400"),
    ("PI5_ALPACA__MAX_RETRIES", "x", "expected a whole number from 0 to 100"),
    ("PI5_BROKER__PROVIDER", "ibkr", "expected one of alpaca, simulated"),
    ("PI5_BROKER__LIVE", "maybe", "expected true or false"),
    ("PI5_BROKER__I_UNDERSTAND_LIVE_TRADING", "sure", "expected one of no, yes"),
    (
        "PI5_BROKER__PAPER_URL",
        "paper-api.alpaca.markets",
        "expected a base URL such as https://paper-api.alpaca.markets",
    ),
    (
        "PI5_BROKER__LIVE_URL",
        "https://api.alpaca.markets/v2",
        "expected a base URL such as https://paper-api.alpaca.markets",
    ),
    (
        "PI5_BROKER__STREAM_URL",
        "https://paper-api.alpaca.markets/stream",
        "expected a WebSocket URL such as wss://paper-api.alpaca.markets/stream, or empty",
    ),
    ("PI5_BROKER__REQUEST_TIMEOUT_S", "0", "expected a number > 0, at most 86400"),
    ("PI5_BROKER__MAX_RETRIES", "11", "expected a whole number from 0 to 10"),
    ("PI5_BROKER__RATE_LIMIT_PER_MINUTE", "0", "expected a whole number from 1 to 2147483647"),
    ("PI5_BROKER__RECONCILE_INTERVAL_S", "-1", "expected a number > 0, at most 86400"),
    ("PI5_BROKER__SEND_WITHIN_S", "-1", "expected a number from 0 to 3600"),
    ("PI5_BROKER__SEND_WITHIN_S", "soon", "expected a number from 0 to 3600"),
    ("PI5_BROKER__UNKNOWN_ORDERS", "cancel", "expected one of adopt, flag"),
    ("PI5_BACKTESTS__WORKERS", "0", "expected a whole number from 1 to 64"),
    ("PI5_BACKTESTS__MAX_QUEUED", "-1", "expected a whole number from 0 to 10000"),
    ("PI5_BACKTESTS__MAX_BARS", "0", "expected a whole number from 1 to 2147483647"),
    ("PI5_BACKTESTS__TIMEOUT_S", "0", "expected a number > 0, at most 86400"),
    ("PI5_BACKTESTS__MEMORY_MB", "-1", "expected a whole number from 0 to 1048576"),
    ("PI5_BACKTESTS__MEMORY_MB", "2GB", "expected a whole number from 0 to 1048576"),
    ("PI5_BACKTESTS__NICE", "20", "expected a whole number from 0 to 19"),
    ("PI5_BACKTESTS__NICE", "-5", "expected a whole number from 0 to 19"),
    (
        "PI5_CLUSTER__ADDRESS",
        "tcp//10.0.0.2:8786",
        "expected tcp://HOST:PORT or tls://HOST:PORT (tcp://10.0.0.2:8786), or empty",
    ),
    ("PI5_CLUSTER__CONNECT_TIMEOUT_S", "0", "expected a number > 0, at most 600"),
    ("PI5_CLUSTER__RETRIES", "11", "expected a whole number from 0 to 10"),
]
# Settings that accept any text (paths, keys): nothing to be out of range.
FREE_TEXT = {
    "PI5_DATABASE__JOURNAL_PATH",
    "PI5_ALPHAVANTAGE__API_KEY",
    "PI5_ALPACA__KEY_ID",
    "PI5_ALPACA__SECRET_KEY",
    "PI5_BROKER__KEY_ID",
    "PI5_BROKER__SECRET_KEY",
    "PI5_API__CORS_ORIGINS",
    "PI5_AUTH__JWT_SECRET",
    "PI5_AUTH__JWT_PREVIOUS_KEYS",
    "PI5_ALERTS__GOTIFY_TOKEN",
    "PI5_SECURITY__CREDENTIALS_KEY",
    "PI5_SECURITY__CREDENTIALS_OLD_KEYS",
    "PI5_BACKUP__DIR",
    "PI5_BACKUP__COPY_TO",
    "PI5_BACKUP__PG_BIN_DIR",
    "PI5_CLUSTER__TLS_CA_FILE",
    "PI5_CLUSTER__TLS_CERT_FILE",
    "PI5_CLUSTER__TLS_KEY_FILE",
}


@pytest.mark.parametrize(("var", "value", "allowed"), OUT_OF_RANGE)
def test_every_setting_is_checked_against_its_range(var: str, value: str, allowed: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        load_settings(env={var: value}, dotenv_path=None)
    assert str(err.value) == f"{var}={value!r}: {allowed}"


def test_every_setting_has_a_range_test() -> None:
    import msgspec

    from pi5trading.config import Settings

    sections = [f for f in msgspec.structs.fields(Settings) if f.name not in ("risk",)]
    tested = {v for v, _, _ in OUT_OF_RANGE}
    for f in sections:
        sub = f.default_factory() if f.default_factory is not msgspec.NODEFAULT else f.default
        if isinstance(sub, msgspec.Struct):
            names = [f"PI5_{f.name.upper()}__{g.name.upper()}" for g in msgspec.structs.fields(sub)]
        else:
            names = [f"PI5_{f.name.upper()}"]
        assert [n for n in names if n not in tested and n not in FREE_TEXT] == []


def test_a_bad_secret_is_named_but_never_shown() -> None:
    for var in ("PI5_BROKER__SECRET_KEY", "PI5_BROKER__KEY_ID"):
        with pytest.raises(ConfigurationError) as err:
            load_settings(env={var: "my secret"}, dotenv_path=None)
        assert str(err.value) == f"{var}=***: expected printable ASCII without spaces (or empty)"


def test_broker_keys_stay_out_of_the_settings_repr() -> None:
    settings = load_settings(
        env={"PI5_BROKER__KEY_ID": "PKVISIBLE", "PI5_BROKER__SECRET_KEY": "hidden-secret"},
        dotenv_path=None,
    )
    assert settings.broker.secret_key == "hidden-secret"
    assert "hidden-secret" not in repr(settings)
    assert "PKVISIBLE" not in repr(settings.broker)
    assert "key_id=***" in repr(settings.broker)


def test_settings_across_fields_and_forgiving_spelling() -> None:
    with pytest.raises(ConfigurationError) as err:
        load_settings(env={"PI5_DATABASE__POOL_MIN_SIZE": "9"}, dotenv_path=None)
    assert str(err.value) == (
        "PI5_DATABASE__POOL_MIN_SIZE=9 is above PI5_DATABASE__POOL_MAX_SIZE=5: "
        "PI5_DATABASE__POOL_MIN_SIZE must be at most PI5_DATABASE__POOL_MAX_SIZE"
    )
    with pytest.raises(ConfigurationError, match=r"BATCH_SIZE=1000 is above .*BUFFER_MAX=10"):
        load_settings(env={"PI5_DATABASE__BUFFER_MAX": "10"}, dotenv_path=None)
    with pytest.raises(ConfigurationError, match=r"^PI5_API__PORT__X: PI5_API__PORT is a value"):
        load_settings(env={"PI5_API__PORT__X": "1"}, dotenv_path=None)
    with pytest.raises(ConfigurationError, match=r"^PI5_API: api is a section"):
        load_settings(env={"PI5_API": "1"}, dotenv_path=None)
    s = load_settings(
        env={"PI5_LOGGING__LEVEL": "debug", "PI5_API__PORT": " 9000 "}, dotenv_path=None
    )
    assert (s.logging.level, s.api.port) == ("DEBUG", 9000)


def test_risk_defaults_to_the_default_profile_without_overrides() -> None:
    s = load_settings(env={}, dotenv_path=None)
    assert s.risk == RiskSettings(profile="default", limits={})


def test_risk_profile_and_limit_overrides_from_env() -> None:
    s = load_settings(
        env={
            "PI5_RISK__PROFILE": "aggressive",
            "PI5_RISK__MAX_NOTIONAL": "20000.50",
            "PI5_RISK__PRICE_COLLAR": " 0.05 ",
            "PI5_RISK__MAX_OPEN_ORDERS": "7",
            "PI5_RISK__DUPLICATE_WINDOW_NS": "0",
            "PI5_RISK__MAX_DAILY_LOSS": "OFF",
        },
        dotenv_path=None,
    )
    assert s.risk.profile == "aggressive"
    assert s.risk.limits == {
        "max_notional": Decimal("20000.50"),
        "price_collar": Decimal("0.05"),
        "max_open_orders": 7,
        "duplicate_window_ns": 0,
        "max_daily_loss": None,
    }
    assert type(s.risk.limits["max_open_orders"]) is int


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PROFILE", "yolo", "unknown risk profile"),
        ("MAX_NOTIONAL", "lots", "expected an amount"),
        ("MAX_NOTIONAL", "", "expected an amount"),
        ("MAX_NOTIONAL", "NaN", "expected an amount"),
        ("MAX_NOTIONAL", "-1", "must be >= 0"),
        ("MAX_QUANTITY", "0.0000000001", "more than 9 decimal places"),
        ("MAX_QUANTITY", "1e10", "too large"),
        ("MAX_DRAWDOWN", "15", "a fraction is at most 1"),
        ("MAX_OPEN_ORDERS", "2.5", "whole number"),
        ("MAX_OPEN_ORDERS", "-3", "whole number"),
        ("MAX_OPEN_ORDERS", "4294967296", "whole number"),
        ("MAX_LOSS", "100", "not an account risk limit"),
        ("TICK_SIZE", "0.01", "not an account risk limit"),
        ("MAX_NOTIONALL", "100", "not an account risk limit"),
    ],
)
def test_a_bad_risk_value_names_its_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"^PI5_RISK__{name}\b.*{message}"):
        load_settings(env={f"PI5_RISK__{name}": value}, dotenv_path=None)


def test_the_settable_limits_are_the_cores_account_limits() -> None:
    probe = RiskEngine("unlimited")
    account = []
    for name in limit_names():
        try:
            probe.get_limit(name)
        except InvalidInputError:  # per strategy or per instrument only
            continue
        account.append(name)
    assert list(RISK_LIMITS) == account
    for name, unit in RISK_LIMITS.items():
        probe.set_limit(name, 1)
        expected = int if unit in ("count", "nanoseconds") else Decimal
        assert type(probe.get_limit(name)) is expected, name
    assert tuple(risk_profiles()) == RISK_PROFILES
    for profile in RISK_PROFILES:
        assert RiskEngine(profile).profile == profile


def test_the_configured_engine_applies_the_overrides_to_the_profile() -> None:
    s = load_settings(
        env={
            "PI5_RISK__PROFILE": "conservative",
            "PI5_RISK__MAX_NOTIONAL": "1234.5",
            "PI5_RISK__MAX_DAILY_LOSS": "off",
        },
        dotenv_path=None,
    )
    engine = configured_risk_engine(s)
    plain = account_limits(RiskEngine("conservative"))
    got = account_limits(engine)
    assert engine.profile == "conservative"
    assert got["max_notional"] == Decimal("1234.5") != plain["max_notional"]
    assert got["max_daily_loss"] is None
    assert plain["max_daily_loss"] is not None
    untouched = set(RISK_LIMITS) - {"max_notional", "max_daily_loss"}
    assert {k: got[k] for k in untouched} == {k: plain[k] for k in untouched}
