"""Every venue setting of the Python API is reachable from the command line, and the
``ideal`` preset reproduces a no-cost, unlimited-volume run of the Python API."""

from __future__ import annotations

import inspect
import json

import pytest
from click.testing import CliRunner

from pi5trading.backtest.spec import BacktestSpec, run_spec
from pi5trading.cli import main
from pi5trading.cli._venue import PRESETS, venue_settings
from pi5trading.venue import SimulatedVenue

RUN = ["backtest", "--data", "generated:20000:5", "--risk", "none", "--no-save", "--no-report"]


def _stats(args: list[str]) -> dict[str, object]:
    out = CliRunner().invoke(main, [*RUN, "--json", *args])
    assert out.exit_code == 0, out.output
    stats: dict[str, object] = json.loads(out.stdout)
    return stats


def test_every_venue_keyword_has_a_flag() -> None:
    keywords = set(inspect.signature(SimulatedVenue).parameters)
    out = CliRunner().invoke(main, ["backtest", "--help"])
    assert out.exit_code == 0
    # --cash and --market-fill are the spec's own options; `external` (a broker matches)
    # is the trading node's, never a backtest's.
    for key in sorted(keywords - {"starting_cash", "market_fill", "account_type", "external"}):
        assert f"--{key.replace('_', '-')}" in out.output, key
    assert "--account [cash|margin]" in out.output


def test_the_ideal_preset_is_the_python_api_s_no_cost_unlimited_run() -> None:
    ideal = _stats(["--venue", "ideal"])
    python = run_spec(
        BacktestSpec(
            data="generated:20000:5",
            risk=None,
            venue={
                "slippage": "none",
                "commission_per_share": "0",
                "commission_minimum": "0",
                "unlimited_volume": True,
            },
        )
    ).performance
    assert ideal["final_equity"] == python.final_equity
    assert ideal["trade_stats"]["trades"] == python.trade_stats.trades  # type: ignore[index]
    realistic = _stats([])
    assert realistic["final_equity"] != ideal["final_equity"]  # costs and slippage count


def test_flags_override_the_preset_and_only_given_flags_reach_the_venue() -> None:
    kw = {"venue_preset": "ideal", "commission_rate": "0.001", "unlimited_volume": False}
    got = venue_settings(kw)
    assert got == {**PRESETS["ideal"], "commission_rate": "0.001", "unlimited_volume": False}
    assert venue_settings({"venue_preset": "realistic"}) == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--participation", "abc"], 'participation: not a decimal number: "abc"'),
        (["--participation", "1.5"], "participation: must be in (0, 1]"),
        (["--commission-rate", "-1"], "commission_rate: must be >= 0"),
        (["--slippage", "ticks", "--slippage-rate", "0.01"], "applies to --slippage rate"),
        (["--venue", "perfect"], "'perfect' is not one of 'ideal', 'realistic'"),
    ],
)
def test_bad_venue_values_are_one_clear_line(args: list[str], message: str) -> None:
    out = CliRunner().invoke(main, [*RUN, *args])
    assert out.exit_code != 0
    assert message in out.output
    assert "Traceback" not in out.output


def test_a_rate_alone_picks_its_slippage_model() -> None:
    assert venue_settings({"venue_preset": "realistic", "slippage_rate": "0.001"}) == {
        "slippage_rate": "0.001",
        "slippage": "rate",
    }
