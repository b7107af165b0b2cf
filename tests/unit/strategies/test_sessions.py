"""Exchange-local days from UTC bar timestamps, across daylight saving."""

from __future__ import annotations

from datetime import date, time

from pi5trading.strategies._sessions import SessionDay
from tests.unit.strategies.helpers import utc_ns


def test_days_follow_new_york_not_utc() -> None:
    s = SessionDay((time(9, 30), time(15, 55)))
    # 2024-07-01 23:00 EDT is 2024-07-02 03:00 UTC: still July 1st in New York.
    assert s.roll(utc_ns("2024-07-01 23:00", -4))
    assert s.day == date(2024, 7, 1)
    assert s.at == (utc_ns("2024-07-01 09:30", -4), utc_ns("2024-07-01 15:55", -4))
    # A bar closing exactly at midnight belongs to the day that ends there.
    assert not s.roll(utc_ns("2024-07-02 00:00", -4))
    assert s.roll(utc_ns("2024-07-02 00:01", -4))
    assert s.day == date(2024, 7, 2)


def test_standard_time_and_the_spring_forward_day() -> None:
    s = SessionDay((time(9, 30),))
    s.roll(utc_ns("2024-01-02 10:00", -5))
    assert s.at == (utc_ns("2024-01-02 09:30", -5),)  # 14:30 UTC in winter
    # 2024-03-10: clocks go forward at 02:00; the day is 23 hours long.
    s.roll(utc_ns("2024-03-10 12:00", -4))
    assert s.day == date(2024, 3, 10)
    assert s.end - s.start == 23 * 3600 * 10**9
    assert s.at == (utc_ns("2024-03-10 09:30", -4),)
