"""The node and two API-only workers as real processes sharing the real PostgreSQL and
Redis: an order submitted through worker A is filled by the node and seen by a WebSocket
client connected to worker B; with the node gone, a worker answers 503."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.services import RedisServer, free_port

pytestmark = pytest.mark.integration

PASSWORD = "a trader's password"


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pi5trading", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _ready(base: str, proc: subprocess.Popen[bytes], log: Path, path: str = "/health") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(base + path, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base} never became ready:\n{log.read_text()[-3000:]}")


def test_an_order_through_worker_a_is_seen_on_worker_b(
    pg_dsn: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PI5_")}
    env.update(
        {
            "PI5_DATA_DIR": str(tmp_path),
            "PI5_DATABASE__URL": pg_dsn,
            "PI5_REDIS__URL": redis_server.url,
            "PI5_REDIS__KEY_PREFIX": f"w{uuid.uuid4().hex[:8]}",
            "PI5_AUTH__JWT_SECRET": "a signing secret shared by every process here",
            "PI5_NODE__DEMO_STRATEGIES": "false",
            "PI5_FEED__SPEED": "120",
            "PI5_FEED__SYMBOLS": "AAPL",
            "PI5_LOGGING__FORMAT": "text",
            # One client address for every request here, counted across the processes.
            "PI5_API__RATE_LIMIT_PER_MINUTE": "1000",
        }
    )
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "pi5trading",
            "user",
            "create",
            "--trader",
            "tina",
            "--password-stdin",
        ],
        env=env,
        input=PASSWORD + "\n",
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    node_port, a_port, b_port = free_port(), free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        node = _start(["serve", "--port", str(node_port)], env, tmp_path / "node.log")
        procs.append(node)
        _ready(f"http://127.0.0.1:{node_port}", node, tmp_path / "node.log", "/ready")
        worker_a = _start(["api", "--port", str(a_port)], env, tmp_path / "a.log")
        worker_b = _start(["api", "--port", str(b_port)], env, tmp_path / "b.log")
        procs += [worker_a, worker_b]
        a, b = f"http://127.0.0.1:{a_port}", f"http://127.0.0.1:{b_port}"
        _ready(a, worker_a, tmp_path / "a.log")
        _ready(b, worker_b, tmp_path / "b.log")
        # Signed in on A; the token works on B too (one secret, one users table).
        r = httpx.post(f"{a}/api/v1/auth/login", json={"username": "tina", "password": PASSWORD})
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        with connect(f"ws://127.0.0.1:{b_port}/ws") as ws:
            ws.send(json.dumps({"type": "auth", "token": token}))
            assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
            ws.send(json.dumps({"type": "subscribe", "topics": ["orders.>"]}))
            assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
            assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
            placed = httpx.post(
                f"{a}/api/v1/orders",
                headers={"Authorization": f"Bearer {token}"},
                json={"symbol": "AAPL", "side": "buy", "quantity": "3"},
                timeout=15,
            )
            assert placed.status_code == 201, placed.text
            oid = placed.json()["order"]["id"]
            seen: list[dict[str, Any]] = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                msg = json.loads(ws.recv(timeout=30))
                seen.append(msg)
                if msg.get("topic") == "orders.filled" and oid in json.dumps(msg):
                    break
            else:
                raise AssertionError(f"no fill of {oid} on worker B: {seen[-5:]}")
        # The node's book agrees: the order is filled there (read through worker B).
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            detail = httpx.get(f"{b}/api/v1/orders/{oid}", headers=headers)
            if detail.status_code == 200 and detail.json()["order"]["status"] == "filled":
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"order {oid} not stored as filled: {detail.text}")
        # The node's live state, read through a worker: the position the fill made.
        held = httpx.get(f"{b}/api/v1/portfolio/positions?strategy=manual", headers=headers)
        assert held.status_code == 200, held.text
        assert [(p["symbol"], p["quantity"]) for p in held.json()] == [("AAPL", "3")]
        summary = httpx.get(f"{a}/api/v1/portfolio/summary", headers=headers).json()
        assert summary["open_positions"] == 1
        quotes = httpx.get(f"{b}/api/v1/market/quotes", headers=headers).json()
        assert [q["symbol"] for q in quotes] == ["AAPL"]
        # A resting order placed on B, changed on A, refused by risk when too large.
        price = f"{float(quotes[0]['price']) * 0.95:.2f}"
        rest = httpx.post(
            f"{b}/api/v1/orders",
            headers=headers,
            timeout=15,
            json={
                "symbol": "AAPL",
                "side": "buy",
                "quantity": "2",
                "type": "limit",
                "price": price,
            },
        )
        assert rest.status_code == 201, rest.text
        rid = rest.json()["order"]["id"]
        changed = httpx.patch(f"{a}/api/v1/orders/{rid}", headers=headers, json={"quantity": "3"})
        assert changed.status_code == 200, changed.text
        assert changed.json()["quantity"] == "3"
        refused = httpx.patch(
            f"{a}/api/v1/orders/{rid}", headers=headers, json={"quantity": "100000"}
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "max_quantity"
        cancelled = httpx.delete(f"{b}/api/v1/orders/{rid}", headers=headers)
        assert cancelled.json()["status"] == "cancelled"
        # Strategies and risk through the workers too: created on A, paused on B, listed on
        # A with its P&L from the node; an unknown one is a 404 carried back from the node.
        made = httpx.post(
            f"{a}/api/v1/strategies",
            headers=headers,
            timeout=15,
            json={"id": "w-sma", "type": "sma_crossover", "parameters": {"fast": 3, "slow": 8}},
        )
        assert made.status_code == 201, made.text
        assert made.json()["status"] == "running"
        paused = httpx.post(f"{b}/api/v1/strategies/w-sma/pause", headers=headers, timeout=15)
        assert paused.status_code == 200, paused.text
        assert paused.json()["status"] == "paused"
        listed = httpx.get(f"{a}/api/v1/strategies", headers=headers, timeout=15).json()
        assert {s["id"]: s["status"] for s in listed}["w-sma"] == "paused"
        missing = httpx.post(f"{b}/api/v1/strategies/nope/stop", headers=headers, timeout=15)
        assert missing.status_code == 404, missing.text
        risk = httpx.get(f"{b}/api/v1/risk", headers=headers, timeout=15)
        assert risk.status_code == 200, risk.text
        assert risk.json()["state"] == "active"
        gone = httpx.delete(f"{a}/api/v1/strategies/w-sma", headers=headers, timeout=15)
        assert gone.status_code == 204, gone.text
        _backtests_through_workers(a, b, b_port, token)
        # The node goes away: a worker answers 503 (not a hang, not a 500).
        node.send_signal(signal.SIGTERM)
        node.wait(30)
        r = httpx.post(
            f"{a}/api/v1/orders",
            headers=headers,
            json={"symbol": "AAPL", "side": "buy", "quantity": "4"},
            timeout=30,
        )
        assert r.status_code == 503, r.text
        assert "did not answer" in r.json()["detail"]
        # Finished backtests are still read from storage through a worker.
        listed = httpx.get(f"{b}/api/v1/backtests", headers=headers, timeout=15)
        assert listed.status_code == 200, listed.text
        assert {j["status"] for j in listed.json()["items"]} == {"done", "cancelled"}
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()


def _backtests_through_workers(a: str, b: str, b_port: int, token: str) -> None:
    """A backtest submitted through worker A runs in the node's server; its progress comes
    to a WebSocket of worker B, and its result and report are read through B. A long one
    is cancelled through B."""
    headers = {"Authorization": f"Bearer {token}"}
    body = {"strategy": "sma_crossover", "params": {"fast": 5, "slow": 20}}
    bad = httpx.post(
        f"{a}/api/v1/backtests", headers=headers, json={**body, "data": "generated:0"}, timeout=15
    )
    assert bad.status_code == 422, bad.text  # checked by the worker, before the node
    assert bad.json()["errors"][0]["field"] == "data"
    with connect(f"ws://127.0.0.1:{b_port}/ws") as ws:
        ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
        ws.send(json.dumps({"type": "subscribe", "topics": ["backtests"]}))
        assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
        assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
        sent = httpx.post(
            f"{a}/api/v1/backtests",
            headers=headers,
            json={**body, "data": "generated:200000:7"},
            timeout=15,
        )
        assert sent.status_code == 202, sent.text
        job = sent.json()
        assert (job["status"], job["submitted_by"], job["bars_total"]) == (
            "queued",
            "tina",
            200_000,
        )
        statuses: list[str] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv(timeout=90))
            if msg.get("type") != "backtest" or msg["job"]["id"] != job["id"]:
                continue
            statuses.append(msg["job"]["status"])
            if msg["job"]["status"] in ("done", "failed", "cancelled"):
                break
        else:
            raise AssertionError(f"backtest {job['id']} did not finish: {statuses[-5:]}")
    assert statuses[-1] == "done", statuses
    assert "running" in statuses
    done = httpx.get(f"{b}/api/v1/backtests/{job['id']}", headers=headers, timeout=15)
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["progress"]) == ("done", 1.0)
    assert done.json()["summary"]["trades"] > 0
    result = httpx.get(f"{b}/api/v1/backtests/{job['id']}/result", headers=headers, timeout=15)
    assert result.status_code == 200, result.text
    assert result.json()["equity"]
    assert result.json()["trades_total"] == done.json()["summary"]["trades"]
    report = httpx.get(f"{b}/api/v1/backtests/{job['id']}/report", headers=headers, timeout=15)
    assert report.status_code == 200
    assert "<html" in report.text.lower()
    # A long one: its live progress read through B (from the node), cancelled through B.
    long = httpx.post(
        f"{a}/api/v1/backtests",
        headers=headers,
        json={"strategy": "bollinger_reversion", "data": "generated:2000000"},
        timeout=15,
    ).json()
    # Progress is the node's alone (storage has none until the end): a progress above 0
    # read through B came from the node's server.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        live = httpx.get(f"{b}/api/v1/backtests/{long['id']}", headers=headers, timeout=15)
        assert live.status_code == 200, live.text
        if live.json()["status"] == "running" and live.json()["progress"] > 0:
            break
        time.sleep(0.25)
    else:
        raise AssertionError(f"no progress of {long['id']} through worker B: {live.text}")
    assert live.json()["bars_total"] == 2_000_000
    assert live.json()["bars_done"] > 0
    stopped = httpx.post(f"{b}/api/v1/backtests/{long['id']}/cancel", headers=headers, timeout=15)
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "cancelled"
    again = httpx.post(f"{a}/api/v1/backtests/{long['id']}/cancel", headers=headers, timeout=15)
    assert again.status_code == 409, again.text
    page = httpx.get(f"{a}/api/v1/backtests", headers=headers, timeout=15).json()
    assert {j["id"]: j["status"] for j in page["items"]} == {
        job["id"]: "done",
        long["id"]: "cancelled",
    }
