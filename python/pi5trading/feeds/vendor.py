"""What the vendor clients (Yahoo, Alpha Vantage, Alpaca market data) share: their errors,
one HTTP request with retries, exact prices on the tick, exact timestamps.

Errors name the vendor, the endpoint (method and path, never the query string, which may
hold a key) and what was wrong; a key never appears in an error, a log line or a repr:
``VendorHttp`` scrubs the secrets it was given from every message it makes, and the
``httpx`` request log (which prints full URLs) is filtered here to hide ``apikey=``-like
query values.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import functools
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Context, Decimal
from types import TracebackType
from typing import Self, TypeVar

import httpx

from pi5trading.exceptions import Pi5TradingError
from pi5trading.model import Bar, Instrument, Price, Quantity

log = logging.getLogger("pi5trading.feeds.vendor")
NS = 1_000_000_000

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class VendorError(Pi5TradingError):
    """A market data vendor failed; ``vendor`` and ``endpoint`` say where."""

    def __init__(self, vendor: str, endpoint: str, problem: str) -> None:
        super().__init__(f"{vendor} {endpoint}: {problem}")
        self.vendor = vendor
        self.endpoint = endpoint
        self.problem = problem


class RateLimitedError(VendorError):
    """The vendor (or our own limit of its free tier) refuses more requests for now.
    ``retry_after_s``: when to try again, if known."""

    def __init__(
        self, vendor: str, endpoint: str, problem: str, retry_after_s: float | None = None
    ) -> None:
        super().__init__(vendor, endpoint, problem)
        self.retry_after_s = retry_after_s


class AuthError(VendorError):
    """The key is missing, wrong, or not allowed this data (never retried)."""


class VendorDataError(VendorError):
    """The vendor's answer is an error or cannot be read (malformed, truncated, a bad
    symbol or parameter, a value off the model's rules)."""


class VendorUnavailableError(VendorError):
    """Timeouts, connection failures or 5xx answers persisted through every retry."""


# --- keeping keys out of the httpx request log --------------------------------------

_SECRET_QUERY = re.compile(r"((?:api_?key|apikey|token|secret|key_id)=)[^&\s\"']+", re.I)


class _RedactQuery(logging.Filter):
    """httpx logs ``HTTP Request: GET <full URL>``; query values named like keys go."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(
                _SECRET_QUERY.sub(r"\1***", str(a)) if isinstance(a, httpx.URL | str) else a
                for a in args
            )
        if isinstance(record.msg, str):
            record.msg = _SECRET_QUERY.sub(r"\1***", record.msg)
        return True


# (httpcore's DEBUG lines name the method and host, never the URL or headers.)
_httpx_log = logging.getLogger("httpx")
if not any(isinstance(f, _RedactQuery) for f in _httpx_log.filters):
    _httpx_log.addFilter(_RedactQuery())


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` without any of ``secrets`` (vendors sometimes echo what they were sent)."""
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return _SECRET_QUERY.sub(r"\1***", text)


# --- exact values ---------------------------------------------------------------------

_WIDE = Context(prec=60)


@functools.lru_cache(maxsize=256)
def _tick_rule(instrument: Instrument) -> tuple[Decimal, Decimal | None, int]:
    """The tick, the quantum when the tick is a power of ten (one ``quantize`` then
    rounds to it), and the price precision."""
    tick = instrument.tick_size.as_decimal()
    power_of_ten = tick.normalize().as_tuple().digits == (1,)
    return tick, (tick.normalize() if power_of_ten else None), instrument.price_precision


def on_tick(instrument: Instrument, value: Decimal, what: str = "price") -> Price:
    """``value`` (a vendor's number, read exactly from its JSON text) rounded once,
    half-even (the core's default rounding), to the instrument's tick."""
    if not value.is_finite():
        raise ValueError(f"{what} {value} is not a number")
    tick, quantum, precision = _tick_rule(instrument)
    if quantum is not None:  # the usual cent tick: one exact rounding step
        return Price(value.quantize(quantum, ROUND_HALF_EVEN, _WIDE), precision)
    steps = _WIDE.divide(value, tick).to_integral_value(rounding=ROUND_HALF_EVEN)
    return instrument.make_price(_WIDE.multiply(steps, tick))


def exact_quantity(value: Decimal | int, what: str = "volume") -> Quantity:
    """A vendor's size as it was sent (more than 9 decimals is refused, not rounded)."""
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{what} {value} is not a size >= 0")
        return Quantity(value)
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what} {value} is not a size >= 0")
    return Quantity(value)


_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)?$"
)
_EPOCH_DAY = dt.date(1970, 1, 1).toordinal()


@functools.lru_cache(maxsize=1024)
def _day_s(date: str) -> int:
    return (dt.date.fromisoformat(date).toordinal() - _EPOCH_DAY) * 86_400


def rfc3339_ns(text: str) -> int:
    """UTC nanoseconds of an RFC 3339 time, nanoseconds kept (``datetime`` has only µs)."""
    # Fast path for what vendors stream: ``2024-01-02T14:30:00[.123456789]Z``.
    n = len(text)
    if (
        n >= 20
        and text[-1] == "Z"
        and text[10] == "T"
        and text[13] == ":"
        and text[16] == ":"
        and text[11:13].isdigit()
        and text[14:16].isdigit()
        and text[17:19].isdigit()
        and (n == 20 or (text[19] == "." and 21 < n <= 30 and text[20:-1].isdigit()))
    ):
        h, m, sec = int(text[11:13]), int(text[14:16]), int(text[17:19])
        if h < 24 and m < 60 and sec < 60:
            try:
                day = _day_s(text[:10])
            except ValueError:
                day = None
            if day is not None:
                frac = int(text[20:-1].ljust(9, "0")) if n > 20 else 0
                return (day + h * 3600 + m * 60 + sec) * NS + frac
    m_ = _RFC3339.match(text.strip())
    if m_ is None:
        raise ValueError(f"time {text!r} is not RFC 3339")
    y, mo, d, hh, mi, s, frac_text, zone = m_.groups()
    base = dt.datetime(int(y), int(mo), int(d), int(hh), int(mi), int(s), tzinfo=dt.UTC)
    seconds = int(base.timestamp())
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        zh, zm = int(zone[1:3]), int(zone[-2:])
        seconds -= sign * (zh * 3600 + zm * 60)
    return seconds * NS + int((frac_text or "").ljust(9, "0"))


def ns_to_rfc3339(ns: int) -> str:
    seconds, rest = divmod(ns, 10**9)
    text = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{rest:09d}Z" if rest else f"{text}Z"


def retry_after_s(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date) or, as Alpaca sends,
    ``X-RateLimit-Reset`` (UNIX seconds)."""
    value = response.headers.get("retry-after")
    wall = time.time() if now is None else now
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, when.timestamp() - wall)
    reset = response.headers.get("x-ratelimit-reset")
    if reset and reset.strip().isdigit():
        return max(0.0, int(reset) - wall)
    return None


# --- one request, retried -------------------------------------------------------------


class VendorHttp:
    """An ``httpx.AsyncClient`` for one vendor: GET with retries.

    Retried: timeouts, connection failures, a dropped or truncated answer, 5xx (with
    exponential backoff and full jitter), 429 and vendor throttle bodies (after
    ``Retry-After`` when given). ``before_request(endpoint)`` runs before every attempt
    (a ``RateLimiter``'s ``acquire``). Not retried: 401/403 (``AuthError``), other 4xx and
    unreadable bodies (``VendorDataError``). ``max_wait_s``: a throttle asking for a longer
    wait is raised at once as ``RateLimitedError``.
    """

    def __init__(
        self,
        vendor: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        timeout_s: float = 15.0,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        max_wait_s: float = 120.0,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        before_request: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.vendor = vendor
        self._before = before_request
        self._secrets = tuple(s for s in secrets if s)
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=dict(headers or {}),
            timeout=timeout_s,
            transport=transport,
            follow_redirects=False,
        )
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.backoff_cap_s = backoff_cap_s
        self.max_wait_s = max_wait_s
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.requests = 0
        """Requests sent, retries included."""
        self.retries = 0

    def __repr__(self) -> str:
        return f"VendorHttp({self.vendor!r}, {str(self._client.base_url)!r})"

    async def close(self) -> None:
        await self._client.aclose()

    def error_text(self, text: str, limit: int = 300) -> str:
        """A vendor's own words for an error, short and without secrets."""
        text = " ".join(text.split())
        return scrub(text[:limit] + ("…" if len(text) > limit else ""), self._secrets)

    def _clean(self, exc: VendorError) -> VendorError:
        """``exc``, or a copy without the secrets when its text quotes one."""
        if not any(secret in str(exc) for secret in self._secrets):
            return exc
        problem = scrub(exc.problem, self._secrets)
        if isinstance(exc, RateLimitedError):
            return RateLimitedError(exc.vendor, exc.endpoint, problem, exc.retry_after_s)
        return type(exc)(exc.vendor, exc.endpoint, problem)

    def backoff(self, attempt: int) -> float:
        return self._rng.uniform(0, min(self.backoff_cap_s, self.backoff_s * 2**attempt))

    async def get(
        self,
        path: str,
        params: Mapping[str, str | int] | None,
        parse: Callable[[httpx.Response, str], T],
        *,
        endpoint: str | None = None,
    ) -> T:
        """GET ``path``; ``parse(response, endpoint)`` reads a 2xx answer (and any other
        status the vendor answers with a body it explains) or raises a ``VendorError``."""
        where = endpoint or f"GET {path}"
        attempt = 0
        while True:
            wait: float | None
            try:
                if self._before is not None:
                    await self._before(where)  # e.g. a rate limiter; retries count too
                self.requests += 1
                response = await self._client.get(path, params=params)
                # Reading the body here: a connection cut mid-body fails now, as a transport
                # error, and is retried.
                await response.aread()
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                failure: VendorError = VendorUnavailableError(
                    self.vendor, where, f"{type(exc).__name__} after {attempt + 1} attempt(s)"
                )
                wait = self.backoff(attempt)
            else:
                status = response.status_code
                try:
                    if status == 429:
                        after = retry_after_s(response)
                        raise RateLimitedError(
                            self.vendor,
                            where,
                            f"HTTP 429 too many requests: {self.error_text(response.text, 120)}",
                            after,
                        )
                    if status >= 500:
                        raise VendorUnavailableError(
                            self.vendor,
                            where,
                            f"HTTP {status}: {self.error_text(response.text, 120)}"
                            f" after {attempt + 1} attempt(s)",
                        )
                    if status in (401, 403):
                        raise AuthError(
                            self.vendor,
                            where,
                            f"HTTP {status}: {self.error_text(response.text, 200)} "
                            "(check the key and what your plan allows)",
                        )
                    return parse(response, where)
                except RateLimitedError as exc:
                    failure = self._clean(exc)
                    wait = exc.retry_after_s if exc.retry_after_s is not None else None
                    if wait is None:
                        wait = self.backoff(attempt)
                    elif wait > self.max_wait_s:
                        raise failure from None
                except VendorUnavailableError as exc:
                    failure = self._clean(exc)
                    wait = self.backoff(attempt)
                except VendorError as exc:  # a parser's error quoting the vendor's words
                    raise self._clean(exc) from None
            if attempt >= self.max_retries:
                raise failure from None
            attempt += 1
            self.retries += 1
            log.warning(
                "%s: %s; retry %d of %d in %.1f s",
                self.vendor,
                failure.problem if isinstance(failure, VendorError) else failure,
                attempt,
                self.max_retries,
                wait,
            )
            await self._sleep(wait)


def bad_json(
    vendor: str, endpoint: str, response: httpx.Response, exc: Exception
) -> VendorDataError:
    """The body is not the JSON the vendor documents (malformed, truncated, other shape)."""
    size = len(response.content)
    return VendorDataError(
        vendor, endpoint, f"unreadable answer (HTTP {response.status_code}, {size} bytes): {exc}"
    )


__all__ = [
    "AuthError",
    "RateLimitedError",
    "VendorDataError",
    "VendorError",
    "VendorHttp",
    "VendorUnavailableError",
    "exact_quantity",
    "ns_to_rfc3339",
    "on_tick",
    "retry_after_s",
    "rfc3339_ns",
    "scrub",
]


class HistoryClient:
    """What every vendor's history client shares: ``async with`` closes its HTTP client;
    ``history`` is ``history_chunks`` (one request or page at a time) collected."""

    http: VendorHttp

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.close()

    async def history(
        self, symbol: str | Instrument, start_ns: int, end_ns: int, interval: str
    ) -> list[Bar]:
        """Completed bars opening in ``[start_ns, end_ns)`` (UTC ns), oldest first."""
        out: list[Bar] = []
        async for chunk in self.history_chunks(symbol, start_ns, end_ns, interval):
            out.extend(chunk)
        return out

    def history_chunks(
        self, symbol: str | Instrument, start_ns: int, end_ns: int, interval: str
    ) -> AsyncIterator[list[Bar]]:
        raise NotImplementedError
