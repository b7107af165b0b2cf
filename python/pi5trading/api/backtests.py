"""Backtests as background jobs: submit, follow the progress, cancel, read the result and
the HTML report, compare runs.

A job runs in a worker process of its own (``pi5trading.backtest.jobs``): the node beside
the API never waits on one. Data is chosen by name only — ``db:<symbol>`` (stored bars) or
``generated:<bars>[:<seed>]`` (a seeded random walk) — never a file path of the server.
Parameters are checked by the strategy's ``Config`` exactly as for a live instance, before
anything is queued. Finished runs are the ``backtest_runs`` table's, like the CLI's
(``pi5trading runs`` lists both, and so does ``GET /api/v1/backtests``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import anyio
import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED

from pi5trading.api.audit import audit
from pi5trading.api.errors import Problem
from pi5trading.api.node_access import node_command, repository_of
from pi5trading.api.remote import Handler
from pi5trading.api.roles import ANYONE, TRADER
from pi5trading.api.security.tokens import Identity
from pi5trading.api.timefmt import iso, parse_iso
from pi5trading.api.trading import Page
from pi5trading.backtest.jobs import (
    FINISHED,
    RESULT_FILE,
    BacktestJobs,
    Job,
    QueueFullError,
    job_from_row,
    metrics_of,
    number_text,
)
from pi5trading.backtest.presets import VENUE_PRESETS
from pi5trading.backtest.spec import BacktestSpec
from pi5trading.config import RISK_PROFILES, Settings
from pi5trading.exceptions import ConfigurationError, InvalidStateError
from pi5trading.storage.protocol import Repository
from pi5trading.storage.records import BacktestResultRow
from pi5trading.strategies.base import build_config
from pi5trading.strategies.loader import BUILTIN

Status = Literal["queued", "running", "done", "failed", "cancelled"]
INTERVALS: Final = ("1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w")
"""The intervals bars are stored at (``pi5trading data import``, the node's recorder)."""
_DB: Final = re.compile(r"^db:([A-Za-z0-9][A-Za-z0-9._/-]{0,31})$")
_GENERATED: Final = re.compile(r"^generated:(\d{1,10})(?::(\d{1,18}))?$")
MAX_CASH: Final = Decimal(1_000_000_000)  # the engine's cash is an int64 of 10^-9 units
MAX_LISTED: Final = 100_000
LIVE_READ_TIMEOUT_S: Final = 1.0
"""How long an API-only worker waits for the node's progress of unfinished jobs."""
REPORT_CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


# -- DTOs --


class BacktestIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A backtest to run."""

    strategy: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    """A built-in strategy type (``GET /api/v1/backtests/options``)."""
    data: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    """``db:<symbol>`` (stored bars) or ``generated:<bars>[:<seed>]``."""
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    """The strategy's parameters (its JSON schema: ``GET /api/v1/strategies/types``)."""
    start: str | None = None
    end: str | None = None
    starting_cash: Annotated[str, msgspec.Meta(max_length=40)] = "100000"
    venue: Literal["realistic", "ideal"] = "realistic"
    risk: str | None = None
    """A risk profile, ``none`` for no pre-trade checks, or null for the configured one."""
    interval: str | None = None
    """The stored interval of ``db:`` data (null: the one stored)."""


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    total_return: str
    """A fraction: ``0.0123`` is 1.23 %."""
    max_drawdown: str
    sharpe: str | None
    trades: int
    win_rate: str | None
    final_equity: str


class BacktestJob(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    status: Status
    strategy: str
    params: dict[str, Any]
    data: str
    progress: float
    """0 to 1."""
    bars_done: int
    bars_total: int | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    error: str | None
    run_id: str | None
    """The recorded run (``pi5trading runs``), once done."""
    summary: Summary | None
    submitted_by: str
    """The user, or ``cli`` for a run of ``pi5trading backtest``."""


class JobPage(msgspec.Struct, frozen=True):
    items: list[BacktestJob]
    page: Page


class DataChoice(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    symbol: str
    interval: str
    first: str
    last: str
    bars: int


class BacktestOptions(msgspec.Struct, frozen=True, kw_only=True):
    strategies: list[str]
    data: list[DataChoice]
    """Stored bars; ``generated:<bars>[:<seed>]`` is always there too."""
    max_bars: int
    venues: list[str]
    risk: list[str]


class EquityPoint(msgspec.Struct, frozen=True):
    time: str
    equity: str
    drawdown: str
    """Below the running peak, as a fraction of it."""


class TradeOut(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    side: str
    quantity: str
    entry_time: str
    entry_price: str
    exit_time: str
    exit_price: str
    pnl: str
    """Net of both legs' commission, exact."""
    return_: str = msgspec.field(name="return")
    """Net P&L over the entry's cost, a fraction."""


class PricePoint(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    time: str
    """The open of the bucket's first bar."""
    open: str
    high: str
    low: str
    close: str
    volume: str


class BacktestResultOut(msgspec.Struct, frozen=True, kw_only=True):
    job: BacktestJob
    metrics: dict[str, str | None]
    equity: list[EquityPoint]
    trades: list[TradeOut]
    trades_total: int
    """All the run's trades (``trades`` holds the first 10,000)."""
    price: list[PricePoint]


class ComparedRun(msgspec.Struct, frozen=True):
    job: BacktestJob
    metrics: dict[str, str | None]


class Comparison(msgspec.Struct, frozen=True):
    runs: list[ComparedRun]


# -- helpers --


def _unavailable() -> Problem:
    return Problem(
        503,
        "Backtests unavailable",
        "backtests run in the node's process (pi5trading serve), and it runs no jobs now",
        headers={"Retry-After": "5"},
    )


def _local(request: Request[Any, Any, Any]) -> BacktestJobs | None:
    """This process's jobs (``serve``); ``None`` in an API-only worker."""
    runner: BacktestJobs | None = getattr(request.app.state, "backtests", None)
    return runner


def _forwarded(request: Request[Any, Any, Any]) -> bool:
    """An API-only worker: the jobs are the node's, reached over Redis."""
    return _local(request) is None and getattr(request.app.state, "remote", None) is not None


def backtest_commands(runner_of: Callable[[], BacktestJobs | None]) -> dict[str, Handler]:
    """The backtest commands of the node's table (``pi5trading.api.commands``), for
    API-only workers: submit and cancel a job, and the live state (progress) of jobs.
    ``runner_of`` gives the node's server's jobs (``None`` while they are not running)."""

    def runner() -> BacktestJobs:
        found = runner_of()
        if found is None:
            raise _unavailable()
        return found

    async def submit(args: dict[str, Any]) -> dict[str, Any]:
        spec = msgspec.convert(args["spec"], BacktestSpec)  # checked by the worker already
        try:
            job = await runner().submit(spec, str(args["submitted_by"]))
        except QueueFullError as exc:
            raise Problem(
                429, "Too many backtests", str(exc), headers={"Retry-After": "30"}
            ) from None
        except InvalidStateError as exc:
            raise Problem(
                503, "Backtests unavailable", str(exc), headers={"Retry-After": "5"}
            ) from None
        return {"job": msgspec.to_builtins(job_out(job))}

    async def cancel(args: dict[str, Any]) -> dict[str, Any]:
        return {"job": msgspec.to_builtins(job_out(await _cancel(runner(), str(args["id"]))))}

    async def live(args: dict[str, Any]) -> dict[str, Any]:
        jobs = runner().jobs
        wanted = [str(i) for i in args.get("ids", [])]
        return {"jobs": {i: msgspec.to_builtins(job_out(jobs[i])) for i in wanted if i in jobs}}

    return {"backtest_submit": submit, "backtest_cancel": cancel, "backtest_jobs": live}


async def _cancel(runner: BacktestJobs, job_id: str) -> Job:
    try:
        return await runner.cancel(job_id)
    except KeyError:  # queued or running in another process
        raise Problem(
            409, "Not here", f"backtest {job_id} runs in another server process"
        ) from None
    except InvalidStateError as exc:
        raise Problem(409, "Backtest finished", str(exc)) from None


async def _live_outs(request: Request[Any, Any, Any], jobs: list[Job]) -> dict[str, BacktestJob]:
    """In an API-only worker: the node's live state (progress) of the unfinished ``jobs``,
    by id; the stored state stands when the node does not answer."""
    ids = [j.id for j in jobs if j.status not in FINISHED]
    if not ids or not _forwarded(request):
        return {}
    try:
        # A read: a short wait, so a node that is away slows a listing by a second at most.
        got = await request.app.state.remote.call(
            "backtest_jobs", {"ids": ids}, timeout_s=LIVE_READ_TIMEOUT_S
        )
    except Problem as exc:
        if exc.status_code != 503:
            raise
        return {}
    return {i: msgspec.convert(doc, BacktestJob) for i, doc in got["jobs"].items()}


async def _outs(request: Request[Any, Any, Any], jobs: list[Job]) -> list[BacktestJob]:
    live = await _live_outs(request, jobs)
    return [live.get(j.id) or job_out(j) for j in jobs]


def _text(value: float | None) -> str | None:
    return number_text(value)


def job_out(job: Job) -> BacktestJob:
    res = job.result
    summary = None
    if res is not None and job.status == "done":
        summary = Summary(
            total_return=_text(res.total_return) or "0",
            max_drawdown=_text(res.max_drawdown) or "0",
            sharpe=_text(res.sharpe),
            trades=res.trades,
            win_rate=_text(res.win_rate),
            final_equity=number_text(res.final_equity) or "0",
        )
    return BacktestJob(
        id=job.id,
        status=job.status,
        strategy=job.spec.strategy,
        params=dict(job.spec.params),
        data=job.spec.data,
        progress=round(job.progress, 4),
        bars_done=job.bars_done,
        bars_total=job.bars_total,
        created_at=iso(job.created_ns),
        started_at=iso(job.started_ns) if job.started_ns else None,
        finished_at=iso(job.finished_ns) if job.finished_ns else None,
        error=job.error,
        run_id=job.id if job.status == "done" else None,
        summary=summary,
        submitted_by=job.submitted_by,
    )


async def _job(request: Request[Any, Any, Any], job_id: str) -> Job:
    """This process's job, else the stored run; 404 for neither."""
    runner: BacktestJobs | None = getattr(request.app.state, "backtests", None)
    if runner is not None and job_id in runner.jobs:
        return runner.jobs[job_id]
    repo = repository_of(request)
    row = await repo.get_backtest_run(job_id)
    if row is None:
        raise Problem(404, "Unknown backtest", f"no backtest {job_id!r}")
    return job_from_row(row, await repo.get_backtest_result(job_id))


def _invalid(field: str, reason: str) -> Problem:
    return Problem(
        422,
        "Invalid backtest",
        f"{field}: {reason}",
        errors=[{"field": field, "message": reason}],
    )


async def _stored_intervals(repo: Repository, symbol: str) -> dict[str, int]:
    counts = {i: await repo.count_bars(symbol, i) for i in INTERVALS}
    return {i: n for i, n in counts.items() if n}


async def backtest_spec(data: BacktestIn, repo: Repository, settings: Settings) -> BacktestSpec:
    """``data`` checked field by field (a 422 naming the first bad one) as a spec."""
    limits = settings.backtests
    cls = BUILTIN.get(data.strategy)
    if cls is None:
        raise _invalid(
            "strategy", f"{data.strategy!r} is not a built-in strategy: {sorted(BUILTIN)}"
        )
    try:
        build_config(cls.Config, data.params, strategy=data.strategy)
    except (ConfigurationError, ValueError, TypeError, ArithmeticError) as exc:
        raise _invalid("params", str(exc)) from None
    times = {}
    for field in ("start", "end"):
        text = getattr(data, field)
        try:
            times[field] = None if text is None else parse_iso(text, field)
        except (ValueError, OverflowError) as exc:
            raise _invalid(field, str(exc).removeprefix(f"{field}: ")) from None
    start, end = times["start"], times["end"]
    if start is not None and end is not None and start >= end:
        raise _invalid("start", f"{data.start} is not before end {data.end}")
    try:
        cash = Decimal(data.starting_cash)
    except InvalidOperation:
        raise _invalid("starting_cash", f"{data.starting_cash!r} is not a number") from None
    if not cash.is_finite() or not 0 < cash <= MAX_CASH:
        raise _invalid("starting_cash", f"expected an amount above 0 and at most {MAX_CASH}")
    if data.risk is None:  # the configured profile and limits, as the CLI without --risk
        risk, risk_limits = settings.risk.profile, dict(settings.risk.limits)
    elif data.risk == "none":
        risk, risk_limits = None, {}
    elif data.risk in RISK_PROFILES:
        risk, risk_limits = data.risk, {}
    else:
        raise _invalid("risk", f"{data.risk!r}: one of {[*RISK_PROFILES, 'none']}, or null")
    interval = data.interval
    if (m := _GENERATED.fullmatch(data.data)) is not None:
        bars = int(m.group(1))
        if not 1 <= bars <= limits.max_bars:
            raise _invalid("data", f"generated: from 1 to {limits.max_bars} bars, got {bars}")
        if interval not in (None, "1m"):
            raise _invalid("interval", "generated data has one-minute bars")
    elif (m := _DB.fullmatch(data.data)) is not None:
        symbol = m.group(1)
        stored = await _stored_intervals(repo, symbol)
        if interval is not None and interval not in stored:
            found = f"it has {', '.join(stored)}" if stored else "it has none"
            raise _invalid("interval", f"no {interval} bars stored for {symbol!r} ({found})")
        if interval is None:
            if not stored:
                raise _invalid(
                    "data",
                    f"no bars stored for {symbol!r} (GET /api/v1/backtests/options lists them;"
                    " `pi5trading data import` adds some)",
                )
            if len(stored) > 1:
                raise _invalid(
                    "interval", f"{symbol!r} has bars of several intervals ({', '.join(stored)})"
                )
            interval = next(iter(stored))
        if stored[interval] > limits.max_bars and start is None and end is None:
            raise _invalid(
                "data",
                f"{data.data} has {stored[interval]:,} {interval} bars, more than the "
                f"{limits.max_bars:,} a backtest may run (PI5_BACKTESTS__MAX_BARS): give start "
                "and end",
            )
    else:
        raise _invalid("data", f"{data.data!r}: expected db:<symbol> or generated:<bars>[:<seed>]")
    return BacktestSpec(
        strategy=data.strategy,
        params=dict(data.params),
        data=data.data,
        interval=interval,
        start=iso(start) if start is not None else None,
        end=iso(end) if end is not None else None,
        starting_cash=cash,
        venue=dict(VENUE_PRESETS[data.venue]),
        risk=risk,
        risk_limits=risk_limits,
    )


# -- routes --


@get("/api/v1/backtests/options", tags=["backtests"], guards=ANYONE, operation_id="backtestOptions")
async def backtest_options(request: Request[Any, Any, Any]) -> BacktestOptions:
    """What a backtest can run: the strategies, the stored bars per instrument and interval,
    and the bar limit (``generated:<bars>`` up to it is always possible)."""
    repo = repository_of(request)
    symbols = {i.instrument_id for i in await repo.list_instruments()}
    node = getattr(request.app.state, "node", None)
    if node is not None:
        symbols |= set(node.instruments)
    choices = []
    for symbol in sorted(symbols):
        for interval, count in (await _stored_intervals(repo, symbol)).items():
            first = await repo.get_bars(symbol, interval, limit=1)
            last = await repo.latest_bar(symbol, interval)
            if not first or last is None:
                continue
            choices.append(
                DataChoice(
                    source=f"db:{symbol}",
                    symbol=symbol,
                    interval=interval,
                    first=iso(first[0].ts_ns),
                    last=iso(last.ts_ns),
                    bars=count,
                )
            )
    settings: Settings = request.app.state.settings
    return BacktestOptions(
        strategies=sorted(BUILTIN),
        data=choices,
        max_bars=settings.backtests.max_bars,
        venues=list(VENUE_PRESETS),
        risk=[*RISK_PROFILES, "none"],
    )


@post(
    "/api/v1/backtests",
    tags=["backtests"],
    guards=TRADER,
    status_code=HTTP_202_ACCEPTED,
    operation_id="submitBacktest",
)
async def submit_backtest(
    request: Request[Identity, Any, Any], data: JSONBody[BacktestIn]
) -> BacktestJob:
    """Queue a backtest; it runs in a worker process. 422 names a bad field; 429 when too
    many wait already."""
    runner = _local(request)
    if runner is None and not _forwarded(request):
        raise _unavailable()
    repo = repository_of(request)
    spec = await backtest_spec(data, repo, request.app.state.settings)
    # In an API-only worker the node's server queues it (the same command as its own).
    args = {"spec": msgspec.to_builtins(spec), "submitted_by": request.user.username}
    if runner is None:
        out = msgspec.convert((await node_command(request, "backtest_submit", args))["job"],
                              BacktestJob)  # fmt: skip
    else:
        out = msgspec.convert(
            (await backtest_commands(lambda: runner)["backtest_submit"](args))["job"], BacktestJob
        )
    await audit(
        repo, "backtest.submit", "success", actor=request.user.user_id,
        resource=f"backtest:{out.id}", strategy=spec.strategy, data=spec.data,
    )  # fmt: skip
    return out


@get("/api/v1/backtests", tags=["backtests"], guards=ANYONE, operation_id="listBacktests")
async def list_backtests(
    request: Request[Any, Any, Any],
    status: FromQuery[Status | None] = None,
    limit: FromQuery[int] = 50,
    offset: FromQuery[int] = 0,
) -> JobPage:
    """Backtests, newest first (the API's jobs and the CLI's runs), optionally of one
    status; one page."""
    if not 1 <= limit <= 1000:
        raise Problem(400, "Invalid request", f"limit: expected 1 to 1000, got {limit}")
    if not 0 <= offset <= MAX_LISTED:
        raise Problem(400, "Invalid request", f"offset: expected 0 to {MAX_LISTED}, got {offset}")
    repo = repository_of(request)
    runner: BacktestJobs | None = getattr(request.app.state, "backtests", None)
    live = runner.jobs if runner is not None else {}
    rows = await repo.list_backtest_runs(limit=MAX_LISTED if status else offset + limit + 1)
    jobs: list[Job] = []
    for row in rows:
        job = live.get(row.run_id) or job_from_row(row, None)
        if status is None or job.status == status:
            jobs.append(job)
    page = jobs[offset : offset + limit]
    for job in page:
        if job.status == "done" and job.result is None:
            job.result = await repo.get_backtest_result(job.id)
    more = len(jobs) > offset + limit
    return JobPage(
        await _outs(request, page), Page(limit, offset, offset + limit if more else None)
    )


@get(
    "/api/v1/backtests/compare", tags=["backtests"], guards=ANYONE, operation_id="compareBacktests"
)
async def compare_backtests(request: Request[Any, Any, Any], ids: FromQuery[str]) -> Comparison:
    """Runs side by side (``ids=A,B``): each job and its statistics (null until done)."""
    wanted = [i.strip() for i in ids.split(",") if i.strip()]
    if not 1 <= len(wanted) <= 10:
        raise Problem(400, "Invalid request", "ids: 1 to 10 backtest ids, comma-separated")
    jobs = [await _job(request, job_id) for job_id in wanted]
    outs = await _outs(request, jobs)
    return Comparison(
        [ComparedRun(out, _metrics(job.result)) for job, out in zip(jobs, outs, strict=True)]
    )


def _metrics(result: BacktestResultRow | None) -> dict[str, str | None]:
    return metrics_of(result.metrics) if result is not None else {}


@get(
    "/api/v1/backtests/{job_id:str}", tags=["backtests"], guards=ANYONE, operation_id="getBacktest"
)
async def get_backtest(request: Request[Any, Any, Any], job_id: FromPath[str]) -> BacktestJob:
    """One backtest: its status and progress, its summary once done."""
    return (await _outs(request, [await _job(request, job_id)]))[0]


@post(
    "/api/v1/backtests/{job_id:str}/cancel",
    tags=["backtests"],
    guards=TRADER,
    status_code=200,
    operation_id="cancelBacktest",
)
async def cancel_backtest(
    request: Request[Identity, Any, Any], job_id: FromPath[str]
) -> BacktestJob:
    """Cancel a queued or running backtest (its process is stopped); 409 once finished."""
    job = await _job(request, job_id)
    if job.status in FINISHED:
        raise Problem(409, "Backtest finished", f"backtest {job_id} is {job.status} already")
    runner = _local(request)
    if runner is not None:
        out = job_out(await _cancel(runner, job_id))
    elif _forwarded(request):  # the node's server runs it
        got = await node_command(request, "backtest_cancel", {"id": job_id})
        out = msgspec.convert(got["job"], BacktestJob)
    else:
        raise _unavailable()
    await audit(repository_of(request), "backtest.cancel", "success", actor=request.user.user_id,
                resource=f"backtest:{job_id}")  # fmt: skip
    return out


async def _done(job: Job) -> Path:
    """The report folder of a finished run; 409 before, 404 when it has none."""
    if job.status != "done":
        raise Problem(409, "Backtest not done", f"backtest {job.id} is {job.status}")
    report = job.report
    if report is None or not await anyio.Path(report).is_file():
        raise Problem(404, "No report", f"backtest {job.id} has no report (run with --no-report?)")
    return report.parent


@get(
    "/api/v1/backtests/{job_id:str}/result",
    tags=["backtests"],
    guards=ANYONE,
    operation_id="backtestResult",
)
async def backtest_result(
    request: Request[Any, Any, Any], job_id: FromPath[str]
) -> BacktestResultOut:
    """A finished run: its statistics, equity and drawdown (about 2,000 points), trades and
    prices (about 2,000 bars per instrument); 409 while it runs."""
    job = await _job(request, job_id)
    folder = await _done(job)
    path = anyio.Path(folder / RESULT_FILE)
    if not await path.is_file():
        raise Problem(
            404,
            "No result data",
            f"backtest {job_id} was run by the command line: its report is at "
            f"/api/v1/backtests/{job_id}/report",
        )
    doc = msgspec.json.decode(await path.read_bytes())
    return BacktestResultOut(
        job=job_out(job),
        metrics=_metrics(job.result),
        equity=msgspec.convert(doc["equity"], list[EquityPoint]),
        trades=msgspec.convert(doc["trades"], list[TradeOut]),
        trades_total=int(doc["trades_total"]),
        price=msgspec.convert(doc["price"], list[PricePoint]),
    )


@get(
    "/api/v1/backtests/{job_id:str}/report",
    tags=["backtests"],
    guards=ANYONE,
    operation_id="backtestReport",
    media_type=MediaType.HTML,
)
async def backtest_report(request: Request[Any, Any, Any], job_id: FromPath[str]) -> Response[str]:
    """The run's self-contained HTML report (no scripts, no network); 409 while it runs."""
    job = await _job(request, job_id)
    html = await anyio.Path(await _done(job) / "report.html").read_text(encoding="utf-8")
    # The report is static (inline SVG and styles): nothing in it may load or run.
    return Response(
        html, media_type=MediaType.HTML, headers={"Content-Security-Policy": REPORT_CSP}
    )


ROUTES: Final = [backtest_options, submit_backtest, list_backtests, compare_backtests,
                 get_backtest, cancel_backtest, backtest_result, backtest_report]  # fmt: skip

__all__ = ["ROUTES", "BacktestIn", "BacktestJob", "backtest_commands", "backtest_spec", "job_out"]
