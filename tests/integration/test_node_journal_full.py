"""The journal's disk full under a running node (issue 17): a real `pi5trading serve`
trading on its own PostgreSQL, its journal on a 64 KiB tmpfs. PostgreSQL is stopped: the
writer journals until the disk is full, then holds events in memory; once the storage
backlog passes `PI5_SINKS__BACKLOG_MAX` the engine stops stepping (trading pauses, the
feed waits) instead of growing without bound or dropping anything.

What must hold: the pause is said (a log line, `/ready`'s node check, `pi5_node_paused`,
the journal failing in `/metrics` and the status, a Gotify alert), the API keeps
answering, nothing trades while paused; once PostgreSQL is back the journal and the memory
are written, trading goes on by itself, and every fill the node logged is stored once, the
books reconcile.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

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
    metric,
    node_env,
    node_process,
    seed,
    settings_of,
    stop_node,
    stored_fills,
    wait_for,
)
from tests.integration.test_journal_disk_full import tiny_disk  # noqa: F401 (fixture)
from tests.services import PostgresServer, RedisServer
from tests.standins.gotify import GotifyStandIn
from tests.standins.server import serve

pytestmark = pytest.mark.integration

BACKLOG_MAX = 3000


def _scraped(url: str, name: str) -> float:
    value = metric(httpx.get(f"{url}/metrics", timeout=10).text, name)
    assert value is not None, f"{name} not in /metrics"
    return value


def _writer(url: str, admin: dict[str, str]) -> dict[str, Any]:
    writer: dict[str, Any] = get_json(url, "/api/v1/system/status", admin)["writer"]
    return writer


def test_a_full_journal_disk_pauses_trading_and_loses_nothing(
    own_postgres: PostgresServer,
    redis_server: RedisServer,
    tiny_disk: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    dsn = own_postgres.dsn
    journal = tiny_disk / "events.journal"
    gotify = GotifyStandIn()
    with serve(gotify.app()) as gotify_url:
        env = node_env(
            dsn,
            redis_server.url,
            f"jfull{uuid.uuid4().hex[:8]}",
            tmp_path,
            PI5_DATABASE__JOURNAL_PATH=str(journal),
            PI5_DATABASE__BREAKER_RESET_TIMEOUT_S="1",
            PI5_DATABASE__COMMAND_TIMEOUT_S="5",
            PI5_SINKS__BACKLOG_MAX=str(BACKLOG_MAX),
            PI5_FEED__SPEED="600",
            PI5_RISK__MAX_ORDERS_PER_SESSION="1000000",
            PI5_ALERTS__GOTIFY_URL=gotify_url,
            PI5_ALERTS__GOTIFY_TOKEN=gotify.token,
        )
        settings = settings_of(env)
        seed(settings, admin="root")
        url = base_url(env)
        log = tmp_path / "node.log"
        with node_process(env, log) as proc:
            wait_for("fills", lambda: count_fills(dsn) >= 6, proc, log)
            admin = admin_headers(url, "root")
            own_postgres.stop()
            wait_for("the journal full", lambda: _writer(url, admin)["journal_error"] is not None,
                     proc, log, 60)  # fmt: skip
            wait_for(
                "trading paused", lambda: _scraped(url, "pi5_node_paused") == 1.0, proc, log, 60
            )
            # Paused: the engine's time and the fills logged stand still, memory is bounded.
            engine_time = httpx.get(f"{url}/api/v1/system/status", headers=admin, timeout=10)
            fills_paused = sum(logged_fills(log.read_text()).values())
            time.sleep(2.0)
            later = httpx.get(f"{url}/api/v1/system/status", headers=admin, timeout=10).json()
            assert later["engine_time"] == engine_time.json()["engine_time"]
            assert sum(logged_fills(log.read_text()).values()) == fills_paused
            writer = later["writer"]
            assert "No space left on device" in writer["journal_error"]
            assert writer["journal_pending"] > 0
            assert 0 < writer["buffered"] <= BACKLOG_MAX + 1000  # a batch past the limit at most
            assert _scraped(url, "pi5_writer_journal_failing") == 1.0
            assert _scraped(url, "pi5_node_paused_seconds_total") >= 2.0
            # The API answers on: /ready names the database.
            r = httpx.get(f"{url}/ready", timeout=10)
            assert r.status_code == 503
            checks = r.json()["checks"]
            assert checks["database"]["ok"] is False
            assert re.fullmatch(r"paused \d+ s: waiting for storage", checks["node"]["detail"])
            assert checks["node"]["ok"] is False

            own_postgres.start()

            def recovered() -> bool:
                w = _writer(url, admin)
                return bool(
                    w["journal_pending"] == 0
                    and w["buffered"] < 100
                    and w["journal_error"] is None
                    and _scraped(url, "pi5_node_paused") == 0.0
                    and httpx.get(f"{url}/ready", timeout=10).status_code == 200
                )

            wait_for("stored and trading again", recovered, proc, log, 90)
            after = count_fills(dsn)
            wait_for("fills after", lambda: count_fills(dsn) >= after + 3, proc, log, 60)
            text = stop_node(proc, log)

    messages = [r["message"] for r in log_records(text)]
    assert any(f"the journal {journal} cannot be written" in m for m in messages)
    assert any(m.startswith("trading paused: waiting for storage to catch up") for m in messages)
    assert any(re.match(r"trading goes on after \d+\.\d s waiting", m) for m in messages)
    assert any(m.startswith("journal trouble over") for m in messages)
    # The phone heard it: the pause (critical) and its end.
    received = {a["title"]: a["priority"] for a in gotify.received}
    assert received["Trading paused: waiting for storage"] == 8
    assert received["Trading goes on"] == 2
    # Every fill the node logged is stored, once; the books reconcile.
    logged, stored = logged_fills(text), stored_fills(dsn)
    assert sum(logged.values()) > fills_paused
    assert logged == stored, (logged - stored, stored - logged)
    fills = check_orders_and_fills(dsn)
    assert {r["strategy_id"] for r in fills} == set(STRATEGIES)
    check_books(settings, redis_server.url, list(STRATEGIES))
