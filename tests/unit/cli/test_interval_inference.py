"""The bar interval comes from the data when the user does not give it (issue 11: a daily
file run without ``--interval`` was read as one-minute bars stamped at 00:01 UTC, and the
default risk profile denied every order as outside trading hours)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pi5trading.cli import main
from pi5trading.data import infer_interval

MIN = 60 * 10**9
DAY = 86_400 * 10**9


def _weekday_file(path: Path, days: int = 300) -> None:
    """A Yahoo-style daily file (dates only, six decimals, Adj Close), weekdays only."""
    rng = np.random.default_rng(7)
    price, day, rows = 150.0, dt.date(2022, 1, 3), []
    while len(rows) < days:
        if day.weekday() < 5:
            close = price * (1 + rng.normal(0, 0.015))
            hi, lo = max(price, close) * 1.004, min(price, close) * 0.996
            cols = (price, hi, lo, close, close * 0.98)
            rows.append(f"{day},{','.join(f'{x:.6f}' for x in cols)},1000000")
            price = close
        day += dt.timedelta(days=1)
    path.write_text("Date,Open,High,Low,Close,Adj Close,Volume\n" + "\n".join(rows) + "\n")


@pytest.mark.parametrize(
    ("ts", "label"),
    [
        ([0, MIN, 2 * MIN, 5 * MIN, 6 * MIN, 6 * MIN, 7 * MIN], "1m"),  # a gap, a duplicate
        ([i * 5 * MIN for i in range(10)], "5m"),
        ([i * 60 * MIN for i in range(10)], "1h"),
        ([0, DAY, 2 * DAY, 3 * DAY, 4 * DAY, 7 * DAY, 8 * DAY, 9 * DAY], "1d"),  # a weekend
        ([i * 7 * DAY for i in range(5)], "7d"),
        ([0, 30 * 10**9, 60 * 10**9], "30s"),
    ],
)
def test_the_usual_step_is_the_interval(ts: list[int], label: str) -> None:
    assert infer_interval(np.array(ts, dtype=np.int64)) == label


@pytest.mark.parametrize("ts", [[], [5], [3, 3], [0, 1_500_000_000, 3_000_000_000]])
def test_no_interval_when_the_timestamps_cannot_tell(ts: list[int]) -> None:
    assert infer_interval(np.array(ts, dtype=np.int64)) is None


def _cli(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    runner = CliRunner(env={"PI5_DATA_DIR": str(tmp_path / "data")})
    out = runner.invoke(main, list(args))
    return out.exit_code, out.stdout, out.stderr


def test_a_daily_file_trades_under_the_default_profile_without_interval(tmp_path: Path) -> None:
    _weekday_file(tmp_path / "AAPL.csv")
    args = ["backtest", "-s", "sma_crossover", "--data", str(tmp_path / "AAPL.csv")]
    code, out, err = _cli(tmp_path, *args, "--json", "--no-save", "--no-report")
    assert code == 0, err
    assert "interval 1d taken from the timestamps (--interval sets it)" in err
    assert "outside_trading_hours" not in err
    assert json.loads(out)["trade_stats"]["trades"] > 0


def test_an_interval_given_is_used_as_given(tmp_path: Path) -> None:
    _weekday_file(tmp_path / "AAPL.csv")
    args = ["backtest", "-s", "sma_crossover", "--data", str(tmp_path / "AAPL.csv")]
    code, _, err = _cli(tmp_path, *args, "--interval", "1d", "--no-save", "--no-report")
    assert code == 0, err
    assert "taken from the timestamps" not in err


def test_import_takes_the_interval_from_the_file_and_db_backtests_find_it(
    tmp_path: Path,
) -> None:
    _weekday_file(tmp_path / "AAPL.csv")
    code, out, err = _cli(tmp_path, "data", "import", str(tmp_path / "AAPL.csv"), "-i", "AAPL")
    assert code == 0, err
    assert "note: interval 1d taken from the timestamps" in err
    assert "interval 1d" in out
    code, _, err = _cli(tmp_path, "backtest", "-s", "sma_crossover", "--data", "db:AAPL")
    assert code == 0, err
    assert "outside_trading_hours" not in err


def test_several_stored_intervals_ask_the_user_to_choose(tmp_path: Path) -> None:
    _weekday_file(tmp_path / "AAPL.csv")
    for interval in ("1d", "1h"):
        args = ["data", "import", str(tmp_path / "AAPL.csv"), "-i", "AAPL"]
        code, _, err = _cli(tmp_path, *args, "--interval", interval)
        assert code == 0, err
    code, _, err = _cli(tmp_path, "backtest", "-s", "sma_crossover", "--data", "db:AAPL")
    assert code != 0
    assert "several intervals in the database (1h, 1d): choose one with --interval" in err


def test_a_one_bar_file_imports_as_1m_and_says_it_assumed_so(tmp_path: Path) -> None:
    f = tmp_path / "one.csv"
    f.write_text("ts,open,high,low,close,volume\n1767225600,1.5,2,1,1.75,10\n")
    code, out, err = _cli(tmp_path, "data", "import", str(f), "-i", "EURUSD.SIM")
    assert code == 0, err
    assert f"note: interval 1m assumed: {f} has one timestamp (--interval sets it)" in err
    assert "imported 1 new bars" in out


def test_irregular_sub_second_stamps_ask_for_the_interval(tmp_path: Path) -> None:
    f = tmp_path / "odd.csv"
    rows = [f"{1767225600000 + i * 1500},1.5,2,1,1.75,10" for i in range(3)]
    f.write_text("ts,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    code, _, err = _cli(tmp_path, "data", "import", str(f), "-i", "X.SIM")
    assert code != 0
    assert "cannot tell the bar interval from the timestamps (give it with --interval" in err
    assert not (tmp_path / "data" / "pi5trading.db").exists()
