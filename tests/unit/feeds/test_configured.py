"""``PI5_FEED__*`` settings to a subscribed feed; bad values named by their variable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from pi5trading.bus import IngestQueue
from pi5trading.config import FeedSettings, load_settings
from pi5trading.exceptions import ConfigurationError
from pi5trading.feeds import (
    Backoff,
    ReplayFeed,
    SimulatedFeed,
    StreamFeed,
    Subscription,
    configured_feed,
)
from pi5trading.feeds.configured import stream_options
from pi5trading.feeds.feed import FeedMessage
from pi5trading.feeds.vendor import AuthError
from tests.unit.feeds.collect import drain


def settings(**env: str) -> FeedSettings:
    return load_settings({f"PI5_FEED__{k.upper()}": v for k, v in env.items()}, None).feed


def test_the_default_is_the_simulated_feed_on_three_symbols() -> None:
    s = settings()
    assert (s.kind, s.symbol_list(), s.bar_intervals(), s.speed) == (
        "simulated",
        ["AAPL", "MSFT", "SPY"],
        ("1m",),
        60.0,
    )
    feed = configured_feed(s)
    assert isinstance(feed, SimulatedFeed)
    assert feed.subscriptions["SPY"] == Subscription("SPY", ("1m",), quotes=True, trades=False)


def test_env_values_reach_the_feed() -> None:
    s = settings(symbols="BTCUSD, ETHUSD", bars="1m,1h", calendar="24/7", speed="0", seed="7")
    feed = configured_feed(s)
    assert isinstance(feed, SimulatedFeed)
    assert sorted(feed.subscriptions) == ["BTCUSD", "ETHUSD"]
    assert feed.subscriptions["BTCUSD"].bars == ("1m", "1h")
    assert feed.calendar.name == "24/7"


@pytest.mark.anyio
async def test_replay_from_a_folder_of_files_between_two_dates(tmp_path: Path) -> None:
    (tmp_path / "AAPL.csv").write_text(
        "timestamp,open,high,low,close,volume\n"
        "2026-01-02T14:30:00Z,10,11,9,10.5,100\n"
        "2026-01-05T14:30:00Z,10,11,9,10.5,100\n"
    )
    s = settings(kind="replay", symbols="AAPL", replay_dir=str(tmp_path), replay_to="2026-01-03")
    feed = configured_feed(s)
    assert isinstance(feed, ReplayFeed)
    queue = IngestQueue()
    await feed.start(queue)
    await feed.wait()
    assert [str(b.close) for b in drain(queue).bars] == ["10.5"]


@pytest.mark.parametrize(
    ("env", "match"),
    [
        (
            {"kind": "bloomberg"},
            "PI5_FEED__KIND='bloomberg': expected one of alpaca, alphavantage, replay",
        ),
        ({"symbols": "AAPL;MSFT"}, "PI5_FEED__SYMBOLS='AAPL;MSFT': expected symbols separated"),
        ({"bars": "1x"}, "PI5_FEED__BARS='1x': expected bar intervals"),
        ({"speed": "-1"}, "PI5_FEED__SPEED='-1': expected a number from 0"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        settings(**env)


def test_feed_level_mistakes_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="PI5_FEED__SYMBOLS / PI5_FEED__BARS"):
        configured_feed(settings(bars="1m,2d"))  # beyond one session
    with pytest.raises(ConfigurationError, match=r"PI5_FEED__REPLAY_DIR=.*no AAPL\.csv"):
        configured_feed(settings(kind="replay", symbols="AAPL", replay_dir=str(tmp_path)))
    with pytest.raises(ConfigurationError, match="it needs the database"):
        configured_feed(settings(kind="replay"))
    with pytest.raises(ConfigurationError, match="PI5_FEED__REPLAY_FROM='yesterday'"):
        configured_feed(settings(kind="replay", replay_dir=str(tmp_path), replay_from="yesterday"))
    with pytest.raises(ConfigurationError, match="PI5_FEED__CALENDAR='XMARS': invalid calendar"):
        configured_feed(settings(calendar="XMARS"))
    with pytest.raises(ConfigurationError, match="needs the whole settings"):
        configured_feed(settings(kind="alpaca"))
    with pytest.raises(ConfigurationError, match="PI5_FEED__DELAY_S=900: a vendor's delay"):
        configured_feed(settings(delay_s="900"))


def test_stream_options_for_vendor_feeds() -> None:
    opts = stream_options(
        settings(reconnect_initial_s="0.25", reconnect_max_s="8", reconnect_max_attempts="5")
    )
    assert opts["backoff"] == Backoff(initial_s=0.25, max_s=8.0, max_attempts=5)
    assert opts["stale_after_s"] == 30.0
    assert opts["calendar"].name == "XNYS"

    async def silent(subs: Sequence[Subscription]) -> AsyncIterator[FeedMessage]:
        await asyncio.Event().wait()
        yield  # type: ignore[misc]  # an async generator that never yields

    feed = StreamFeed("vendor", silent, **opts)
    assert feed.name == "vendor"
    assert stream_options(settings())["backoff"].max_attempts is None  # 0: never give up
    with pytest.raises(ConfigurationError, match=r"RECONNECT_INITIAL_S=9\.0 is above"):
        stream_options(settings(reconnect_initial_s="9", reconnect_max_s="8"))
    with pytest.raises(ConfigurationError, match="PI5_FEED__CALENDAR='MOON'"):
        stream_options(settings(calendar="MOON"))


def test_a_delayed_vendors_market_opens_when_its_first_bar_can_arrive() -> None:
    """PI5_FEED__DELAY_S: the feed judges sessions on the data's clock, so the quarter of
    an hour after the open, before the first delayed bar can arrive, is not silence."""
    import time

    from pi5trading.feeds.calendars import get_calendar

    opts = stream_options(settings(delay_s="900"))
    data_now = opts["wall_ns"]()
    lag = time.time_ns() - data_now
    assert 900 * 10**9 <= lag < 901 * 10**9
    assert stream_options(settings())["wall_ns"] is time.time_ns

    session = get_calendar("XNYS").session_at(1_733_236_200_000_000_000)  # 2024-12-03 14:30Z
    assert session is not None
    ten_past_open = session.open_ns + 600 * 10**9  # on the wall clock

    async def silent(subs: Sequence[Subscription]) -> AsyncIterator[FeedMessage]:
        await asyncio.Event().wait()
        yield  # type: ignore[misc]  # an async generator that never yields

    for delay, want in ((900, "live"), (0, "stale")):
        opts = stream_options(settings(delay_s=str(delay), stale_after_s="60"))
        # What the data's clock reads ten minutes after the open (wall clock).
        opts["wall_ns"] = lambda d=delay: ten_past_open - d * 10**9
        feed = StreamFeed("vendor", silent, monotonic=lambda: 1000.0, **opts)
        feed._set_status("live")
        feed.stats.last_message_mono = 1.0  # its last bar: the evening before
        feed.check_staleness()
        assert feed.status == want, delay


def test_vendor_kinds_build_their_stream_feeds() -> None:
    """``PI5_FEED__KIND=alpaca`` / ``yahoo`` give the vendor's stream as a feed with the
    ``PI5_FEED__*`` options (``pi5trading serve`` runs it); Alpha Vantage, history only, is
    refused with the reason. The node's run against the Alpaca stand-in is
    tests/integration/test_feed_faults.py."""
    env = {
        "PI5_FEED__SYMBOLS": "AAPL,MSFT",
        "PI5_FEED__BARS": "1m,5m",
        "PI5_FEED__STALE_AFTER_S": "7",
        "PI5_ALPACA__KEY_ID": "PKTEST",
        "PI5_ALPACA__SECRET_KEY": "secret",
    }
    for kind, name in (("alpaca", "alpaca:iex"), ("yahoo", "yahoo")):
        full = load_settings({**env, "PI5_FEED__KIND": kind}, None)
        feed = configured_feed(full.feed, full=full)
        assert isinstance(feed, StreamFeed)
        assert feed.name == name
        assert sorted(feed.subscriptions) == ["AAPL", "MSFT"]
        assert feed.subscriptions["AAPL"].bars == ("1m", "5m")  # 5m built from the minutes
        assert feed.stale_after_s == 7.0  # set on purpose: kept
    # By default Yahoo's silence counts as stale after its pace: a bar a minute, seen up to
    # a poll (15 s) later; the stream's 30 s would flip it to stale every minute.
    for kind, after in (("yahoo", 90.0), ("alpaca", 30.0)):
        plain = {k: v for k, v in env.items() if k != "PI5_FEED__STALE_AFTER_S"}
        full = load_settings({**plain, "PI5_FEED__KIND": kind}, None)
        feed = configured_feed(full.feed, full=full)
        assert isinstance(feed, StreamFeed)
        assert feed.stale_after_s == after
    no_keys = load_settings({"PI5_FEED__KIND": "alpaca"}, None)
    with pytest.raises(AuthError, match="PI5_ALPACA__KEY_ID"):
        configured_feed(no_keys.feed, full=no_keys)
    av = load_settings({"PI5_FEED__KIND": "alphavantage"}, None)
    with pytest.raises(ConfigurationError, match="Alpha Vantage has history only"):
        configured_feed(av.feed, full=av)
