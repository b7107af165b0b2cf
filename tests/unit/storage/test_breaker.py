"""The circuit breaker, with a hand-moved clock (no sleeping, no wall-clock asserts)."""

from __future__ import annotations

import asyncio

import pytest

from pi5trading.resilience import BreakerState, CircuitBreaker, CircuitOpenError

pytestmark = pytest.mark.anyio


class DownError(ConnectionError):
    pass


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock, threshold: int = 5, reset: float = 30.0) -> CircuitBreaker:
    return CircuitBreaker(
        "db", failure_threshold=threshold, reset_timeout=reset, counted=(DownError,), clock=clock
    )


async def fail() -> None:
    raise DownError("connection refused")


async def ok() -> str:
    return "ok"


async def test_opens_after_threshold_consecutive_failures_and_refuses_calls() -> None:
    clock = Clock()
    b = make(clock)
    for _ in range(4):
        with pytest.raises(DownError):
            await b.call(fail)
    assert b.state is BreakerState.CLOSED
    with pytest.raises(DownError):
        await b.call(fail)
    assert b.state is BreakerState.OPEN
    calls = 0

    async def counted() -> str:
        nonlocal calls
        calls += 1
        return "x"

    with pytest.raises(
        CircuitOpenError, match=r"circuit 'db' is open .*connection refused.*30\.0 s"
    ):
        await b.call(counted)
    assert calls == 0
    snap = b.snapshot()
    assert (snap.state, snap.consecutive_failures, snap.times_opened) == ("open", 5, 1)
    assert snap.retry_in_s == 30.0


async def test_a_success_or_an_uncounted_error_resets_the_count() -> None:
    b = make(Clock(), threshold=2)
    with pytest.raises(DownError):
        await b.call(fail)
    assert await b.call(ok) == "ok"
    with pytest.raises(DownError):
        await b.call(fail)

    async def bad_input() -> None:
        raise ValueError("duplicate key")

    with pytest.raises(ValueError, match="duplicate"):
        await b.call(bad_input)
    with pytest.raises(DownError):
        await b.call(fail)
    assert b.state is BreakerState.CLOSED


async def test_half_open_after_timeout_then_closes_on_success() -> None:
    clock = Clock()
    b = make(clock, threshold=1, reset=30)
    transitions: list[tuple[str, str]] = []
    b.add_listener(lambda old, new: transitions.append((old.value, new.value)))
    with pytest.raises(DownError):
        await b.call(fail)
    clock.now += 29.9
    assert b.state is BreakerState.OPEN
    clock.now += 0.1
    assert b.state is BreakerState.HALF_OPEN
    assert await b.call(ok) == "ok"
    assert b.state is BreakerState.CLOSED
    assert transitions == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


async def test_failed_trial_reopens_for_a_full_timeout() -> None:
    clock = Clock()
    b = make(clock, threshold=3, reset=10)
    for _ in range(3):
        with pytest.raises(DownError):
            await b.call(fail)
    clock.now += 10
    with pytest.raises(DownError):
        await b.call(fail)  # the one trial
    assert b.state is BreakerState.OPEN
    clock.now += 9
    assert not b.allows_call()
    clock.now += 1
    assert b.allows_call()
    assert b.snapshot().times_opened == 2


async def test_only_one_trial_call_at_a_time() -> None:
    clock = Clock()
    b = make(clock, threshold=1, reset=1)
    with pytest.raises(DownError):
        await b.call(fail)
    clock.now += 1
    gate = asyncio.Event()

    async def slow() -> str:
        await gate.wait()
        return "done"

    trial = asyncio.create_task(b.call(slow))
    await asyncio.sleep(0)
    with pytest.raises(CircuitOpenError):
        await b.call(ok)
    gate.set()
    assert await trial == "done"
    assert b.state is BreakerState.CLOSED


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker("x", failure_threshold=0)
    with pytest.raises(ValueError, match="reset_timeout"):
        CircuitBreaker("x", reset_timeout=-1)


async def test_each_transition_is_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    b = make(clock, threshold=2, reset=5.0)
    caplog.set_level("INFO", logger="pi5trading.resilience.breaker")
    for _ in range(2):
        with pytest.raises(DownError):
            await b.call(fail)
    clock.now += 5.0
    assert await b.call(ok) == "ok"
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [
        ("WARNING", "circuit 'db' open after 2 consecutive failures (last: DownError: "
                    "connection refused); next trial in 5.0 s"),
        ("INFO", "circuit 'db' half-open: one trial call"),
        ("INFO", "circuit 'db' closed again (was half_open): calls pass"),
    ]  # fmt: skip


async def test_a_breaker_that_never_tries_says_it_closes_at_the_next_success(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The broker's health: calls go on anyway, the next answer closes it (no "next trial
    # in 31536000.0 s").
    clock = Clock()
    b = make(clock, threshold=1, reset=365 * 86_400.0)
    caplog.set_level("WARNING", logger="pi5trading.resilience.breaker")
    with pytest.raises(DownError):
        await b.call(fail)
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.endswith("(last: DownError: connection refused); closes at the next success")
