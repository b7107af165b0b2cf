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

NautilusTrader (``peer_nautilus.py``) needs pandas<3, so it cannot share ``.bench-venv``
(pandas 3.1.1); it runs from ``--nautilus-python``, by default ``.bench-venv-nautilus``:

    python3 -m venv .bench-venv-nautilus
    .bench-venv-nautilus/bin/pip install -r benches/side_by_side/requirements-nautilus.txt

If that interpreter is missing or has no ``nautilus_trader``, its row says "not installed".
NautilusTrader fills a market order at the deciding bar's close; ``peer_nautilus.py`` feeds
each bar's open as a trade tick and adds 1 ns of order latency so the order fills at the
next open like everywhere else (see its docstring). Its SMAs are float means of the window,
so it shares backtrader's kind of disagreement: a cross a bar early or late where the
averages are exactly equal in cents.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def run(python: str, script: Path, data: Path, *extra: str, optional: str = "") -> dict[str, Any]:
    """Run one engine. For an ``optional`` one (named by its package), a missing interpreter
    or package gives a "missing" row instead of a failure."""
    if optional and not Path(python).exists():
        return {"engine": script.stem, "missing": f"no interpreter {python}"}
    out = subprocess.run(
        [python, str(script), str(data), *extra], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ""
        if (
            optional
            and last.startswith(("ModuleNotFoundError", "ImportError"))
            and optional in last
        ):
            return {"engine": script.stem, "missing": f"{last} ({python})"}
        return {"engine": script.stem, "error": out.stderr.strip()[-800:]}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def explain(ours: list[list[Any]], peer: list[list[Any]], data: Path) -> str:
    """Classify every fill that differs: at a bar where SMA10 == SMA30 *exactly* (so the
    peer's float averages saw noise or its crossover rule ignores equality), or a
    follow-on (a missed exit keeps a position, so the next entry is skipped, ...)."""
    import numpy as np

    with np.load(data) as z:
        cents = np.rint(z["close"] * 100).astype(np.int64)
    csum = np.concatenate(([0], np.cumsum(cents)))

    def equal_at(i: int) -> bool:
        if i < 29:
            return False
        # 30 * sum10 == 10 * sum30  <=>  SMA10 == SMA30, in exact integers.
        return bool(30 * (csum[i + 1] - csum[i - 9]) == 10 * (csum[i + 1] - csum[i - 29]))

    a = {(f[0], f[1]) for f in ours}
    b = {(f[0], f[1]) for f in peer}
    diff = sorted(a ^ b)
    roots = sum(1 for i, _ in diff if equal_at(i - 1) or equal_at(i - 2))
    return (
        f"{len(diff)} differing fills: {roots} at a bar where the averages were exactly "
        f"equal, {len(diff) - roots} follow-ons of those"
    )


def closed_round_trips(fills: list[list[Any]]) -> list[tuple[Any, ...]]:
    trips = []
    for i in range(0, len(fills) - 1, 2):
        trips.append(tuple(fills[i]) + tuple(fills[i + 1]))
    return trips


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--peer-python", default=str(HERE.parents[1] / ".bench-venv/bin/python"))
    ap.add_argument(
        "--nautilus-python", default=str(HERE.parents[1] / ".bench-venv-nautilus/bin/python")
    )
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
    engines: list[tuple[str, Path, tuple[str, ...], str]] = [
        (a.our_python, HERE / "ours.py", (), ""),
        (a.our_python, HERE / "ours.py", ("--on-bar",), ""),
        (a.peer_python, HERE / "peer_backtesting.py", (), ""),
        (a.peer_python, HERE / "peer_backtrader.py", (), ""),
        (a.nautilus_python, HERE / "peer_nautilus.py", (), "nautilus_trader"),
    ]
    results = [run(py, s, data, *extra, optional=opt) for py, s, extra, opt in engines]

    ok = [r for r in results if "error" not in r and "missing" not in r]
    for r in ok:
        r["bars_per_s"] = r["bars"] / r["seconds"]
    peers = [r for r in ok if not r["engine"].startswith("pi5trading")]
    # Fills are compared with pi5trading's (its exact SMAs define a cross unambiguously).
    fastest_peer = max((r["bars_per_s"] for r in peers), default=None)
    reference = closed_round_trips(ok[0]["fills"]) if ok else []
    print(f"SMA 10/30 crossover, {a.bars:,} one-minute bars\n")
    print(f"{'engine':<40}{'bars/s':>12}{'peak RSS MB':>14}{'vs fastest peer':>17}  trades agree")
    for r in results:
        if "missing" in r:
            print(f"{r['engine']:<40}  not installed: {r['missing']}")
            continue
        if "error" in r:
            print(f"{r['engine']:<40}  failed: {r['error'].splitlines()[-1] if r['error'] else ''}")
            continue
        trips = closed_round_trips(r["fills"])
        n = min(len(trips), len(reference))
        agree = trips[:n] == reference[:n]
        ratio = r["bars_per_s"] / fastest_peer if fastest_peer else float("nan")
        print(
            f"{r['engine']:<40}{r['bars_per_s']:>12,.0f}{r['peak_rss_mb']:>14,.1f}"
            f"{ratio:>16.2f}x  {'yes' if agree else 'NO'} ({len(trips)} round trips)"
        )
        if not agree and ok:
            print(f"{'':<40}{explain(ok[0]['fills'], r['fills'], data)}")
    if a.json:
        for r in ok:
            r.pop("fills", None)
        a.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
