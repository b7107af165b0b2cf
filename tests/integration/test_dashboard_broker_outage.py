"""The dashboard during a broker outage: a real `pi5trading serve` routing three
strategies' orders to the Alpaca paper trading stand-in (tests/standins/alpaca_trading.py),
alerts to the Gotify stand-in, its System page open in headless Chromium as an admin.

The stand-in then answers every REST request with a 503, then with no answer within the
client's timeout, then answers again. What a person must see without reloading (pages
changed from the menu): the broker breaker open on the breakers card and in the readiness
list, the notice that orders cannot reach the broker on the Overview and the Orders page,
the order they placed during the outage on the Orders page and what became of it, and
everything back to normal after.
Gotify gets the opening (critical) and the closing (info). Afterwards no order is lost or
doubled: each client order id once at the broker, the broker's fills are the fills stored,
an order the broker never got is rejected as such. Screenshots in
test-artifacts/e2e/broker-outage-*.png.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.browser import ARTIFACTS, Page, open_system_page, shows
from tests.integration.live_node import (
    ADMIN_PASSWORD,
    NEVER_GOT,
    STRATEGIES,
    admin_headers,
    alpaca_broker,
    base_url,
    broker_fills,
    check_orders_and_fills,
    count_fills,
    log_records,
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
from tests.standins.gotify import GotifyStandIn
from tests.standins.server import serve

pytestmark = pytest.mark.integration

BROKER_NOTICE = '[data-testid="broker-notice"]'
NOTICE = f"document.querySelector('{BROKER_NOTICE}')"


def test_the_dashboard_shows_a_broker_outage_and_its_end(
    pg_dsn: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    broker = AlpacaPaperBroker()
    gotify = GotifyStandIn()
    with serve(broker.app) as alpaca_url, serve(gotify.app()) as gotify_url:
        env = node_env(
            pg_dsn,
            redis_server.url,
            f"dashbroker{uuid.uuid4().hex[:8]}",
            tmp_path,
            **alpaca_broker(broker, alpaca_url, retries=1),
            PI5_ALERTS__GOTIFY_URL=gotify_url,
            PI5_ALERTS__GOTIFY_TOKEN=gotify.token,
        )
        seed(settings_of(env), admin="root")
        url = base_url(env)
        shots = ARTIFACTS / "e2e"
        log = tmp_path / "node.log"
        with node_process(env, log) as proc, Page.open() as page:
            wait_for("ready", lambda: status_of(url, "/ready") == 200, proc, log)
            wait_for("fills", lambda: count_fills(pg_dsn) >= 3, proc, log)
            admin = admin_headers(url, "root")
            open_system_page(page, url, "root", ADMIN_PASSWORD)
            shows(page, "check('breaker:broker') === 'up' && breaker('broker') === 'closed'",
                  "the broker breaker closed")  # fmt: skip
            page.screenshot(shots / "broker-outage-0-all-well.png")

            # Alpaca answers 503 to everything: the breaker opens, the page says so.
            down_at, down_wall = time.monotonic(), time.time()
            broker.outage(Fault(status=503, body=b'{"code":50300000,"message":"unavailable"}'))
            shows(page, "check('breaker:broker') === 'down' && breaker('broker') === 'open'",
                  "the broker breaker open")  # fmt: skip
            seen_open_s = time.monotonic() - down_at
            page.screenshot(shots / "broker-outage-1-breaker-open.png")
            r = httpx.get(f"{url}/ready", timeout=5)
            assert r.status_code == 503
            assert not r.json()["checks"]["breaker:broker"]["ok"]
            wait_for("the opening alert", lambda: _alerts(gotify, "open"), proc, log, 10)
            assert [a["priority"] for a in _alerts(gotify, "open")] == [8]  # critical

            # The trader's pages say it too: the Overview (from the menu, no reload).
            page.evaluate("document.querySelector('nav a[href=\"/\"]').click()")
            page.wait_for(f"{NOTICE}?.innerText.includes('Orders cannot reach the broker')",
                          15, "the broker notice on the Overview")  # fmt: skip
            page.screenshot(shots / "broker-outage-2-overview.png")

            # Now no answer at all within the client's timeout (1 s): still open.
            broker.outage(Fault(status=504, delay_s=1.5))
            # An order placed by hand during the outage: what the Orders page shows.
            r = httpx.post(f"{url}/api/v1/orders", headers=admin, timeout=10,
                           json={"symbol": "AAPL", "side": "buy", "quantity": "1"})  # fmt: skip
            assert r.status_code in (200, 201), r.text
            manual = r.json()["order"]["id"]
            _orders_of(page, "manual")
            row = f"document.querySelector('[data-testid=\"order-{manual}\"]')"
            page.wait_for(f"{row}?.innerText.includes('submitted')", 30,
                          f"order {manual} submitted on the Orders page")  # fmt: skip
            assert "Orders cannot reach the broker" in page.text(BROKER_NOTICE)
            page.screenshot(shots / "broker-outage-3-orders-during.png")
            during = page.text(f'[data-testid="order-{manual}"]')

            # Alpaca answers again: the breaker closes at its next answer.
            up_at, up_wall = time.monotonic(), time.time()
            broker.outage(None)
            page.evaluate("document.querySelector('nav a[href=\"/system\"]').click()")
            shows(page, "check('breaker:broker') === 'up' && breaker('broker') === 'closed'",
                  "the broker breaker closed again")  # fmt: skip
            seen_closed_s = time.monotonic() - up_at
            page.screenshot(shots / "broker-outage-4-breaker-closed.png")
            wait_for("ready again", lambda: status_of(url, "/ready") == 200, proc, log, 30)
            wait_for("the closing alert", lambda: _alerts(gotify, "closed"), proc, log, 10)
            assert [a["priority"] for a in _alerts(gotify, "closed")] == [2]  # info

            # A strategy's order whose submit failed during the outage: rejected by the
            # first reconciliation after it, as the notice said, on the Orders page.
            wait_for("an order the broker never got rejected",
                     lambda: _never_got(pg_dsn), proc, log, 30)  # fmt: skip
            lost_id, lost_strategy = _never_got(pg_dsn)[0]
            # The hand-placed order: queued behind the failing submits, it went when the
            # broker answered again (or, had its own submit failed or waited too long,
            # rejected).
            _orders_of(page, "manual")
            page.wait_for(f"{row} && !{row}.innerText.includes('submitted')", 30,
                          f"order {manual} settled on the Orders page")  # fmt: skip
            page.screenshot(shots / "broker-outage-6-orders-after.png")
            after = page.text(f'[data-testid="order-{manual}"]')
            # That strategy paused first, as a person would to read its orders: its risk
            # refusals arrive many a second at this speed and shift the pages (newest
            # first, by offset) while the search below turns them.
            r = httpx.post(f"{url}/api/v1/strategies/{lost_strategy}/pause", headers=admin,
                           timeout=10)  # fmt: skip
            assert r.status_code == 200, r.text
            # Through the Overview: the Orders page comes up anew, not showing the manual
            # order's table while the new filter's answer is on its way.
            page.evaluate("document.querySelector('nav a[href=\"/\"]').click()")
            page.wait_for("!document.getElementById('f-strategy')", 15, "the Overview")
            _orders_of(page, lost_strategy, "rejected")
            assert "the broker has no such order" in _find_order(page, lost_id, "rejected")
            page.wait_for(f"!{NOTICE}", 15, "the broker notice gone")
            page.screenshot(shots / "broker-outage-5-orders-never-got.png")
            halt = {"state": "halted", "reason": "end of the broker outage drill"}
            r = httpx.post(f"{url}/api/v1/risk/state", headers=admin, json=halt, timeout=10)
            assert r.status_code == 200, r.text
            wait_for("every broker fill stored",
                     lambda: stored_fills(pg_dsn) == broker_fills(broker),
                     proc, log, 30)  # fmt: skip
            text = stop_node(proc, log)

    # The node's own times (its log), then the page's (polling /ready and the breakers
    # every 5 s, so up to 5 s later).
    opened = _logged_at(text, "circuit 'broker' open") - down_wall
    closed = _logged_at(text, "circuit 'broker' closed again") - up_wall
    print(f"broker breaker open {opened:.1f} s after the outage began (seen on the page "
          f"after {seen_open_s:.1f} s), closed {closed:.1f} s after it ended (seen after "
          f"{seen_closed_s:.1f} s)")  # fmt: skip
    print("the order during the outage:", during)
    print("the order after:", after)
    # Nothing sent twice, nothing lost: the broker's fills are the fills stored, once each;
    # the node's orders are the broker's or rejected because the broker never got them.
    sent = Counter(o["client_order_id"] for o in broker.orders.values())
    assert max(sent.values()) == 1, [k for k, n in sent.items() if n > 1]
    assert stored_fills(pg_dsn) == broker_fills(broker)
    fills = check_orders_and_fills(pg_dsn)
    assert {r["strategy_id"] for r in fills} >= set(STRATEGIES)
    orders = query(pg_dsn, "SELECT order_id, status, reason FROM orders")
    never_got = {r["order_id"] for r in orders if r["reason"] == NEVER_GOT}
    assert never_got, "orders sent during the outage that the broker never got"
    assert not never_got & set(sent)
    too_late = {r["order_id"] for r in orders if (r["reason"] or "").startswith("not sent: waited")}
    assert not too_late & set(sent)  # rejected here: never at the broker
    if manual in sent:
        assert "filled" in after, after
    elif manual in too_late:  # queued behind the failing ones past PI5_BROKER__SEND_WITHIN_S
        assert "not sent: waited" in after, after
    else:
        assert manual in never_got
        assert "the broker has no such order" in after, after
    # Refused by the broker (a 4xx: the stand-in's cash runs out on a long run, its fills
    # at its own price): rejected with its reason, and not at the broker.
    refused = {r["order_id"] for r in orders if "Alpaca refused (4" in (r["reason"] or "")}
    assert not refused & set(sent)
    assert all(r["status"] == "rejected" for r in orders if r["order_id"] in refused)
    # The rest never left the node: refused by its own pre-trade risk check.
    left = set(sent) | never_got | too_late | refused
    other = [dict(r) for r in orders if r["order_id"] not in left]
    wrong = [r for r in other
             if not (r["status"] in ("denied", "rejected") and r["reason"]
                     and "broker" not in r["reason"] and "Alpaca" not in r["reason"])]  # fmt: skip
    assert not wrong, wrong
    messages = [r["message"] for r in log_records(text)]
    assert any("circuit 'broker' open" in m for m in messages)
    assert any("circuit 'broker' closed again" in m for m in messages)


def _orders_of(page: Page, strategy: str, status: str = "") -> None:
    """Opens the Orders page from the menu (no reload) and filters it by ``strategy`` (and
    ``status``) as a person would, typing and choosing."""
    page.evaluate("document.querySelector('nav a[href=\"/orders\"]').click()")
    page.wait_for("!!document.getElementById('f-strategy')")
    for element, kind, value, event in (
        ("f-strategy", "HTMLInputElement", strategy, "input"),
        ("f-status", "HTMLSelectElement", status, "change"),
    ):
        page.evaluate(
            f"(() => {{ const e = document.getElementById('{element}');"
            f" Object.getOwnPropertyDescriptor({kind}.prototype, 'value').set.call(e, {value!r});"
            f" e.dispatchEvent(new Event('{event}', {{bubbles: true}})); }})()"
        )


def _find_order(page: Page, order_id: str, status: str) -> str:
    """The text of ``order_id``'s row on the Orders page filtered to its strategy and
    ``status``, paging to older orders as a person would (newest first, 25 a page)."""
    row = f"document.querySelector('[data-testid=\"order-{order_id}\"]')"
    older = "[...document.querySelectorAll('nav.pager button')].find(b => b.innerText === 'Older')"
    # The page keeps the previous answer on screen, marked busy, while the next is on its
    # way: reading (or paging from) that one skipped a page and failed fresh-clone CI runs
    # ("order bb-9 not found": the table of the strategy's orders of any status, then
    # "Older" from it to the rejected ones' second page).
    settled = "!document.querySelector('.table-wrap[aria-busy=\"true\"]')"
    ids = "[...document.querySelectorAll('tbody th')].map(t => t.innerText)"
    states = "[...document.querySelectorAll('tbody .badge')].map(b => b.innerText)"
    strategy = order_id.rpartition("-")[0]
    page.wait_for(f"{settled} && {ids}.length > 0"
                  f" && {ids}.every(i => i.startsWith({strategy + '-'!r}))"
                  f" && {states}.every(s => s === {status!r})",
                  15, f"the Orders page filtered to {strategy}, {status}")  # fmt: skip
    for _ in range(400):  # its risk refusals are `rejected` too: many a second at 600x
        if page.evaluate(f"!!{row}"):
            return str(page.evaluate(f"{row}.innerText"))
        if page.evaluate(f"{older}.disabled"):
            break
        first = page.evaluate("document.querySelector('tbody th')?.innerText ?? ''")
        page.evaluate(f"{older}.click()")
        page.wait_for(f"{settled} && (document.querySelector('tbody th')?.innerText ?? '')"
                      f" !== {first!r}")  # fmt: skip
    raise AssertionError(f"order {order_id} not found on the Orders page")


def _logged_at(text: str, start: str) -> float:
    """The time (Unix seconds) of the node's first log line starting with ``start``."""
    stamp = next(r["time"] for r in log_records(text) if r["message"].startswith(start))
    return datetime.fromisoformat(stamp).timestamp()


def _never_got(dsn: str) -> list[tuple[str, str]]:
    """(order id, strategy) of the orders rejected because the broker never got them."""
    rows = query(dsn, "SELECT order_id, strategy_id FROM orders WHERE reason = $1", NEVER_GOT)
    return [(r["order_id"], r["strategy_id"]) for r in rows]


def _alerts(gotify: GotifyStandIn, state: str) -> list[dict[str, object]]:
    return [a for a in gotify.received if a["title"] == f"broker: circuit {state}"]
