"""Side-by-side benchmark: the same SMA 10/30 crossover on the same bars in several engines.

Each engine runs in its own process (so peak memory is its own) on the shared data set from
``data.py``; this script prints bars/s, peak RSS, the speed ratio to the fastest peer and
whether the fills agree bar for bar. Peers run from the virtualenv given by ``--peer-python``
(``make bench-peers`` builds it); pi5trading runs from this project's virtualenv once its
backtest runner exists (``ours.py``).

Rules of the comparison: long-only, 100 units, no commission or slippage, a market order
decided on a bar's close fills at the next bar's open; an open position at the end is not
counted (engines differ in whether they force-close it).

Known disagreement between the peers (measured on the 100k-bar set): backtrader's CrossOver
remembers the last non-zero difference, so fast going above -> equal -> below is a cross;
backtesting.py's ``crossover`` compares only the last two bars and misses it (first seen at
bar 2443, where SMA10 == SMA30 == 91.614 exactly on the bar before). pi5trading's exact
SMAs make the equality exact, and its crossover follows backtrader's definition.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def run(python: str, script: Path, data: Path) -> dict[str, Any]:
    out = subprocess.run(
        [python, str(script), str(data)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        return {"engine": script.stem, "error": out.stderr.strip()[-800:]}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def closed_round_trips(fills: list[list[Any]]) -> list[tuple[Any, ...]]:
    trips = []
    for i in range(0, len(fills) - 1, 2):
        trips.append(tuple(fills[i]) + tuple(fills[i + 1]))
    return trips


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--peer-python", default=str(HERE.parents[1] / ".bench-venv/bin/python"))
    ap.add_argument("--our-python", default=sys.executable)
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp"))
    ap.add_argument("--json", type=Path, help="also write the results here")
    a = ap.parse_args()

    data = a.data_dir / f"pi5-bench-bars-{a.bars}.npz"
    if not data.exists():
        subprocess.run(
            [a.peer_python, str(HERE / "data.py"), "--bars", str(a.bars), "--out", str(data)],
            check=True,
        )
    engines = [
        (a.peer_python, HERE / "peer_backtesting.py"),
        (a.peer_python, HERE / "peer_backtrader.py"),
    ]
    if (HERE / "ours.py").exists():
        engines.insert(0, (a.our_python, HERE / "ours.py"))
    results = [run(py, script, data) for py, script in engines]

    ok = [r for r in results if "error" not in r]
    for r in ok:
        r["bars_per_s"] = r["bars"] / r["seconds"]
    peers = [r for r in ok if not r["engine"].startswith("pi5trading")]
    fastest_peer = max((r["bars_per_s"] for r in peers), default=None)
    reference = closed_round_trips(ok[0]["fills"]) if ok else []
    print(f"SMA 10/30 crossover, {a.bars:,} one-minute bars\n")
    print(f"{'engine':<28}{'bars/s':>14}{'peak RSS MB':>14}{'vs fastest peer':>17}  trades agree")
    for r in results:
        if "error" in r:
            print(f"{r['engine']:<28}  failed: {r['error'].splitlines()[-1] if r['error'] else ''}")
            continue
        trips = closed_round_trips(r["fills"])
        n = min(len(trips), len(reference))
        agree = trips[:n] == reference[:n]
        ratio = r["bars_per_s"] / fastest_peer if fastest_peer else float("nan")
        print(
            f"{r['engine']:<28}{r['bars_per_s']:>14,.0f}{r['peak_rss_mb']:>14,.1f}"
            f"{ratio:>16.2f}x  {'yes' if agree else 'NO'} ({len(trips)} round trips)"
        )
    if a.json:
        for r in ok:
            r.pop("fills", None)
        a.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
