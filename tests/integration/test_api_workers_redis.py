"""Redis stopped and started under an API-only worker: the node (`pi5trading serve`) and a
worker (`pi5trading api`) as real processes on a PostgreSQL database and a Redis server of
the test's own.

The worker reaches the node through Redis (commands on a stream, answers and live events
by pub/sub) and checks tokens against the revocations kept there. While Redis is away a
command through the worker must be refused at once with a clear 503 (never a 500, never a
hang, never run later); after the restart commands and live events work again, without
restarting either process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.integration.live_node import (
    admin_headers,
    base_url,
    log_records,
    node_env,
    node_process,
    query,
    seed,
    settings_of,
    status_of,
    stop_node,
    wait_for,
)
from tests.services import RedisServer, free_port

pytestmark = pytest.mark.integration


def _order(url: str, headers: dict[str, str], quantity: str) -> httpx.Response:
    return httpx.post(
        f"{url}/api/v1/orders",
        headers=headers,
        json={"symbol": "AAPL", "side": "buy", "quantity": quantity},
        timeout=30,
    )


def _manual_orders(dsn: str) -> dict[str, str]:
    rows = query(dsn, "SELECT order_id, quantity FROM orders WHERE strategy_id = 'manual'")
    return {r["order_id"]: str(r["quantity"]) for r in rows}


def _filled_on_socket(port: int, token: str, place: Any) -> str:
    """Signs a WebSocket in on the worker, places an order (``place()`` returns its id) and
    waits for its fill to arrive on the socket."""
    with connect(f"ws://127.0.0.1:{port}/ws") as ws:
        ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
        ws.send(json.dumps({"type": "subscribe", "topics": ["orders.>"]}))
        assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
        assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
        oid = str(place())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv(timeout=30))
            if msg.get("topic") == "orders.filled" and oid in json.dumps(msg):
                return oid
        raise AssertionError(f"no fill of {oid} on the worker's socket")


def test_redis_restarted_under_an_api_worker(
    pg_dsn: str, own_redis: RedisServer, tmp_path: Path
) -> None:
    env = node_env(
        pg_dsn,
        own_redis.url,
        f"wr{uuid.uuid4().hex[:8]}",
        tmp_path,
        PI5_FEED__SPEED="120",
        PI5_FEED__SYMBOLS="AAPL",
        PI5_API__RATE_LIMIT_PER_MINUTE="1000",
    )
    seed(settings_of(env), {}, admin="root")
    node_url = base_url(env)
    worker_port = free_port()
    worker_env = {**env, "PI5_API__PORT": str(worker_port)}
    worker = f"http://127.0.0.1:{worker_port}"
    node_log, worker_log = tmp_path / "node.log", tmp_path / "worker.log"
    with node_process(env, node_log) as node:
        wait_for("the node ready", lambda: status_of(node_url, "/ready") == 200, node, node_log)
        with worker_log.open("wb") as out:
            api = subprocess.Popen(
                [sys.executable, "-m", "pi5trading", "api"],
                env=worker_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for("the worker", lambda: status_of(worker, "/health") == 200, api, worker_log)
            headers = admin_headers(worker, "root")
            token = headers["Authorization"].removeprefix("Bearer ")

            def place(quantity: str) -> str:
                r = _order(worker, headers, quantity)
                assert r.status_code == 201, r.text
                return str(r.json()["order"]["id"])

            _filled_on_socket(worker_port, token, lambda: place("1"))

            own_redis.stop()
            refused = _order(worker, headers, "7")
            assert refused.status_code == 503, refused.text
            assert refused.headers.get("Retry-After"), refused.headers
            problem = refused.json()
            # Refused before it could be sent: the token cannot be checked against the
            # revocations kept in Redis (never let through unchecked).
            assert problem["title"] == "Service unavailable", problem
            assert problem["detail"].startswith("token revocations unreadable"), problem
            # The worker's /ready says so, naming Redis (it said ready: a load balancer
            # would have kept sending it requests it could only refuse).
            ready = httpx.get(f"{worker}/ready", timeout=10)
            assert ready.status_code == 503, ready.text
            assert ready.json()["checks"]["redis"]["ok"] is False
            assert ready.json()["checks"]["database"]["ok"] is True
            time.sleep(2)

            own_redis.start()
            wait_for("the worker ready", lambda: status_of(worker, "/ready") == 200, api,
                     worker_log, 30)  # fmt: skip
            # Commands and live events through the worker again, neither process restarted.
            again = _filled_on_socket(worker_port, token, lambda: place("2"))
            time.sleep(1)
            # The refused order never ran: the node has the two placed, nothing else.
            orders = _manual_orders(pg_dsn)
            assert sorted(orders.values()) == ["1", "2"], orders
            assert again in orders
        finally:
            api.terminate()
            api.wait(30)
        text = stop_node(node, node_log)
    # The node's command server said it once each way, and made its group again.
    messages = [r["message"] for r in log_records(text)]
    assert sum(m.startswith("command stream unreadable") for m in messages) == 1
    assert any(m.startswith("command stream: consumer group made again") for m in messages)
