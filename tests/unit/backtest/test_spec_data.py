"""Backtests on real-looking files through ``run_spec``: exact prices into the engine, the
tick taken from the data, bad files refused with their line."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from pi5trading.backtest.spec import BacktestSpec, data_instrument, load_frame, run_spec
from pi5trading.data import BarDataError

NO_COST = {"slippage": "none", "commission_per_share": "0", "commission_minimum": "0"}


def yahoo_file(path: Path, days: int = 260, seed: int = 3) -> list[list[str]]:
    """Daily bars like Yahoo's adjusted data: six decimals, an Adj Close column."""
    rng = np.random.default_rng(seed)
    close = 150 * np.exp(np.cumsum(rng.normal(0, 0.015, days)))
    rows = []
    day = dt.date(2023, 1, 2)
    for c in close:
        o = c * (1 + rng.normal(0, 0.004))
        hi, lo = max(o, c) * 1.006, min(o, c) * 0.994
        rows.append([day.isoformat(), *(f"{x:.6f}" for x in (o, hi, lo, c, c * 0.98)), "1000"])
        day += dt.timedelta(days=1)
    header = "Date,Open,High,Low,Close,Adj Close,Volume"
    path.write_text(header + "\n" + "\n".join(",".join(r) for r in rows) + "\n")
    return rows


def test_six_decimal_daily_file_backtests_with_exact_prices(tmp_path: Path) -> None:
    path = tmp_path / "aapl.csv"
    rows = yahoo_file(path)
    spec = BacktestSpec(
        data=str(path),
        interval="1d",
        params={"fast": 5, "slow": 20},
        risk=None,
        venue=NO_COST,
    )
    frame = load_frame(spec)
    assert frame.price_decimals == 6
    assert str(data_instrument("SIM", frame).tick_size) == "0.000001"
    result = run_spec(spec, frame)
    assert len(result.fills) > 4
    # Market orders fill at the next open: each fill price is a file's open, to the digit.
    opens = {Decimal(r[1]) for r in rows}
    for fill in result.fills:
        assert Decimal(fill.price_raw).scaleb(-9) in opens


def test_cent_data_keeps_the_cent_tick(tmp_path: Path) -> None:
    spec = BacktestSpec(data="generated:500")
    assert str(data_instrument("SIM", load_frame(spec)).tick_size) == "0.01"


def test_bad_file_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "aapl.csv"
    yahoo_file(path, days=30)
    lines = path.read_text().splitlines()
    lines[17] = lines[17].split(",")[0] + ",null,null,null,null,null,null"
    path.write_text("\n".join(lines) + "\n")
    spec = BacktestSpec(data=str(path), interval="1d", risk=None)
    with pytest.raises(
        BarDataError, match=r"aapl\.csv: line 18: Open: not a number \(value 'null'\)$"
    ):
        load_frame(spec)
    repaired = load_frame(BacktestSpec(data=str(path), interval="1d", data_policy="repair"))
    assert len(repaired) == 29
    assert 18 not in repaired.lines.tolist()


@pytest.mark.parametrize(
    ("data", "symbol"),
    [
        ("bars/AAPL.csv", "AAPL"),
        ("aapl_1m.parquet", "AAPL"),
        ("BTCUSDT-1m-2024-01.csv", "BTCUSDT"),
        ("EURUSD M1.csv", "EURUSD"),
        ("db:MSFT", "MSFT"),
        ("generated:500:3", "SIM"),
        ("ünïcode.csv", "SIM"),  # not a valid symbol: the neutral name, never an error
    ],
)
def test_a_spec_names_its_instrument_after_the_data(data: str, symbol: str) -> None:
    assert BacktestSpec(data=data).symbol == symbol
    assert BacktestSpec(data=data, symbol="X").symbol == "X"  # an explicit one wins


def test_a_file_backtest_is_labelled_with_its_instrument(tmp_path: Path) -> None:
    yahoo_file(tmp_path / "AAPL.csv")
    spec = BacktestSpec(data=str(tmp_path / "AAPL.csv"), interval="1d", risk=None)
    result = run_spec(spec)
    assert result.meta["symbols"] == ["AAPL"]
    assert {f.symbol for f in result.fills} == {"AAPL"}
