"""The services under a trading node going away and coming back: a real `pi5trading serve`
with three strategies on the simulated feed, its own PostgreSQL and Redis servers, each
stopped for a few seconds while it trades and started again.

What must hold: the node keeps trading; nothing it did is lost or doubled in storage (the
fills it logged as they happened are the fills stored, once each); positions and cash
reconcile; the breaker, `/ready` and the log say what happened, and all is well after.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.integration.live_node import (
    STRATEGIES,
    admin_headers,
    base_url,
    check_books,
    check_orders_and_fills,
    count_fills,
    get_json,
    log_records,
    logged_fills,
    node_env,
    node_process,
    query,
    seed,
    settings_of,
    stop_node,
    stored_fills,
    wait_for,
)
from tests.proof import scale
from tests.services import PostgresServer, RedisServer

pytestmark = pytest.mark.integration

OUTAGE_S = 3.0
"""How long a service stays away once the node has noticed (seconds)."""


def _readiness(url: str) -> tuple[int, dict[str, Any]]:
    r = httpx.get(url + "/ready", timeout=10)
    return r.status_code, r.json()["checks"]


@pytest.mark.parametrize(
    "stop_mode",
    [
        "fast",
        pytest.param(
            "immediate",
            marks=pytest.mark.skipif(
                scale() == 1,
                reason="make proof only (PROOF_SCALE > 1): the server killed without a "
                "clean shutdown (pg_ctl -m immediate), crash recovery at its restart",
            ),
        ),
    ],
)
def test_postgres_stopped_and_started_under_trading_loses_and_doubles_nothing(
    own_postgres: PostgresServer, redis_server: RedisServer, tmp_path: Path, stop_mode: str
) -> None:
    dsn = own_postgres.dsn
    env = node_env(
        dsn,
        redis_server.url,
        f"pgout{uuid.uuid4().hex[:8]}",
        tmp_path,
        # A trial write one second after the breaker opens: the test need not wait 30 s.
        PI5_DATABASE__BREAKER_RESET_TIMEOUT_S="1",
        PI5_DATABASE__COMMAND_TIMEOUT_S="5",
        PI5_FEED__SPEED="600",
        # Trading all along: the session's order count is not what is tested here.
        PI5_RISK__MAX_ORDERS_PER_SESSION="1000000",
    )
    settings = settings_of(env)
    seed(settings, admin="root")
    url = base_url(env)
    log = tmp_path / "node.log"
    seen_not_ready: dict[str, Any] = {}
    with node_process(env, log) as proc:
        wait_for("fills", lambda: count_fills(dsn) >= 6, proc, log)
        wait_for("ready", lambda: _readiness(url)[0] == 200, proc, log)
        admin = admin_headers(url, "root")
        assert get_json(url, "/api/v1/system/breakers", admin)["database:node"]["state"] == "closed"

        own_postgres.stop(stop_mode)
        before_outage = sum(logged_fills(log.read_text()).values())

        def node_breaker_open() -> bool:
            code, checks = _readiness(url)
            if code == 503 and not checks["breaker:database:node"]["ok"]:
                seen_not_ready.update(checks)
                return True
            return False

        wait_for("the node's breaker to open", node_breaker_open, proc, log, 30)
        assert "pi5_database_breaker_open 1.0" in httpx.get(f"{url}/metrics", timeout=10).text
        # Trading goes on while the database is away; the writer journals.
        wait_for(
            "fills during the outage",
            lambda: sum(logged_fills(log.read_text()).values()) >= before_outage + 3,
            proc,
            log,
        )
        # An operator's action while it is away: halt one strategy, then resume it (two
        # risk events, each an audit row through the journal).
        for state in ("halted", "active"):
            r = httpx.post(
                f"{url}/api/v1/risk/state",
                json={"state": state, "reason": "outage drill", "strategy_id": "bb"},
                headers=admin,
                timeout=10,
            )
            assert r.status_code == 200, r.text
        time.sleep(OUTAGE_S)
        writer = get_json(url, "/api/v1/system/status", admin)["writer"]
        assert writer["journal_pending"] > 0, writer
        assert writer["breaker"]["times_opened"] >= 1

        own_postgres.start()

        def recovered() -> bool:
            w = get_json(url, "/api/v1/system/status", admin)["writer"]
            return bool(
                w["breaker"]["state"] == "closed"
                and w["journal_pending"] == 0
                and _readiness(url)[0] == 200
            )

        wait_for("the journal replayed and ready again", recovered, proc, log, 60)
        scraped = httpx.get(f"{url}/metrics", timeout=10).text
        assert "pi5_database_breaker_open 0.0" in scraped
        assert "pi5_writer_journal_pending 0.0" in scraped
        after = count_fills(dsn)
        wait_for("fills after the outage", lambda: count_fills(dsn) >= after + 3, proc, log)
        text = stop_node(proc, log)

    # While it was away, /ready said so, naming the database and the node's breaker.
    assert seen_not_ready["database"]["ok"] is False
    assert seen_not_ready["breaker:database:node"] == {"ok": False, "detail": "open"}
    # The log tells the story: the breaker opened, events went to the journal, were
    # replayed, and the breaker closed again.
    messages = [r["message"] for r in log_records(text)]
    assert any(m.startswith("circuit 'database' open after") for m in messages)
    assert any(m.startswith("the database cannot take events: holding them in") for m in messages)
    assert any(m.startswith("replayed ") and "journaled events" in m for m in messages)
    assert any(m.startswith("circuit 'database' closed again") for m in messages)

    # Every fill the node logged as it happened is stored, once; nothing else is.
    logged, stored = logged_fills(text), stored_fills(dsn)
    assert sum(logged.values()) > before_outage + 3
    assert logged == stored, (logged - stored, stored - logged)
    fills = check_orders_and_fills(dsn)
    assert {r["strategy_id"] for r in fills} == set(STRATEGIES)
    check_books(settings, redis_server.url, list(STRATEGIES))
    # The operator's halt and resume made during the outage: each risk event stored once.
    changes = query(
        dsn,
        "SELECT details->>'to' AS to_state, count(*) AS n FROM audit_log"
        " WHERE action = 'risk.state_changed' AND resource = 'bb' GROUP BY 1",
    )
    assert {r["to_state"]: r["n"] for r in changes} == {"halted": 1, "active": 1}
    # The API's own audit rows of those two requests, kept in the node's journal.
    drills = query(
        dsn,
        "SELECT count(*) FROM audit_log WHERE action = 'risk.set_state'"
        " AND details->>'reason' = 'outage drill'",
    )
    assert drills[0][0] == 2
    started = query(dsn, "SELECT count(*) FROM audit_log WHERE action = 'node.start'")
    assert started[0][0] == 1


def _live_client(url: str, headers: dict[str, str]) -> ClientConnection:
    """A WebSocket client signed in and subscribed to the orders, past its snapshot."""
    ws = connect(url.replace("http://", "ws://") + "/ws")
    token = headers["Authorization"].removeprefix("Bearer ")
    ws.send(json.dumps({"type": "auth", "token": token}))
    assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
    ws.send(json.dumps({"type": "subscribe", "topics": ["orders.>"]}))
    assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
    assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
    return ws


def _read_until_closed(ws: ClientConnection) -> None:
    while True:
        ws.recv(timeout=30)


def _next_order(ws: ClientConnection) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        msg = json.loads(ws.recv(timeout=30))
        if msg.get("type") == "order":
            return dict(msg)
    raise AssertionError("no order event within 30 s")


def test_redis_stopped_and_started_under_trading_the_node_trades_on(
    pg_dsn: str, own_redis: RedisServer, tmp_path: Path
) -> None:
    env = node_env(
        pg_dsn,
        own_redis.url,
        f"redisout{uuid.uuid4().hex[:8]}",
        tmp_path,
        PI5_FEED__SPEED="600",
        PI5_RISK__MAX_ORDERS_PER_SESSION="1000000",
    )
    settings = settings_of(env)
    seed(settings, admin="root")
    url = base_url(env)
    log = tmp_path / "node.log"
    with node_process(env, log) as proc:
        wait_for("fills", lambda: count_fills(pg_dsn) >= 6, proc, log)
        wait_for("ready", lambda: _readiness(url)[0] == 200, proc, log)
        admin = admin_headers(url, "root")
        first = _live_client(url, admin)
        _next_order(first)

        own_redis.stop()
        # The live client is told at once, with a code that says "come back later".
        with pytest.raises(ConnectionClosed) as closed:
            _read_until_closed(first)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1013, closed.value.rcvd
        assert "Redis" in closed.value.rcvd.reason
        not_ready: dict[str, Any] = {}

        def redis_not_ready() -> bool:
            code, checks = _readiness(url)
            if code == 503 and not checks["redis"]["ok"]:
                not_ready.update(checks)
                return True
            return False

        wait_for("/ready to name Redis", redis_not_ready, proc, log, 30)
        # The shared rate limits and revocations live in Redis: a request is refused with
        # 503 and Retry-After (it was a 500), never let through unchecked.
        refused = httpx.get(f"{url}/api/v1/system/status", headers=admin, timeout=10)
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] == "5"
        # The node trades on, storage untouched: fills keep being stored.
        during = count_fills(pg_dsn)
        wait_for("fills while Redis is away", lambda: count_fills(pg_dsn) >= during + 3, proc, log)
        time.sleep(OUTAGE_S)

        own_redis.start()
        wait_for("ready again", lambda: _readiness(url)[0] == 200, proc, log, 60)
        # A client signing in again gets the node's events again.
        second = _live_client(url, admin_headers(url, "root"))
        event = _next_order(second)
        assert event["topic"].startswith("orders.")
        second.close()
        text = stop_node(proc, log)

    assert not_ready["database"]["ok"]
    assert not_ready["node"]["ok"]
    messages = [r["message"] for r in log_records(text)]
    # Said once each way, not once per batch.
    lost = [m for m in messages if m.startswith("channel messages lost: Redis unreachable")]
    back = [m for m in messages if m.startswith("channel messages published again")]
    assert len(lost) == len(back) == 1, (lost, back)
    assert any(m.startswith("latest state copied to Redis again in full") for m in messages)
    # Nothing lost or doubled in storage; positions and cash reconcile, and the latest
    # state in Redis (empty after its restart) was copied again in full.
    assert logged_fills(text) == stored_fills(pg_dsn)
    check_orders_and_fills(pg_dsn)
    check_books(settings, own_redis.url, list(STRATEGIES))
