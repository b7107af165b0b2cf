"""A run in which the risk engine denies most orders says so: which check, how many, and
how to lift it (issue 11: the Python API is as loud as the CLI)."""

from __future__ import annotations

import warnings

import pytest

from pi5trading.data import BarFrame
from pi5trading.data.synthetic import random_walk_bars
from pi5trading.engine import BacktestRunner
from pi5trading.engine.denials import RiskDenialWarning, hint, summary
from pi5trading.strategies.sma_crossover import MovingAverageCrossover


def _run(risk: str | None, *, market_hours: bool) -> BacktestRunner:
    runner = BacktestRunner(risk=risk)
    bars = random_walk_bars(5000, seed=3, market_hours=market_hours)
    runner.add_bars("SIM", BarFrame.from_columns(bars, "mem"))
    runner.add_strategy(MovingAverageCrossover({"fast": 5, "slow": 20, "quantity": 10}))
    return runner


def test_round_the_clock_bars_under_trading_hours_warn_with_the_check_and_the_fix() -> None:
    with pytest.warns(RiskDenialWarning, match=r"outside_trading_hours.*calendar='24/7'"):
        result = _run("default", market_hours=False).run()
    assert result.risk_warning is not None
    assert "outside_trading_hours" in result.risk_warning
    assert len(result.denials) > len(result.fills)


@pytest.mark.parametrize(("risk", "market_hours"), [(None, False), ("default", True)])
def test_runs_that_trade_as_asked_stay_quiet(risk: str | None, market_hours: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RiskDenialWarning)
        result = _run(risk, market_hours=market_hours).run()
    assert result.risk_warning is None
    assert result.fills


class _D:
    def __init__(self, client_order_id: str, code: str = "", action: str = "submit") -> None:
        self.client_order_id = client_order_id
        self.code = code
        self.action = action


def test_summary_counts_orders_the_main_check_and_names_its_setting() -> None:
    denials = [_D(f"d{i}", "max_notional") for i in range(6)]
    denials += [_D(f"d{i}", "max_open_orders") for i in range(6, 8)]
    text = summary(denials, orders=10)
    assert text is not None
    assert text.startswith("risk denied 8 of 10 orders (80%); 6 by max_notional")
    assert "PI5_RISK__MAX_NOTIONAL" in text
    assert summary(denials[:5], orders=10) is None  # half: no warning
    # A refused modify is not a denied order.
    assert summary([_D("w1", "price_collar", "modify")], orders=1) is None
    assert "PI5_RISK__MAX_ORDERS_PER_MINUTE" in hint("rate_limit_minute")
