"""What `backtest` and `runs` write, as a user runs them: exact P&L in plain decimals, one
report folder per run, an equity.csv of a chosen resolution, a `runs` table that fits."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from click.testing import CliRunner

from pi5trading.analysis.report import EQUITY_RESOLUTIONS
from pi5trading.cli import main
from pi5trading.cli.backtest import EQUITY_RESOLUTIONS as CLI_EQUITY_RESOLUTIONS

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

# Buys 22 then 44 shares (filled at the next opens, 10.01 and 10.02), sells the 66 at 9.88,
# then buys and sells 10 shares at 9.90: P&L exactly -9.02 and 0. The average entry price
# is 661.10 / 66 = 10.0166..., which rounded to 10^-9 would give -9.020000022.
SCALE_IN = """
from decimal import Decimal

from pi5trading.strategies import Strategy

PLAN = {0: ("buy", 22), 1: ("buy", 44), 3: ("sell", 66), 4: ("buy", 10), 5: ("sell", 10)}


class ScaleIn(Strategy):
    def on_start(self):
        self.n = 0

    def on_bar(self, bar):
        step = PLAN.get(self.n)
        self.n += 1
        if step:
            side, qty = step
            (self.buy if side == "buy" else self.sell)(Decimal(qty))
"""

BARS = """timestamp,open,high,low,close,volume
2024-01-02T14:30:00Z,10.00,10.05,9.95,10.00,100000
2024-01-02T14:31:00Z,10.01,10.05,9.95,10.00,100000
2024-01-02T14:32:00Z,10.02,10.05,9.95,10.00,100000
2024-01-02T14:33:00Z,10.00,10.05,9.85,9.90,100000
2024-01-02T14:34:00Z,9.88,9.95,9.85,9.90,100000
2024-01-02T14:35:00Z,9.90,9.95,9.85,9.90,100000
2024-01-02T14:36:00Z,9.90,9.95,9.85,9.90,100000
2024-01-02T14:37:00Z,9.90,9.95,9.85,9.90,100000
"""

_EXPONENT = re.compile(r"\d[eE][+-]?\d")


def test_partial_fills_give_exact_pnl_in_plain_decimals(tmp_path: Path) -> None:
    (tmp_path / "scale.py").write_text(SCALE_IN)
    (tmp_path / "bars.csv").write_text(BARS)
    out = tmp_path / "report"
    r = CliRunner().invoke(
        main,
        [
            "backtest",
            "-s",
            f"{tmp_path / 'scale.py'}:ScaleIn",
            "--data",
            str(tmp_path / "bars.csv"),
            "-q",
            "--no-save",
            "--monte-carlo",
            "0",
            "-o",
            str(out),
            *NO_COST,
        ],
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader((out / "trades.csv").read_text().splitlines()))
    assert [(t["quantity"], t["entry_price"], t["exit_price"], t["net_pnl"]) for t in rows] == [
        ("66", "10.016666667", "9.88", "-9.02"),
        ("10", "9.9", "9.9", "0"),
    ]
    assert [t["commission"] for t in rows] == ["0", "0"]
    report = json.loads((out / "report.json").read_text())
    assert [t["net_pnl"] for t in report["trades"]] == ["-9.02", "0"]
    assert report["trades"][0]["entry_notional"] == "661.1"
    assert report["performance"]["trade_stats"]["net_profit"] == "-9.02"
    # No number anywhere in the files in exponent notation (0E-9, 1E+2).
    for name in ("trades.csv", "report.json"):
        assert not _EXPONENT.search((out / name).read_text()), name
    html = (out / "report.html").read_text()
    assert ">-9.02<" in html
    assert "-9.0200000" not in html

    as_json = CliRunner().invoke(
        main,
        [
            "backtest",
            "-s",
            f"{tmp_path / 'scale.py'}:ScaleIn",
            "--data",
            str(tmp_path / "bars.csv"),
            "--json",
            "--no-report",
            "--no-save",
            *NO_COST,
        ],
    )
    assert as_json.exit_code == 0, as_json.output
    stats = json.loads(as_json.output[as_json.output.index("{") :])
    assert stats["trade_stats"]["net_profit"] == "-9.02"
    assert stats["trade_stats"]["gross_profit"] == "0"


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


def _equity_rows(folder: Path) -> list[list[str]]:
    with (folder / "equity.csv").open() as f:
        return list(csv.reader(f))[1:]


def test_equity_csv_is_hourly_by_default_and_every_bar_on_request(tmp_path: Path) -> None:
    assert tuple(EQUITY_RESOLUTIONS) == CLI_EQUITY_RESOLUTIONS
    args = ["backtest", "--data", "generated:3000:2", "-q", "--no-save", "--monte-carlo", "0"]
    r = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "hourly")])
    assert r.exit_code == 0, r.output
    every = CliRunner().invoke(
        main, [*args, "-o", str(tmp_path / "bars"), "--equity-resolution", "bar"]
    )
    assert every.exit_code == 0, every.output
    bars = _equity_rows(tmp_path / "bars")
    hourly = _equity_rows(tmp_path / "hourly")
    assert len(bars) == 3000
    # One row per UTC hour that has bars: the last bar of that hour, as in the full file.
    hours = {int(ts) // (3600 * 10**9) for _, ts, _ in bars}
    assert len(hourly) == len(hours)
    assert len(hourly) < len(bars) // 10
    last_of_hour = {int(ts) // (3600 * 10**9): row for row in bars for _, ts, _ in [row]}
    assert hourly == [last_of_hour[h] for h in sorted(hours)]
    assert hourly[-1] == bars[-1]
    report = json.loads((tmp_path / "hourly" / "report.json").read_text())
    assert report["equity_csv"] == {"resolution": "1h", "rows": len(hourly)}
    html = (tmp_path / "hourly" / "report.html").read_text()
    assert f"the last equity of each 1h (UTC), {len(hourly):,} rows for 3,000 bars" in html
    bad = CliRunner().invoke(main, [*args, "--equity-resolution", "2h"])
    assert bad.exit_code == 2
    assert "'2h' is not one of" in bad.output


def test_the_report_charts_fill_the_width_and_keep_their_text_size(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        main,
        ["backtest", "--data", "generated:3000:2", "-q", "--no-save", "-o", str(tmp_path)],
    )
    assert r.exit_code == 0, r.output
    html = (tmp_path / "report.html").read_text()
    assert 'name="viewport" content="width=device-width' in html  # phones lay it out 1:1
    charts = re.findall(r'<div class="chart"><svg ([^>]*)>', html)
    assert len(charts) >= 3
    for attrs in charts:
        # As wide as the page; no viewBox on the chart, so labels are not scaled down.
        assert 'width="100%"' in attrs
        assert "viewBox" not in attrs
    assert "max-width:960px" not in html


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
