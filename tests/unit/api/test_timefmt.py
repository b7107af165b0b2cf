"""The API's times: ISO 8601 in UTC to the microsecond, read back exactly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pi5trading.api.timefmt import iso, parse_iso


@given(st.integers(min_value=0, max_value=4_102_444_800 * 10**9))  # to 2100
def test_a_shown_time_reads_back_to_its_microsecond(ns: int) -> None:
    text = iso(ns)
    assert text.endswith("Z")
    assert parse_iso(text, "t") == ns // 1000 * 1000


def test_offsets_and_dates_are_read_as_utc() -> None:
    assert parse_iso("2026-12-03", "t") == parse_iso("2026-12-03T00:00:00Z", "t")
    assert parse_iso("2026-12-03T15:30:00+01:00", "t") == parse_iso("2026-12-03T14:30:00Z", "t")
    assert iso(1_764_772_200_123_456_789) == "2025-12-03T14:30:00.123456Z"
