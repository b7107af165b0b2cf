"""Session calendars: NYSE hours, half days and holidays in UTC ns; 24/7 for crypto."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pi5trading.exceptions import InvalidInputError
from pi5trading.feeds.calendars import AlwaysOpen, Session, get_calendar, risk_hours

NS = 10**9
HOUR = 3600 * NS


def utc(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> int:
    return int(dt.datetime(y, m, d, h, mi, tzinfo=dt.UTC).timestamp()) * NS


def test_nyse_regular_day_in_winter_and_summer_time() -> None:
    nyse = get_calendar("NYSE")
    assert nyse is get_calendar("xnys")  # one table per process
    assert nyse.session_on(dt.date(2026, 1, 2)) == Session(
        dt.date(2026, 1, 2), utc(2026, 1, 2, 14, 30), utc(2026, 1, 2, 21, 0)
    )
    july = nyse.session_on(dt.date(2026, 7, 1))
    assert july is not None
    assert (july.open_ns, july.close_ns) == (utc(2026, 7, 1, 13, 30), utc(2026, 7, 1, 20, 0))


def test_nyse_holidays_and_half_days_of_2026() -> None:
    nyse = get_calendar("XNYS")
    start, end = dt.date(2026, 1, 1), dt.date(2026, 12, 31)
    assert nyse.holidays(start, end) == [
        dt.date(2026, 1, 1),  # New Year
        dt.date(2026, 1, 19),  # Martin Luther King Jr.
        dt.date(2026, 2, 16),  # Washington's Birthday
        dt.date(2026, 4, 3),  # Good Friday
        dt.date(2026, 5, 25),  # Memorial Day
        dt.date(2026, 6, 19),  # Juneteenth
        dt.date(2026, 7, 3),  # Independence Day (observed)
        dt.date(2026, 9, 7),  # Labor Day
        dt.date(2026, 11, 26),  # Thanksgiving
        dt.date(2026, 12, 25),  # Christmas
    ]
    assert nyse.session_on(dt.date(2026, 11, 26)) is None
    assert nyse.session_on(dt.date(2026, 11, 28)) is None  # Saturday
    half = nyse.session_on(dt.date(2026, 11, 27))
    assert half is not None
    assert half.early_close
    assert half.close_ns == utc(2026, 11, 27, 18, 0)  # 13:00 New York
    assert len(nyse.sessions(start, end)) == 251


def test_session_at_and_next_session() -> None:
    nyse = get_calendar("XNYS")
    s = nyse.session_on(dt.date(2026, 11, 25))
    assert s is not None
    assert nyse.session_at(s.open_ns) == s
    assert nyse.session_at(s.close_ns - 1) == s
    assert nyse.session_at(s.close_ns) is None  # [open, close)
    assert nyse.session_at(s.open_ns - 1) is None
    nxt = nyse.next_session(s.close_ns)
    assert nxt.date == dt.date(2026, 11, 27)  # over the holiday
    assert nyse.next_session(s.open_ns + HOUR) == s


def test_always_open() -> None:
    c = get_calendar("24/7")
    assert isinstance(c, AlwaysOpen)
    assert get_calendar("crypto") is c
    day = c.session_on(dt.date(2026, 12, 25))
    assert day == Session(dt.date(2026, 12, 25), utc(2026, 12, 25), utc(2026, 12, 26))
    assert c.holidays(dt.date(2026, 1, 1), dt.date(2026, 12, 31)) == []
    assert len(c.sessions(dt.date(2026, 1, 1), dt.date(2026, 12, 31))) == 365


@given(st.integers(utc(2010, 1, 1), utc(2027, 6, 1)))
def test_a_timestamp_is_in_at_most_the_session_it_falls_in(ts: int) -> None:
    nyse = get_calendar("XNYS")
    s = nyse.session_at(ts)
    nxt = nyse.next_session(ts)
    if s is None:
        assert nxt.open_ns > ts
    else:
        assert s.open_ns <= ts < s.close_ns
        assert nxt == s
    assert get_calendar("24/7").session_at(ts) is not None


def test_bad_names_and_dates_are_refused_clearly() -> None:
    with pytest.raises(InvalidInputError, match="invalid calendar: 'MOON' is not an exchange"):
        get_calendar("MOON")
    with pytest.raises(InvalidInputError, match="invalid date: 1990-01-02 is outside the XNYS"):
        get_calendar("XNYS").session_on(dt.date(1990, 1, 2))


def test_pandas_is_loaded_only_when_an_exchange_calendar_is_asked_for() -> None:
    code = (
        "import sys\n"
        "from pi5trading.feeds.calendars import get_calendar\n"
        "import pi5trading.feeds.feed\n"
        "get_calendar('24/7')\n"
        "assert 'pandas' not in sys.modules, 'pandas loaded early'\n"
        "get_calendar('XNYS')\n"
        "assert 'pandas' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_risk_hours_hand_nyse_holidays_to_the_risk_engine() -> None:
    from pi5trading.risk import RiskAccount, RiskEngine

    hours = risk_hours(get_calendar("XNYS"), dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert (hours.time_zone, hours.open, hours.close) == ("America/New_York", "09:30", "16:00")
    assert hours.weekdays == [0, 1, 2, 3, 4]
    assert "2026-11-26" in hours.holidays
    assert len(hours.holidays) == 10
    assert hours.early_closes == {"2026-11-27": "13:00", "2026-12-24": "13:00"}
    risk = RiskEngine("unlimited")
    hours.apply(risk)
    acct = RiskAccount("1000000")
    acct.set_last_price("AAPL", "100")

    def denied(ts: int, qty: int) -> str | None:
        d = risk.check(acct, "S1", "AAPL", "buy", qty, ts=ts)
        return None if d is None else d.code

    assert denied(utc(2026, 11, 25, 15), 1) is None  # Wednesday 10:00
    assert denied(utc(2026, 11, 26, 15), 2) == "outside_trading_hours"  # Thanksgiving
    assert denied(utc(2026, 11, 27, 15), 3) is None  # the half day, morning
    assert denied(utc(2026, 11, 27, 17, 59), 5) is None  # 12:59 New York
    assert denied(utc(2026, 11, 27, 18), 6) == "outside_trading_hours"  # 13:00: closed
    assert denied(utc(2026, 11, 30, 20, 59), 7) is None  # Monday: the regular close again
    always = risk_hours(get_calendar("24/7"), dt.date(2026, 1, 1), dt.date(2026, 1, 2))
    always.apply(risk)
    assert denied(utc(2026, 11, 26, 15), 4) is None
