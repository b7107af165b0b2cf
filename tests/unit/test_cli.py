from __future__ import annotations

import json

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
