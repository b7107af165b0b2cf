"""Short smoke of the aarch64 wheel, run by scripts/dev/aarch64_smoke.sh under qemu."""

import os
import platform
from decimal import Decimal

import numpy as np

import pi5trading._core as c
from pi5trading.data import BarFrame, random_walk_bars
from pi5trading.engine import BacktestRunner
from pi5trading.strategies import MovingAverageCrossover

info = c.build_info()
print(f"python {platform.python_version()} on {platform.machine()}, numpy {np.__version__}")
print(f"build_info: {info}")
# SMOKE_ARCH lets the same script be checked natively (e.g. SMOKE_ARCH=x86_64).
want = os.environ.get("SMOKE_ARCH", "aarch64")
assert platform.machine() == want, platform.machine()
assert info["target_arch"] == want, info
print(f"_core loaded from {c.__file__}")

# Exact fixed-point arithmetic (0.1 + 0.2 is 0.3, not 0.30000000000000004).
p = c.Price("0.1") + c.Price("0.2")
assert p == c.Price("0.3"), p
assert str(c.Price("1.10") * 3) == "3.30", c.Price("1.10") * 3
print(f"Price: 0.1 + 0.2 = {p}; 1.10 * 3 = {c.Price('1.10') * 3}")

# Indicator: exact SMA of 1..5 over a window of 3 is 4.
sma = c.SMA(3)
for x in (1, 2, 3, 4, 5):
    sma.update(float(x))
assert sma.is_ready
assert sma.value == 4.0, sma.value
print(f"SMA(3) over 1..5 = {sma.value}")

# A tiny backtest through the Python runner (loop in Rust), no risk engine.
bars = BarFrame.from_columns(random_walk_bars(1000, seed=7, volatility=0.002), "smoke")
runner = BacktestRunner(starting_cash=Decimal(100_000), risk=None)
runner.add_bars("AAA", bars)
runner.add_strategy(MovingAverageCrossover({"fast": 5, "slow": 20, "quantity": 10}))
result = runner.run()
assert len(result.curve.equity) == len(bars), (len(result.curve.equity), len(bars))
assert result.fills, "no fills"
print(
    f"BacktestRunner: {len(bars)} bars, {len(result.fills)} fills, {len(result.trades)} trades, "
    f"final equity {result.curve.equity[-1]:.2f}"
)
print(f"{want} smoke OK")
