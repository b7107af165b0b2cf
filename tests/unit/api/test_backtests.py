"""Backtest jobs through the API: real worker processes, a real SQLite database, real
reports. A job's result is the one the Python API gives for the same spec; bad input is a
422 naming the field with nothing queued; cancel and the time limit kill the job's process;
a full queue refuses; nothing outlives the app."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis.asyncio as aioredis
from litestar import Litestar
from litestar.testing import AsyncTestClient

from pi5trading.api import create_app
from pi5trading.api.app import worker_lifespan
from pi5trading.api.backtests import backtest_commands
from pi5trading.api.remote import CommandServer
from pi5trading.backtest import jobs as jobs_module
from pi5trading.backtest.history import save_run
from pi5trading.backtest.jobs import INTERRUPTED, BacktestJobs, Job
from pi5trading.backtest.spec import BacktestSpec, run_spec
from pi5trading.storage.connect import open_repository, prepare_database
from pi5trading.storage.records import BarRow, InstrumentRow
from tests.services import RedisServer

from .test_auth import assert_problem, bearer, login, seed_users, settings_for

pytestmark = pytest.mark.anyio

SMA = {"strategy": "sma_crossover", "params": {"fast": 5, "slow": 20}}
LONG = {"strategy": "bollinger_reversion", "data": "generated:2000000"}  # ~8 s of work


def job_settings(tmp_path: Path, **env: str) -> Any:
    # Polling a job's status is many requests: above the default rate limit.
    return settings_for(tmp_path, PI5_API__RATE_LIMIT_PER_MINUTE="100000", **env)


async def wait_job(c: AsyncTestClient[Any], h: dict[str, str], job_id: str, *states: str) -> Any:
    for _ in range(1200):
        r = await c.get(f"/api/v1/backtests/{job_id}", headers=h)
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] in states:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"backtest {job_id} never became {states}: {job}")


def _oom_score_adj(pid: int) -> int:
    return int(Path(f"/proc/{pid}/oom_score_adj").read_text())


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_a_job_runs_in_the_background_and_matches_the_python_api(tmp_path: Path) -> None:
    settings = job_settings(tmp_path)
    await seed_users(settings)
    app = create_app(settings)
    async with AsyncTestClient(app=app) as c:
        h = bearer((await login(c, "tina"))["access_token"])
        seen: list[float] = []
        runner: BacktestJobs = app.state.backtests
        publish = runner.publish
        assert publish is not None

        def record(job: Job) -> None:
            seen.append(job.progress)
            publish(job)

        runner.publish = record
        body = {**SMA, "data": "generated:300000:7", "starting_cash": "50000"}
        r = await c.post("/api/v1/backtests", headers=h, json=body)
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["status"] in ("queued", "running")
        assert job["submitted_by"] == "tina"
        assert job["bars_total"] == 300_000
        assert job["summary"] is None
        # Not done yet: no result, no report.
        assert_problem(await c.get(f"/api/v1/backtests/{job['id']}/result", headers=h), 409)
        done = await wait_job(c, h, job["id"], "done", "failed")
        assert done["status"] == "done", done
        assert done["progress"] == 1.0
        assert done["bars_done"] == 300_000
        assert done["run_id"] == job["id"]
        # The worker told its progress on the way, in order.
        between = [p for p in seen if 0 < p < 1]
        assert between, seen
        assert seen == sorted(seen)

        # The same spec through the Python API: the same trades and final equity.
        spec = BacktestSpec(
            strategy="sma_crossover",
            params={"fast": 5, "slow": 20},
            data="generated:300000:7",
            starting_cash=Decimal(50_000),
            risk=settings.risk.profile,
        )
        direct = run_spec(spec)
        perf = direct.performance
        summary = done["summary"]
        assert Decimal(summary["final_equity"]) == direct.portfolio.equity  # exact
        assert summary["trades"] == len(direct.trades) > 100
        assert float(summary["total_return"]) == pytest.approx(perf.total_return, rel=1e-9)

        result = (await c.get(f"/api/v1/backtests/{job['id']}/result", headers=h)).json()
        assert result["job"]["id"] == job["id"]
        assert result["trades_total"] == len(direct.trades)
        assert [(t["entry_time"], t["pnl"], t["side"]) for t in result["trades"][:50]] == [
            (_iso(t.entry_ts), format(t.net_pnl.normalize(), "f"), t.side)
            for t in direct.trades[:50]
        ]
        assert sum(Decimal(t["pnl"]) for t in result["trades"]) == sum(
            t.net_pnl for t in direct.trades
        )
        assert 1000 < len(result["equity"]) <= 2000
        assert len(result["price"]) == 2000
        # The curve is the engine's float sample, to the cent.
        last = Decimal(result["equity"][-1]["equity"])
        assert abs(last - Decimal(summary["final_equity"])) <= Decimal("0.005")
        worst = max(Decimal(p["drawdown"]) for p in result["equity"])
        assert abs(worst - Decimal(summary["max_drawdown"])) < Decimal("0.000001")
        assert result["metrics"]["sharpe"] == summary["sharpe"]
        # Prices are exact decimals: the buckets' highs and lows are the bars' own.
        frame = direct.bars["SIM"]
        assert Decimal(result["price"][0]["open"]) == Decimal(int(frame.open_raw[0])).scaleb(-9)
        assert max(Decimal(p["high"]) for p in result["price"]) == Decimal(
            int(frame.high_raw.max())
        ).scaleb(-9)
        assert min(Decimal(p["low"]) for p in result["price"]) == Decimal(
            int(frame.low_raw.min())
        ).scaleb(-9)

        report = await c.get(f"/api/v1/backtests/{job['id']}/report", headers=h)
        assert report.status_code == 200
        assert report.headers["content-type"].startswith("text/html")
        assert report.headers["content-security-policy"].startswith("default-src 'none'")
        assert "<script" not in report.text
        assert "<svg" in report.text
        assert "sma_crossover" in report.text

        # A second run to compare with: ideal venue, no risk checks.
        r = await c.post(
            "/api/v1/backtests",
            headers=h,
            json={**SMA, "data": "generated:300000:7", "venue": "ideal", "risk": "none"},
        )
        other = await wait_job(c, h, r.json()["id"], "done", "failed")
        assert other["status"] == "done", other
        cmp = await c.get(f"/api/v1/backtests/compare?ids={job['id']},{other['id']}", headers=h)
        runs = cmp.json()["runs"]
        assert [r["job"]["id"] for r in runs] == [job["id"], other["id"]]
        # No costs: more money at the end than with commissions and slippage.
        assert Decimal(runs[1]["metrics"]["final_equity"]) > Decimal(
            runs[0]["metrics"]["final_equity"]
        )
        assert_problem(await c.get("/api/v1/backtests/compare?ids=nope", headers=h), 404)

        # Recorded like the CLI's runs (`pi5trading runs`), report on disk in the data dir.
        repo = app.state.repository
        run = next(r for r in await repo.list_backtest_runs() if r.run_id == job["id"])
        res = await repo.get_backtest_result(job["id"])
    assert run.status == "completed"
    assert res is not None
    assert res.report_path is not None
    assert await anyio.Path(res.report_path).is_file()
    assert Path(res.report_path).is_relative_to(tmp_path / "reports")


def _iso(ns: int) -> str:
    from pi5trading.api.timefmt import iso

    return iso(ns)


async def test_roles_and_bad_input(tmp_path: Path) -> None:
    settings = job_settings(tmp_path)
    await seed_users(settings)
    async with AsyncTestClient(app=create_app(settings)) as c:
        tina = bearer((await login(c, "tina"))["access_token"])
        vic = bearer((await login(c, "vic"))["access_token"])
        root = bearer((await login(c, "root"))["access_token"])
        ok = {**SMA, "data": "generated:500"}
        # Viewers read, traders and admins write; nobody without a token.
        assert_problem(await c.post("/api/v1/backtests", headers=vic, json=ok), 403)
        assert_problem(await c.post("/api/v1/backtests", json=ok), 401)
        assert_problem(await c.get("/api/v1/backtests"), 401)
        options = (await c.get("/api/v1/backtests/options", headers=vic)).json()
        assert "sma_crossover" in options["strategies"]
        assert options["max_bars"] == 2_000_000
        for name, body, field, why in [
            ("strategy", {**ok, "strategy": "nope"}, "strategy", "not a built-in"),
            ("a file", {**ok, "strategy": "/tmp/x.py:Evil"}, "strategy", "not a built-in"),
            ("NaN", {**ok, "params": {"quantity": "NaN"}}, "params", "finite"),
            ("infinite", {**ok, "params": {"quantity": "Infinity"}}, "params", "finite"),
            ("negative", {**ok, "params": {"fast": -5}}, "params", "fast"),
            (
                "rsi period",
                {**ok, "strategy": "rsi_mean_reversion", "params": {"period": -3}},
                "params",
                "period",
            ),
            ("unknown", {**ok, "params": {"fats": 3}}, "params", "fats"),
            ("type", {**ok, "params": {"fast": "x"}}, "params", "fast"),
            ("a path", {**ok, "data": "/etc/passwd"}, "data", "expected db:"),
            ("a csv", {**ok, "data": "bars.csv"}, "data", "expected db:"),
            ("no bars", {**ok, "data": "db:NOPE"}, "data", "no bars stored"),
            ("zero", {**ok, "data": "generated:0"}, "data", "from 1"),
            ("too many", {**ok, "data": "generated:2000001"}, "data", "2000000"),
            ("order", {**ok, "start": "2024-02-01", "end": "2024-01-01"}, "start", "not before"),
            ("same", {**ok, "start": "2024-01-01", "end": "2024-01-01"}, "start", "not before"),
            ("date", {**ok, "start": "yesterday"}, "start", "ISO-8601"),
            ("cash", {**ok, "starting_cash": "abc"}, "starting_cash", "not a number"),
            ("cash<0", {**ok, "starting_cash": "-5"}, "starting_cash", "above 0"),
            ("cash NaN", {**ok, "starting_cash": "NaN"}, "starting_cash", "above 0"),
            ("risk", {**ok, "risk": "yolo"}, "risk", "one of"),
            ("interval", {**ok, "interval": "1d"}, "interval", "one-minute"),
        ]:
            r = await c.post("/api/v1/backtests", headers=tina, json=body)
            problem = assert_problem(r, 422, why)
            assert problem["errors"][0]["field"] == field, name
            assert problem["detail"].startswith(f"{field}: "), name
        for body in ({**ok, "extra": 1}, {**ok, "venue": "cheap"}, {"data": "generated:5"}):
            assert_problem(await c.post("/api/v1/backtests", headers=tina, json=body), 400)
        # Nothing was queued or recorded by any of them.
        page = (await c.get("/api/v1/backtests", headers=vic)).json()
        assert page["items"] == []
        # The admin may run one; a viewer reads it but cannot cancel it.
        r = await c.post("/api/v1/backtests", headers=root, json=ok)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        assert_problem(await c.post(f"/api/v1/backtests/{job_id}/cancel", headers=vic), 403)
        done = await wait_job(c, vic, job_id, "done", "failed")
        assert done["status"] == "done", done
        assert done["submitted_by"] == "root"
        assert_problem(await c.post(f"/api/v1/backtests/{job_id}/cancel", headers=tina), 409)
        assert_problem(await c.get("/api/v1/backtests/nope", headers=vic), 404)
        assert_problem(await c.get("/api/v1/backtests/nope/report", headers=vic), 404)
        assert_problem(await c.post("/api/v1/backtests/nope/cancel", headers=tina), 404)
        assert_problem(await c.get("/api/v1/backtests?limit=0", headers=vic), 400)
        assert_problem(await c.get("/api/v1/backtests?status=lost", headers=vic), 400)
        audit = {a.action for a in await c.app.state.repository.list_audit(limit=50)}
        assert "backtest.submit" in audit


async def test_cancel_kills_the_run_and_a_full_queue_refuses(tmp_path: Path) -> None:
    settings = job_settings(tmp_path, PI5_BACKTESTS__MAX_QUEUED="1")
    await seed_users(settings)
    app = create_app(settings)
    async with AsyncTestClient(app=app) as c:
        h = bearer((await login(c, "tina"))["access_token"])
        first = (await c.post("/api/v1/backtests", headers=h, json=LONG)).json()
        queued = (await c.post("/api/v1/backtests", headers=h, json=LONG)).json()
        assert queued["status"] == "queued"
        # One running, one waiting: a third is refused, with a message.
        r = await c.post("/api/v1/backtests", headers=h, json=LONG)
        assert_problem(r, 429, "MAX_QUEUED")
        assert "Retry-After" in r.headers

        for _ in range(600):
            job = (await c.get(f"/api/v1/backtests/{first['id']}", headers=h)).json()
            if job["status"] == "running" and app.state.backtests.jobs[first["id"]].bars_done:
                break
            await asyncio.sleep(0.05)
        assert app.state.backtests.jobs[first["id"]].bars_done > 0  # it runs its bars
        process = app.state.backtests.jobs[first["id"]].process
        assert process is not None
        assert process.is_alive()
        r = await c.post(f"/api/v1/backtests/{first['id']}/cancel", headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        assert r.json()["finished_at"] is not None
        assert process.pid is not None
        assert gone(process.pid)
        # The queued one takes its place; cancelled before it ends, it never finishes.
        await wait_job(c, h, queued["id"], "running")
        r = await c.post(f"/api/v1/backtests/{queued['id']}/cancel", headers=h)
        assert r.json()["status"] == "cancelled"
        assert_problem(await c.post(f"/api/v1/backtests/{queued['id']}/cancel", headers=h), 409)
        assert_problem(await c.get(f"/api/v1/backtests/{first['id']}/result", headers=h), 409)
        assert_problem(await c.get(f"/api/v1/backtests/{first['id']}/report", headers=h), 409)
        # A queued job cancelled before it starts never runs.
        a = (await c.post("/api/v1/backtests", headers=h, json=LONG)).json()
        b = (await c.post("/api/v1/backtests", headers=h, json=LONG)).json()
        assert b["status"] == "queued"
        r = await c.post(f"/api/v1/backtests/{b['id']}/cancel", headers=h)
        assert r.json()["status"] == "cancelled"
        assert r.json()["started_at"] is None
        # An admin may cancel a trader's job too.
        root = bearer((await login(c, "root"))["access_token"])
        r = await c.post(f"/api/v1/backtests/{a['id']}/cancel", headers=root)
        assert r.json()["status"] == "cancelled"
        listed = (await c.get("/api/v1/backtests?status=cancelled", headers=h)).json()
        assert len(listed["items"]) == 4
    # Recorded as cancelled: still so when read back from storage after the app stopped.
    async with AsyncTestClient(app=create_app(settings)) as c:
        h = bearer((await login(c, "tina"))["access_token"])
        job = (await c.get(f"/api/v1/backtests/{first['id']}", headers=h)).json()
        assert job["status"] == "cancelled"


async def test_over_its_time_limit_a_job_fails_and_nothing_outlives_the_app(
    tmp_path: Path,
) -> None:
    settings = job_settings(tmp_path, PI5_BACKTESTS__TIMEOUT_S="3")
    await seed_users(settings)
    app = create_app(settings)
    async with AsyncTestClient(app=app) as c:
        h = bearer((await login(c, "tina"))["access_token"])
        slow = (await c.post("/api/v1/backtests", headers=h, json=LONG)).json()
        failed = await wait_job(c, h, slow["id"], "done", "failed")
        assert failed["status"] == "failed"
        assert "time limit of 3 s" in failed["error"]
        pid = app.state.backtests.jobs[slow["id"]].process.pid
        assert gone(pid)
    # Two at once (two workers, no short time limit); the app stops while they run.
    settings = job_settings(tmp_path, PI5_BACKTESTS__WORKERS="2")
    app = create_app(settings)
    async with AsyncTestClient(app=app) as c:
        h = bearer((await login(c, "tina"))["access_token"])
        running = [(await c.post("/api/v1/backtests", headers=h, json=LONG)).json() for _ in "ab"]
        for job in running:
            await wait_job(c, h, job["id"], "running")
        processes = [app.state.backtests.jobs[j["id"]].process for j in running]
        assert all(p.is_alive() for p in processes)
    assert all(gone(p.pid) for p in processes)
    # Recorded as interrupted, not left running.
    repo = await open_repository(settings)
    try:
        for job in running:
            row = await repo.get_backtest_run(job["id"])
            assert row is not None
            assert row.status == "failed"
            assert row.error is not None
            assert INTERRUPTED in row.error
    finally:
        await repo.close()


async def test_jobs_of_a_dead_process_are_failed_at_the_next_start(tmp_path: Path) -> None:
    settings = job_settings(tmp_path)
    await seed_users(settings)
    # What a process killed with -9 leaves behind: its jobs' rows, queued and running.
    repo = await open_repository(settings)
    try:
        spec = BacktestSpec(strategy="sma_crossover", data="generated:500")
        left = [Job(f"dead{i}", spec, "tina", 1_700_000_000_000_000_000 + i) for i in range(2)]
        left[1].status, left[1].started_ns = "running", 1_700_000_001_000_000_000
        for job in left:
            await repo.save_backtest_run(job.run_row())
    finally:
        await repo.close()
    async with AsyncTestClient(app=create_app(settings)) as c:
        h = bearer((await login(c, "vic"))["access_token"])
        for job in left:
            got = (await c.get(f"/api/v1/backtests/{job.id}", headers=h)).json()
            assert got["status"] == "failed"
            assert got["error"] == INTERRUPTED
            assert got["submitted_by"] == "tina"
        assert_problem(await c.post("/api/v1/backtests/dead1/cancel",
                                    headers=bearer((await login(c, "tina"))["access_token"])),
                       409)  # fmt: skip


async def test_stored_bars_and_paging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs_module, "KEPT", 1)  # finished jobs beyond one: storage only
    settings = job_settings(tmp_path)
    await seed_users(settings)
    repo = await open_repository(settings)
    try:
        await prepare_database(settings, repo.driver)
        start = 1_704_205_800_000_000_000  # 2024-01-02 14:30 UTC, a Tuesday's open
        price = Decimal(100)
        rows = []
        for i in range(390):
            step = Decimal((i * 7919) % 13 - 6) / 100
            o, price = price, price + step
            rows.append(BarRow("AAPL", "1m", start + i * 60 * 10**9, o, max(o, price) + 1,
                               min(o, price) - 1, price, Decimal(1000)))  # fmt: skip
        await repo.insert_bars(rows)
        # As `pi5trading data import` leaves them: the bars and their instrument.
        await repo.upsert_instrument(InstrumentRow("AAPL", "AAPL", "XNAS"))
    finally:
        await repo.close()
    async with AsyncTestClient(app=create_app(settings)) as c:
        h = bearer((await login(c, "tina"))["access_token"])
        options = (await c.get("/api/v1/backtests/options", headers=h)).json()
        assert options["data"] == [
            {
                "source": "db:AAPL",
                "symbol": "AAPL",
                "interval": "1m",
                "first": "2024-01-02T14:30:00.000000Z",
                "last": "2024-01-02T20:59:00.000000Z",
                "bars": 390,
            }
        ]
        body = {**SMA, "data": "db:AAPL", "start": "2024-01-02T15:00:00Z"}
        r = await c.post("/api/v1/backtests", headers=h, json=body)
        assert r.status_code == 202, r.text
        done = await wait_job(c, h, r.json()["id"], "done", "failed")
        assert done["status"] == "done", done
        assert done["bars_total"] == 360  # from 15:00 on
        assert done["data"] == "db:AAPL"
        assert_problem(
            await c.post("/api/v1/backtests", headers=h, json={**body, "interval": "5m"}),
            422,
            "no 5m bars",
        )
        ids = [done["id"]]
        for seed in (1, 2):
            r = await c.post("/api/v1/backtests", headers=h,
                             json={**SMA, "data": f"generated:2000:{seed}"})  # fmt: skip
            ids.append((await wait_job(c, h, r.json()["id"], "done", "failed"))["id"])
        # Newest first, in pages.
        first = (await c.get("/api/v1/backtests?limit=2", headers=h)).json()
        assert [j["id"] for j in first["items"]] == ids[::-1][:2]
        assert first["page"]["next_offset"] == 2
        rest = (await c.get("/api/v1/backtests?limit=2&offset=2", headers=h)).json()
        assert [j["id"] for j in rest["items"]] == [ids[0]]
        assert rest["page"]["next_offset"] is None
        done_only = (await c.get("/api/v1/backtests?status=done", headers=h)).json()
        assert len(done_only["items"]) == 3
        assert (await c.get("/api/v1/backtests?status=failed", headers=h)).json()["items"] == []
        # The oldest is no longer held in memory, and reads the same from storage.
        assert ids[0] not in c.app.state.backtests.jobs
        again = (await c.get(f"/api/v1/backtests/{ids[0]}", headers=h)).json()
        assert again == {**done, "finished_at": again["finished_at"]}
        assert (await c.get(f"/api/v1/backtests/{ids[0]}/result", headers=h)).status_code == 200


async def test_a_crashing_or_failing_run_fails_its_job_only(tmp_path: Path) -> None:
    """The job runner with strategies from files (the API accepts built-ins only)."""
    settings = job_settings(tmp_path)
    code = tmp_path / "bad.py"
    code.write_text(
        "import os\n"
        "from pi5trading.strategies.base import Strategy\n"
        "class Crash(Strategy):\n"
        "    def on_bar(self, bar):\n"
        "        os._exit(3)\n"
        "class Boom(Strategy):\n"
        "    def on_bar(self, bar):\n"
        "        return 1 / 0\n"
    )
    repo = await open_repository(settings)
    await prepare_database(settings, repo.driver)
    runner = BacktestJobs(settings, repo)
    try:
        jobs = [
            await runner.submit(BacktestSpec(strategy=f"{code}:{name}", data="generated:500"), "t")
            for name in ("Crash", "Boom")
        ]
        ok = await runner.submit(BacktestSpec(strategy="sma_crossover", data="generated:500"), "t")
        for _ in range(600):
            if all(j.status in ("done", "failed") for j in [*jobs, ok]):
                break
            await asyncio.sleep(0.05)
        crash, boom = jobs
        assert crash.status == "failed"
        assert crash.error is not None
        assert "exit code 3" in crash.error
        assert boom.status == "failed"
        assert boom.error is not None
        assert "ZeroDivisionError" in boom.error
        assert "bad.py, line 8, in on_bar" in boom.error
        assert ok.status == "done"
    finally:
        await runner.close()
        await repo.close()


async def test_cli_runs_are_listed_and_api_workers_only_read(tmp_path: Path) -> None:
    settings = job_settings(tmp_path)
    await seed_users(settings)
    # A run of `pi5trading backtest`, recorded as the command records it.
    spec = BacktestSpec(strategy="sma_crossover", data="generated:3000", risk=None)
    result = await asyncio.to_thread(run_spec, spec)
    folder = tmp_path / "reports" / "cli-run"
    await asyncio.to_thread(result.write_report, folder, monte_carlo=False)
    run_id = await asyncio.to_thread(save_run, settings, spec, result, folder / "report.html")
    async with AsyncTestClient(app=create_app(settings, run_backtests=False)) as c:
        tina = bearer((await login(c, "tina"))["access_token"])
        (job,) = (await c.get("/api/v1/backtests", headers=tina)).json()["items"]
        assert job["id"] == run_id
        assert (job["status"], job["submitted_by"], job["data"]) == (
            "done",
            "cli",
            "generated:3000",
        )
        assert job["summary"]["trades"] == len(result.trades)
        report = await c.get(f"/api/v1/backtests/{run_id}/report", headers=tina)
        assert report.status_code == 200
        assert_problem(await c.get(f"/api/v1/backtests/{run_id}/result", headers=tina), 404,
                       "command line")  # fmt: skip
        cmp = (await c.get(f"/api/v1/backtests/compare?ids={run_id}", headers=tina)).json()
        assert cmp["runs"][0]["metrics"]["trades"] == str(len(result.trades))
        # Without job workers here (an API-only worker): reads only.
        r = await c.post("/api/v1/backtests", headers=tina, json={**SMA, "data": "generated:9"})
        assert_problem(r, 503, "pi5trading serve")


async def test_an_api_worker_forwards_jobs_to_the_server_running_them(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    # The node's server (here: an app running the jobs, with the command server the node's
    # lifespan starts) and an API-only worker on one Redis: the worker submits, reads the
    # progress of and cancels the server's jobs; refusals come back with their headers.
    settings = job_settings(
        tmp_path,
        PI5_BACKTESTS__MAX_QUEUED="0",
        PI5_REDIS__URL=redis_server.url,
        PI5_REDIS__KEY_PREFIX=f"bt{os.getpid()}{time.monotonic_ns()}",
    )
    await seed_users(settings)
    serving = [False]

    @asynccontextmanager
    async def command_server(app: Litestar) -> AsyncIterator[None]:
        client = aioredis.from_url(redis_server.url)
        jobs = backtest_commands(lambda: app.state.backtests if serving[0] else None)
        server = CommandServer(client, settings.redis.key_prefix, jobs)
        await server.start()
        try:
            yield
        finally:
            await server.close()
            await client.aclose()

    server_app = create_app(settings, lifespan=[command_server])
    worker_app = create_app(settings, lifespan=[worker_lifespan(settings)], run_backtests=False)
    async with AsyncTestClient(app=server_app), AsyncTestClient(app=worker_app) as w:
        h = bearer((await login(w, "tina"))["access_token"])
        # The server's jobs not started (yet): 503, with its Retry-After.
        r = await w.post("/api/v1/backtests", headers=h, json=LONG)
        assert_problem(r, 503, "runs no jobs")
        assert r.headers["retry-after"] == "5"
        serving[0] = True
        first = await w.post("/api/v1/backtests", headers=h, json=LONG)
        assert first.status_code == 202, first.text
        job = first.json()
        assert job["submitted_by"] == "tina"
        assert job["id"] in server_app.state.backtests.jobs  # queued on the server
        full = await w.post("/api/v1/backtests", headers=h, json=LONG)
        assert_problem(full, 429, "MAX_QUEUED")
        assert full.headers["retry-after"] == "30"
        for _ in range(600):
            live = (await w.get(f"/api/v1/backtests/{job['id']}", headers=h)).json()
            if live["progress"] > 0:
                break
            await asyncio.sleep(0.05)
        assert live["status"] == "running"
        assert live["progress"] > 0  # only the server knows it: storage has none
        listed = (await w.get("/api/v1/backtests", headers=h)).json()["items"]
        assert listed[0]["progress"] > 0
        r = await w.post(f"/api/v1/backtests/{job['id']}/cancel", headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        assert server_app.state.backtests.jobs[job["id"]].status == "cancelled"
        assert_problem(await w.post(f"/api/v1/backtests/{job['id']}/cancel", headers=h), 409)
        # The server's jobs away: a worker still reads a job, as stored (no progress).
        second = (await w.post("/api/v1/backtests", headers=h, json=LONG)).json()
        serving[0] = False
        stored = await w.get(f"/api/v1/backtests/{second['id']}", headers=h)
        assert stored.status_code == 200, stored.text
        assert stored.json()["status"] in ("queued", "running")
        assert stored.json()["progress"] == 0
        assert (await w.get("/api/v1/backtests", headers=h)).status_code == 200
        assert_problem(await w.post(f"/api/v1/backtests/{second['id']}/cancel", headers=h), 503)
        serving[0] = True
        r = await w.post(f"/api/v1/backtests/{second['id']}/cancel", headers=h)
        assert r.json()["status"] == "cancelled"


HOSTILE = """
from pi5trading.strategies.sma_crossover import MovingAverageCrossover


class Hostile(MovingAverageCrossover):
    name = "hostile"
    kept = []

    def on_bar(self, bar):
        {body}
"""


async def test_hostile_strategy_files_fail_their_job_and_nothing_else(tmp_path: Path) -> None:
    # Strategy files reach jobs from the CLI's side (the API takes built-ins only): one
    # that takes memory without bound and one that never returns each fail their own job
    # with the limit it hit, and the server's process is untouched.
    from pi5trading.backtest.jobs import BacktestJobs
    from pi5trading.backtest.spec import BacktestSpec

    hog = tmp_path / "hog.py"
    hog.write_text(HOSTILE.format(body="self.kept.append(bytearray(50_000_000))"))
    spin = tmp_path / "spin.py"
    spin.write_text(HOSTILE.format(body="while True: pass"))
    # Each under its own runner: the hog with time to spare, so the memory limit is what
    # stops it even when the machine is busy (at niceness 7 beside `make test`'s compiles,
    # it once used up a shared 4 s before its memory).
    limits = {"PI5_BACKTESTS__MEMORY_MB": "600", "PI5_BACKTESTS__NICE": "7"}
    settings = job_settings(tmp_path, PI5_BACKTESTS__TIMEOUT_S="4", **limits)
    roomy = job_settings(tmp_path, PI5_BACKTESTS__TIMEOUT_S="120", **limits)
    repo = await open_repository(settings)
    await prepare_database(settings, repo.driver)
    runners = [BacktestJobs(roomy, repo), BacktestJobs(settings, repo)]
    try:
        jobs = [
            await runner.submit(
                BacktestSpec(strategy=f"{path}:Hostile", data="generated:5000", risk=None), "t"
            )
            for runner, path in zip(runners, (hog, spin), strict=True)
        ]
        niceness = set()  # the spinning job's, as the kernel schedules it
        oom = set()
        for _ in range(2400):  # up to 120 s on a busy machine
            if all(j.status in ("done", "failed") for j in jobs):
                break
            if (p := jobs[1].process) is not None and p.pid is not None:
                with contextlib.suppress(ProcessLookupError, FileNotFoundError):
                    niceness.add(os.getpriority(os.PRIO_PROCESS, p.pid))
                    oom.add(_oom_score_adj(p.pid))
            await asyncio.sleep(0.05)
    finally:
        for runner in runners:
            await runner.close()
        await repo.close()
    hogged, spun = jobs
    assert hogged.status == "failed"
    assert "memory limit of 600 MiB (PI5_BACKTESTS__MEMORY_MB)" in str(hogged.error)
    assert spun.status == "failed"
    assert "time limit of 4 s" in str(spun.error)
    # It yielded the CPU to the server (and its node): niceness 7 once it ran.
    assert 7 in niceness, niceness
    # And the kernel's first choice should memory run out: the job, not the node.
    assert jobs_module.OOM_SCORE_ADJ in oom, oom
    for job in jobs:
        assert job.process is not None
        assert gone(job.process.pid)
