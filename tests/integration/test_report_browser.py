"""The HTML report opens in a real headless Chromium and its charts render."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np

from pi5trading.analysis import EquityCurve, Trade, analyse, resample_trades, write_report
from tests.browser import ARTIFACTS, count_color, read_png, screenshot

MINUTE = 60 * 10**9
T0 = 1_704_187_800 * 10**9  # 2024-01-02 09:30 UTC


def make_backtest() -> tuple[EquityCurve, list[Trade], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    n = 20_000
    ts = T0 + np.arange(n, dtype=np.int64) * MINUTE * 10  # 10-minute bars over ~5 months
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    trades = []
    for k in range(0, n - 200, 1500):
        entry, exit_ = k + 50, k + 400
        trades.append(
            Trade(
                strategy_id="sma_cross",
                symbol="AAPL",
                side="long",
                quantity=Decimal(100),
                entry_ts=int(ts[entry]),
                entry_price=Decimal(f"{close[entry]:.2f}"),
                exit_ts=int(ts[exit_]),
                exit_price=Decimal(f"{close[exit_]:.2f}"),
                commission=Decimal("2.00"),
            )
        )
    equity = 100_000 + (close - close[0]) * 100
    curve = EquityCurve(ts, equity)
    return curve, trades, ts, close


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    curve, trades, ts, close = make_backtest()
    perf = analyse(curve, trades, starting_equity=100_000.0)
    mc = resample_trades(trades, 100_000.0, simulations=500, seed=1)
    folder = write_report(
        tmp_path / "run",
        title="SMA crossover on AAPL",
        meta={"strategy": "sma_cross", "fast": 10, "slow": 30},
        perf=perf,
        curve=curve,
        trades=trades,
        prices={"AAPL": (ts, close)},
        montecarlo=mc,
    )
    html = (folder / "report.html").read_text()
    assert html.count('<div class="chart">') == 3  # equity, drawdown, price with trades
    assert html.count('class="marker"') == 2 * len(trades)
    assert "Monthly returns" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # offline
    for name in ("report.json", "trades.csv", "equity.csv"):
        assert (folder / name).stat().st_size > 0
    # The long series was reduced, yet the report stays small enough to open on a phone.
    assert len(html) < 1_000_000

    png = screenshot((folder / "report.html").as_uri(), ARTIFACTS / "report.png")
    width, height, rows = read_png(png)
    assert width >= 1000
    assert height >= 2000
    # The equity line (#2563eb) and the trade markers (green #15803d, red #b91c1c) are drawn.
    assert count_color(rows, (0x25, 0x63, 0xEB), 30) > 500
    assert count_color(rows, (0x15, 0x80, 0x3D), 30) > 20 * len(trades) // 2
    assert count_color(rows, (0xB9, 0x1C, 0x1C), 30) > 20
