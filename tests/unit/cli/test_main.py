from __future__ import annotations

import json
import subprocess
import sys

import click
from click.testing import CliRunner

import pi5trading
from pi5trading.cli import main
from pi5trading.config import RISK_LIMITS
from pi5trading.risk import RiskEngine, account_limits


def test_version() -> None:
    res = CliRunner().invoke(main, ["--version"])
    assert res.exit_code == 0
    assert pi5trading.__version__ in res.output


def test_help_lists_commands() -> None:
    res = CliRunner().invoke(main, ["--help"])
    assert res.exit_code == 0
    assert "serve" in res.output
    assert "PI5_" in res.output


def test_info_prints_core_and_settings() -> None:
    res = CliRunner(env={"PI5_API__PORT": "9005"}).invoke(main, ["info"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["core"]["version"] == pi5trading.__version__
    assert data["settings"]["api"]["port"] == 9005


def test_bad_setting_is_a_clear_cli_error() -> None:
    res = CliRunner(env={"PI5_API__PORT": "x"}).invoke(main, ["info"])
    assert res.exit_code != 0
    assert "Error: PI5_API__PORT='x': expected a whole number from 1 to 65535\n" in res.output


def test_the_command_line_starts_without_heavy_imports() -> None:
    # What a command needs loads inside it; `pi5trading --help` stays quick on a Pi.
    heavy = ["numpy", "rich", "asyncpg", "aiosqlite", "litestar", "uvicorn", "pi5trading.engine"]
    code = f"import sys, pi5trading.cli\nprint(','.join(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == ""


def test_every_verb_is_registered() -> None:
    assert sorted(main.commands) == [
        "api",
        "audit",
        "backtest",
        "backup",
        "credentials",
        "data",
        "info",
        "migrate",
        "optimize",
        "restore",
        "runs",
        "serve",
        "user",
    ]
    data = main.commands["data"]
    assert isinstance(data, click.Group)
    assert sorted(data.commands) == ["download", "import"]


def test_info_shows_the_effective_risk_limits_and_marks_overrides() -> None:
    env = {
        "PI5_RISK__PROFILE": "aggressive",
        "PI5_RISK__MAX_NOTIONAL": "20000",
        "PI5_RISK__MAX_OPEN_ORDERS": "3",
        "PI5_RISK__MAX_DAILY_LOSS": "off",
    }
    res = CliRunner(env=env).invoke(main, ["info"])
    assert res.exit_code == 0, res.output
    risk = json.loads(res.output)["risk"]
    assert risk["profile"] == "aggressive"
    limits = risk["limits"]
    assert list(limits) == list(RISK_LIMITS)
    assert limits["max_notional"] == {"value": "20000", "source": "PI5_RISK__MAX_NOTIONAL"}
    assert limits["max_open_orders"] == {"value": 3, "source": "PI5_RISK__MAX_OPEN_ORDERS"}
    assert limits["max_daily_loss"] == {"value": None, "source": "PI5_RISK__MAX_DAILY_LOSS"}
    # Every other limit is the profile's own value.
    profile = account_limits(RiskEngine("aggressive"))
    for name, shown in limits.items():
        if name in ("max_notional", "max_open_orders", "max_daily_loss"):
            continue
        value = profile[name]
        expected = value if value is None or isinstance(value, int) else str(value)
        assert shown == {"value": expected, "source": "profile"}, name


def test_info_without_risk_settings_is_the_default_profile() -> None:
    res = CliRunner(env={}).invoke(main, ["info"])
    assert res.exit_code == 0, res.output
    risk = json.loads(res.output)["risk"]
    assert risk["profile"] == "default"
    assert {v["source"] for v in risk["limits"].values()} == {"profile"}


def test_a_bad_risk_setting_is_a_clear_cli_error() -> None:
    res = CliRunner(env={"PI5_RISK__MAX_DRAWDOWN": "15"}).invoke(main, ["info"])
    assert res.exit_code != 0
    assert "PI5_RISK__MAX_DRAWDOWN='15': a fraction is at most 1" in res.output
    assert "Traceback" not in res.output
