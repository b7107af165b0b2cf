"""The simulated feed: seeded, on the tick, on the calendar, U-shaped volume, paced."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest

from pi5trading.bus import IngestQueue
from pi5trading.exceptions import InvalidInputError
from pi5trading.feeds.aggregation import TickAggregator
from pi5trading.feeds.calendars import get_calendar
from pi5trading.feeds.simulated import SimulatedFeed, SimulatedSymbol
from pi5trading.model import Bar, Instrument
from tests.unit.feeds.collect import Collected, drain

MIN = 60 * 10**9
NYSE = get_calendar("XNYS")
MON = NYSE.session_on(dt.date(2026, 11, 23))
WED = NYSE.session_on(dt.date(2026, 11, 25))
FRI = NYSE.session_on(dt.date(2026, 11, 27))
assert MON is not None
assert WED is not None
assert FRI is not None


async def run(feed: SimulatedFeed, symbols: list[str], **sub: object) -> Collected:
    """Runs to the feed's end, draining as it goes (as the node does), so an event sent
    out of time order would be dropped as late and show up in the queue's stats."""
    feed.subscribe(symbols, **sub)  # type: ignore[arg-type]
    queue = IngestQueue(capacity=4096)
    out = Collected()
    await feed.start(queue)
    async with asyncio.timeout(60):
        while feed.running:
            drain(queue, out)
            await asyncio.sleep(0)
    await feed.stop()
    drain(queue, out)
    assert queue.stats()["dropped_late"] == 0
    return out


@pytest.mark.anyio
async def test_a_week_on_the_nyse_calendar() -> None:
    end = NYSE.session_on(dt.date(2026, 11, 30))
    assert end is not None
    feed = SimulatedFeed(speed=None, start_ns=MON.open_ns, end_ns=end.open_ns)
    got = await run(feed, ["AAPL", "MSFT"], bars=("1m", "1h"), quotes=True, trades=True)
    minute = [b for b in got.bars if b.bar_type.interval == "1m"]
    # Mon, Tue, Wed: 390 minutes; Thursday a holiday; Friday a half day: 210.
    assert len(minute) == 2 * (3 * 390 + 210)
    for b in minute:
        s = NYSE.session_at(b.ts_event - 1)
        assert s is not None
        assert b.ts_event <= s.close_ns
    hours = [b for b in got.bars if b.bar_type.interval == "1h" and b.symbol == "AAPL"]
    assert len(hours) == 3 * 7 + 4
    assert [s.status for s in got.statuses] == ["live", "closed"]
    assert feed.stats.messages == len(got.bars) + len(got.quotes) + len(got.trades)
    assert len(got.quotes) == len(got.trades) == 6 * len(minute)


@pytest.mark.anyio
async def test_prices_on_the_tick_and_bars_are_their_trades() -> None:
    symbols = {
        "AAPL": SimulatedSymbol(symbol="AAPL", price=Decimal("190.00")),
        "FUT": SimulatedSymbol(symbol="FUT", price=Decimal("5000.25"), tick_size=Decimal("0.25")),
        "THIN": SimulatedSymbol(symbol="THIN", price=Decimal("3.00"), volume=1),
    }
    feed = SimulatedFeed(speed=None, start_ns=WED.open_ns, end_ns=WED.close_ns, symbols=symbols)
    got = await run(feed, ["AAPL", "FUT", "THIN"], quotes=True, trades=True)
    ticks = {"AAPL": Decimal("0.01"), "FUT": Decimal("0.25"), "THIN": Decimal("0.01")}
    for q in got.quotes:
        assert q.bid < q.ask
        assert q.bid.as_decimal() % ticks[q.symbol] == 0
        assert q.ask.as_decimal() % ticks[q.symbol] == 0
    for symbol in ticks:
        agg = TickAggregator(symbol, "1m", NYSE)
        rebuilt: list[Bar] = []
        for t in got.trades:
            if t.symbol == symbol:
                assert t.price.as_decimal() % ticks[symbol] == 0
                assert t.size.as_decimal() >= 1
                rebuilt.extend(agg.update(t))
        rebuilt.extend(agg.flush(WED.close_ns))
        assert rebuilt == [b for b in got.bars if b.symbol == symbol]
        assert len(rebuilt) == 390


@pytest.mark.anyio
async def test_seeded_per_symbol() -> None:
    async def bars(seed: int, symbols: list[str]) -> list[Bar]:
        feed = SimulatedFeed(
            speed=None, seed=seed, start_ns=WED.open_ns, end_ns=WED.open_ns + 30 * MIN
        )
        return [b for b in (await run(feed, symbols)).bars if b.symbol == "AAPL"]

    first = await bars(1, ["AAPL"])
    assert first == await bars(1, ["AAPL"])
    assert first == await bars(1, ["MSFT", "AAPL", "NVDA"])  # others do not disturb it
    assert first != await bars(2, ["AAPL"])


@pytest.mark.anyio
async def test_volume_is_u_shaped_over_the_session() -> None:
    feed = SimulatedFeed(speed=None, start_ns=MON.open_ns, end_ns=WED.close_ns)
    got = await run(feed, ["SPY"])
    edge: list[Decimal] = []
    middle: list[Decimal] = []
    for b in got.bars:
        s = NYSE.session_at(b.ts_event - 1)
        assert s is not None
        minute = (b.ts_event - s.open_ns) // MIN
        if minute <= 30 or minute > 360:
            edge.append(b.volume.as_decimal())
        elif 165 < minute <= 225:
            middle.append(b.volume.as_decimal())
    ratio = (sum(edge) / len(edge)) / (sum(middle) / len(middle))
    assert 2.0 < ratio < 3.5


@pytest.mark.anyio
async def test_24_7_runs_through_the_night_and_aggregates_to_utc_days() -> None:
    midnight = int(dt.datetime(2026, 12, 5, tzinfo=dt.UTC).timestamp()) * 10**9  # Saturday
    feed = SimulatedFeed(
        speed=None, calendar="24/7", start_ns=midnight, end_ns=midnight + 2 * 1440 * MIN
    )
    got = await run(feed, ["BTCUSD"], bars=("1m", "1d"))
    assert len([b for b in got.bars if b.bar_type.interval == "1m"]) == 2 * 1440
    days = [b for b in got.bars if b.bar_type.interval == "1d"]
    assert [b.ts_event for b in days] == [midnight + 1440 * MIN, midnight + 2 * 1440 * MIN]


@pytest.mark.anyio
async def test_speed_paces_simulated_time_against_the_real_clock() -> None:
    now = [1000.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    feed = SimulatedFeed(
        speed=120.0,  # two simulated minutes per real second
        start_ns=WED.open_ns,
        end_ns=WED.open_ns + 10 * MIN,
        quotes_per_minute=2,
        monotonic=lambda: now[0],
        sleep=sleep,
    )
    got = await run(feed, ["AAPL"], quotes=True)
    assert now[0] == pytest.approx(1000.0 + 5.0)  # 10 simulated minutes in 5 s
    assert len(got.bars) == 10
    assert len(got.quotes) == 20


@pytest.mark.anyio
async def test_starts_at_the_open_of_the_session_under_way_by_default() -> None:
    during = WED.open_ns + 95 * MIN + 17 * 10**9
    feed = SimulatedFeed(speed=None, end_ns=WED.open_ns + 3 * MIN, wall_ns=lambda: during)
    got = await run(feed, ["AAPL"])
    assert [b.ts_event for b in got.bars] == [WED.open_ns + k * MIN for k in (1, 2, 3)]
    # On Thanksgiving morning it replays Wednesday's session.
    thanksgiving = WED.open_ns + 24 * 3600 * 10**9
    feed = SimulatedFeed(speed=None, end_ns=WED.open_ns + MIN, wall_ns=lambda: thanksgiving)
    assert [b.ts_event for b in (await run(feed, ["AAPL"])).bars] == [WED.open_ns + MIN]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="invalid speed"):
        SimulatedFeed(speed=0)
    with pytest.raises(InvalidInputError, match="not on the tick"):
        SimulatedSymbol(symbol="X", price=Decimal("10.003"))
    with pytest.raises(InvalidInputError, match="invalid quotes_per_minute"):
        SimulatedFeed(quotes_per_minute=0)
    feed = SimulatedFeed()
    with pytest.raises(InvalidInputError, match="aggregation goes up to 1d"):
        feed.subscribe(["AAPL"], bars=("1w",))


@pytest.mark.anyio
async def test_resuming_after_a_restart_sends_exactly_what_was_not_sent() -> None:
    def feed(resume: int | None = None) -> SimulatedFeed:
        return SimulatedFeed(
            speed=None, start_ns=WED.open_ns, end_ns=WED.open_ns + 40 * MIN, resume_after_ns=resume
        )

    sub = {"bars": ("1m", "15m"), "quotes": True, "trades": True}
    whole = await run(feed(), ["AAPL", "MSFT"], **sub)
    cut = WED.open_ns + 22 * MIN + 25 * 10**9  # mid-minute, mid-quarter-hour
    rest = await run(feed(cut), ["AAPL", "MSFT"], **sub)
    expected = [m for m in whole.all if not hasattr(m, "feed") and m.ts_event > cut]
    sent = [m for m in rest.all if not hasattr(m, "feed")]
    assert sent == expected  # bars, quotes, trades (ids included)
    # The quarter hour under way at the cut (09:45-10:00) is whole: its parts before the
    # cut were drawn, unsent, into the bar in progress.
    quarter = [b for b in rest.bars if b.bar_type.interval == "15m" and b.symbol == "AAPL"]
    assert [b.ts_event for b in quarter] == [WED.open_ns + 30 * MIN]
    whole_quarters = [b for b in whole.bars if b.bar_type.interval == "15m" and b.symbol == "AAPL"]
    assert quarter == whole_quarters[1:]


@pytest.mark.anyio
async def test_an_instruments_tick_is_kept() -> None:
    es = Instrument("ES", "XCME", "FUTURE", "USD", "0.25", "1")
    spec = SimulatedSymbol.for_instrument(es, "6000.25", volatility=0.3)
    assert (spec.tick_size, spec.price, spec.volatility) == (
        Decimal("0.25"),
        Decimal("6000.25"),
        0.3,
    )
    with pytest.raises(InvalidInputError):
        SimulatedSymbol.for_instrument(es, "6000.10")  # not on the tick
    feed = SimulatedFeed(
        speed=None, start_ns=WED.open_ns, end_ns=WED.open_ns + 60 * MIN, symbols={"ES": spec}
    )
    got = await run(feed, ["ES"], quotes=True)
    for q in got.quotes:
        es.make_price(q.bid.as_decimal())  # raises if off the tick
        es.make_price(q.ask.as_decimal())
    assert len(got.bars) == 60
