"""The traded instrument as a user sets it: options, the instruments table for imported
data, or the data itself, with a note on what was inferred (issue 11, real data)."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from pi5trading.backtest.spec import BacktestSpec, _instrument_row, run_spec
from pi5trading.cli import main
from tests.unit.backtest.test_spec_data import yahoo_file


@pytest.fixture(autouse=True)
def _fresh_table_cache() -> None:
    _instrument_row.cache_clear()  # each test has its own database


def _run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    runner = CliRunner(env={"PI5_DATA_DIR": str(tmp_path / "data")})
    base = ["backtest", "--interval", "1d", "--risk", "none", "--no-save", "--no-report"]
    out = runner.invoke(main, [*base, "--json", *args])
    return out.exit_code, out.stdout, out.stderr


def test_a_six_decimal_file_trades_on_its_own_tick_with_a_note(tmp_path: Path) -> None:
    yahoo_file(tmp_path / "AAPL.csv")
    code, _, err = _run(tmp_path, "--data", str(tmp_path / "AAPL.csv"))
    assert code == 0, err
    assert "note: tick 0.000001 taken from the data's 6-decimal prices (--tick sets it)" in err


def test_options_set_the_instrument(tmp_path: Path) -> None:
    yahoo_file(tmp_path / "BTC.csv")
    args = ["--data", str(tmp_path / "BTC.csv"), "--tick", "0.000001", "--lot", "0.001"]
    args += ["--currency", "EUR", "--asset-class", "crypto", "--calendar", "24/7"]
    args += ["-p", "quantity=0.5"]
    code, _, err = _run(tmp_path, *args)
    assert code == 0, err
    assert "tick" not in err  # nothing inferred about the instrument
    spec = BacktestSpec(
        data=str(tmp_path / "BTC.csv"),
        interval="1d",
        risk=None,
        tick=Decimal("0.000001"),
        lot=Decimal("0.001"),
        currency="EUR",
        asset_class="crypto",
        calendar="24/7",
        params={"quantity": Decimal("0.5")},
    )
    meta = run_spec(spec).meta["instrument"]
    assert meta.startswith("BTC (CRYPTO, EUR, tick 0.000001, lot 0.001) from ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tick", "abc"], "'abc' is not a number"),
        (["--tick", "0"], "'0' must be a number > 0"),
        (["--lot", "-1"], "'-1' must be a number > 0"),
        (["--asset-class", "stocks"], "'stocks' is not one of"),
        (["--currency", "dollars!"], "currency"),
    ],
)
def test_bad_instrument_options_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    yahoo_file(tmp_path / "AAPL.csv")
    code, out, err = _run(tmp_path, "--data", str(tmp_path / "AAPL.csv"), *args)
    assert code != 0
    assert message in err
    assert "Traceback" not in err + out


def test_imported_data_brings_its_tick_to_the_table_and_the_backtest(tmp_path: Path) -> None:
    yahoo_file(tmp_path / "AAPL.csv")
    runner = CliRunner(env={"PI5_DATA_DIR": str(tmp_path / "data")})
    imp = runner.invoke(
        main, ["data", "import", str(tmp_path / "AAPL.csv"), "-i", "AAPL.XNAS", "--interval", "1d"]
    )
    assert imp.exit_code == 0, imp.output
    db = sqlite3.connect(tmp_path / "data" / "pi5trading.db")
    (tick,) = db.execute(
        "SELECT price_increment FROM instruments WHERE instrument_id = 'AAPL.XNAS'"
    ).fetchone()
    db.close()
    assert str(tick) in ("0.000001", "1e-06", "1E-6")
    code, _, err = _run(tmp_path, "--data", "db:AAPL.XNAS")
    assert code == 0, err
    assert "tick" not in err  # the table's tick fits the data: nothing to infer


def test_a_coarser_tick_than_the_data_is_traded_not_refused(tmp_path: Path) -> None:
    yahoo_file(tmp_path / "AAPL.csv")
    code, _, err = _run(tmp_path, "--data", str(tmp_path / "AAPL.csv"), "--tick", "0.01")
    assert code == 0, err
    assert "note: prices have 6 decimals, finer than the tick 0.01" in err
    assert "order prices are rounded to the tick" in err


def _sub_cent_minutes(path: Path, n: int = 1500) -> None:
    """One-minute bars of a sub-dollar stock quoted in 0.0001 (a sub-penny tick), in New
    York hours, as a vendor writes them: ISO times, four-decimal prices."""
    import datetime as dt

    import numpy as np

    rng = np.random.default_rng(11)
    close = np.round(0.85 * np.exp(np.cumsum(rng.normal(0, 0.002, n))), 4)
    rows = ["timestamp,open,high,low,close,volume"]
    t = dt.datetime(2024, 3, 4, 14, 30, tzinfo=dt.UTC)  # 09:30 New York
    prev = close[0]
    for c in close:
        o = prev
        hi, lo = max(o, c) + 0.0002, min(o, c) - 0.0002
        rows.append(f"{t.isoformat()},{o:.4f},{hi:.4f},{lo:.4f},{c:.4f},{rng.integers(1e4, 1e6)}")
        prev = c
        t += dt.timedelta(minutes=1)
        if t.hour == 21:  # 16:00 New York: the next day's open
            t += dt.timedelta(hours=17, minutes=30)
    path.write_text("\n".join(rows) + "\n")


def test_an_intraday_sub_cent_file_backtests_from_the_cli(tmp_path: Path) -> None:
    _sub_cent_minutes(tmp_path / "PENNY.csv")
    runner = CliRunner(env={"PI5_DATA_DIR": str(tmp_path / "data")})
    args = ["backtest", "--data", str(tmp_path / "PENNY.csv"), "--no-save", "--json"]
    args += ["--out", str(tmp_path / "report"), "-p", "quantity=500"]
    out = runner.invoke(main, args)  # the default risk profile, New York hours
    assert out.exit_code == 0, out.output
    assert "note: tick 0.0001 taken from the data's 4-decimal prices" in out.stderr
    assert "warning: risk denied" not in out.stderr
    stats = json.loads(out.stdout)
    assert stats["trade_stats"]["trades"] > 5
    trades = (tmp_path / "report" / "trades.csv").read_text().splitlines()
    assert trades[0].startswith("strategy_id,symbol,")
    assert all(",PENNY," in row for row in trades[1:])
