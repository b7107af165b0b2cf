"""Clocks: timers and alerts fire in (ts_event, seq) order, checked against a reference."""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pi5trading.clock import Clock, LiveClock, TestClock, TimeEvent
from pi5trading.exceptions import InvalidInputError


@dataclass(frozen=True)
class Timer:
    name: str
    interval: int  # 0: alert
    first: int
    stop: int | None


def reference(timers: list[Timer], steps: list[int]) -> list[tuple[str, int]]:
    """A separate scheduler: a heap of (time, seq) where seq counts schedulings."""
    heap: list[tuple[int, int, Timer]] = []
    seq = 0
    for t in timers:
        heapq.heappush(heap, (t.first, seq, t))
        seq += 1
    out: list[tuple[str, int]] = []
    now = 0
    for step in steps:
        now += step
        while heap and heap[0][0] <= now:
            at, _, t = heapq.heappop(heap)
            out.append((t.name, at))
            nxt = at + t.interval
            if t.interval and (t.stop is None or nxt <= t.stop):
                heapq.heappush(heap, (nxt, seq, t))
                seq += 1
    return out


@st.composite
def schedules(draw: st.DrawFn) -> list[Timer]:
    timers = []
    for i in range(draw(st.integers(0, 8))):
        if draw(st.booleans()):
            interval = draw(st.integers(1, 30))
            start = draw(st.integers(0, 40))
            stop = draw(st.one_of(st.none(), st.integers(start + interval, 300)))
            timers.append(Timer(f"t{i}", interval, start + interval, stop))
        else:
            timers.append(Timer(f"a{i}", 0, draw(st.integers(0, 300)), None))
    return timers


@given(schedules(), st.lists(st.integers(0, 60), min_size=1, max_size=12))
def test_test_clock_matches_reference(timers: list[Timer], steps: list[int]) -> None:
    clock = TestClock(start_ns=0)
    for t in timers:
        if t.interval:
            clock.set_timer(t.name, t.interval, start_ns=t.first - t.interval, stop_ns=t.stop)
        else:
            clock.set_time_alert(t.name, t.first)
    got: list[TimeEvent] = []
    now = 0
    for step in steps:
        now += step
        got.extend(clock.advance_time(now))
        assert clock.timestamp_ns() == now
    assert [(e.name, e.ts_event) for e in got] == reference(timers, steps)
    assert [(e.ts_event, e.seq) for e in got] == sorted((e.ts_event, e.seq) for e in got)


def test_ties_fire_in_the_order_timers_were_set() -> None:
    clock = TestClock()
    clock.set_timer("b", 10)
    clock.set_timer("a", 10)
    clock.set_time_alert("z", 20)
    names = [(e.name, e.ts_event) for e in clock.advance_time(20)]
    assert names == [("b", 10), ("a", 10), ("z", 20), ("b", 20), ("a", 20)]
    assert clock.timer_names == ["a", "b"]
    assert clock.next_time_ns("a") == 30
    assert clock.next_deadline_ns() == 30


def test_validation_names_the_field() -> None:
    clock = TestClock(start_ns=100)
    with pytest.raises(InvalidInputError, match=r"^invalid interval: "):
        clock.set_timer("t", 0)
    with pytest.raises(InvalidInputError, match=r"^invalid at: .*in the past"):
        clock.set_time_alert("t", 99)
    clock.set_timer("t", 5)
    with pytest.raises(InvalidInputError, match=r"^invalid name: .*already set"):
        clock.set_time_alert("t", 200)
    with pytest.raises(InvalidInputError, match=r"^invalid stop: "):
        clock.set_timer("u", 5, stop_ns=101)
    with pytest.raises(InvalidInputError, match=r"^invalid to: .*backwards"):
        clock.advance_time(50)
    with pytest.raises(InvalidInputError, match=r"^invalid interval: "):
        clock.set_timer("n", -1)
    with pytest.raises(InvalidInputError, match=r"^invalid start: "):
        clock.set_timer("n", 1, start_ns=-1)
    assert clock.cancel_timer("t")
    assert not clock.cancel_timer("t")
    assert clock.advance_time(1_000) == []


def test_time_event_value_semantics() -> None:
    e = TimeEvent("x", 5, 1)
    assert e == TimeEvent("x", 5, 1)
    assert hash(e) == hash(TimeEvent("x", 5, 1))
    assert repr(e) == "TimeEvent('x', ts_event=5, seq=1)"


def test_live_clock_is_wall_time_and_fires_when_polled() -> None:
    clock = LiveClock()
    before = time.time_ns()
    now = clock.timestamp_ns()
    assert abs(now - before) < 5 * 10**9
    clock.set_time_alert("now", now)
    clock.set_time_alert("later", now + 3600 * 10**9)
    clock.set_timer("tick", 1_000_000)  # 1 ms
    time.sleep(0.005)
    events = clock.poll()
    names = [e.name for e in events]
    assert names[0] == "now"
    assert names.count("tick") >= 3
    assert [(e.ts_event, e.seq) for e in events] == sorted((e.ts_event, e.seq) for e in events)
    assert "later" in clock.timer_names
    assert clock.timestamp_ns() >= now


def uses_any_clock(clock: Clock) -> int:
    clock.set_time_alert("x", clock.timestamp_ns())
    return len(clock.timer_names)


def test_both_clocks_share_one_interface() -> None:
    assert uses_any_clock(TestClock()) == 1
    assert uses_any_clock(LiveClock()) == 1
