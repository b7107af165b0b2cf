"""The same backtest twice gives byte-identical report files (issue 17 "determinism").

Each run is its own `pi5trading backtest` process with its own ``PYTHONHASHSEED`` (set and
dict order, ids, anything seeded from the process would show), on a realistic venue
(slippage, commissions, latency, partial fills), a margin account with shorts, a user
strategy file sending every simple order kind from a seeded generator, risk on, and the
Monte Carlo resamples the report includes. Every file in the report folder is compared,
byte for byte: report.json, report.html, trades.csv, equity.csv.

What legitimately differs between the two runs is outside the folder: the run id (random,
printed and recorded in the database, naming the folder only when ``-o`` is not given)
and the database row's time. The folder's contents hold neither.

The long version (a bigger data set, more resamples) is ``make proof``
(``PROOF_BARS``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BARS = int(os.environ.get("PROOF_BARS", "6000"))
RESAMPLES = os.environ.get("PROOF_RESAMPLES", "200")
REPORT_FILES = {"report.json", "report.html", "trades.csv", "equity.csv"}

STRATEGY = '''
from decimal import Decimal

import numpy as np

from pi5trading.indicators import SMA
from pi5trading.model import Bar
from pi5trading.strategies.base import Strategy, StrategyConfig


class Chaos(Strategy):
    """Every simple order kind, from a seeded generator."""

    class Config(StrategyConfig):
        seed: int = 0

    def on_start(self) -> None:
        self.rng = np.random.default_rng(self.config.seed)
        self.sma = self.indicator(SMA(5))

    def on_bar(self, bar: Bar) -> None:
        roll = self.rng.random()
        px = bar.close.as_decimal()
        qty = int(self.rng.integers(1, 60))
        if roll < 0.15:
            self.buy(qty)
        elif roll < 0.3:
            self.sell(qty)
        elif roll < 0.42:
            self.buy(qty, limit=(px * Decimal("0.997")).quantize(Decimal("0.01")))
        elif roll < 0.5:
            self.sell(qty, stop=(px * Decimal("0.99")).quantize(Decimal("0.01")))
        elif roll < 0.55:
            self.close_position()
'''


def _run(tmp: Path, name: str, seed: str, strategy: Path) -> Path:
    out = tmp / name
    env = {**os.environ, "PYTHONHASHSEED": seed, "PI5_DATA_DIR": str(tmp / f"data-{name}")}
    cmd = [
        sys.executable, "-m", "pi5trading", "backtest",
        "-s", f"{strategy}:Chaos", "-p", "seed=11",
        "--data", f"generated:{BARS}:5",
        "--venue", "realistic", "--latency-ns", "1500000000", "--participation", "0.5",
        "--account", "margin", "--allow-short", "--monte-carlo", RESAMPLES,
        "--equity-resolution", "bar", "-q", "-o", str(out),
    ]  # fmt: skip
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def test_the_same_backtest_twice_writes_identical_bytes(tmp_path: Path) -> None:
    strategy = tmp_path / "chaos.py"
    strategy.write_text(STRATEGY)
    a = _run(tmp_path, "a", "1", strategy)
    b = _run(tmp_path, "b", "2", strategy)
    names = {p.name for p in a.iterdir()}
    assert names == {p.name for p in b.iterdir()}
    assert names >= REPORT_FILES, names
    for name in sorted(names):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    # Not identical because empty: orders of every kind were filled and resampled.
    trades = (a / "trades.csv").read_text().splitlines()
    assert len(trades) > 20, trades[:3]
    assert "Monte Carlo" in (a / "report.html").read_text()
