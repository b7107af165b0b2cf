"""A real `pi5trading serve` killed with SIGKILL while a backtest job runs: the job's
worker process does not outlive it, and the restarted server shows the job failed,
"interrupted by a restart"."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pi5trading.backtest.jobs import INTERRUPTED
from pi5trading.config import load_settings
from tests.services import free_port
from tests.unit.api.test_auth import PASSWORDS, seed_users

pytestmark = pytest.mark.integration


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command may hold spaces and parentheses: the fields follow the last ')'.
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pi5trading", "serve"], env=env, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip


def _wait(what: str, check: Callable[[], Any], log: Path, limit: float = 60) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            got = check()
        except httpx.TransportError:
            got = None
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


def test_a_killed_server_leaves_no_worker_and_its_job_is_failed_at_restart(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PI5_")}
    env |= {
        "PI5_DATA_DIR": str(tmp_path),
        "PI5_API__PORT": str(port),
        "PI5_NODE__DEMO_STRATEGIES": "false",
        "PI5_API__RATE_LIMIT_PER_MINUTE": "100000",
    }
    asyncio.run(seed_users(load_settings(env=env, dotenv_path=None)))
    log = tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    proc = _start(env, log)
    try:
        _wait("the server", lambda: httpx.get(f"{base}/health", timeout=1).is_success, log)
        token = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"username": "tina", "password": PASSWORDS["tina"]},
            timeout=10,
        ).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        body = {"strategy": "bollinger_reversion", "data": "generated:2000000"}
        r = httpx.post(f"{base}/api/v1/backtests", headers=h, json=body, timeout=10)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]

        def running() -> bool:
            job = httpx.get(f"{base}/api/v1/backtests/{job_id}", headers=h, timeout=5).json()
            return bool(job["status"] == "running" and job["bars_done"] > 0)

        _wait("the job to run", running, log)
        workers = [c for c in _children(proc.pid) if _alive(c)]
        assert workers, "no worker process"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        # The kernel ends the worker with its server (PR_SET_PDEATHSIG), at once.
        _wait("the workers to end", lambda: not any(_alive(w) for w in workers), log, 5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    proc = _start(env, log)
    try:
        _wait("the restart", lambda: httpx.get(f"{base}/health", timeout=1).is_success, log)
        token = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"username": "vic", "password": PASSWORDS["vic"]},
            timeout=10,
        ).json()["access_token"]
        job = httpx.get(
            f"{base}/api/v1/backtests/{job_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        assert job["status"] == "failed"
        assert job["error"] == INTERRUPTED
        assert job["submitted_by"] == "tina"
    finally:
        proc.terminate()
        proc.wait(20)
