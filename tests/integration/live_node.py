"""A real `pi5trading serve` process for the fault tests: its settings, start and wait, an
admin's token, and the checks that the stored books agree with themselves and with what
the node logged.

Shared by tests/integration/test_node_sigkill.py and test_node_outages.py (and the load
driver, benches/live_load.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis

from pi5trading.config import Settings, load_settings
from pi5trading.sinks.cache import RedisLatestState
from pi5trading.sinks.records import ACCOUNT
from pi5trading.sinks.recovery import rebuild_portfolio
from pi5trading.sinks.storage import record_strategy
from pi5trading.storage.connect import open_repository, prepare_database
from tests.services import free_port
from tests.standins.alpaca_trading import AlpacaPaperBroker

STRATEGIES: dict[str, tuple[str, dict[str, Any]]] = {
    "sma": ("sma_crossover", {"fast": 3, "slow": 8, "quantity": 10}),
    "rsi": ("rsi_mean_reversion", {"period": 5, "oversold": 40, "overbought": 60,
                                   "quantity": 7}),
    "bb": ("bollinger_reversion", {"period": 8, "k": 1.0, "quantity": 5}),
}  # fmt: skip
"""Three strategies that trade often on the simulated feed."""

ADMIN_PASSWORD = "an admin password for the fault tests"
_FILL = re.compile(r"^fill (\S+) (buy|sell) (\S+) (\S+) @ (\S+) \((\S+)\)$")


def node_env(dsn: str, redis_url: str, prefix: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a node on ``dsn`` and ``redis_url`` trading the simulated feed
    fast, without the demo strategies, logging JSON lines; ``extra`` adds ``PI5_*``."""
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
        "PI5_LOGGING__FORMAT": "json",
        **extra,
    }


def alpaca_broker(broker: Any, url: str, retries: int) -> dict[str, str]:
    """``node_env`` extras routing the node's orders to the Alpaca paper stand-in
    ``broker`` served at ``url``: the simulated feed at 600x, a 1 s timeout, ``retries``
    retries, a reconciliation every second. The stand-in fills at its own price, not the
    simulated market's: the drawdown limits would halt trading, so the risk profile is
    ``unlimited`` (they are not what these tests test)."""
    return {
        "PI5_FEED__SPEED": "600",
        "PI5_RISK__PROFILE": "unlimited",
        "PI5_BROKER__PROVIDER": "alpaca",
        "PI5_BROKER__KEY_ID": broker.key_id,
        "PI5_BROKER__SECRET_KEY": broker.secret_key,
        "PI5_BROKER__PAPER_URL": url,
        "PI5_BROKER__REQUEST_TIMEOUT_S": "1",
        "PI5_BROKER__MAX_RETRIES": str(retries),
        "PI5_BROKER__RECONCILE_INTERVAL_S": "1",
        "PI5_BROKER__RATE_LIMIT_PER_MINUTE": "6000",
    }


def settings_of(env: dict[str, str]) -> Settings:
    return load_settings(
        env={k: v for k, v in env.items() if k.startswith("PI5_")}, dotenv_path=None
    )


def base_url(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{env['PI5_API__PORT']}"


def query(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


def count_fills(dsn: str) -> int:
    return int(query(dsn, "SELECT count(*) FROM fills")[0][0])


def seed(
    settings: Settings,
    strategies: dict[str, tuple[str, dict[str, Any]]] = STRATEGIES,
    *,
    admin: str | None = None,
) -> None:
    """Migrate, register ``strategies`` as running (the node starts them) and, when
    ``admin`` names one, create that admin user (password ``ADMIN_PASSWORD``)."""
    from pi5trading.api.users import create_user

    async def run() -> None:
        repo = await open_repository(settings)
        try:
            await prepare_database(settings, repo.driver)
            for sid, (name, params) in strategies.items():
                await record_strategy(repo, sid, name=sid, class_path=name, config=params)
                assert await repo.save_strategy_status(sid, "running", time.time_ns())
            if admin is not None:
                await create_user(repo, admin, ADMIN_PASSWORD, "admin")
        finally:
            await repo.close()

    asyncio.run(run())


def start_node(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "pi5trading", "serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@contextmanager
def node_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A node process for the block; killed if the block fails before ``stop_node``."""
    proc = start_node(env, log)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def wait_for(
    what: str, check: Any, proc: subprocess.Popen[bytes], log: Path, limit: float = 60
) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the node exited:\n{log.read_text()[-3000:]}"
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


def status_of(url: str, path: str, headers: dict[str, str] | None = None) -> int:
    """The status of ``GET path``, 0 when nothing answers."""
    try:
        return httpx.get(url + path, headers=headers, timeout=5).status_code
    except httpx.HTTPError:
        return 0


def admin_headers(url: str, username: str) -> dict[str, str]:
    r = httpx.post(
        f"{url}/api/v1/auth/login",
        json={"username": username, "password": ADMIN_PASSWORD},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def stop_node(proc: subprocess.Popen[bytes], log: Path) -> str:
    """SIGTERM, wait, and check the stop was graceful; returns the log."""
    proc.terminate()
    try:
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    # uvicorn ends by re-raising the SIGTERM it handled.
    assert proc.returncode in (0, -15), text[-3000:]
    assert "node stopped" in text, text[-3000:]
    return text


def log_records(text: str) -> list[dict[str, Any]]:
    """The node's JSON log lines (anything else, e.g. a traceback on stderr, skipped)."""
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def logged_fills(text: str) -> Counter[tuple[str, str, Decimal, Decimal]]:
    """(order id, side, quantity, price) of every fill the node logged as it happened: its
    own record of what it did, independent of storage."""
    fills: Counter[tuple[str, str, Decimal, Decimal]] = Counter()
    for rec in log_records(text):
        if rec.get("logger") != "pi5trading.node":
            continue
        m = _FILL.match(rec.get("message", ""))
        if m is not None:
            fills[(m[6], m[2], Decimal(m[3]), Decimal(m[5]))] += 1
    return fills


NEVER_GOT = "reconciliation: the broker has no such order"
"""The reason of an order the reconciliation rejected because the broker never got it."""


def broker_fills(broker: AlpacaPaperBroker) -> Counter[tuple[str, str, Decimal, Decimal]]:
    """(client order id, side, quantity, price) of every execution at the Alpaca stand-in,
    to compare with ``stored_fills``."""
    with broker.lock:
        by_id = {o["id"]: o["client_order_id"] for o in broker.orders.values()}
        return Counter(
            (by_id[a["order_id"]], a["side"], Decimal(a["qty"]), Decimal(a["price"]))
            for a in broker.activities
        )


def get_json(url: str, path: str, headers: dict[str, str] | None = None) -> Any:
    """``GET url+path``, which must answer 200; its JSON."""
    r = httpx.get(url + path, headers=headers, timeout=10)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()


def metric(text: str, sample: str, /, **labels: str) -> float | None:
    """A sample's value in a Prometheus text page (``/metrics``), None if absent (``name``
    may be a label: the first two are positional only)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    head = f"{sample}{{{want}}}" if want else sample
    for line in text.splitlines():
        if line.startswith(head + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def stored_fills(dsn: str) -> Counter[tuple[str, str, Decimal, Decimal]]:
    rows = query(dsn, "SELECT order_id, side, quantity, price FROM fills")
    return Counter((r["order_id"], r["side"], r["quantity"], r["price"]) for r in rows)


def check_orders_and_fills(dsn: str) -> list[asyncpg.Record]:
    """Nothing doubled: one fill per (order, trade), each order submitted once, each
    order's fills sum to its filled quantity and never exceed it; nothing left working
    after a graceful stop. Returns the fills, oldest first."""
    fills = query(dsn, "SELECT * FROM fills ORDER BY ts_ns, fill_id")
    trades = [(r["order_id"], r["fill_id"].rpartition(":")[2]) for r in fills]
    assert len(trades) == len(set(trades))
    # By the event's kind, not the order's status after it: a cancel or modify refused
    # while the submit is still on its way (a broker timeout) leaves the order `submitted`.
    submitted = query(
        dsn,
        "SELECT order_id, count(*) AS n FROM order_events"
        " WHERE detail->>'kind' = 'submitted' GROUP BY 1",
    )
    assert submitted
    doubled = [r["order_id"] for r in submitted if r["n"] != 1]
    assert not doubled, [
        dict(r)
        for r in query(
            dsn,
            "SELECT * FROM order_events WHERE order_id = ANY($1::text[]) ORDER BY ts_ns",
            doubled,
        )
    ]
    orders = {r["order_id"]: r for r in query(dsn, "SELECT * FROM orders")}
    filled: dict[str, Decimal] = {}
    for r in fills:
        filled[r["order_id"]] = filled.get(r["order_id"], Decimal(0)) + r["quantity"]
        assert r["order_id"] in orders, f"fill {r['fill_id']} of an unknown order"
    for oid, qty in filled.items():
        assert orders[oid]["filled_quantity"] == qty, oid
        assert qty <= orders[oid]["quantity"], oid
    working = ("accepted", "submitted", "created", "partially_filled")
    assert not [o for o in orders.values() if o["status"] in working]
    return fills


def check_books(settings: Settings, redis_url: str, strategies: list[str]) -> None:
    """Positions and cash agree with the event log: the stored fills booked in order give
    the cash of the last equity snapshot and the positions of the last snapshots and of
    Redis."""

    async def account() -> tuple[Any, ...]:
        repo = await open_repository(settings)
        client = aioredis.from_url(redis_url)
        try:
            book = await rebuild_portfolio(repo, settings.node.starting_cash)
            equity = await repo.latest_equity(ACCOUNT)
            stored = {sid: await repo.latest_positions(sid) for sid in strategies}
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
