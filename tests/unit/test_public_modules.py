"""Users reach the Rust core through public modules only, each name in exactly one place."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import pi5trading
import pi5trading._core as core

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = (
    "pi5trading.model",
    "pi5trading.indicators",
    "pi5trading.orders",
    "pi5trading.venue",
    "pi5trading.portfolio",
    "pi5trading.risk",
    "pi5trading.clock",
    "pi5trading.bus",
)
# The engine's own machinery, reached through pi5trading.engine and pi5trading.data, and
# the sinks' fast paths (pi5trading.sinks, pi5trading.storage call them; no user does).
INTERNAL = {
    "Engine",
    "raw_from_floats",
    "bar_message",
    "bar_rows",
    "copy_text",
    "first_order_events",
    "EncodedRow",
    "RecordEncoder",
    "order_message",
    "position_message",
}
# Where each public module's classes are documented; a misplaced name shows here.
HOME = {
    "Order": "pi5trading.orders",
    "OrderEvent": "pi5trading.orders",
    "Fill": "pi5trading.orders",
    "FillRecord": "pi5trading.orders",
    "FillLog": "pi5trading.orders",
    "FillIter": "pi5trading.orders",
    "SimulatedVenue": "pi5trading.venue",
    "OutgoingRequest": "pi5trading.venue",
    "Portfolio": "pi5trading.portfolio",
    "Position": "pi5trading.portfolio",
    "PositionEvent": "pi5trading.portfolio",
    "RoundTrip": "pi5trading.portfolio",
    "RiskEngine": "pi5trading.risk",
    "RiskAccount": "pi5trading.risk",
    "Denial": "pi5trading.risk",
    "RiskEvent": "pi5trading.risk",
    "DenialRecord": "pi5trading.risk",
    "position_size": "pi5trading.risk",
    "Bar": "pi5trading.model",
    "CrossOver": "pi5trading.indicators",
    "TimeEvent": "pi5trading.clock",
}


def _exports() -> dict[str, list[str]]:
    where: dict[str, list[str]] = {}
    for name in PUBLIC:
        module = importlib.import_module(name)
        assert module.__doc__, f"{name} has no docstring"
        for attr in module.__all__:
            obj = getattr(module, attr)
            if getattr(core, attr, None) is obj:
                where.setdefault(attr, []).append(name)
    return where


def test_every_core_name_has_exactly_one_public_home() -> None:
    where = _exports()
    user_facing = set(core.__all__) - INTERNAL - {"__version__", "build_info"}
    assert sorted(user_facing - set(where)) == []
    assert {k: v for k, v in where.items() if len(v) > 1} == {}
    assert {name: where[name][0] for name in HOME} == HOME


def test_build_info_and_version_are_on_the_package() -> None:
    assert pi5trading.build_info is core.build_info
    assert pi5trading.__version__ == core.__version__


def _code_blocks(path: Path) -> list[str]:
    return re.findall(r"^```[^\n]*\n(.*?)^```", path.read_text(), flags=re.S | re.M)


DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
PRIVATE = re.compile(r"pi5trading\._core|import _core\b|\b_core\.")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_docs_code_imports_no_private_core(path: Path) -> None:
    offenders = [b for b in _code_blocks(path) if PRIVATE.search(b)]
    assert offenders == []


def test_the_docs_check_sees_code_blocks() -> None:
    # Guards the regex above: a check that finds no block would pass vacuously.
    assert any("from pi5trading.risk import" in b for b in _code_blocks(ROOT / "docs/risk.md"))
    assert PRIVATE.search("from pi5trading import _core\nx = _core.Order")
