"""Backtests one can come back to: each CLI run is recorded in the database.

A run's spec (strategy, parameters, data, dates, venue and risk settings) and its headline
statistics go to the ``backtest_runs`` / ``backtest_results`` tables of the configured
database (the embedded SQLite file by default), with the path of its report.
``pi5trading runs`` lists them; the API will serve the same records.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from pi5trading.analysis.records import plain_builtins, tidy
from pi5trading.backtest.spec import BacktestSpec
from pi5trading.config import Settings
from pi5trading.storage.connect import open_repository, prepare_database
from pi5trading.storage.records import BacktestResultRow, BacktestRunRow

if TYPE_CHECKING:
    from pi5trading.engine import BacktestResult


def run_record(
    spec: BacktestSpec, result: BacktestResult, report: Path | None, run_id: str
) -> tuple[BacktestRunRow, BacktestResultRow]:
    """The rows a finished run is recorded as (``backtest_runs``, ``backtest_results``)."""
    perf = result.performance
    ts = perf.trade_stats
    now = time.time_ns()
    run = BacktestRunRow(
        run_id=run_id,
        name=f"{spec.strategy} on {spec.instrument}",
        instrument_ids=[spec.instrument],
        interval=spec.interval or str(result.meta.get("interval", "1m")),
        start_ns=perf.start_ts,
        end_ns=perf.end_ts,
        initial_cash=spec.starting_cash,
        created_ns=now,
        strategy_id=spec.strategy,
        params=msgspec.to_builtins(spec, builtin_types=(Decimal,)),
        status="completed",
        finished_ns=now,
    )
    res = BacktestResultRow(
        run_id=run_id,
        final_equity=tidy(result.portfolio.equity),  # exact, from the ledger
        total_return=perf.total_return,
        max_drawdown=perf.max_drawdown,
        trades=ts.trades,
        sharpe=perf.sharpe,
        sortino=perf.sortino,
        win_rate=ts.win_rate,
        metrics=plain_builtins(perf, str_keys=True),
        report_path=str(report) if report is not None else None,
    )
    return run, res


async def _save(settings: Settings, run: BacktestRunRow, res: BacktestResultRow) -> None:
    repo = await open_repository(settings)
    try:
        if settings.database.migrate_on_start:
            await prepare_database(settings, repo.driver)
        await repo.save_backtest_run(run)
        await repo.save_backtest_result(res)
    finally:
        await repo.close()


def new_run_id() -> str:
    """A new run id: 48 random bits, also the suffix of the run's report folder."""
    return uuid.uuid4().hex[:12]


def save_run(
    settings: Settings,
    spec: BacktestSpec,
    result: BacktestResult,
    report: Path | None,
    *,
    run_id: str | None = None,
) -> str:
    """Record a finished run under ``run_id`` (default: a new one); returns the id."""
    run_id = run_id or new_run_id()
    run, res = run_record(spec, result, report, run_id)
    asyncio.run(_save(settings, run, res))
    return run_id


async def _list(
    settings: Settings, limit: int
) -> list[tuple[BacktestRunRow, BacktestResultRow | None]]:
    repo = await open_repository(settings)
    try:
        if settings.database.migrate_on_start:
            await prepare_database(settings, repo.driver)
        runs = await repo.list_backtest_runs(limit)
        return [(r, await repo.get_backtest_result(r.run_id)) for r in runs]
    finally:
        await repo.close()


def list_runs(
    settings: Settings, limit: int = 20
) -> list[tuple[BacktestRunRow, BacktestResultRow | None]]:
    """The most recent runs first, with their results."""
    return asyncio.run(_list(settings, limit))
