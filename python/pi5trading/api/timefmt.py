"""Timestamps as the API shows them: ISO-8601 in UTC with a ``Z``."""

from __future__ import annotations

import datetime as dt

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def iso(ns: int) -> str:
    """``2026-12-03T14:30:00.123456Z`` from Unix nanoseconds."""
    # Whole microseconds, exact by construction (not a float of seconds): the dashboard
    # pages by an `end` one microsecond after a shown time.
    t = _EPOCH + dt.timedelta(microseconds=ns // 1000)
    return t.isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso(text: str, field: str) -> int:
    """Unix nanoseconds from an ISO-8601 time (a date means its midnight UTC; a time
    without a zone is UTC); ``ValueError`` naming the field."""
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{field}: {text!r} is not an ISO-8601 time such as 2026-12-03T14:30:00Z"
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return (t - _EPOCH) // dt.timedelta(microseconds=1) * 1000


__all__ = ["iso", "parse_iso"]
