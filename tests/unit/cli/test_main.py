from __future__ import annotations

import json
import subprocess
import sys

import click
from click.testing import CliRunner

import pi5trading
from pi5trading.cli import main


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
    assert "api.port" in res.output


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
        "backtest",
        "data",
        "info",
        "migrate",
        "optimize",
        "runs",
        "serve",
    ]
    data = main.commands["data"]
    assert isinstance(data, click.Group)
    assert sorted(data.commands) == ["import"]
