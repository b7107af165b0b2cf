"""Trading sessions: when an exchange is open, its half days and holidays, in UTC ns.

Exchange calendars come from ``exchange_calendars`` (NYSE ``XNYS``, Nasdaq ``XNAS``, ...),
imported only when one is asked for: it pulls in pandas (~80 MB), which a node on the
simulated feed in 24/7 mode never needs. ``"24/7"`` (crypto) is a calendar of whole UTC
days that is always open::

    from pi5trading.feeds.calendars import get_calendar

    nyse = get_calendar("XNYS")                      # or "NYSE"
    day = nyse.session_on(dt.date(2026, 11, 27))     # the day after Thanksgiving
    day.open_ns, day.close_ns, day.early_close       # 14:30 UTC, 18:00 UTC, True
    nyse.holidays(dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    nyse.session_at(ts_ns)                           # the session open at ts, or None

The whole table (about twenty years back, one ahead) is built once per calendar and
looked up by binary search, so a lookup costs microseconds and no pandas.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import warnings
from typing import Final, Protocol

import msgspec

from pi5trading.exceptions import InvalidInputError

NS: Final = 1_000_000_000
DAY_NS: Final = 86_400 * NS
ALWAYS_OPEN: Final = "24/7"
_ALIASES: Final = {"NYSE": "XNYS", "NASDAQ": "XNAS", "24X7": ALWAYS_OPEN, "CRYPTO": ALWAYS_OPEN}
_EPOCH: Final = dt.date(1970, 1, 1)


class Session(msgspec.Struct, frozen=True):
    """One trading session: its exchange-local date and ``[open_ns, close_ns)`` in UTC ns."""

    date: dt.date
    open_ns: int
    close_ns: int
    early_close: bool = False
    """Closes before the regular time (NYSE half days: 13:00 New York)."""


class SessionCalendar(Protocol):
    """What feeds, aggregation and the risk engine ask of a calendar."""

    @property
    def name(self) -> str: ...

    def sessions(self, start: dt.date, end: dt.date) -> list[Session]:
        """Sessions whose date is in ``[start, end]``, oldest first."""
        ...

    def session_on(self, day: dt.date) -> Session | None:
        """The session of ``day``, or None on a weekend or holiday."""
        ...

    def session_at(self, ts_ns: int) -> Session | None:
        """The session open at ``ts_ns`` (``open_ns <= ts_ns < close_ns``), or None."""
        ...

    def next_session(self, ts_ns: int) -> Session:
        """The session open at ``ts_ns``, else the next one to open."""
        ...

    def holidays(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """Weekdays in ``[start, end]`` without a session."""
        ...


def _date_of(ts_ns: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=ts_ns // DAY_NS)


def _ns_of(day: dt.date) -> int:
    return (day - _EPOCH).days * DAY_NS


class AlwaysOpen:
    """Crypto: open every moment; a session is a whole UTC day (aggregation aligns to it)."""

    name = ALWAYS_OPEN

    def sessions(self, start: dt.date, end: dt.date) -> list[Session]:
        days = (end - start).days + 1
        return [self._session(start + dt.timedelta(days=i)) for i in range(max(days, 0))]

    def session_on(self, day: dt.date) -> Session | None:
        return self._session(day)

    def session_at(self, ts_ns: int) -> Session | None:
        return self._session(_date_of(ts_ns))

    def next_session(self, ts_ns: int) -> Session:
        return self._session(_date_of(ts_ns))

    def holidays(self, start: dt.date, end: dt.date) -> list[dt.date]:
        return []

    @staticmethod
    def _session(day: dt.date) -> Session:
        start = _ns_of(day)
        return Session(day, start, start + DAY_NS)


class ExchangeCalendar:
    """An exchange's sessions from ``exchange_calendars``, held as sorted UTC-ns columns."""

    def __init__(self, name: str) -> None:
        try:
            import exchange_calendars as xc  # type: ignore[import-untyped]
        except ImportError as e:  # pragma: no cover - a declared dependency
            raise InvalidInputError(
                f"invalid calendar: {name!r} needs the exchange_calendars package"
            ) from e
        # exchange_calendars 4.x trips pandas 3's deprecation of Series.values on tz-aware
        # columns inside its own constructor; not ours to fix, and harmless here.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Series.values returning")
            try:
                cal = xc.get_calendar(name)
            except xc.errors.InvalidCalendarName as e:
                raise InvalidInputError(
                    f"invalid calendar: {name!r} is not an exchange calendar "
                    f"(e.g. XNYS, XNAS, XLON, or {ALWAYS_OPEN!r})"
                ) from e
            schedule = cal.schedule
            early = {ts.date() for ts in cal.early_closes}
        self.name = name
        self.time_zone: str = str(getattr(cal.tz, "key", cal.tz))
        self._dates: list[dt.date] = [ts.date() for ts in schedule.index]
        # tz-aware UTC columns -> int64 ns without a float in between.
        self._opens: list[int] = [int(t.value) for t in schedule["open"]]
        self._closes: list[int] = [int(t.value) for t in schedule["close"]]
        self._early = [d in early for d in self._dates]
        self._weekmask = [c == "1" for c in cal.weekmask]
        self.weekdays = [i for i, on in enumerate(self._weekmask) if on]
        """Trading weekdays, 0 = Monday."""
        self.first_date = self._dates[0]
        self.last_date = self._dates[-1]

    def _at(self, i: int) -> Session:
        return Session(self._dates[i], self._opens[i], self._closes[i], self._early[i])

    def _check_range(self, day: dt.date) -> None:
        if not self.first_date <= day <= self.last_date:
            raise InvalidInputError(
                f"invalid date: {day} is outside the {self.name} calendar "
                f"({self.first_date} to {self.last_date})"
            )

    def sessions(self, start: dt.date, end: dt.date) -> list[Session]:
        self._check_range(start)
        self._check_range(end)
        lo = bisect.bisect_left(self._dates, start)
        hi = bisect.bisect_right(self._dates, end)
        return [self._at(i) for i in range(lo, hi)]

    def session_on(self, day: dt.date) -> Session | None:
        self._check_range(day)
        i = bisect.bisect_left(self._dates, day)
        return self._at(i) if i < len(self._dates) and self._dates[i] == day else None

    def session_at(self, ts_ns: int) -> Session | None:
        i = bisect.bisect_right(self._opens, ts_ns) - 1
        if i >= 0 and ts_ns < self._closes[i]:
            return self._at(i)
        return None

    def next_session(self, ts_ns: int) -> Session:
        i = bisect.bisect_right(self._opens, ts_ns) - 1
        if i >= 0 and ts_ns < self._closes[i]:
            return self._at(i)
        if i + 1 >= len(self._opens):
            raise InvalidInputError(
                f"invalid timestamp: {ts_ns} is after the last {self.name} session "
                f"({self.last_date})"
            )
        return self._at(i + 1)

    def holidays(self, start: dt.date, end: dt.date) -> list[dt.date]:
        have = {s.date for s in self.sessions(start, end)}
        out = []
        day = start
        while day <= end:
            if self._weekmask[day.weekday()] and day not in have:
                out.append(day)
            day += dt.timedelta(days=1)
        return out

    def early_closes(self, start: dt.date, end: dt.date) -> list[Session]:
        """Half days in ``[start, end]``."""
        return [s for s in self.sessions(start, end) if s.early_close]


def get_calendar(name: str) -> SessionCalendar:
    """A calendar by exchange code (``XNYS``; ``NYSE``/``NASDAQ`` accepted) or ``"24/7"``.

    Cached: the table is built once per process.
    """
    code = name.strip().upper()
    return _calendar(_ALIASES.get(code, code))


class _RiskSessionTarget(Protocol):
    """``pi5trading.risk.RiskEngine.set_session``."""

    def set_session(
        self,
        time_zone: str,
        *,
        reset_at: str = ...,
        open: str | None = ...,
        close: str = ...,
        weekdays: list[int] = ...,
        holidays: list[str] = ...,
        early_closes: dict[str, str] | None = ...,
    ) -> None: ...


class RiskHours(msgspec.Struct, frozen=True):
    """A calendar's trading hours as the risk engine's trading-hours check takes them:
    time zone, regular local open and close, weekdays (0 = Monday), holidays and half days
    (``early_closes``: local date → local close), all as ``RiskEngine.set_session`` takes
    them."""

    time_zone: str
    open: str | None
    close: str
    weekdays: list[int]
    holidays: list[str]
    early_closes: dict[str, str]

    def apply(self, risk: _RiskSessionTarget, *, reset_at: str = "00:00") -> None:
        """Sets ``risk``'s session (``RiskEngine.set_session``) to these hours."""
        if self.open is None:
            risk.set_session(self.time_zone, reset_at=reset_at, open=None)
            return
        risk.set_session(
            self.time_zone,
            reset_at=reset_at,
            open=self.open,
            close=self.close,
            weekdays=self.weekdays,
            holidays=self.holidays,
            early_closes=self.early_closes,
        )


def risk_hours(calendar: SessionCalendar, start: dt.date, end: dt.date) -> RiskHours:
    """The trading hours, holidays and half days of ``calendar`` between two dates, for
    the risk engine (``risk_hours(get_calendar("XNYS"), ...).apply(risk_engine)``).

    The regular open and close are the most common local ones in the range.
    """
    if not isinstance(calendar, ExchangeCalendar):
        return RiskHours("UTC", None, "24:00", list(range(7)), [], {})
    from collections import Counter
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(calendar.time_zone)
    sessions = calendar.sessions(start, end)
    if not sessions:
        raise InvalidInputError(f"invalid dates: no {calendar.name} session from {start} to {end}")

    def local(ns: int) -> str:
        return dt.datetime.fromtimestamp(ns // NS, tz=dt.UTC).astimezone(tz).strftime("%H:%M")

    opens = Counter(local(s.open_ns) for s in sessions)
    closes = [(s, local(s.close_ns)) for s in sessions]
    regular_close = Counter(c for _, c in closes).most_common(1)[0][0]
    return RiskHours(
        time_zone=calendar.time_zone,
        open=opens.most_common(1)[0][0],
        close=regular_close,
        weekdays=list(calendar.weekdays),
        holidays=[d.isoformat() for d in calendar.holidays(start, end)],
        early_closes={s.date.isoformat(): c for s, c in closes if c < regular_close},
    )


@functools.cache
def _calendar(code: str) -> SessionCalendar:
    if code == ALWAYS_OPEN:
        return AlwaysOpen()
    return ExchangeCalendar(code)


__all__ = [
    "ALWAYS_OPEN",
    "AlwaysOpen",
    "ExchangeCalendar",
    "RiskHours",
    "Session",
    "SessionCalendar",
    "get_calendar",
    "risk_hours",
]
