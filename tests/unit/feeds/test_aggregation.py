"""Aggregation: ticks into bars, small bars into larger ones, aligned to the session."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pi5trading.exceptions import InvalidInputError
from pi5trading.feeds.aggregation import BarAggregator, TickAggregator
from pi5trading.feeds.calendars import Session, get_calendar
from pi5trading.model import Bar, QuoteTick, TradeTick

MIN = 60 * 10**9
NYSE = get_calendar("XNYS")
DAY = NYSE.session_on(dt.date(2026, 11, 25))
HALF = NYSE.session_on(dt.date(2026, 11, 27))
NEXT = NYSE.session_on(dt.date(2026, 11, 30))
assert DAY is not None
assert HALF is not None
assert NEXT is not None


def minute_bar(ts: int, o: str, h: str, lo: str, c: str, v: str, symbol: str = "AAPL") -> Bar:
    return Bar(f"{symbol}-1m", o, h, lo, c, v, ts)


def run(agg: BarAggregator, bars: list[Bar], now: int) -> list[Bar]:
    out = [b for bar in bars for b in agg.update(bar)]
    return out + agg.flush(now)


def flat_minutes(session: Session, price: str = "10.00") -> list[Bar]:
    n = (session.close_ns - session.open_ns) // MIN
    return [
        minute_bar(session.open_ns + (i + 1) * MIN, price, price, price, price, "1")
        for i in range(n)
    ]


def test_hours_align_to_the_nyse_open_and_the_last_is_cut_at_the_close() -> None:
    agg = BarAggregator("AAPL", "1m", "1h", NYSE)
    out = run(agg, flat_minutes(DAY), DAY.close_ns)
    hour = 60 * MIN
    assert [b.ts_event for b in out] == [DAY.open_ns + k * hour for k in range(1, 7)] + [
        DAY.close_ns
    ]
    assert [int(b.volume.as_decimal()) for b in out] == [60] * 6 + [30]  # 15:30-16:00
    assert all(b.bar_type.topic == "data.bars.AAPL.1h" for b in out)
    # The last part completes the last bar at once: nothing is left for flush.
    assert agg.partial() is None


def test_a_half_day_makes_a_short_day_bar_and_a_short_last_hour() -> None:
    hourly = run(BarAggregator("AAPL", "1m", "1h", NYSE), flat_minutes(HALF), HALF.close_ns)
    assert len(hourly) == 4  # 09:30-10:30, -11:30, -12:30, 12:30-13:00
    assert hourly[-1].ts_event == HALF.close_ns
    daily = run(BarAggregator("AAPL", "1h", "1d", NYSE), hourly, HALF.close_ns)
    assert [(b.ts_event, str(b.volume)) for b in daily] == [(HALF.close_ns, "210")]


def test_chained_aggregation_equals_direct() -> None:
    bars = []
    price = Decimal("100.00")
    for i, b in enumerate(flat_minutes(DAY)):
        price += Decimal((i * 7919) % 21 - 10) / 100
        hi, lo = price + Decimal("0.05"), price - Decimal("0.03")
        bars.append(minute_bar(b.ts_event, str(price), str(hi), str(lo), str(price), str(i + 1)))
    five = run(BarAggregator("AAPL", "1m", "5m", NYSE), bars, DAY.close_ns)
    fifteen_from_five = run(BarAggregator("AAPL", "5m", "15m", NYSE), five, DAY.close_ns)
    fifteen = run(BarAggregator("AAPL", "1m", "15m", NYSE), bars, DAY.close_ns)
    assert len(five) == 78
    assert len(fifteen) == 26
    assert fifteen_from_five == fifteen
    day_from_15 = run(BarAggregator("AAPL", "15m", "1d", NYSE), fifteen, DAY.close_ns)
    day = run(BarAggregator("AAPL", "1m", "1d", NYSE), bars, DAY.close_ns)
    assert day_from_15 == day
    assert day[0].volume.as_decimal() == sum(range(1, 391))


def prices() -> st.SearchStrategy[Decimal]:
    return st.integers(1, 100_000).map(lambda c: Decimal(c) / 100)


@st.composite
def minute_bars(draw: st.DrawFn) -> list[Bar]:
    """Bars of random minutes of two sessions (gaps allowed), on a 0.01 tick."""
    out = []
    for session in (DAY, NEXT):
        n = (session.close_ns - session.open_ns) // MIN
        minutes = sorted(draw(st.sets(st.integers(1, n), min_size=1, max_size=60)))
        for m in minutes:
            o, c = draw(prices()), draw(prices())
            hi = max(o, c) + draw(prices()) - Decimal("0.01")
            lo = max(min(o, c) - draw(prices()) + Decimal("0.01"), Decimal("0.01"))
            v = draw(st.integers(0, 10**7)) / Decimal(1000)
            ts = session.open_ns + m * MIN
            out.append(minute_bar(ts, str(o), str(hi), str(lo), str(c), str(v)))
    return out


@settings(max_examples=60, deadline=None)
@given(bars=minute_bars(), target=st.sampled_from(["5m", "15m", "1h", "1d"]))
def test_an_aggregated_bar_is_exactly_its_parts(bars: list[Bar], target: str) -> None:
    out = run(BarAggregator("AAPL", "1m", target, NYSE), bars, NEXT.close_ns)
    step = {"5m": 5 * MIN, "15m": 15 * MIN, "1h": 60 * MIN, "1d": 0}[target]
    assert [b.ts_event for b in out] == sorted({b.ts_event for b in out})
    used = 0
    prev_end = 0
    for agg in out:
        session = NYSE.session_at(agg.ts_event - 1)
        assert session is not None
        if step:  # aligned to the open; cut at the close
            start = agg.ts_event - step if agg.ts_event != session.close_ns else None
            assert (agg.ts_event - session.open_ns) % step == 0 or start is None
            lo_bound = max(session.open_ns, agg.ts_event - step, prev_end)
        else:
            assert agg.ts_event == session.close_ns
            lo_bound = session.open_ns
        parts = [b for b in bars if lo_bound < b.ts_event <= agg.ts_event]
        assert parts
        used += len(parts)
        assert agg.open == parts[0].open
        assert agg.close == parts[-1].close
        assert agg.high == max(p.high for p in parts)
        assert agg.low == min(p.low for p in parts)
        assert agg.volume.as_decimal() == sum(p.volume.as_decimal() for p in parts)
        prev_end = agg.ts_event
    assert used == len(bars)  # every part in exactly one bar


def test_flush_closes_a_bar_only_at_its_end_and_partial_shows_progress() -> None:
    agg = BarAggregator("AAPL", "1m", "5m", NYSE)
    bars = flat_minutes(DAY)[:3]
    assert [b for bar in bars for b in agg.update(bar)] == []
    part = agg.partial()
    assert part is not None
    assert (part.ts_event, str(part.volume)) == (DAY.open_ns + 5 * MIN, "3")
    assert agg.flush(DAY.open_ns + 5 * MIN - 1) == []
    done = agg.flush(DAY.open_ns + 5 * MIN)
    assert [(b.ts_event, str(b.volume)) for b in done] == [(DAY.open_ns + 5 * MIN, "3")]
    assert agg.partial() is None


def test_late_and_out_of_session_bars_are_counted_not_used() -> None:
    agg = BarAggregator("AAPL", "1m", "5m", NYSE)
    bars = flat_minutes(DAY)
    agg.update(bars[7])
    assert agg.update(bars[2]) == []  # older than the bucket in progress
    assert agg.update(minute_bar(DAY.open_ns - 10 * MIN, "1", "1", "1", "1", "5")) == []
    assert (agg.late, agg.outside_session) == (2, 0)  # pre-market is older: late
    out = agg.update(minute_bar(DAY.close_ns + 10 * MIN, "1", "1", "1", "1", "5"))
    assert [b.ts_event for b in out] == [DAY.open_ns + 10 * MIN]
    assert agg.outside_session == 1


def test_trades_into_bars_with_the_boundary_tick_in_the_next_bar() -> None:
    agg = TickAggregator("AAPL", "1m", NYSE)
    t0 = DAY.open_ns
    ticks = [
        TradeTick("AAPL", "10.01", "5", "BUYER", "1", t0),
        TradeTick("AAPL", "10.05", "1.5", "SELLER", "2", t0 + 10**9),
        TradeTick("AAPL", "9.99", "2", "BUYER", "3", t0 + 59 * 10**9),
        TradeTick("AAPL", "10.02", "7", "BUYER", "4", t0 + MIN),  # the next minute
    ]
    out = [b for t in ticks for b in agg.update(t)]
    assert len(out) == 1
    b = out[0]
    assert (str(b.open), str(b.high), str(b.low), str(b.close)) == (
        "10.01",
        "10.05",
        "9.99",
        "9.99",
    )
    assert (b.volume.as_decimal(), b.ts_event) == (Decimal("8.5"), t0 + MIN)
    nxt = agg.flush(t0 + 2 * MIN)
    assert [(str(x.open), str(x.volume), x.ts_event) for x in nxt] == [("10.02", "7", t0 + 2 * MIN)]


def test_quote_mid_bars_are_exact() -> None:
    agg = TickAggregator("EURUSD", "1m", get_calendar("24/7"), quotes="mid")
    t0 = 1_795_000_000 * 10**9 // MIN * MIN  # a minute boundary
    agg.update(QuoteTick("EURUSD", "1.10001", "1.10002", 1, 1, t0 + 1))
    agg.update(QuoteTick("EURUSD", "1.10000", "1.10004", 1, 1, t0 + 2))
    b = agg.flush(t0 + MIN)[0]
    assert (b.open.as_decimal(), b.close.as_decimal()) == (Decimal("1.100015"), Decimal("1.10002"))
    assert b.volume.as_decimal() == 0
    # Nine places: half a raw unit rounds to even.
    nine = TickAggregator("X", "1m", get_calendar("24/7"), quotes="mid")
    nine.update(QuoteTick("X", "0.000000001", "0.000000002", 1, 1, t0 + 1))
    nine.update(QuoteTick("X", "0.000000002", "0.000000003", 1, 1, t0 + 2))
    m = nine.flush(t0 + MIN)[0]
    assert (m.open.as_decimal(), m.close.as_decimal()) == (
        Decimal("0.000000002"),
        Decimal("0.000000002"),
    )


def test_24_7_aligns_hours_and_days_to_utc() -> None:
    cal = get_calendar("24/7")
    midnight = int(dt.datetime(2026, 12, 5, tzinfo=dt.UTC).timestamp()) * 10**9
    agg = BarAggregator("BTCUSD", "1m", "1h", cal)
    bars = [minute_bar(midnight + i * MIN, "1", "1", "1", "1", "1", "BTCUSD") for i in (1, 60, 61)]
    out = run(agg, bars, midnight + 2 * 60 * MIN)
    assert [(b.ts_event - midnight) // MIN for b in out] == [60, 120]


@pytest.mark.parametrize(
    ("source", "target", "match"),
    [
        ("5m", "7m", "cannot build '7m' bars from '5m'"),
        ("1h", "1m", "cannot build '1m' bars from '1h'"),
        ("1d", "1w", "aggregation goes up to 1d"),
    ],
)
def test_impossible_intervals_are_refused(source: str, target: str, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        BarAggregator("AAPL", source, target, NYSE)


def test_wrong_symbol_or_kind_is_refused() -> None:
    agg = BarAggregator("AAPL", "1m", "5m", NYSE)
    with pytest.raises(InvalidInputError, match="invalid bar: MSFT-1m given to the AAPL-1m"):
        agg.update(minute_bar(DAY.open_ns + MIN, "1", "1", "1", "1", "1", "MSFT"))
    ticks = TickAggregator("AAPL", "1m", NYSE)
    with pytest.raises(InvalidInputError, match="a quote given to a trade aggregator"):
        ticks.update(QuoteTick("AAPL", "1", "2", 1, 1, DAY.open_ns))
