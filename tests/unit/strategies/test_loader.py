"""load_strategy: built-in names, files, module paths, and every error case."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pi5trading.exceptions import ConfigurationError
from pi5trading.strategies import (
    BUILTIN,
    MovingAverageCrossover,
    RsiMeanReversion,
    Strategy,
    load_strategy,
)
from tests.unit.strategies.helpers import frame, run

GOOD = """
from decimal import Decimal

from pi5trading.indicators import SMA
from pi5trading.strategies import MovingAverageCrossover, Strategy, StrategyConfig


class BuyOnce(Strategy):
    class Config(StrategyConfig):
        quantity: Decimal = Decimal(3)

    def on_start(self):
        self.indicator(SMA(2))

    def on_bar(self, bar):
        if self.is_flat() and not self.open_orders():
            self.buy(self.config.quantity)
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_builtin_names_and_aliases() -> None:
    assert set(BUILTIN) == {
        "sma_crossover",
        "rsi_mean_reversion",
        "bollinger_reversion",
        "vwap_bounce",
        "opening_range_breakout",
        "momentum",
        "donchian_breakout",
    }
    for name, cls in BUILTIN.items():
        assert cls.name == name
        assert issubclass(cls, Strategy)
        if name != "sma_crossover":  # documented: rules, parameters, warm-up
            assert cls.__doc__ is not None
            assert "Warm-up" in cls.__doc__
            assert "Parameters" in cls.__doc__
        cls()  # runs with no parameters
    assert load_strategy("rsi_mean_reversion") is RsiMeanReversion
    assert load_strategy("moving_avg_crossover") is MovingAverageCrossover


def test_file_with_one_strategy_loads_and_runs(tmp_path: Path) -> None:
    cls = load_strategy(str(write(tmp_path, "mine.py", GOOD)))
    assert cls.__name__ == "BuyOnce"  # the imported MovingAverageCrossover is not counted
    got = run(cls(), frame([10, 11, 12, 13]))
    assert [(i, side, int(q)) for i, side, q, _ in got] == [(2, "buy", 3)]
    assert load_strategy(f"{tmp_path / 'mine.py'}:BuyOnce").__name__ == "BuyOnce"


def test_a_file_shipped_as_text_loads_as_the_file_does(tmp_path: Path) -> None:
    """A cluster worker gets the file's text, not the file: same class, same errors."""
    from pi5trading.strategies.loader import strategy_file

    where = tmp_path / "elsewhere" / "mine.py"  # does not exist here
    cls = load_strategy(f"{where}:BuyOnce", source=GOOD)
    got = run(cls(), frame([10, 11, 12, 13]))
    assert [(i, side, int(q)) for i, side, q, _ in got] == [(2, "buy", 3)]
    with pytest.raises(ConfigurationError) as err:
        load_strategy(str(where), source="import not_installed_anywhere\n")
    assert str(err.value) == (
        f"{where}: error while importing: ModuleNotFoundError: "
        "No module named 'not_installed_anywhere'"
    )
    assert strategy_file(f"{where}:BuyOnce") == where
    assert strategy_file("sma_crossover") is None
    assert strategy_file("package.module:Class") is None


def test_module_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "my_strats_for_test.py", GOOD)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert load_strategy("my_strats_for_test:BuyOnce").__name__ == "BuyOnce"
        with pytest.raises(ConfigurationError, match=r"no class 'Nope'.*BuyOnce"):
            load_strategy("my_strats_for_test:Nope")
    finally:
        sys.modules.pop("my_strats_for_test", None)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"strategy file not found: .*absent\.py"):
        load_strategy(str(tmp_path / "absent.py"))


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "broken.py",
        "from pi5trading.strategies import Strategy\n\nclass X(Strategy\n    pass\n",
    )
    with pytest.raises(ConfigurationError, match=r"broken.py: syntax error at line \d"):
        load_strategy(str(p))
    with pytest.raises(ConfigurationError, match="line 3"):
        load_strategy(str(write(tmp_path, "b2.py", "x = 1\ny = 2\nz = = 3\n")))


def test_error_while_importing(tmp_path: Path) -> None:
    p = write(tmp_path, "raises.py", "import no_such_module_here\n")
    with pytest.raises(ConfigurationError, match="error while importing: ModuleNotFoundError"):
        load_strategy(str(p))


def test_no_strategy_in_file(tmp_path: Path) -> None:
    p = write(tmp_path, "empty.py", "from pi5trading.strategies import Strategy\nX = 1\n")
    with pytest.raises(ConfigurationError, match="defines no Strategy subclass"):
        load_strategy(str(p))


def test_several_strategies_are_named(tmp_path: Path) -> None:
    text = GOOD + "\n\nclass Another(BuyOnce):\n    pass\n"
    p = write(tmp_path, "two.py", text)
    with pytest.raises(ConfigurationError, match=r"several strategies \(BuyOnce, Another\)"):
        load_strategy(str(p))
    assert load_strategy(f"{p}:Another").__name__ == "Another"


def test_missing_class(tmp_path: Path) -> None:
    p = write(tmp_path, "mine.py", GOOD)
    with pytest.raises(ConfigurationError, match="no class 'Missing'"):
        load_strategy(f"{p}:Missing")


def test_not_a_strategy(tmp_path: Path) -> None:
    p = write(tmp_path, "mine.py", GOOD + "\n\nclass Plain:\n    pass\n\ndef f():\n    pass\n")
    with pytest.raises(ConfigurationError, match="Plain is not a Strategy subclass"):
        load_strategy(f"{p}:Plain")
    with pytest.raises(ConfigurationError, match="f is not a Strategy subclass"):
        load_strategy(f"{p}:f")
    with pytest.raises(ConfigurationError, match="Decimal is not a Strategy subclass"):
        load_strategy("decimal:Decimal")


def test_unknown_names() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown strategy 'nope'.*sma_crossover"):
        load_strategy("nope")
    with pytest.raises(ConfigurationError, match="module 'no_such_pkg_xyz' not found"):
        load_strategy("no_such_pkg_xyz:Thing")
    with pytest.raises(ConfigurationError, match="no class name"):
        load_strategy("decimal:")
    with pytest.raises(ConfigurationError, match="empty"):
        load_strategy("  ")
