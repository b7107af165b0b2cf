"""The node killed with SIGKILL in the middle of fills, then restarted: a real
`pi5trading serve` process with three strategies on the simulated feed, against the real
PostgreSQL and Redis. Nothing lost or doubled: orders, fills, positions and cash agree with
the event log, and trading resumes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from pi5trading.config import Settings, load_settings
from pi5trading.sinks.cache import RedisLatestState
from pi5trading.sinks.records import ACCOUNT
from pi5trading.sinks.recovery import rebuild_portfolio
from pi5trading.sinks.storage import record_strategy
from pi5trading.storage.connect import open_repository
from tests.contract.databases import create_pg_database, drop_pg_database, migrate_sync
from tests.services import PostgresServer, RedisServer, free_port

pytestmark = pytest.mark.integration

STRATEGIES: dict[str, tuple[str, dict[str, Any]]] = {
    "sma": ("sma_crossover", {"fast": 3, "slow": 8, "quantity": 10}),
    "rsi": ("rsi_mean_reversion", {"period": 5, "oversold": 40, "overbought": 60,
                                   "quantity": 7}),
    "bb": ("bollinger_reversion", {"period": 8, "k": 1.0, "quantity": 5}),
}  # fmt: skip


@pytest.fixture
def pg_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    name, dsn = create_pg_database(postgres_server, "sigkill")
    try:
        migrate_sync("postgres", dsn)
        yield dsn
    finally:
        drop_pg_database(postgres_server, name)


def _env(dsn: str, redis_url: str, prefix: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PI5_")}
    return {
        **env,
        "PI5_DATA_DIR": str(data_dir),
        "PI5_DATABASE__URL": dsn,
        "PI5_REDIS__URL": redis_url,
        "PI5_AUTH__JWT_SECRET": "a test signing secret of more than 32 characters",
        "PI5_REDIS__KEY_PREFIX": prefix,
        "PI5_API__PORT": str(free_port()),
        "PI5_FEED__SYMBOLS": "AAPL,MSFT,SPY",
        "PI5_FEED__SPEED": "3000",
        "PI5_NODE__DEMO_STRATEGIES": "false",
        "PI5_NODE__STATE_SAVE_INTERVAL_S": "0.5",
        "PI5_LOGGING__LEVEL": "INFO",
    }


def _settings(env: dict[str, str]) -> Settings:
    return load_settings(
        env={k: v for k, v in env.items() if k.startswith("PI5_")}, dotenv_path=None
    )


def _query(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


def _count_fills(dsn: str) -> int:
    return int(_query(dsn, "SELECT count(*) FROM fills")[0][0])


def _open_orders(dsn: str) -> list[str]:
    rows = _query(dsn, "SELECT order_id FROM orders WHERE status IN ('accepted', 'submitted')")
    return [r["order_id"] for r in rows]


def _seed(settings: Settings) -> None:
    async def run() -> None:
        repo = await open_repository(settings)
        try:
            for sid, (name, params) in STRATEGIES.items():
                await record_strategy(repo, sid, name=sid, class_path=name, config=params)
                assert await repo.save_strategy_status(sid, "running", time.time_ns())
        finally:
            await repo.close()

    asyncio.run(run())


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "pi5trading", "serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_for(
    what: str, check: Any, proc: subprocess.Popen[bytes], log: Path, limit: float = 60
) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the node exited:\n{log.read_text()[-3000:]}"
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


def test_a_node_killed_mid_fills_restarts_with_nothing_lost_or_doubled(
    pg_dsn: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = _env(pg_dsn, redis_server.url, f"sigkill{uuid.uuid4().hex[:8]}", tmp_path)
    settings = _settings(env)
    _seed(settings)

    # 1. Run, and kill it while fills are coming.
    log1 = tmp_path / "first.log"
    first = _start(env, log1)
    try:
        _wait_for("fills", lambda: _count_fills(pg_dsn) >= 12, first, log1)
        n = _count_fills(pg_dsn)
        _wait_for("more fills", lambda: _count_fills(pg_dsn) > n, first, log1)
        # Killed while orders are working (sent, not yet filled), when it can be caught.
        with contextlib.suppress(AssertionError):
            _wait_for("working orders", lambda: bool(_open_orders(pg_dsn)), first, log1, 10)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == -signal.SIGKILL
    before = {r["fill_id"] for r in _query(pg_dsn, "SELECT fill_id FROM fills")}
    (last_ts,) = _query(pg_dsn, "SELECT max(ts_ns) FROM fills")[0]
    orders_before = {r["order_id"] for r in _query(pg_dsn, "SELECT order_id FROM orders")}
    working = _open_orders(pg_dsn)

    # 2. Restart on the same storage; trading goes on; then a graceful stop.
    log2 = tmp_path / "second.log"
    second = _start(env, log2)
    try:
        _wait_for(
            "fills after the restart",
            lambda: (
                _query(pg_dsn, "SELECT count(*) FROM fills WHERE ts_ns > $1", last_ts)[0][0] >= 6
            ),
            second,
            log2,
        )
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    finally:
        if second.poll() is None:
            second.kill()
    text = log2.read_text()
    # A graceful stop: uvicorn ends by re-raising the SIGTERM it handled.
    assert second.returncode in (0, -signal.SIGTERM), text[-3000:]
    assert "node stopped" in text
    assert "recovered from storage" in text
    if working:
        # The orders working at the kill went back to work (or were closed with a reason).
        m = re.search(r"(\d+) working orders restored, (\d+) orders closed", text)
        assert m is not None
        assert int(m[1]) + int(m[2]) == len(working)

    # Nothing stored before the kill was lost.
    fills = _query(pg_dsn, "SELECT * FROM fills ORDER BY ts_ns, fill_id")
    assert before <= {r["fill_id"] for r in fills}
    # Nothing doubled: one fill per (order, trade), each order submitted once (no client
    # order id reused after the restart), and each order's fills sum to its filled quantity
    # and never exceed it.
    trades = [(r["order_id"], r["fill_id"].rpartition(":")[2]) for r in fills]
    assert len(trades) == len(set(trades))
    submitted = _query(
        pg_dsn,
        "SELECT order_id, count(*) AS n FROM order_events WHERE status = 'submitted' GROUP BY 1",
    )
    assert submitted
    assert all(r["n"] == 1 for r in submitted)
    orders = {r["order_id"]: r for r in _query(pg_dsn, "SELECT * FROM orders")}
    filled: dict[str, Decimal] = {}
    for r in fills:
        filled[r["order_id"]] = filled.get(r["order_id"], Decimal(0)) + r["quantity"]
        assert r["order_id"] in orders, f"fill {r['fill_id']} of an unknown order"
    for oid, qty in filled.items():
        assert orders[oid]["filled_quantity"] == qty, oid
        assert qty <= orders[oid]["quantity"], oid
    # After the graceful stop nothing is left working (shutdown cancels), and every order
    # sent after the restart is numbered after those sent before it.
    assert not [o for o in orders.values() if o["status"] in ("accepted", "submitted", "created",
                                                                "partially_filled")]  # fmt: skip
    for sid in STRATEGIES:
        old = [int(o.rpartition("-")[2]) for o in orders_before if o.startswith(f"{sid}-")]
        new = [int(o.rpartition("-")[2]) for o in orders if o.startswith(f"{sid}-")
               and o not in orders_before]  # fmt: skip
        if old and new:
            assert min(new) > max(old), sid

    # Positions and cash agree with the event log: the fills booked in order give the cash
    # of the last equity snapshot and the positions of the last snapshots and of Redis.
    async def account() -> tuple[Any, ...]:
        repo = await open_repository(settings)
        client = aioredis.from_url(redis_server.url)
        try:
            book = await rebuild_portfolio(repo, settings.node.starting_cash)
            equity = await repo.latest_equity(ACCOUNT)
            stored = {sid: await repo.latest_positions(sid) for sid in STRATEGIES}
            cached = await RedisLatestState.reader(
                client, prefix=settings.redis.key_prefix
            ).positions()
            return book, equity, stored, cached
        finally:
            await client.aclose()
            await repo.close()

    book, equity, stored, cached = asyncio.run(account())
    assert equity is not None
    assert equity.cash == book.cash
    in_cache = {(p.strategy_id, p.instrument): p.quantity for p in cached}
    for sid, rows in stored.items():
        for row in rows:
            pos = book.strategy_position(sid, row.instrument_id)
            qty = pos.quantity if pos is not None else Decimal(0)
            assert row.quantity == qty, (sid, row.instrument_id)
            assert in_cache.get((sid, row.instrument_id), Decimal(0)) == qty, (
                sid,
                row.instrument_id,
            )
    # Each strategy traded, and trading resumed after the restart.
    assert {r["strategy_id"] for r in fills} == set(STRATEGIES)
    assert any(r["ts_ns"] > last_ts for r in fills)
