"""The trading node beside backtest jobs (issue 17: "the node is untouched" by a job): the
node's feed → order latency (``node_storage_latency.py``'s measure: SQLite, every event
recorded, one bar a millisecond) alone, then with ``--jobs`` CPU-bound backtest jobs
running beside it through ``BacktestJobs`` (the server's job runner, each job a process of
its own, resubmitted as each ends so they run all along), once at niceness 0 (the
server's own priority) and once at ``PI5_BACKTESTS__NICE``'s default. The cases alternate
within each run so a busy machine weighs on all of them alike.

    PYTHONPATH=python:benches:. .venv/bin/python benches/node_isolation.py \
        [--jobs 2] [--runs 3] [--bars 3000]

Prints p50 / p99 / p99.9 per case and run, and the jobs' bars per second (how much work
they got done meanwhile). See docs/RELIABILITY.md "The node beside backtest jobs".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator

from node_databases import load_average, now_utc
from node_storage_latency import fmt, one_run, pct
from pi5trading.backtest.jobs import BacktestJobs
from pi5trading.backtest.spec import BacktestSpec
from pi5trading.config import BacktestsSettings, load_settings
from pi5trading.storage.connect import open_repository, prepare_database

JOB_BARS = 1_000_000
"""Bars of one job: ~4-8 s of a core."""


@contextlib.asynccontextmanager
async def jobs_beside(n: int, nice: int, done: list[int]) -> AsyncIterator[None]:
    """``n`` backtest jobs kept running at niceness ``nice`` until the block ends; ``done``
    gets the bars they ran while the block ran (from their progress reports)."""
    if n == 0:
        yield
        return
    env = {
        "PI5_DATA_DIR": tempfile.mkdtemp(prefix="pi5-isolation-"),
        "PI5_BACKTESTS__WORKERS": str(n),
        "PI5_BACKTESTS__NICE": str(nice),
    }
    settings = load_settings(env, dotenv_path=None)
    repo = await open_repository(settings)
    await prepare_database(settings, repo.driver)
    runner = BacktestJobs(settings, repo)
    spec = BacktestSpec(strategy="bollinger_reversion", data=f"generated:{JOB_BARS}", risk=None)
    stop = asyncio.Event()

    running = [await runner.submit(spec, "bench") for _ in range(n)]
    counted = 0  # bars of finished jobs, since the block began

    async def keep_busy() -> None:
        nonlocal counted
        while not stop.is_set():
            await asyncio.sleep(0.05)
            for i, job in enumerate(running):
                if job.status in ("done", "failed", "cancelled"):
                    if job.status != "done":
                        raise SystemExit(f"a job beside the node {job.status}: {job.error}")
                    counted += job.bars_done
                    running[i] = await runner.submit(spec, "bench")

    task = asyncio.create_task(keep_busy())
    try:
        # Let the jobs' processes start and load their bars first.
        await asyncio.sleep(2.0)
        counted -= sum(j.bars_done for j in running)
        yield
        done.append(counted + sum(j.bars_done for j in running))
    finally:
        stop.set()
        await task
        await runner.close()
        await repo.close()


async def main(args: argparse.Namespace) -> None:
    default_nice = BacktestsSettings().nice
    cases = [("alone", 0, 0), (f"{args.jobs} jobs, nice 0", args.jobs, 0),
             (f"{args.jobs} jobs, nice {default_nice}", args.jobs, default_nice)]  # fmt: skip
    print(
        f"{now_utc()}, {load_average()}: node feed -> order, SQLite, {args.bars:,} bars one "
        f"every ms; jobs: bollinger_reversion on {JOB_BARS:,} generated bars, resubmitted"
    )
    summary: dict[str, list[tuple[float, float, float]]] = {c[0]: [] for c in cases}
    rates: dict[str, list[float]] = {c[0]: [] for c in cases}
    for k in range(args.runs):
        for name, jobs, nice in cases:
            done: list[int] = []
            async with jobs_beside(jobs, nice, done):
                start = time.monotonic()
                r = await one_run("sqlite", None, {"PI5_DATABASE__BATCH_INTERVAL_S": "0.5"}, args)
                took = time.monotonic() - start
            rates[name].append(sum(done) / took)
            ns = r["feed -> order on the bus"]
            summary[name].append(pct(ns))
            print(f"  run {k + 1}, {name} ({load_average()}):")
            print(fmt("feed -> order on the bus", ns), f"(n={len(ns)})")
            if jobs:
                print(f"    the jobs: {sum(done) / took:,.0f} bars/s meanwhile")
    print("\n| case | feed → order p50 (µs) | p99 | p99.9 | jobs' bars/s |")
    print("|---|---|---|---|---|")
    for name, runs in summary.items():
        p50, p99, p999 = (_span([r[i] for r in runs]) for i in range(3))
        rate = _span(rates[name]) if any(rates[name]) else "-"
        print(f"| {name} | {p50} | {p99} | {p999} | {rate} |")


def _span(values: list[float]) -> str:
    """``min-max`` over the runs (one value when they agree)."""
    lo, hi = f"{min(values):,.0f}", f"{max(values):,.0f}"
    return lo if lo == hi else f"{lo}-{hi}"


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=2, help="backtest jobs running beside the node")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--bars", type=int, default=3000, help="bars the node trades in a run")
    args = p.parse_args()
    for name in ("jobs", "runs", "bars"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be 1 or more, got {getattr(args, name)}")
    # What node_storage_latency's one_run reads: one symbol, no other strategies.
    args.symbols, args.strategies, args.every_ms = 1, 0, 1.0
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
