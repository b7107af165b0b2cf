"""The shared data set of the side-by-side benchmark.

It is pi5trading's own generator (``python/pi5trading/data/synthetic.py``, NumPy only),
loaded by path so the peer engines' virtualenv needs no pi5trading install.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np

_SRC = Path(__file__).resolve().parents[2] / "python/pi5trading/data/synthetic.py"


def _synthetic():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("pi5_synthetic", _SRC)
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    np.savez(a.out, **_synthetic().random_walk_bars(a.bars, seed=a.seed))


if __name__ == "__main__":
    main()
