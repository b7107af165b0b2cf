"""Every built-in on generated data: alone and together on one account, one or several
instruments (per-instrument state must not leak between symbols)."""

from __future__ import annotations

import pytest

from pi5trading.data import BarFrame, random_walk_bars
from pi5trading.engine import BacktestRunner
from pi5trading.strategies import BUILTIN
from tests.unit.strategies.helpers import no_cost_venue
from tests.venues import fill_rows

# Parameters that trade often on a calm one-minute random walk.
PARAMS: dict[str, dict[str, object]] = {
    "sma_crossover": {"fast": 10, "slow": 30},
    "rsi_mean_reversion": {},
    "bollinger_reversion": {"stop_percent_b": -0.5, "squeeze_bandwidth": 0.002},
    "vwap_bounce": {},
    "opening_range_breakout": {"range_minutes": 30},
    "momentum": {"period": 20, "entry_threshold": 0.3, "exit_threshold": -0.1},
    "donchian_breakout": {},
}


def walk(seed: int, n: int = 6000) -> BarFrame:
    return BarFrame.from_columns(
        random_walk_bars(n, seed=seed, volatility=0.001, market_hours=True), "gen"
    )


def strip(fills: list[tuple]) -> list[tuple]:  # type: ignore[type-arg]
    """Fills without order ids (they count per strategy)."""
    return [(ts, sid, sym, side, q, p) for ts, sid, sym, _oid, side, q, p, _c in fill_rows(fills)]


def run(names: list[str], seeds: dict[str, int]) -> list[tuple]:  # type: ignore[type-arg]
    """Fills of ``names`` together on one account, trading the instruments of ``seeds``."""
    r = BacktestRunner(venue=no_cost_venue(), risk=None)
    for symbol, seed in seeds.items():
        r.add_bars(symbol, walk(seed))
    for name in names:
        r.add_strategy(BUILTIN[name]({**PARAMS[name], "quantity": 5}))
    res = r.run()
    assert res.portfolio.identity_residual == 0
    return strip(res.fills)


def test_every_builtin_has_test_parameters() -> None:
    assert set(PARAMS) == set(BUILTIN)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_each_trades_and_symbols_are_independent(name: str) -> None:
    # Both series carry the same timestamps, so the joint run interleaves them; per
    # symbol it must be exactly the single-symbol run.
    single = {"AAA": run([name], {"AAA": 11}), "BBB": run([name], {"BBB": 12})}
    for symbol, got in single.items():
        assert len(got) >= 4, f"{name} hardly traded {symbol}"
    both = run([name], {"AAA": 11, "BBB": 12})
    for symbol, got in single.items():
        assert [x for x in both if x[2] == symbol] == got


def test_all_together_on_one_account_is_deterministic() -> None:
    names = sorted(BUILTIN)
    first = run(names, {"AAA": 11})
    assert {x[1] for x in first} == set(names)
    assert run(names, {"AAA": 11}) == first
