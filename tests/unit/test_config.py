from __future__ import annotations

from pathlib import Path

import pytest

from pi5trading.config import load_settings
from pi5trading.exceptions import ConfigurationError


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
