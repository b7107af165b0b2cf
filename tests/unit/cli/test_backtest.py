"""`pi5trading backtest` and `pi5trading optimize` as a user runs them."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner, Result

from pi5trading.backtest import optimise as opt
from pi5trading.backtest.spec import BacktestSpec, load_frame, make_risk, run_spec
from pi5trading.cli import main
from pi5trading.exceptions import ConfigurationError

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


def test_backtest_writes_a_report_and_is_deterministic(tmp_path: Path) -> None:
    args = [
        "backtest",
        "-s",
        "sma_crossover",
        "-p",
        "fast=10",
        "-p",
        "slow=30",
        "--data",
        "generated:20000:3",
        "-q",
        *NO_COST,
    ]
    r1 = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "a")])
    r2 = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "b")])
    assert r1.exit_code == 0, r1.output
    assert r2.exit_code == 0, r2.output
    assert "report:" in r1.output
    for name in ("report.html", "report.json", "trades.csv", "equity.csv"):
        assert (tmp_path / "a" / name).is_file()
    # Same inputs => identical trades and statistics, byte for byte.
    assert (tmp_path / "a" / "trades.csv").read_bytes() == (
        tmp_path / "b" / "trades.csv"
    ).read_bytes()
    a = json.loads((tmp_path / "a" / "report.json").read_text())
    b = json.loads((tmp_path / "b" / "report.json").read_text())
    assert a["performance"] == b["performance"]
    assert a["performance"]["trade_stats"]["trades"] > 10


def test_backtest_reports_bad_parameters_and_data(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["backtest", "-p", "fast=50", "-p", "slow=10", "--no-report"])
    assert r.exit_code != 0
    assert "fast < slow" in r.output
    bad = tmp_path / "bars.csv"
    bad.write_text(
        "ts,open,high,low,close,volume\n1704187860,10,11,9,10,5\n1704187800,10,11,9,10,5\n"
    )
    r = CliRunner().invoke(main, ["backtest", "--data", str(bad), "--no-report"])
    assert r.exit_code != 0
    assert "line 3" in r.output
    r = CliRunner().invoke(main, ["backtest", "-s", "no_such_strategy", "--no-report"])
    assert r.exit_code != 0
    assert "no_such_strategy" in r.output


def test_grid_search_is_deterministic_and_parallel_matches_serial() -> None:
    spec = BacktestSpec(
        data="generated:20000:5",
        risk=None,
        venue={"slippage": "none", "commission_per_share": "0", "commission_minimum": "0"},
    )
    space = {"fast": [5, 10], "slow": [20, 40]}
    frame = load_frame(spec)
    serial = opt.search(spec, opt.grid(space), metric="total_return", workers=1, frame=frame)
    parallel = opt.search(spec, opt.grid(space), metric="total_return", workers=2, frame=frame)
    assert msgspec.json.encode(serial) == msgspec.json.encode(parallel)
    assert len(serial.rows) == 4
    # The best row really is the best: rerun it alone and compare with every other row.
    best = run_spec(spec, frame, params=serial.best.params).performance.total_return
    assert best == serial.best.metrics["total_return"]
    assert all(best >= (r.metrics["total_return"] or -1) for r in serial.rows)


def test_random_sample_is_seeded_and_within_bounds() -> None:
    a = opt.random_sample({"fast": (2, 20), "kind": ["sma", "ema"]}, 10, seed=3)
    assert a == opt.random_sample({"fast": (2, 20), "kind": ["sma", "ema"]}, 10, seed=3)
    assert all(2 <= p["fast"] <= 20 and p["kind"] in ("sma", "ema") for p in a)
    assert len({tuple(p.values()) for p in a}) == len(a)


def test_optimize_cli_writes_table_and_heatmap(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        main,
        [
            "optimize",
            "-g",
            "fast=5,10",
            "-g",
            "slow=20:40:20",
            "--data",
            "generated:10000:2",
            "-j",
            "2",
            "--metric",
            "total_return",
            "-o",
            str(tmp_path),
            *NO_COST,
        ],
    )
    assert r.exit_code == 0, r.output
    assert "best:" in r.output
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert len(rows) == 5
    assert "<svg" in (tmp_path / "heatmap.html").read_text()


def test_walk_forward_runs_out_of_sample_with_in_sample_winners() -> None:
    spec = BacktestSpec(
        data="generated:40000:9", risk=None, venue={"slippage": "none", "commission_minimum": "0"}
    )
    res = opt.walk_forward(
        spec,
        opt.grid({"fast": [5, 10], "slow": [30]}),
        in_sample_days=30,
        out_of_sample_days=15,
        metric="total_return",
        workers=1,
    )
    assert len(res.periods) >= 2
    for p in res.periods:
        assert p.is_end == p.oos_end - 15 * 86_400 * 10**9
        assert p.best_params["fast"] in (5, 10)
        assert "total_return" in p.out_of_sample


def test_backtest_from_imported_bars_matches_the_file(tmp_path: Path) -> None:
    """Bars imported into the embedded database backtest exactly like the same file."""
    from pi5trading.data import random_walk_bars

    d = random_walk_bars(3000, seed=11, market_hours=True)
    csv = tmp_path / "bars.csv"
    lines = ["timestamp,open,high,low,close,volume"]
    for i in range(len(d["ts"])):
        # Files are stamped with the bar's open time (vendor convention).
        lines.append(
            f"{int(d['ts'][i]) - 60 * 10**9},{d['open'][i]:.2f},{d['high'][i]:.2f},"
            f"{d['low'][i]:.2f},{d['close'][i]:.2f},{int(d['volume'][i])}"
        )
    csv.write_text("\n".join(lines) + "\n")
    env = {"PI5_DATA_DIR": str(tmp_path / "data")}
    r = CliRunner(env=env).invoke(main, ["data", "import", str(csv), "-i", "AAA"])
    assert r.exit_code == 0, r.output
    args = ["backtest", "-p", "fast=5", "-p", "slow=20", "--symbol", "AAA", "-q", *NO_COST]
    from_db = CliRunner(env=env).invoke(
        main, [*args, "--data", "db:AAA", "-o", str(tmp_path / "db")]
    )
    from_file = CliRunner(env=env).invoke(
        main, [*args, "--data", str(csv), "-o", str(tmp_path / "f")]
    )
    assert from_db.exit_code == 0, from_db.output
    assert from_file.exit_code == 0, from_file.output
    a = (tmp_path / "db" / "trades.csv").read_text()
    assert a == (tmp_path / "f" / "trades.csv").read_text()
    assert len(a.splitlines()) > 10
    missing = CliRunner(env=env).invoke(main, [*args, "--data", "db:NOPE", "--no-report"])
    assert missing.exit_code != 0
    assert "no 1m bars for 'NOPE'" in missing.output


def test_runs_are_recorded_and_listed() -> None:
    base = ["backtest", "--data", "generated:5000:4", "-q", "--no-report", *NO_COST]
    first = CliRunner().invoke(main, [*base, "-p", "fast=5", "-p", "slow=20"])
    second = CliRunner().invoke(main, [*base, "-p", "fast=8", "-p", "slow=20"])
    assert first.exit_code == 0, first.output
    assert "saved as run" in second.output
    listed = CliRunner().invoke(main, ["runs", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [r["run"]["params"]["params"]["fast"] for r in rows] == [8, 5]  # newest first
    for r in rows:
        assert r["result"]["run_id"] == r["run"]["run_id"]
        assert r["result"]["trades"] > 0
    nosave = CliRunner().invoke(main, [*base, "--no-save"])
    assert "saved as run" not in nosave.output
    assert len(json.loads(CliRunner().invoke(main, ["runs", "--json"]).output)) == 2


def test_a_spec_runs_with_its_risk_limit_overrides() -> None:
    base = BacktestSpec(data="generated:5000:3", risk="default")
    plain = run_spec(base)
    capped = run_spec(msgspec.structs.replace(base, risk_limits={"max_quantity": Decimal(1)}))
    assert len(plain.trades) > 10
    assert [d for d in plain.denials if d.code == "max_quantity"] == []
    # The strategy buys 100 shares: a 1-share cap denies every order, for that reason.
    assert capped.trades == []
    assert capped.denials
    assert {d.code for d in capped.denials} == {"max_quantity"}
    assert capped.meta["risk_limits"] == "max_quantity=1"


def test_a_run_whose_orders_are_mostly_denied_says_which_check_and_the_fix() -> None:
    args = ["backtest", "--data", "generated:5000:3", "--no-report", "--no-save"]
    out = CliRunner(env={"PI5_RISK__MAX_QUANTITY": "1"}).invoke(main, args)
    assert out.exit_code == 0, out.output
    assert "warning: risk denied" in out.output
    assert "by max_quantity" in out.output
    assert "PI5_RISK__MAX_QUANTITY" in out.output
    quiet = CliRunner().invoke(main, args)  # the same run without the cap trades
    assert quiet.exit_code == 0, quiet.output
    assert "warning: risk denied" not in quiet.output


def test_limits_without_a_profile_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="without a risk profile"):
        make_risk(BacktestSpec(risk=None, risk_limits={"max_quantity": Decimal(1)}))
    with pytest.raises(ConfigurationError, match="risk limit max_loss"):
        make_risk(BacktestSpec(risk="default", risk_limits={"max_loss": Decimal(1)}))


def _trades(result: Result) -> int:
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout[result.stdout.index("{") :])
    return int(stats["trade_stats"]["trades"])


def test_backtest_risk_defaults_to_the_configured_settings() -> None:
    args = ["backtest", "--data", "generated:5000:3", "--json", "--no-report", "--no-save"]
    capped = {"PI5_RISK__MAX_QUANTITY": "1"}
    # No --risk: PI5_RISK__* apply, so the 1-share cap stops every 100-share order.
    assert _trades(CliRunner(env=capped).invoke(main, args)) == 0
    # --risk names a profile: it runs as documented, without the overrides.
    assert _trades(CliRunner(env=capped).invoke(main, [*args, "--risk", "default"])) > 10
    assert _trades(CliRunner(env={}).invoke(main, args)) > 10
    bad = CliRunner(env={"PI5_RISK__PROFILE": "yolo"}).invoke(main, args)
    assert bad.exit_code != 0
    assert "PI5_RISK__PROFILE='yolo'" in bad.output


def test_a_recorded_run_keeps_its_risk_overrides(tmp_path: Path) -> None:
    env = {"PI5_DATA_DIR": str(tmp_path), "PI5_RISK__MAX_NOTIONAL": "30000"}
    r = CliRunner(env=env).invoke(
        main, ["backtest", "--data", "generated:2000:3", "-q", "--no-report"]
    )
    assert r.exit_code == 0, r.output
    runs = CliRunner(env=env).invoke(main, ["runs", "--json"])
    assert runs.exit_code == 0, runs.output
    (row,) = json.loads(runs.output)
    assert row["run"]["params"]["risk"] == "default"
    assert row["run"]["params"]["risk_limits"] == {"max_notional": "30000"}


@pytest.mark.parametrize("verb", [["backtest"], ["optimize", "-g", "fast=5,10"]])
def test_an_unwritable_report_folder_is_one_line_before_the_run(
    tmp_path: Path, verb: list[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    r = CliRunner().invoke(
        main,
        [*verb, "-s", "sma_crossover", "--data", "generated:2000:3", "-o", str(blocker / "x")],
    )
    assert r.exit_code == 1, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert "cannot write the report to" in r.output
    assert "--out" in r.output
    assert "Traceback" not in r.output
