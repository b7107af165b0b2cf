"""The services under a trading node going away and coming back: a real `pi5trading serve`
with three strategies on the simulated feed, its own PostgreSQL and Redis servers, each
stopped for a few seconds while it trades and started again.

What must hold: the node keeps trading; nothing it did is lost or doubled in storage (the
fills it logged as they happened are the fills stored, once each); positions and cash
reconcile; the breaker, `/ready` and the log say what happened, and all is well after.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.contract.databases import migrate_sync
from tests.integration.live_node import (
    STRATEGIES,
    admin_headers,
    base_url,
    check_books,
    check_orders_and_fills,
    count_fills,
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
from tests.services import PostgresServer, RedisServer

pytestmark = pytest.mark.integration

OUTAGE_S = 3.0
"""How long a service stays away once the node has noticed (seconds)."""


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test alone: stopping it disturbs no other test."""
    server = PostgresServer()
    try:
        server.start()
        migrate_sync("postgres", server.dsn)
        yield server
    finally:
        server.close()


def _get(url: str, path: str, headers: dict[str, str] | None = None) -> Any:
    r = httpx.get(url + path, headers=headers, timeout=10)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()


def _readiness(url: str) -> tuple[int, dict[str, Any]]:
    r = httpx.get(url + "/ready", timeout=10)
    return r.status_code, r.json()["checks"]


def test_postgres_stopped_and_started_under_trading_loses_and_doubles_nothing(
    own_postgres: PostgresServer, redis_server: RedisServer, tmp_path: Path
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
        assert _get(url, "/api/v1/system/breakers", admin)["database:node"]["state"] == "closed"

        own_postgres.stop("fast")
        before_outage = sum(logged_fills(log.read_text()).values())

        def node_breaker_open() -> bool:
            code, checks = _readiness(url)
            if code == 503 and not checks["breaker:database:node"]["ok"]:
                seen_not_ready.update(checks)
                return True
            return False

        wait_for("the node's breaker to open", node_breaker_open, proc, log, 30)
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
        writer = _get(url, "/api/v1/system/status", admin)["writer"]
        assert writer["journal_pending"] > 0, writer
        assert writer["breaker"]["times_opened"] >= 1

        own_postgres.start()

        def recovered() -> bool:
            w = _get(url, "/api/v1/system/status", admin)["writer"]
            return bool(
                w["breaker"]["state"] == "closed"
                and w["journal_pending"] == 0
                and _readiness(url)[0] == 200
            )

        wait_for("the journal replayed and ready again", recovered, proc, log, 60)
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
