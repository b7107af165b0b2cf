"""An asyncio circuit breaker: stop hammering a dependency that is down, probe it later.

States: ``closed`` (calls pass; consecutive failures are counted), ``open`` (calls fail at
once with ``CircuitOpenError`` until ``reset_timeout`` has passed), ``half_open`` (one trial
call is let through; success closes the circuit, failure opens it again).

Only exceptions of the ``counted`` types are failures. Anything else (a constraint
violation, bad input) means the dependency answered, so it resets the failure count and
propagates unchanged.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import msgspec

from pi5trading.exceptions import Pi5TradingError

T = TypeVar("T")

log = logging.getLogger(__name__)

NO_TRIAL_S: Final = 86_400.0
"""A ``reset_timeout`` of a day or more: the breaker waits for a success, it does not try."""


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpenError(Pi5TradingError, RuntimeError):
    """The circuit is open: the call was refused without touching the dependency."""

    def __init__(self, name: str, retry_in: float, last_error: str) -> None:
        self.name = name
        self.retry_in = retry_in
        self.last_error = last_error
        super().__init__(
            f"circuit {name!r} is open after repeated failures (last: {last_error}); "
            f"next trial in {retry_in:.1f} s"
        )


class BreakerSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The breaker's state, for metrics and the API."""

    name: str
    state: BreakerState
    consecutive_failures: int
    failure_threshold: int
    reset_timeout_s: float
    total_failures: int
    times_opened: int
    retry_in_s: float
    """Seconds until an open circuit lets a trial call through (0 unless open)."""
    last_error: str


StateListener = Callable[[BreakerState, BreakerState], None]


class CircuitBreaker:
    """Counts consecutive failures of ``counted`` exceptions and opens at ``failure_threshold``.

    ``clock`` is injectable (seconds, monotonic) so tests can move time without sleeping.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        counted: tuple[type[BaseException], ...] = (Exception,),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_timeout < 0:
            raise ValueError("reset_timeout must not be negative")
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._counted = counted
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._total_failures = 0
        self._times_opened = 0
        self._opened_at = 0.0
        self._last_error = ""
        # Only one trial call at a time in half-open; the others are refused like in open.
        self._trial_running = False
        self._listeners: list[StateListener] = []

    @property
    def state(self) -> BreakerState:
        """The current state; an open circuit whose timeout has passed reads as half-open."""
        if self._state is BreakerState.OPEN and self._retry_in() <= 0:
            self._set_state(BreakerState.HALF_OPEN)
        return self._state

    def add_listener(self, listener: StateListener) -> None:
        """Call ``listener(old, new)`` on every state change (metrics, alerts, logs)."""
        self._listeners.append(listener)

    def snapshot(self) -> BreakerSnapshot:
        state = self.state
        return BreakerSnapshot(
            name=self.name,
            state=state,
            consecutive_failures=self._failures,
            failure_threshold=self.failure_threshold,
            reset_timeout_s=self.reset_timeout,
            total_failures=self._total_failures,
            times_opened=self._times_opened,
            retry_in_s=max(0.0, self._retry_in()) if state is BreakerState.OPEN else 0.0,
            last_error=self._last_error,
        )

    def allows_call(self) -> bool:
        """Whether a call made now would reach the dependency."""
        state = self.state
        return state is BreakerState.CLOSED or (
            state is BreakerState.HALF_OPEN and not self._trial_running
        )

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn()`` through the breaker; raise ``CircuitOpenError`` if it is open."""
        state = self.state
        if state is BreakerState.OPEN or (state is BreakerState.HALF_OPEN and self._trial_running):
            raise CircuitOpenError(self.name, max(0.0, self._retry_in()), self._last_error)
        trial = state is BreakerState.HALF_OPEN
        if trial:
            self._trial_running = True
        try:
            result = await fn()
        except asyncio.CancelledError:
            raise
        except self._counted as exc:
            self.record_failure(exc)
            raise
        except BaseException:
            # The dependency answered (with an error of ours or of the data): it is up.
            self.record_success()
            raise
        else:
            self.record_success()
            return result
        finally:
            if trial:
                self._trial_running = False

    def record_success(self) -> None:
        self._failures = 0
        if self._state is not BreakerState.CLOSED:
            self._set_state(BreakerState.CLOSED)

    def record_failure(self, exc: BaseException) -> None:
        self._failures += 1
        self._total_failures += 1
        self._last_error = f"{type(exc).__name__}: {exc}"[:500]
        if self._state is BreakerState.OPEN:
            return  # a call that started before the circuit opened; keep the original timer
        if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self._times_opened += 1
            self._set_state(BreakerState.OPEN)

    def _retry_in(self) -> float:
        return self._opened_at + self.reset_timeout - self._clock()

    def _set_state(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if old is not new:
            self._log_change(old, new)
            for listener in self._listeners:
                listener(old, new)

    def _log_change(self, old: BreakerState, new: BreakerState) -> None:
        # The operator's one line per transition: an outage and its end are in the log
        # even without an alert channel.
        if new is BreakerState.OPEN:
            # A breaker that never tries on its own (a year's timeout: the broker's health,
            # which watches calls made anyway) closes at the next success instead.
            after = (
                f"next trial in {self.reset_timeout:.1f} s"
                if self.reset_timeout < NO_TRIAL_S
                else "closes at the next success"
            )
            log.warning(
                "circuit %r open after %d consecutive failures (last: %s); %s",
                self.name, self._failures, self._last_error, after,
            )  # fmt: skip
        elif new is BreakerState.CLOSED:
            log.info("circuit %r closed again (was %s): calls pass", self.name, old.value)
        else:
            log.info("circuit %r half-open: one trial call", self.name)


__all__ = ["BreakerSnapshot", "BreakerState", "CircuitBreaker", "CircuitOpenError"]
