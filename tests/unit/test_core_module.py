"""The extension imports, reports its version and build, and matches the package."""

from __future__ import annotations

import platform

import pi5trading
import pi5trading._core as core


def test_core_version_matches_package() -> None:
    assert core.__version__ == pi5trading.__version__
    assert core.__version__.count(".") >= 2


def test_build_info_reports_this_machine() -> None:
    info = core.build_info()
    assert info["version"] == core.__version__
    machine = platform.machine().lower()
    expected = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    assert info["target_arch"] == expected
    assert info["target_os"] == "linux"
    # make run / make test build in release mode; a debug build would distort benchmarks.
    assert info["profile"] == "release"


def test_exception_tree() -> None:
    from pi5trading.exceptions import InvalidInputError, Pi5TradingError

    err = InvalidInputError("invalid high: must be >= open")
    assert isinstance(err, Pi5TradingError)
    assert isinstance(err, ValueError)
