"""The broker failing while a node routes orders to it: a real `pi5trading serve` with
three strategies on the simulated feed, `PI5_BROKER__PROVIDER=alpaca` pointed at the Alpaca
paper trading stand-in (tests/standins/alpaca_trading.py), its own PostgreSQL database and
Redis.

While orders flow, the stand-in answers order submissions with a 500 after making the
order, a 503 before making it, a timeout after making it, a body cut in half after making
it, and a run of 5xx longer than the client's retries.

What must hold (docs/paper-trading.md "When Alpaca is down"): no order is sent twice (each
client order id once at the broker); none is lost (every order the node holds is the
broker's, with its fills, or was rejected by the reconciliation because the broker never
got it); the fills the node logged are the broker's fills and are stored once; positions
and cash reconcile; the reconciliation agrees with the node afterwards.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.integration.live_node import (
    NEVER_GOT,
    STRATEGIES,
    admin_headers,
    alpaca_broker,
    base_url,
    broker_fills,
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
    status_of,
    stop_node,
    stored_fills,
    wait_for,
)
from tests.services import RedisServer
from tests.standins.alpaca_trading import AlpacaPaperBroker, Fault
from tests.standins.server import serve

pytestmark = pytest.mark.integration

SUBMIT = "POST /v2/orders"


def test_broker_5xx_and_timeouts_during_live_routing_lose_and_double_nothing(
    pg_dsn: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    broker = AlpacaPaperBroker()
    with serve(broker.app) as base:
        env = node_env(
            pg_dsn,
            redis_server.url,
            f"brokerfault{uuid.uuid4().hex[:8]}",
            tmp_path,
            **alpaca_broker(broker, base, retries=2),
        )
        settings = settings_of(env)
        seed(settings, admin="root")
        url = base_url(env)
        first_log = tmp_path / "node.log"
        with node_process(env, first_log) as proc:
            wait_for("fills", lambda: count_fills(pg_dsn) >= 6, proc, first_log)
            for fault in (
                Fault(status=500, after=True),  # made, the answer lost
                Fault(status=503),  # not made
                Fault(delay_s=2.0, after=True),  # made, the client times out
                Fault(truncate=True),  # made, the answer cut
                *[Fault(status=502)] * 3,  # down for longer than the retries (2)
            ):
                broker.fault(SUBMIT, fault)
            wait_for("the faults used", lambda: not broker.faults[SUBMIT], proc, first_log, 60)
            after = count_fills(pg_dsn)
            wait_for("fills after the faults", lambda: count_fills(pg_dsn) >= after + 6,
                     proc, first_log, 60)  # fmt: skip
            first = stop_node(proc, first_log)
        # Orders still queued for the broker at the stop are sent as the node stops
        # (docs: an answer later than the shutdown is not applied): their fills are the
        # next start's reconciliation's to book.
        stored_first = stored_fills(pg_dsn)
        assert logged_fills(first) == stored_first
        (market,) = query(pg_dsn, "SELECT max(ts_ns) AS ns FROM quote_ticks")
        assert not stored_first - broker_fills(broker)

        second_log = tmp_path / "node2.log"
        with node_process(env, second_log) as proc:
            wait_for("ready", lambda: status_of(url, "/ready") == 200, proc, second_log)
            _halt_and_settle(url, broker, pg_dsn, proc, second_log)
            second = stop_node(proc, second_log)

    # No order sent twice: each client order id once at the broker (the retried submits
    # were looked up by their id first).
    sent = Counter(o["client_order_id"] for o in broker.orders.values())
    assert max(sent.values()) == 1, [k for k, n in sent.items() if n > 1]
    # The 503 and the 502s: re-sent after the look-up found nothing, or given up.
    assert broker.requests.count(SUBMIT) > len(sent)
    # None lost: the broker's fills are the fills stored, once each (a fill the stop left
    # unbooked is booked by the restart's reconciliation); the node's orders are the
    # broker's, or rejected because the broker never got them.
    assert stored_fills(pg_dsn) == broker_fills(broker)
    fills = check_orders_and_fills(pg_dsn)
    assert {r["strategy_id"] for r in fills} == set(STRATEGIES)
    orders = query(pg_dsn, "SELECT order_id, status, reason FROM orders")
    never_got = {r["order_id"] for r in orders if r["reason"] == NEVER_GOT}
    assert never_got, "the 502s outlasted the retries: that order was never at the broker"
    assert not never_got & set(sent)
    routed = {r["order_id"] for r in orders if r["order_id"] in sent}
    assert routed == set(sent)
    messages = [r["message"] for r in log_records(first + second)]
    for what in ("Alpaca answered 500; looking the order up", "no answer within 1.0 s",
                 "Alpaca answered 502 (gave up after 2 retries)"):  # fmt: skip
        assert any(what in m for m in messages), what
    # The restart booked the fills from storage, and the reconciler agrees with the node
    # at the end (while orders flow it may report a fill still on its way in the stream).
    later = [r["message"] for r in log_records(second)]
    assert any(re.match(r"recovered from storage: [1-9]\d* fills booked", m) for m in later)
    # The simulated market goes on where its data got to, not at the broker's times (its
    # fills and order events carry Alpaca's clock).
    resumed = [m for m in later if m.startswith("recovered from storage")]
    at = dt.datetime.fromtimestamp(int(market["ns"]) / 1e9, tz=dt.UTC)
    assert resumed[0].endswith(f"data resumes after {at.isoformat(timespec='seconds')}")
    runs = _reconciliations(second)
    assert runs[-1].startswith("reconciliation with alpaca: 0 difference(s)"), runs[-1]
    # The books: positions and cash from the stored fills = the node's snapshots = Redis,
    # and the broker's positions the same.
    check_books(settings, redis_server.url, list(STRATEGIES))
    book = query(
        pg_dsn,
        "SELECT instrument_id, sum(CASE WHEN side = 'buy' THEN quantity ELSE -quantity END)"
        " AS qty FROM fills GROUP BY 1",
    )
    held = {r["instrument_id"]: r["qty"] for r in book if r["qty"]}
    assert held == {s: q for s, (q, _) in broker.positions.items() if q}


def test_the_update_stream_cut_during_an_outage_loses_and_doubles_nothing(
    pg_dsn: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    """Alpaca's `trade_updates` stream cut while orders fill, once with its REST API down
    as the client reconnects (the gap cannot be fetched until it is back) and once alone:
    each cut loses the update it fell on to the stream. The client's gap recovery and the
    reconciliation must bring every fill in, once."""
    broker = AlpacaPaperBroker()
    with serve(broker.app) as base:
        env = node_env(
            pg_dsn,
            redis_server.url,
            f"brokerstream{uuid.uuid4().hex[:8]}",
            tmp_path,
            **alpaca_broker(broker, base, retries=1),
        )
        settings = settings_of(env)
        seed(settings, admin="root")
        url = base_url(env)
        log = tmp_path / "node.log"
        with node_process(env, log) as proc:
            wait_for("fills", lambda: count_fills(pg_dsn) >= 6, proc, log)
            connections = broker.stream_connections
            broker.drop_stream_after(0)  # the next update is lost, the stream cut
            wait_for("the cut", lambda: not broker.stream_drop_pending, proc, log, 30)
            broker.outage(Fault(status=503))  # and REST down while the client reconnects
            time.sleep(3)
            broker.outage(None)
            wait_for("the stream back",
                     lambda: broker.stream_connections > connections, proc, log, 30)  # fmt: skip
            after = count_fills(pg_dsn)
            wait_for("fills after", lambda: count_fills(pg_dsn) >= after + 3, proc, log, 60)
            broker.drop_stream_after(2)  # cut again, REST up
            wait_for("the second cut", lambda: not broker.stream_drop_pending, proc, log, 30)
            after = count_fills(pg_dsn)
            wait_for("fills after the second", lambda: count_fills(pg_dsn) >= after + 3,
                     proc, log, 60)  # fmt: skip
            _halt_and_settle(url, broker, pg_dsn, proc, log)
            text = stop_node(proc, log)

    sent = Counter(o["client_order_id"] for o in broker.orders.values())
    assert max(sent.values()) == 1, [k for k, n in sent.items() if n > 1]
    assert stored_fills(pg_dsn) == broker_fills(broker) == logged_fills(text)
    check_orders_and_fills(pg_dsn)
    messages = [r["message"] for r in log_records(text)]
    lost = [m for m in messages if m.startswith("Alpaca trade_updates lost")]
    print("stream cuts:", lost)
    assert len(lost) >= 2, lost
    assert any("BrokerUnavailableError" in m for m in lost), lost  # the gap asked while down
    runs = _reconciliations(text)
    assert runs[-1].startswith("reconciliation with alpaca: 0 difference(s)"), runs[-1]
    check_books(settings, redis_server.url, list(STRATEGIES))


def _halt_and_settle(
    url: str, broker: AlpacaPaperBroker, dsn: str, proc: subprocess.Popen[bytes], log: Path
) -> None:
    """An operator halts trading (no new orders from here), every fill at the broker ends
    up stored, and one more reconciliation runs with nothing flowing (it must agree)."""
    halt = {"state": "halted", "reason": "end of the broker drill"}
    admin = admin_headers(url, "root")
    r = httpx.post(f"{url}/api/v1/risk/state", headers=admin, json=halt, timeout=10)
    assert r.status_code == 200, r.text
    wait_for("every broker fill stored",
             lambda: stored_fills(dsn) == broker_fills(broker), proc, log, 30)  # fmt: skip
    done = len(_reconciliations(log.read_text()))
    wait_for("a reconciliation after",
             lambda: len(_reconciliations(log.read_text())) > done, proc, log, 30)  # fmt: skip


def _reconciliations(log_text: str) -> list[str]:
    """The summary line of every reconciliation in a node's log, oldest first."""
    return [
        r["message"]
        for r in log_records(log_text)
        if re.match(r"reconciliation with alpaca: \d+ difference", r["message"])
    ]
