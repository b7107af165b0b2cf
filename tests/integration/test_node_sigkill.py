"""The node killed with SIGKILL in the middle of fills, then restarted: a real
`pi5trading serve` process with three strategies on the simulated feed, against the real
PostgreSQL and Redis. Nothing lost or doubled: orders, fills, positions and cash agree with
the event log, and trading resumes."""

from __future__ import annotations

import contextlib
import re
import signal
import uuid
from pathlib import Path

import pytest

from tests.integration.live_node import (
    STRATEGIES,
    check_books,
    check_orders_and_fills,
    count_fills,
    node_env,
    query,
    seed,
    settings_of,
    start_node,
    stop_node,
    wait_for,
)
from tests.services import RedisServer

pytestmark = pytest.mark.integration


def _open_orders(dsn: str) -> list[str]:
    rows = query(dsn, "SELECT order_id FROM orders WHERE status IN ('accepted', 'submitted')")
    return [r["order_id"] for r in rows]


def test_a_node_killed_mid_fills_restarts_with_nothing_lost_or_doubled(
    pg_dsn: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = node_env(pg_dsn, redis_server.url, f"sigkill{uuid.uuid4().hex[:8]}", tmp_path)
    settings = settings_of(env)
    seed(settings)

    # 1. Run, and kill it while fills are coming.
    log1 = tmp_path / "first.log"
    first = start_node(env, log1)
    try:
        wait_for("fills", lambda: count_fills(pg_dsn) >= 12, first, log1)
        n = count_fills(pg_dsn)
        wait_for("more fills", lambda: count_fills(pg_dsn) > n, first, log1)
        # Killed while orders are working (sent, not yet filled), when it can be caught.
        with contextlib.suppress(AssertionError):
            wait_for("working orders", lambda: bool(_open_orders(pg_dsn)), first, log1, 10)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == -signal.SIGKILL
    before = {r["fill_id"] for r in query(pg_dsn, "SELECT fill_id FROM fills")}
    (last_ts,) = query(pg_dsn, "SELECT max(ts_ns) FROM fills")[0]
    orders_before = {r["order_id"] for r in query(pg_dsn, "SELECT order_id FROM orders")}
    working = _open_orders(pg_dsn)

    # 2. Restart on the same storage; trading goes on; then a graceful stop.
    log2 = tmp_path / "second.log"
    second = start_node(env, log2)
    try:
        wait_for(
            "fills after the restart",
            lambda: (
                query(pg_dsn, "SELECT count(*) FROM fills WHERE ts_ns > $1", last_ts)[0][0] >= 6
            ),
            second,
            log2,
        )
    except BaseException:
        second.kill()
        raise
    text = stop_node(second, log2)
    assert "recovered from storage" in text
    if working:
        # The orders working at the kill went back to work (or were closed with a reason).
        m = re.search(r"(\d+) working orders restored, (\d+) orders closed", text)
        assert m is not None
        assert int(m[1]) + int(m[2]) == len(working)

    # Nothing stored before the kill was lost; nothing doubled (each order submitted once:
    # no client order id reused after the restart); nothing left working (shutdown cancels).
    fills = check_orders_and_fills(pg_dsn)
    assert before <= {r["fill_id"] for r in fills}
    # Every order sent after the restart is numbered after those sent before it.
    orders = {r["order_id"] for r in query(pg_dsn, "SELECT order_id FROM orders")}
    for sid in STRATEGIES:
        old = [int(o.rpartition("-")[2]) for o in orders_before if o.startswith(f"{sid}-")]
        new = [int(o.rpartition("-")[2]) for o in orders if o.startswith(f"{sid}-")
               and o not in orders_before]  # fmt: skip
        if old and new:
            assert min(new) > max(old), sid

    # Positions and cash agree with the event log.
    check_books(settings, redis_server.url, list(STRATEGIES))
    # Each strategy traded, and trading resumed after the restart.
    assert {r["strategy_id"] for r in fills} == set(STRATEGIES)
    assert any(r["ts_ns"] > last_ts for r in fills)
