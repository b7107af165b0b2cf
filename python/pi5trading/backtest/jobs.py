"""Backtests as background jobs, for the API: a bounded pool of worker processes that the
node, beside the API, never waits on.

``BacktestJobs`` keeps a queue of specs and runs at most ``workers`` of them at once, each
in a fresh process (``spawn``: nothing of the node's threads and sockets is inherited, a
crash or a kill ends that job only, and a big run's memory goes back to the system when it
ends; with ``PI5_CLUSTER__ADDRESS`` set, that process hands the run to the Dask cluster as
one task, docs/cluster.md). The process reports ``(done, total)`` bars through a pipe,
which an asyncio task reads; a cancel, or a run past its time limit, kills the process. A
finished run writes its report under ``DATA_DIR/reports/`` (with ``result.json``, the
API's charts and trades) and is recorded in the ``backtest_runs`` / ``backtest_results``
tables like the CLI's runs (``pi5trading runs`` lists both). Every job is stored from its
submission on, so after a restart it is still there: one that was queued or running when
its process died is failed "interrupted by a restart".
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import datetime as dt
import logging
import multiprocessing
import os
import resource
import signal
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import msgspec

from pi5trading.backtest.history import new_run_id
from pi5trading.backtest.spec import BacktestSpec, parse_time
from pi5trading.config import Settings
from pi5trading.exceptions import InvalidStateError, Pi5TradingError
from pi5trading.storage.records import BacktestResultRow, BacktestRunRow

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    from pi5trading.engine import BacktestResult
    from pi5trading.storage.protocol import Repository

log = logging.getLogger("pi5trading.backtest.jobs")

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
FINISHED: Final = ("done", "failed", "cancelled")
INTERRUPTED: Final = "interrupted by a restart"
MAX_POINTS: Final = 2000
"""Points of the equity and price series in ``result.json`` (the report's charts' size)."""
MAX_TRADES: Final = 10_000
RESULT_FILE: Final = "result.json"
KEPT: Final = 500
"""Finished jobs kept in memory."""
OOM_SCORE_ADJ: Final = 500
"""A job process's ``oom_score_adj`` (-1000..1000): killed before the node if memory runs out."""
_STORED: Final[dict[str, JobStatus]] = {
    "pending": "queued",
    "running": "running",
    "completed": "done",
    "failed": "failed",
}


class QueueFullError(Pi5TradingError):
    """Too many jobs wait already."""


class Job:
    """One backtest job as the API shows it (mutable while it runs)."""

    def __init__(
        self,
        job_id: str,
        spec: BacktestSpec,
        submitted_by: str,
        created_ns: int,
        *,
        status: JobStatus = "queued",
    ) -> None:
        self.id = job_id
        self.spec = spec
        self.submitted_by = submitted_by
        self.created_ns = created_ns
        self.status: JobStatus = status
        self.started_ns: int | None = None
        self.finished_ns: int | None = None
        self.error: str | None = None
        self.bars_done = 0
        self.bars_total: int | None = None
        self.result: BacktestResultRow | None = None
        self.process: BaseProcess | None = None

    @property
    def progress(self) -> float:
        if self.status == "done":
            return 1.0
        if not self.bars_total:
            return 0.0
        return min(1.0, self.bars_done / self.bars_total)

    @property
    def report(self) -> Path | None:
        """The report folder's ``report.html`` (done jobs)."""
        path = self.result.report_path if self.result is not None else None
        return Path(path) if path else None

    def stored_params(self) -> dict[str, Any]:
        """The spec as the runs table keeps it, with what the job adds under ``job``."""
        doc: dict[str, Any] = msgspec.to_builtins(self.spec, builtin_types=(Decimal,))
        doc["job"] = {
            "submitted_by": self.submitted_by,
            "started_ns": self.started_ns,
            "bars_total": self.bars_total,
            "cancelled": self.status == "cancelled",
        }
        return doc

    def run_row(self) -> BacktestRunRow:
        """The job's row in ``backtest_runs`` before it has a result."""
        start, end = parse_time(self.spec.start) or 0, parse_time(self.spec.end) or 0
        stored = {"queued": "pending", "running": "running", "done": "completed"}
        return BacktestRunRow(
            run_id=self.id,
            name=f"{self.spec.strategy} on {self.spec.instrument}",
            instrument_ids=[self.spec.instrument],
            interval=self.spec.interval or "",
            start_ns=start,
            end_ns=max(start, end),
            initial_cash=self.spec.starting_cash,
            created_ns=self.created_ns,
            strategy_id=self.spec.strategy,
            params=self.stored_params(),
            status=stored.get(self.status, "failed"),
            finished_ns=self.finished_ns,
            error=self.error,
        )


def job_from_row(row: BacktestRunRow, result: BacktestResultRow | None) -> Job:
    """A stored run as a job: the API's jobs and the CLI's runs (``submitted_by`` ``cli``)."""
    params = dict(row.params)
    extra = params.pop("job", None)
    meta: dict[str, Any] = extra if isinstance(extra, dict) else {}
    try:
        spec = msgspec.convert(params, BacktestSpec)
    except msgspec.ValidationError:  # a run recorded by another version: what it says
        spec = BacktestSpec(strategy=row.strategy_id or row.name, data="")
    status = _STORED.get(row.status, "failed")
    if status == "failed" and meta.get("cancelled"):
        status = "cancelled"
    job = Job(row.run_id, spec, str(meta.get("submitted_by", "cli")), row.created_ns, status=status)
    job.started_ns = meta.get("started_ns")
    job.finished_ns = row.finished_ns
    job.error = row.error
    job.bars_total = meta.get("bars_total")
    job.result = result
    if status == "done" and job.bars_total:
        job.bars_done = job.bars_total
    return job


Publish = Callable[[Job], None]


class BacktestJobs:
    """The job queue and its worker processes (see the module doc). ``publish`` hears of
    every change of a job (the API sends it to WebSocket clients)."""

    def __init__(
        self, settings: Settings, repository: Repository, publish: Publish | None = None
    ) -> None:
        self.settings = settings
        self.limits = settings.backtests
        self.repository = repository
        self.publish = publish
        self.jobs: dict[str, Job] = {}
        """Jobs of this process (the stored ones are read from the repository)."""
        self._queue: collections.deque[Job] = collections.deque()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._closing = False

    async def start(self) -> None:
        """Fail the jobs a previous process left queued or running."""
        for row in await self.repository.list_backtest_runs(limit=100_000):
            if row.status in ("pending", "running"):
                job = job_from_row(row, None)
                job.status, job.error = "failed", INTERRUPTED
                job.finished_ns = time.time_ns()
                await self.repository.save_backtest_run(job.run_row())
                log.warning("backtest %s was %s: %s", row.run_id, row.status, INTERRUPTED)

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def submit(self, spec: BacktestSpec, submitted_by: str) -> Job:
        """Queue ``spec`` (checked by the caller); ``QueueFullError`` when too many wait."""
        if self._closing:
            raise InvalidStateError("the server is stopping: no new backtests")
        if len(self._queue) >= self.limits.max_queued and len(self._running) >= self.limits.workers:
            raise QueueFullError(
                f"{len(self._queue)} backtests are waiting already (PI5_BACKTESTS__MAX_QUEUED="
                f"{self.limits.max_queued}): try again when one has finished"
            )
        job = Job(new_run_id(), spec, submitted_by, time.time_ns())
        if spec.data.startswith("generated:"):
            job.bars_total = int(spec.data.split(":")[1])
        await self.repository.save_backtest_run(job.run_row())
        self._forget_old()
        self.jobs[job.id] = job
        self._queue.append(job)
        self._changed(job)
        self._next()
        return job

    async def cancel(self, job_id: str) -> Job:
        """Cancel a queued or running job (its process is killed and gone on return);
        ``KeyError`` for a job not of this process, ``InvalidStateError`` once finished."""
        job = self.jobs[job_id]
        if job.status in FINISHED:
            raise InvalidStateError(f"backtest {job_id} is {job.status} already")
        with contextlib.suppress(ValueError):
            self._queue.remove(job)
        job.status, job.finished_ns = "cancelled", time.time_ns()
        await _stop(job.process)
        await self._save(job)
        self._changed(job)
        return job

    async def close(self) -> None:
        """Stop every worker process and record the unfinished jobs as interrupted."""
        self._closing = True
        waiting = [*self._queue, *(self.jobs[i] for i in self._running)]
        self._queue.clear()
        for task in list(self._running.values()):
            task.cancel()
        for task in list(self._running.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for job in waiting:
            if job.status not in FINISHED:
                job.status, job.error = "failed", f"{INTERRUPTED} (the server stopped)"
                job.finished_ns = time.time_ns()
                await self._save(job)

    def _forget_old(self) -> None:
        """Keep the newest ``KEPT`` finished jobs in memory (the rest are read back from
        storage when asked for), so a server running for months does not grow."""
        finished = [j for j in self.jobs.values() if j.status in FINISHED]
        for job in finished[: max(0, len(finished) - KEPT)]:
            del self.jobs[job.id]

    # -- running --

    def _changed(self, job: Job) -> None:
        if self.publish is not None:
            try:
                self.publish(job)
            except Exception:
                log.exception("backtest %s: publishing its progress failed", job.id)

    def _next(self) -> None:
        while self._queue and len(self._running) < self.limits.workers and not self._closing:
            job = self._queue.popleft()
            self._running[job.id] = asyncio.create_task(self._run(job), name=f"backtest-{job.id}")

    async def _run(self, job: Job) -> None:
        try:
            await self._supervise(job)
        except asyncio.CancelledError:
            await _stop(job.process)
            raise
        except Exception as exc:  # ours, not the run's: the job fails, the API stays up
            log.exception("backtest %s: supervising it failed", job.id)
            await _stop(job.process)
            await self._fail(job, f"the server lost this backtest: {exc}")
        finally:
            self._running.pop(job.id, None)
            self._next()

    async def _supervise(self, job: Job) -> None:
        ctx = multiprocessing.get_context("spawn")
        receive, send = ctx.Pipe(duplex=False)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        folder = Path(self.settings.data_dir) / "reports" / f"{stamp}-{job.spec.strategy}-{job.id}"
        process = ctx.Process(
            target=work,
            args=(
                send,
                job.spec,
                self.settings,
                str(folder),
                job.id,
                self.limits.max_bars,
                os.getpid(),
                self.limits.memory_mb,
                self.limits.nice,
            ),
            name=f"pi5trading-backtest-{job.id}",
            daemon=True,
        )
        # Started before it is said to run: "running" (read by any request from the save
        # on) always has a live process behind it.
        process.start()
        send.close()  # the child's end: EOF here once the child is gone
        job.status, job.started_ns, job.process = "running", time.time_ns(), process
        deadline = time.monotonic() + self.limits.timeout_s
        try:
            await self._save(job)  # inside: a failed save still stops the process
            self._changed(job)
            while job.status == "running":
                left = deadline - time.monotonic()
                if left <= 0:
                    await _stop(process)
                    limit = self.limits.timeout_s
                    await self._fail(
                        job,
                        f"stopped after its time limit of {limit:g} s (PI5_BACKTESTS__TIMEOUT_S)",
                    )
                    return
                message = await asyncio.to_thread(_receive, receive, min(left, 0.5))
                if _finished(job):  # cancelled meanwhile
                    return
                if message is None:
                    continue
                if message == "eof":
                    await asyncio.to_thread(process.join, 5)
                    mb = self.limits.memory_mb
                    cap = f"; its memory limit is {mb:,} MiB (PI5_BACKTESTS__MEMORY_MB)"
                    await self._fail(
                        job,
                        "the backtest's process ended without a result "
                        f"(exit code {process.exitcode}: out of memory, or a crash"
                        f"{cap if mb else ''})",
                    )
                    return
                await self._on_message(job, message)
        finally:
            receive.close()
            await _stop(process)

    async def _on_message(self, job: Job, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "progress":
            job.bars_done, job.bars_total = int(message[1]), int(message[2])
            self._changed(job)
        elif kind == "failed":
            await self._fail(job, str(message[1]))
        elif kind == "done":
            run, result = message[1], message[2]
            job.result = result
            job.status, job.finished_ns = "done", time.time_ns()
            job.bars_done = job.bars_total or job.bars_done
            # The worker's row, with the job's own times and who asked for it.
            stored = msgspec.structs.replace(
                run,
                created_ns=job.created_ns,
                finished_ns=job.finished_ns,
                params=job.stored_params(),
            )
            await self.repository.save_backtest_run(stored)
            await self.repository.save_backtest_result(result)
            self._changed(job)

    async def _fail(self, job: Job, error: str) -> None:
        job.status, job.error, job.finished_ns = "failed", error, time.time_ns()
        await self._save(job)
        self._changed(job)

    async def _save(self, job: Job) -> None:
        """Store the job's state; the database being down loses the update, not the job
        (this process still shows it; a restart finds it unfinished and fails it)."""
        try:
            await self.repository.save_backtest_run(job.run_row())
        except Exception:
            log.exception("backtest %s: its %s state was not stored", job.id, job.status)


def _finished(job: Job) -> bool:
    return job.status in FINISHED


def _receive(conn: Connection, timeout: float) -> Any:
    """The next message, ``None`` after ``timeout`` s, ``"eof"`` once the child is gone."""
    try:
        if not conn.poll(timeout):
            return None
        return conn.recv()
    except (EOFError, OSError):
        return "eof"


async def _stop(process: BaseProcess | None) -> None:
    """Kill ``process`` if it runs and wait until it is gone."""
    if process is None or process.pid is None:
        return
    if process.is_alive():
        process.kill()
    await asyncio.to_thread(process.join, 10)


# -- the worker process --


def work(
    conn: Connection,
    spec: BacktestSpec,
    settings: Settings,
    folder: str,
    run_id: str,
    max_bars: int,
    server: int,
    memory_mb: int = 0,
    nice: int = 0,
) -> None:
    """A job's process: load the bars, run, write the report and ``result.json``, and send
    ``("progress", done, total)``, then ``("done", run_row, result_row)`` or
    ``("failed", message)``. ``server``: the pid of the process it works for;
    ``memory_mb``: its memory limit (0: none); ``nice``: its CPU niceness, at least."""
    # Ctrl-C at a terminal reaches the whole process group: the server decides, not us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with(server)
    _limit_memory(memory_mb)
    _yield_to_the_node(nice)
    try:
        result = _run_job(conn, spec, settings, Path(folder), run_id, max_bars)
        if result[0] == "failed" and memory_mb and "MemoryError" in str(result[1]):
            result = ("failed", _out_of_memory(memory_mb))
        conn.send(result)
    except BrokenPipeError:
        pass  # the server is gone: nobody to tell
    finally:
        conn.close()


def _limit_memory(memory_mb: int) -> None:
    """Cap the data this process may allocate (heap and anonymous mappings: what a
    strategy's lists and arrays take); beyond it allocations fail (``MemoryError``)."""
    if memory_mb <= 0 or not hasattr(resource, "RLIMIT_DATA"):
        return
    limit = memory_mb * 1024 * 1024
    with contextlib.suppress(ValueError, OSError):  # a lower hard limit already: keep it
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def _yield_to_the_node(nice: int) -> None:
    """Run at niceness ``nice`` or more: on a Pi's few cores the node's engine thread
    gets the CPU first when a job would take all of it (docs/RELIABILITY.md). And be the
    kernel's first choice should memory run out anyway (beyond ``RLIMIT_DATA``: page cache,
    other processes): the job, not the trading node, is killed."""
    if nice > 0 and hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):  # already nicer than asked: keep it
            if os.getpriority(os.PRIO_PROCESS, 0) < nice:
                os.setpriority(os.PRIO_PROCESS, 0, nice)
    with contextlib.suppress(OSError):  # not Linux, or /proc not mounted
        adj = Path("/proc/self/oom_score_adj")
        if int(adj.read_text()) < OOM_SCORE_ADJ:
            adj.write_text(str(OOM_SCORE_ADJ))


def _out_of_memory(memory_mb: int) -> str:
    return (
        f"the backtest ran out of its memory limit of {memory_mb:,} MiB "
        "(PI5_BACKTESTS__MEMORY_MB): does the strategy keep data without bound?"
    )


def _die_with(server: int) -> None:
    """End with the server, however it ends (SIGKILL included): on Linux the kernel sends
    this process SIGKILL when its parent goes; elsewhere the next progress report finds the
    pipe broken."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != server:  # it went before the line above
        os._exit(1)


def _run_job(
    conn: Connection,
    spec: BacktestSpec,
    settings: Settings,
    folder: Path,
    run_id: str,
    max_bars: int,
) -> tuple[Any, ...]:
    from pi5trading.backtest.history import run_record
    from pi5trading.backtest.spec import load_data, run_spec, strategy_class
    from pi5trading.exceptions import StrategyError

    try:
        strategy = strategy_class(spec)
        frame, data_report = load_data(spec, settings)
        total = len(frame)
        if total > max_bars:
            return (
                "failed",
                f"{spec.data} has {total:,} bars from start to end: more than the {max_bars:,} "
                "a backtest may run here (PI5_BACKTESTS__MAX_BARS); choose a shorter range",
            )
        conn.send(("progress", 0, total))
        if settings.cluster.address:
            return _run_on_cluster(spec, settings, frame, data_report, folder, run_id)

        def progress(done: int, of: int) -> None:
            conn.send(("progress", done, of))

        result = run_spec(
            spec,
            frame,
            progress=progress,
            progress_every=max(1000, total // 100),
            data_report=data_report,
            strategy=strategy,
            settings=settings,
        )
        result.write_report(folder)
        (folder / RESULT_FILE).write_bytes(msgspec.json.encode(result_document(result)))
        run, res = run_record(spec, result, folder / "report.html", run_id)
        return ("done", run, res)
    except BrokenPipeError:
        raise
    except StrategyError as exc:
        return ("failed", str(exc))
    except (Pi5TradingError, ValueError, OSError) as exc:
        return ("failed", str(exc) or type(exc).__name__)
    except MemoryError:
        return ("failed", "MemoryError")  # worded by ``work``, which knows the limit
    except Exception as exc:
        log.exception("backtest %s failed", run_id)
        return ("failed", f"{type(exc).__name__}: {exc}")


def _run_on_cluster(
    spec: BacktestSpec,
    settings: Settings,
    frame: Any,
    data_report: Any,
    folder: Path,
    run_id: str,
) -> tuple[Any, ...]:
    """The job as one task on the configured cluster (``PI5_CLUSTER__ADDRESS``): the bars
    read here go with it (workers need no database), the report comes back as files and
    is written into ``folder`` here. Progress shows 0 until the run is done."""
    from pi5trading.backtest.cluster import Cluster

    with Cluster.connect(settings.cluster) as cluster:
        run, res, files = cluster.run_report(
            spec, frame, data_report, folder / "report.html", run_id
        )
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return ("done", run, res)


# -- what the API shows of a run --


def _iso(ns: int) -> str:
    t = dt.datetime.fromtimestamp(ns // 1000 / 1e6, tz=dt.UTC)
    return t.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _raw(units: int) -> str:
    from pi5trading.analysis.records import plain

    return plain(Decimal(units).scaleb(-9))


def result_document(result: BacktestResult) -> dict[str, Any]:
    """``result.json``: the equity curve with its drawdown and each instrument's bars, both
    reduced to about ``MAX_POINTS`` (each bucket's first, lowest, highest and last equity;
    the bucket's OHLCV bars), and the trades (at most ``MAX_TRADES``). Money and prices are
    exact decimal strings; the equity curve is the engine's mark-to-market sample, to the
    cent."""
    import numpy as np

    from pi5trading.analysis.charts import reduce_series
    from pi5trading.analysis.performance import drawdown_series
    from pi5trading.analysis.records import EXACT, plain
    from pi5trading.data.bars import interval_ns

    ts, equity = result.curve.arrays()
    drawdown = drawdown_series(equity)
    keep, _ = reduce_series(np.arange(ts.size, dtype=np.int64), equity, MAX_POINTS)
    curve = [
        {"time": _iso(int(ts[i])), "equity": f"{equity[i]:.2f}", "drawdown": f"{drawdown[i]:.6f}"}
        for i in keep.tolist()
    ]
    trades = []
    for t in result.trades[:MAX_TRADES]:
        basis = t.entry_value
        ret = EXACT.divide(t.net_pnl, basis).quantize(Decimal("1e-8")) if basis else Decimal(0)
        trades.append(
            {
                "symbol": t.symbol,
                "side": t.side,
                "quantity": plain(t.quantity),
                "entry_time": _iso(t.entry_ts),
                "entry_price": plain(t.entry_price),
                "exit_time": _iso(t.exit_ts),
                "exit_price": plain(t.exit_price),
                "pnl": plain(t.net_pnl),
                "return": plain(ret),
            }
        )
    step = interval_ns(str(result.meta.get("interval", "1m")))
    price: list[dict[str, Any]] = []
    for symbol, frame in result.bars.items():
        bts, o, h, lo, c, v = frame.raw_columns()
        n = bts.size
        starts = np.unique(np.linspace(0, n, min(n, MAX_POINTS) + 1, dtype=np.int64)[:-1])
        ends = np.append(starts[1:], n)
        highs, lows = np.maximum.reduceat(h, starts), np.minimum.reduceat(lo, starts)
        for k, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            price.append(
                {
                    "symbol": symbol,
                    "time": _iso(int(bts[a]) - step),  # the bucket's first bar opens
                    "open": _raw(int(o[a])),
                    "high": _raw(int(highs[k])),
                    "low": _raw(int(lows[k])),
                    "close": _raw(int(c[b - 1])),
                    "volume": _raw(sum(int(x) for x in v[a:b].tolist())),
                }
            )
    return {"equity": curve, "trades": trades, "trades_total": len(result.trades), "price": price}


def metrics_of(performance: dict[str, Any]) -> dict[str, str | None]:
    """A run's statistics (``backtest_results.metrics``) as ``name: text``: the headline
    figures and the trade statistics, ``None`` where a ratio is undefined."""
    flat: dict[str, Any] = {}
    for k, v in performance.items():
        if isinstance(v, dict):
            if k == "trade_stats":
                flat.update(v)
            continue
        flat[k] = v
    return {k: number_text(v) for k, v in flat.items()}


def number_text(value: Any) -> str | None:
    """A statistic as text: plain decimals, no exponent (``None`` stays ``None``)."""
    from pi5trading.analysis.records import plain

    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int):
        return str(int(value))
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        # 12 significant digits (what a statistic carries that means anything), no exponent.
        return plain(Decimal(format(value, ".12g")))
    return str(value)


__all__ = [
    "FINISHED",
    "INTERRUPTED",
    "RESULT_FILE",
    "BacktestJobs",
    "Job",
    "JobStatus",
    "QueueFullError",
    "job_from_row",
    "metrics_of",
    "number_text",
    "result_document",
    "work",
]
