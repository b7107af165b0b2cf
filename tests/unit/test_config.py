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
    with pytest.raises(ConfigurationError, match=r"api\.port"):
        load_settings(env={"PI5_API__PORT": "eighty"}, dotenv_path=None)


def test_unknown_setting_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="apii"):
        load_settings(env={"PI5_APII__PORT": "1"}, dotenv_path=None)


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
    assert (*risk_profiles(), "unlimited") == RISK_PROFILES
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
