"""Instructions per bar of a backtest's run loop, counted by callgrind (deterministic).

Wall time on a shared machine moves by 1.5-2x from one minute to the next; the number of
instructions the run executes does not, so small changes to the per-bar path are compared
with this. It runs ``benches/bench_backtest.py``'s cases (same strategies, same 200,000
random-walk bars) under ``valgrind --tool=callgrind`` with collection switched on inside
``Engine.run`` only (not the data, the imports or the results), and prints the count
divided by the number of bars::

    PYTHONPATH=python .venv/bin/python benches/instructions_per_bar.py            # all three
    PYTHONPATH=python .venv/bin/python benches/instructions_per_bar.py on_bar cross

The Python parts move by ~±20 instructions per bar with the hash seed; the script pins
``PYTHONHASHSEED=0``. Needs ``valgrind`` on the PATH (apt-get install valgrind).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

CASES = ("on_bar", "cross", "vectorised")


def _child(case: str) -> None:
    """Run one bench case once (under callgrind: only ``Engine.run`` is counted)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_backtest as b

    if case == "on_bar":
        b.run(b.OnBar())
    elif case == "cross":
        b.run(b.MovingAverageCrossover({"fast": 10, "slow": 30, "quantity": 100}))
    else:
        import numpy as np

        from pi5trading.engine import BacktestRunner, run_vectorised

        target = np.where(b.DATA.close > np.median(b.DATA.close), 100, 0)
        r = BacktestRunner(venue=b.venue(), risk=None)
        r.add_bars("SIM", b.DATA)
        run_vectorised(r, "SIM", target)


def count(case: str) -> int:
    """Instructions callgrind counted inside ``Engine.run`` for one run of ``case``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        env = dict(os.environ, PYTHONHASHSEED="0")
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                "--toggle-collect=*__pymethod_run__*",
                sys.executable,
                __file__,
                "--child",
                case,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    m = re.search(r"Collected : (\d+)", proc.stderr)
    if m is None:
        raise RuntimeError(f"no count in callgrind's output:\n{proc.stderr[-2000:]}")
    return int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="*", metavar="case", help=f"of {', '.join(CASES)} (all)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child)
        return
    unknown = set(args.cases) - set(CASES)
    if unknown:
        ap.error(f"unknown case {sorted(unknown)[0]!r}: one of {', '.join(CASES)}")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_backtest import BARS

    for case in args.cases or CASES:
        n = count(case)
        print(f"{case:<11} {n:>13,} instructions  {n / BARS:>8,.0f} per bar ({BARS:,} bars)")


if __name__ == "__main__":
    main()
