"""A vendor feed misbehaving under a trading node: a real `pi5trading serve` on the Alpaca
market data feed (`PI5_FEED__KIND=alpaca`), pointed at the Alpaca stand-in
(tests/standins/alpaca_data.py) whose tape is moved to the wall clock, with three
strategies trading, its own PostgreSQL database and Redis, alerts to a Gotify stand-in.

While it trades, the stream sends frames that are not valid messages, a bar older than one
already sent and a quote stamped in the past, drops the connection abruptly (the minutes
that pass while the node is away are never sent, as with Alpaca), and goes silent.

What must hold: the node trades on; nothing it did is lost or doubled in storage (the fills
it logged are the fills stored, once each); positions and cash reconcile; the feed did what
docs/paper-trading.md says: the malformed frames counted and skipped, the older bar not sent
again, the drop reported (`reconnecting`, then `live`) and the missing minutes backfilled
from the REST history, the silence reported `stale` (in `/ready`, the status, `/metrics`,
an alert, the dashboard's System page in headless Chromium) and `live` again when data
comes back.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.browser import ARTIFACTS, Page, open_system_page, shows
from tests.integration.live_node import (
    ADMIN_PASSWORD,
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
    query,
    seed,
    settings_of,
    stop_node,
    stored_fills,
    wait_for,
)
from tests.proof import scale
from tests.services import RedisServer
from tests.standins import alpaca_data
from tests.standins.alpaca_data import AlpacaDataStandin, data_frames
from tests.standins.gotify import GotifyStandIn
from tests.standins.server import serve
from tests.standins.tape import bars_between, cents, utc

pytestmark = pytest.mark.integration

SYMBOLS = ("AAPL", "MSFT", "SPY")
TAPE_OPEN = utc("2024-01-03T14:30")
"""The tape's session played (a Wednesday's regular session, 390 minutes)."""
PER_MINUTE = 2 * len(SYMBOLS)
"""Frames a minute of the tape takes: each symbol's trade and quote, then its bar."""


def _frames(minutes: int, shift_s: int) -> list[str]:
    """``minutes`` of the three symbols' tape moved by ``shift_s``, as Alpaca sends it: in
    each minute every symbol's trade and quote, then the minute's bars at its close."""
    each = {s: data_frames(s, TAPE_OPEN, 2 * minutes, shift_s) for s in SYMBOLS}
    out: list[str] = []
    for k in range(minutes):
        out += [each[s][2 * k] for s in SYMBOLS]
        out += [each[s][2 * k + 1] for s in SYMBOLS]
    return out


def test_alpaca_stream_faults_under_a_trading_node(
    pg_dsn: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    standin = AlpacaDataStandin()
    # The tape's first minute opens now (to the minute): the node's wall clock takes it
    # as live data. Frames then come faster than a minute each: data time runs ahead.
    now = int(time.time()) // 60 * 60
    standin.shift_s = now - TAPE_OPEN
    minutes = 60 * scale()  # make proof plays more of the session
    frames = _frames(minutes, standin.shift_s)
    # An older bar sent again (a repeat, 10 minutes late) and a quote stamped 10 minutes
    # in the past, after minute 20.
    at = 20 * PER_MINUTE
    old_bar = frames[10 * PER_MINUTE + 3]
    old_quote = json.dumps([json.loads(frames[10 * PER_MINUTE])[1]])
    frames[at:at] = [old_bar, old_quote]
    standin.stream_frames = frames
    standin.pace_s = 0.01
    # On the first connection: two frames that are not valid messages in minute 15, then
    # a drop once minutes 0-29 are sent (with the 2 frames added above); minutes 30-34
    # pass while the node is away, and it comes back to minute 35's quotes.
    standin.junk = [
        (15 * PER_MINUTE, "this is not JSON"),
        (15 * PER_MINUTE + 1, '[{"T":"b","S":"AAPL","o":"not a price"}]'),
    ]
    standin.drop_after = 30 * PER_MINUTE + 2
    standin.lost_on_drop = 5 * PER_MINUTE
    gotify = GotifyStandIn()

    with serve(standin.app) as data_url, serve(gotify.app()) as gotify_url:
        env = node_env(
            pg_dsn,
            redis_server.url,
            f"feedfault{uuid.uuid4().hex[:8]}",
            tmp_path,
            **_alpaca_feed(data_url),
            PI5_FEED__STALE_AFTER_S="1",
            PI5_FEED__RECONNECT_INITIAL_S="0.05",
            PI5_FEED__RECONNECT_MAX_S="0.2",
            PI5_ALERTS__GOTIFY_URL=gotify_url,
            PI5_ALERTS__GOTIFY_TOKEN=gotify.token,
        )
        settings = settings_of(env)
        seed(settings, admin="root")
        url = base_url(env)
        log = tmp_path / "node.log"
        with node_process(env, log) as proc, Page.open() as page:
            wait_for("the tape played", lambda: standin.sent >= len(frames), proc, log, 90)
            # Then silence, the connection kept: stale after 1 s, and said so everywhere.
            wait_for("/ready to say stale", lambda: _feed_check(url) == (False, "stale"),
                     proc, log, 30)  # fmt: skip
            admin = admin_headers(url, "root")
            status = get_json(url, "/api/v1/system/status", admin)
            assert status["feeds"] == {FEED: "stale"}
            scraped = httpx.get(f"{url}/metrics", timeout=10).text
            assert metric(scraped, "pi5_feed_status", feed=FEED, status="stale") == 1
            wait_for("the stale alert", lambda: _alerted(gotify, "stale"), proc, log, 10)
            # And the dashboard: the System page, in Chromium, names the stale feed.
            open_system_page(page, url, "root", ADMIN_PASSWORD)
            shows(page, f"check('feed:{FEED}') === 'down'", "the stale feed on the page")
            page.screenshot(ARTIFACTS / "e2e" / "outage-5-feed-stale.png")
            fills_in_silence = count_fills(pg_dsn)

            # Data again: live, ready, trading on.
            standin.stream_frames += _frames(minutes + 10, standin.shift_s)[len_tape(minutes) :]
            wait_for("live again", lambda: _feed_check(url) == (True, "live"), proc, log, 30)
            shows(page, f"check('feed:{FEED}') === 'up'", "the feed live on the page")
            wait_for("the rest played", lambda: standin.sent >= len(standin.stream_frames),
                     proc, log, 30)  # fmt: skip
            wait_for("fills after the silence",
                     lambda: count_fills(pg_dsn) > fills_in_silence, proc, log, 30)  # fmt: skip
            time.sleep(0.5)
            status = get_json(url, "/api/v1/system/status", admin)
            scraped = httpx.get(f"{url}/metrics", timeout=10).text
            text = stop_node(proc, log)

    stat = {
        name: metric(scraped, "pi5_feed_stat", feed=FEED, name=name)
        for name in ("malformed", "duplicates", "reconnects", "gaps", "missing_bars",
                     "backfilled_bars", "backfill_errors")
    }  # fmt: skip
    # The two junk frames counted and skipped, the repeated bar not sent again, one
    # reconnect, the 5 minutes away backfilled for each symbol.
    assert stat == {
        "malformed": 2, "duplicates": 1, "reconnects": 1, "gaps": 3, "missing_bars": 15,
        "backfilled_bars": 15, "backfill_errors": 0,
    }, stat  # fmt: skip
    # The silence (a loaded machine may add a stall of its own).
    stale = metric(scraped, "pi5_feed_stat", feed=FEED, name="stale_periods")
    assert stale is not None
    assert stale >= 1
    # Only the quote stamped 10 minutes back was refused as late; the backfilled bars all
    # reached the engine (they come, all symbols merged, before the new connection's data).
    assert status["queue"]["dropped_late"] == 1, status["queue"]
    # Every message the feed took is counted (the scrape and the status a moment apart:
    # a status event may come between them, so no equality with the queue's count).
    received = metric(scraped, "pi5_feed_messages_total", feed=FEED)
    assert received is not None
    assert received > len(SYMBOLS) * (minutes + 10)
    # The history was asked once per symbol, from the close of the last bar it had.
    assert sorted(r["symbols"] for r in standin.requests) == sorted(SYMBOLS)
    # Alerts: the drop (reconnecting) and the silence (stale), priority 5 each.
    assert {a["title"]: a["priority"] for a in gotify.received} == {
        f"Feed {FEED} reconnecting": 5,
        f"Feed {FEED} stale": 5,
    }
    messages = [r["message"] for r in log_records(text)]
    assert sum("skipped a malformed message" in m for m in messages) == 2
    assert sum(m.startswith("Alpaca market data stream dropped") for m in messages) == 1

    # Every minute of the tape is stored once per symbol, the 5 away minutes included,
    # with the tape's prices.
    played = minutes + 10
    for symbol in SYMBOLS:
        rows = query(
            pg_dsn,
            "SELECT ts_ns, close FROM bars WHERE instrument_id = $1 AND interval = '1m'"
            " ORDER BY ts_ns",
            symbol,
        )
        tape = bars_between(symbol, TAPE_OPEN, TAPE_OPEN + 60 * played)
        assert [(r["ts_ns"], r["close"]) for r in rows] == [
            ((b.ts + standin.shift_s) * 10**9, cents(b.close)) for b in tape
        ], symbol
    # Nothing the node did is lost or doubled; each order's events in time order (a bar's
    # fills used to be stamped at its open, before a quote inside it that filled first);
    # positions and cash reconcile.
    assert sum(logged_fills(text).values()) > 20
    assert logged_fills(text) == stored_fills(pg_dsn)
    check_orders_and_fills(pg_dsn)
    events = query(pg_dsn, "SELECT order_id, seq, ts_ns FROM order_events ORDER BY order_id, seq")
    for a, b in itertools.pairwise(events):
        if a["order_id"] == b["order_id"]:
            assert a["ts_ns"] <= b["ts_ns"], (dict(a), dict(b))
    check_books(settings, redis_server.url, list(STRATEGIES))


def _alpaca_feed(data_url: str) -> dict[str, str]:
    """``node_env`` extras: the Alpaca market data feed from the stand-in at ``data_url``,
    around the clock (the moved tape's minutes may fall at night, and the test runs at any
    hour: no trading-hours limits either)."""
    return {
        "PI5_FEED__KIND": "alpaca",
        "PI5_FEED__CALENDAR": "24/7",
        "PI5_ALPACA__KEY_ID": alpaca_data.KEY_ID,
        "PI5_ALPACA__SECRET_KEY": alpaca_data.SECRET,
        "PI5_ALPACA__DATA_URL": data_url,
        "PI5_ALPACA__STREAM_URL": data_url.replace("http://", "ws://"),
        "PI5_RISK__PROFILE": "unlimited",
    }


def _late_bar_frames(minutes: int, shift_s: int) -> list[str]:
    """The tape as Alpaca really times it: each minute's trade and quote stamped a second
    into the minute, and the bars of the minute before after them (a bar comes a second
    or two after its close, so the next minute's first quotes are already in)."""
    each = {s: data_frames(s, TAPE_OPEN, 2 * minutes, shift_s) for s in SYMBOLS}
    out: list[str] = []
    for k in range(minutes):
        for s in SYMBOLS:
            ticks = json.loads(each[s][2 * k])
            opened = alpaca_data.parse_time(json.loads(each[s][2 * k + 1])[0]["t"])
            for m in ticks:  # a second into the minute, keeping the fraction
                m["t"] = alpaca_data.rfc3339(opened + 1)[:-1] + "." + m["t"].split(".")[1]
            out.append(json.dumps(ticks))
        if k:
            out += [each[s][2 * k - 1] for s in SYMBOLS]
    return out


def test_minute_bars_that_come_after_the_next_minutes_quotes_reach_the_strategies(
    pg_dsn: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    """Each bar arrives after quotes stamped past its close: once dropped as late by the
    node's queue (with quotes subscribed, the default, a vendor's bars never reached the
    strategies); taken now, each bar stored once, the strategies trading on them."""
    standin = AlpacaDataStandin()
    now = int(time.time()) // 60 * 60
    standin.shift_s = now - TAPE_OPEN
    minutes = 40
    standin.stream_frames = _late_bar_frames(minutes, standin.shift_s)
    standin.pace_s = 0.01
    with serve(standin.app) as data_url:
        env = node_env(
            pg_dsn,
            redis_server.url,
            f"latebars{uuid.uuid4().hex[:8]}",
            tmp_path,
            **_alpaca_feed(data_url),
        )
        settings = settings_of(env)
        seed(settings, admin="root")
        url = base_url(env)
        log = tmp_path / "node.log"
        with node_process(env, log) as proc:
            sent = len(standin.stream_frames)
            wait_for("the tape played", lambda: standin.sent >= sent, proc, log, 90)
            time.sleep(1)  # the last bars stored
            status = get_json(url, "/api/v1/system/status", admin_headers(url, "root"))
            text = stop_node(proc, log)

    queue = status["queue"]
    print("queue:", queue)
    assert queue["dropped_late"] == 0, queue
    # Most bars came late (one that came in the same drain as the quotes before it was
    # simply put in its place).
    assert queue["delivered_late"] >= minutes, queue
    assert not [m for m in (r["message"] for r in log_records(text)) if "refused" in m]
    for symbol in SYMBOLS:
        rows = query(
            pg_dsn,
            "SELECT ts_ns, close FROM bars WHERE instrument_id = $1 AND interval = '1m'"
            " ORDER BY ts_ns",
            symbol,
        )
        tape = bars_between(symbol, TAPE_OPEN, TAPE_OPEN + 60 * (minutes - 1))
        assert [(r["ts_ns"], r["close"]) for r in rows] == [
            ((b.ts + standin.shift_s) * 10**9, cents(b.close)) for b in tape
        ], symbol
    assert logged_fills(text) == stored_fills(pg_dsn)
    check_orders_and_fills(pg_dsn)
    check_books(settings, redis_server.url, list(STRATEGIES))


FEED = "alpaca:iex"


def len_tape(minutes: int) -> int:
    """Frames of ``minutes`` of the tape (without the faults added)."""
    return minutes * PER_MINUTE


def _feed_check(url: str) -> tuple[bool, str]:
    check = httpx.get(f"{url}/ready", timeout=10).json()["checks"][f"feed:{FEED}"]
    return bool(check["ok"]), str(check["detail"])


def _alerted(gotify: GotifyStandIn, what: str) -> bool:
    return any(a["title"] == f"Feed {FEED} {what}" for a in gotify.received)
