"""The request allowance: never more than N in any window, and no later than needed."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pi5trading.feeds.ratelimit import RateLimiter, Window
from pi5trading.feeds.vendor import RateLimitedError


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def _grant_times(
    gaps: list[float], limits: list[tuple[int, float]], max_wait: float
) -> tuple[list[float], list[float]]:
    """Ask at the given gaps; return (ask times, grant times) until one is refused."""
    t = FakeTime()
    limiter = RateLimiter(
        [Window(n, w) for n, w in limits], max_wait_s=max_wait, clock=t, sleep=t.sleep
    )
    asks, grants = [], []
    for gap in gaps:
        t.now += gap
        asks.append(t.now)
        try:
            await limiter.acquire()
        except RateLimitedError:
            asks.pop()
            break
        grants.append(t.now)
    return asks, grants


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(st.floats(0, 90, allow_nan=False), min_size=1, max_size=40),
    limits=st.lists(
        st.tuples(st.integers(1, 6), st.sampled_from([1.0, 12.0, 60.0, 300.0])),
        min_size=1,
        max_size=2,
    ),
)
def test_never_more_than_the_limit_in_any_window(
    gaps: list[float], limits: list[tuple[int, float]]
) -> None:
    asks, grants = anyio.run(_grant_times, gaps, limits, 10_000.0)
    assert len(grants) == len(asks)  # nothing refused below max_wait
    for n, w in limits:
        for i in range(len(grants) - n):
            # The (i+n)-th request left a full window after the i-th.
            assert grants[i + n] - grants[i] >= w - 1e-9
    for ask, grant in zip(asks, grants, strict=True):
        assert grant >= ask
        if grant > ask:  # waited only as long as some window was full
            assert any(
                sum(1 for g in grants if grant - w - 1e-9 <= g < grant) >= n for n, w in limits
            )


@pytest.mark.anyio
async def test_a_wait_beyond_max_wait_is_refused_with_when() -> None:
    _, grants = await _grant_times([0, 0, 0, 0], [(3, 86_400.0)], 120.0)
    assert len(grants) == 3
    t = FakeTime()
    limiter = RateLimiter([Window(1, 86_400.0)], vendor="V", max_wait_s=60, clock=t, sleep=t.sleep)
    await limiter.acquire()
    t.now += 400
    with pytest.raises(RateLimitedError, match="1 requests per day is used up") as err:
        await limiter.acquire("GET /x")
    assert err.value.retry_after_s == pytest.approx(86_000)


def test_a_window_needs_a_positive_limit() -> None:
    with pytest.raises(ValueError, match="need >= 1"):
        Window(0, 60)


@pytest.mark.anyio
async def test_a_long_wait_is_told(caplog: pytest.LogCaptureFixture) -> None:
    t = FakeTime()
    limiter = RateLimiter([Window(1, 60.0)], vendor="Alpha Vantage", clock=t, sleep=t.sleep)
    await limiter.acquire()
    await limiter.acquire()
    assert t.now == 60.0
    assert "Alpha Vantage: waiting 60 s for the allowance (1 requests per minute)" in caplog.text
