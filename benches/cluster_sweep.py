"""A parameter sweep on this machine's process pool vs. a Dask cluster of 1 and 2 workers
started here on loopback (``tests/dask_cluster.py``: ``dask scheduler`` + ``dask worker
--nthreads 1 --no-nanny``). Prints runs/s for each, checks that every table is the local
one byte for byte, and the bytes moved per run: the pickled tasks (spec, parameters) and
results (rows) of the sweep's chunks, as Dask sends them (pickle protocol 5; its framing
adds a few dozen bytes a message), with the bars' one-off broadcast to each worker apart.
See docs/PERFORMANCE.md.

    PYTHONPATH=python:. .venv/bin/python benches/cluster_sweep.py [runs] [bars]
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
from tests.dask_cluster import DaskCluster

from pi5trading.backtest import optimise as opt
from pi5trading.backtest.cluster import Cluster, chunk_size, versions
from pi5trading.backtest.spec import BacktestSpec, load_frame
from pi5trading.config import ClusterSettings


def payload(
    spec: BacktestSpec, result: opt.SearchResult, candidates: list[dict[str, Any]], size: int
) -> int:
    """Bytes of the sweep's pickled tasks and results, chunk by chunk."""
    by_params = {msgspec.json.encode(r.params): r for r in result.rows}
    rows = [by_params[msgspec.json.encode(p)] for p in candidates]
    want = versions()
    total = 0
    for start in range(0, len(candidates), size):
        chunk = candidates[start : start + size]
        total += len(pickle.dumps((spec, None, None, want, start, chunk), protocol=5))
        total += len(pickle.dumps((start, rows[start : start + size], None), protocol=5))
    return total


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    bars = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    spec = BacktestSpec(strategy="sma_crossover", data=f"generated:{bars}:7")
    fasts = list(range(5, 5 + 10))
    slows = list(range(30, 30 + 5 * max(1, runs // len(fasts)), 5))
    candidates = opt.grid({"fast": fasts, "slow": slows})[:runs]
    frame = load_frame(spec)
    bars_bytes = len(pickle.dumps(frame, protocol=5))
    print(
        f"{len(candidates)} runs of {spec.strategy} on {len(frame):,} bars "
        f"({bars_bytes / 1e6:.1f} MB of bars pickled); {os.cpu_count()} cores; "
        f"load average {os.getloadavg()[0]:.2f}"
    )

    def local_pool() -> bytes:
        t0 = time.perf_counter()
        local = opt.search(spec, candidates, frame=frame)
        secs = time.perf_counter() - t0
        rate = len(candidates) / secs
        print(f"local pool ({os.cpu_count()} processes): {rate:6.1f} runs/s ({secs:.1f} s)")
        return msgspec.json.encode(local)

    reference = local_pool()

    for n in (1, 2):
        with tempfile.TemporaryDirectory(prefix="pi5-cluster-bench-") as tmp:
            dask = DaskCluster(Path(tmp)).start(workers=n)
            try:
                t0 = time.perf_counter()
                with Cluster.connect(ClusterSettings(address=dask.address)) as cluster:
                    # Warm-up on a small frame: the workers import the engine once.
                    small = load_frame(BacktestSpec(data="generated:2000"))
                    opt.search(spec, candidates[: 2 * n], frame=small, cluster=cluster)
                    warm = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    res = opt.search(spec, candidates, frame=frame, cluster=cluster)
                    secs = time.perf_counter() - t0
                    size = chunk_size(len(candidates), cluster.threads)
            finally:
                dask.close()
        same = msgspec.json.encode(res) == reference
        per_run = payload(spec, res, candidates, size) / len(candidates)
        print(
            f"cluster, {n} worker{'s' if n > 1 else ' '}:    {len(candidates) / secs:6.1f} runs/s "
            f"({secs:.1f} s, after {warm:.1f} s to connect and warm up; chunks of {size}); "
            f"bars {bars_bytes / 1e6:.1f} MB to each worker once, then {per_run:,.0f} bytes "
            "a run (task + result); "
            f"table {'identical' if same else 'DIFFERENT'}"
        )
        if not same:
            raise SystemExit("the cluster's table differs from the local one")
    # Again at the end: the machine is shared, and the spread of the two shows the noise.
    local_pool()
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
