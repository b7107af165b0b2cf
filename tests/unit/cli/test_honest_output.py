"""What `backtest` and `runs` write, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from pi5trading.cli import main

NO_COST = [
    "--risk",
    "none",
    "--slippage",
    "none",
    "--commission-per-share",
    "0",
    "--commission-minimum",
    "0",
]


def test_runs_in_the_same_second_get_their_own_report_folders(tmp_path: Path) -> None:
    env = {"PI5_DATA_DIR": str(tmp_path)}
    args = ["backtest", "--data", "generated:500:1", "-q", "--monte-carlo", "0", *NO_COST]
    # 500 bars run in well under a second, so these two usually start in the same second
    # (which gave them one folder before); the folders must differ whatever the clock says.
    first = CliRunner(env=env).invoke(main, [*args, "-p", "fast=5", "-p", "slow=20"])
    second = CliRunner(env=env).invoke(main, [*args, "-p", "fast=8", "-p", "slow=20"])
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    folders = sorted((tmp_path / "reports").iterdir())
    assert len(folders) == 2
    runs = json.loads(CliRunner(env=env).invoke(main, ["runs", "--json"]).output)
    reports = {row["result"]["report_path"] for row in runs}
    assert reports == {str(f / "report.html") for f in folders}
    for row in runs:
        # The folder is named by the run it holds.
        assert Path(row["result"]["report_path"]).parent.name.endswith(row["run"]["run_id"])
        fast = row["run"]["params"]["params"]["fast"]
        report = json.loads(Path(row["result"]["report_path"]).with_suffix(".json").read_text())
        assert report["meta"]["params[sma_crossover]"].startswith(f"fast={fast},")


def _table_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("┃", "│"))]


def test_runs_fits_the_terminal_and_shows_more_when_wider(tmp_path: Path) -> None:
    env = {"PI5_DATA_DIR": str(tmp_path)}
    empty = CliRunner(env={**env, "COLUMNS": "80"}).invoke(main, ["runs"])
    assert empty.exit_code == 0, empty.output
    assert "0 most recent backtests" in empty.output
    base = ["backtest", "--data", "generated:500:4", "-q", "--monte-carlo", "0", *NO_COST]
    for fast in (5, 8):
        r = CliRunner(env=env).invoke(main, [*base, "-p", f"fast={fast}", "-p", "slow=20"])
        assert r.exit_code == 0, r.output
    ids = [
        row["run"]["run_id"]
        for row in json.loads(CliRunner(env=env).invoke(main, ["runs", "--json"]).output)
    ]

    narrow = CliRunner(env={**env, "COLUMNS": "80"}).invoke(main, ["runs"])
    assert narrow.exit_code == 0, narrow.output
    lines = narrow.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in narrow.output
    table = "\n".join(_table_lines(narrow.output))
    for run_id in ids:
        assert run_id in table  # whole ids, the one thing needed to come back to a run
    for column in ("strategy", "return", "max DD"):
        assert column in table
    assert "fast=5 slow=20" in table
    assert "report.html" not in narrow.output
    assert "hidden: when (UTC), Sharpe, trades, report (widen the terminal, or --json)" in (
        narrow.output
    )

    wide = CliRunner(env={**env, "COLUMNS": "250"}).invoke(main, ["runs"])
    assert wide.exit_code == 0, wide.output
    assert "…" not in wide.output
    for column in ("when (UTC)", "Sharpe", "trades", "report"):
        assert column in wide.output
    assert wide.output.count("report.html") == 2
    assert "hidden:" not in wide.output
