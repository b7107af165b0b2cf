"""The event bus and ingest queue through the Python API, against reference models."""

from __future__ import annotations

import gc
import sys
import threading
import time
import weakref
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pi5trading.bus import Bus, IngestQueue
from pi5trading.exceptions import InvalidInputError

SEGMENTS = ["a", "b", "bars", "AAPL", "1m"]


def naive_match(pattern: list[str], topic: list[str]) -> bool:
    if not pattern:
        return not topic
    if pattern == [">"]:
        return bool(topic)
    if not topic:
        return False
    return pattern[0] in ("*", topic[0]) and naive_match(pattern[1:], topic[1:])


topics = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=4)
patterns = st.tuples(
    st.lists(st.sampled_from([*SEGMENTS, "*"]), min_size=1, max_size=4), st.booleans()
).map(lambda t: t[0] + [">"] if t[1] else t[0])


@given(
    st.lists(st.tuples(patterns, st.integers(-2, 2)), max_size=10),
    st.lists(topics, min_size=1, max_size=6),
)
def test_dispatch_order_matches_reference(
    subs: list[tuple[list[str], int]], published: list[list[str]]
) -> None:
    bus = Bus()
    calls: list[tuple[int, int]] = []
    ids = []
    for pattern, prio in subs:
        cell: list[int] = []
        sid = bus.subscribe(".".join(pattern), lambda m, c=cell: calls.append((m, c[0])), prio)
        cell.append(sid)
        ids.append(sid)
    for n, topic in enumerate(published):
        calls.clear()
        assert bus.publish(".".join(topic), n) == len(calls)
        want = sorted(
            (-prio, sid)
            for sid, (pattern, prio) in zip(ids, subs, strict=True)
            if naive_match(pattern, topic)
        )
        assert [sid for _, sid in calls] == [sid for _, sid in want]
        assert bus.dispatch_order(".".join(topic)) == [sid for _, sid in want]


def test_wildcards() -> None:
    bus = Bus()
    seen: dict[str, list[str]] = {"star": [], "rest": [], "exact": []}
    bus.subscribe("data.bars.*.1m", lambda m: seen["star"].append(m))
    bus.subscribe("orders.>", lambda m: seen["rest"].append(m))
    bus.subscribe("fills.AAPL", lambda m: seen["exact"].append(m))
    for topic in ["data.bars.AAPL.1m", "data.bars.AAPL.5m", "orders", "orders.new", "orders.a.b"]:
        bus.publish(topic, topic)
    bus.publish("fills.AAPL", "f")
    assert seen == {
        "star": ["data.bars.AAPL.1m"],
        "rest": ["orders.new", "orders.a.b"],
        "exact": ["f"],
    }
    for bad in ["", "a..b", "a.>.b", "a*"]:
        with pytest.raises(InvalidInputError, match=r"^invalid pattern: "):
            bus.subscribe(bad, print)
    with pytest.raises(InvalidInputError, match=r"^invalid topic: "):
        bus.publish("orders.*", 1)
    with pytest.raises(TypeError, match="callable"):
        bus.subscribe("x", 42)  # type: ignore[arg-type]


def test_run_to_completion_and_subscription_changes() -> None:
    bus = Bus()
    log: list[tuple[str, Any]] = []

    def first(m: int) -> None:
        log.append(("first", m))
        if m == 1:
            assert bus.publish("t", 2) == 0  # queued: delivered after everyone saw 1
            bus.subscribe("t", lambda x: log.append(("late", x)), priority=-1)

    bus.subscribe("t", first, priority=1)
    bus.subscribe("t", lambda m: log.append(("second", m)))
    bus.publish("t", 1)
    assert log == [
        ("first", 1),
        ("second", 1),
        ("first", 2),
        ("second", 2),
        ("late", 2),
    ]


def test_publish_many_and_batch_handlers() -> None:
    bus = Bus()
    log: list[Any] = []
    bus.subscribe("t", lambda m: log.append(("each", m)))
    bus.subscribe("t", lambda ms: log.append(("batch", list(ms))), priority=9, batch=True)
    cid = bus.subscribe_counter("t")
    calls = bus.publish_many("t", [1, 2, 3])
    assert log == [("each", 1), ("each", 2), ("each", 3), ("batch", [1, 2, 3])]
    assert calls == 3 * 2 + 1
    assert bus.counter(cid) == 3
    log.clear()
    bus.publish("t", 4)  # single publish: batch handler at its priority, with a 1-list
    assert log == [("batch", [4]), ("each", 4)]
    bus.publish_many("t", iter([5]))  # any iterable
    assert bus.counter(cid) == 5
    with pytest.raises(InvalidInputError, match=r"^invalid id: "):
        bus.counter(1)


def test_handler_errors_propagate_and_keep_queued_messages() -> None:
    bus = Bus()
    got: list[int] = []

    def boom(m: int) -> None:
        if m == 1:
            bus.publish("t", 2)
            raise RuntimeError("boom")
        got.append(m)

    bus.subscribe("t", boom)
    with pytest.raises(RuntimeError, match="boom"):
        bus.publish("t", 1)
    assert bus.pending == 1
    assert bus.process_pending() == 1
    assert got == [2]
    assert bus.pending == 0


@pytest.mark.parametrize("via_queue", [False, True])
def test_a_raising_handler_loses_no_messages(via_queue: bool) -> None:
    bus = Bus()
    got: list[int] = []
    fail_once = [True]

    def flaky(m: int) -> None:
        if m == 3 and fail_once[0]:
            fail_once[0] = False
            raise RuntimeError("flaky")
        got.append(m)

    bus.subscribe("x.*", flaky)
    if via_queue:
        q = IngestQueue(capacity=100)
        q.send_many("x.a", [(t, t) for t in range(1, 4)])
        q.send_many("x.b", [(t, t) for t in range(4, 7)])
        with pytest.raises(RuntimeError, match="flaky"):
            bus.drain(q)
    else:
        with pytest.raises(RuntimeError, match="flaky"):
            bus.publish_many("x.a", [1, 2, 3, 4, 5, 6])
    assert got == [1, 2]
    assert bus.pending == 3  # 4, 5, 6: the message that raised (3) counts as delivered
    bus.process_pending()
    assert got == [1, 2, 4, 5, 6]


def test_unsubscribe() -> None:
    bus = Bus()
    got: list[int] = []
    sid = bus.subscribe("t", got.append)
    assert bus.subscriptions() == [(sid, "t", 0)]
    bus.publish("t", 1)
    assert bus.unsubscribe(sid)
    assert not bus.unsubscribe(sid)
    assert bus.publish("t", 2) == 0
    assert got == [1]


def test_cycles_through_handlers_are_collected() -> None:
    class Strategy:
        def __init__(self, bus: Bus) -> None:
            self.bus = bus
            bus.subscribe("data.>", self.on_bar)

        def on_bar(self, bar: object) -> None:
            pass

    s = Strategy(Bus())
    ref = weakref.ref(s)
    del s
    gc.collect()
    assert ref() is None


def test_no_references_leak_across_the_ffi() -> None:
    bus = Bus()
    msg = object()
    handler_calls: list[int] = []

    def handler(m: object) -> None:
        handler_calls.append(1)

    def failing(m: object) -> None:
        raise ValueError("x")

    bus.subscribe("a.*", handler)
    bus.subscribe("a.*", handler, batch=True)
    bus.subscribe_counter("a.>")
    q = IngestQueue(capacity=10, policy="drop_oldest")
    before_msg, before_handler = sys.getrefcount(msg), sys.getrefcount(handler)
    for _ in range(200):
        bus.publish("a.b", msg)
        bus.publish_many("a.b", [msg, msg])
        q.send_many("a.b", [(1, msg)] * 15)  # 5 evicted
        bus.drain(q)
    bad = bus.subscribe("a.*", failing)
    for _ in range(50):
        with pytest.raises(ValueError, match="x"):
            bus.publish("a.c", msg)
    assert bus.unsubscribe(bad)
    assert sys.getrefcount(msg) == before_msg
    assert sys.getrefcount(handler) == before_handler
    assert handler_calls


# ----- ingest queue -----


@given(
    st.lists(st.tuples(st.integers(0, 40), st.sampled_from(["x.a", "x.b"])), max_size=60),
    st.integers(1, 20),
    st.sampled_from(["drop_newest", "drop_oldest"]),
    st.integers(1, 15),
)
def test_drain_delivers_in_timestamp_order_and_counts(
    events: list[tuple[int, str]], capacity: int, policy: str, drain_every: int
) -> None:
    bus = Bus()
    got: list[tuple[int, int]] = []
    bus.subscribe("x.*", lambda m: got.append(m))
    q = IngestQueue(capacity, policy)  # type: ignore[arg-type]
    dropped = 0
    for i, (ts, topic) in enumerate(events):
        outcome = q.send(topic, ts, (ts, i))
        dropped += outcome in ("dropped_newest", "accepted_dropped_oldest")
        if i % drain_every == 0:
            bus.drain(q)
    q.close()
    bus.drain(q)
    assert got == sorted(got)  # (ts, arrival) order
    stats = q.stats()
    assert stats["delivered"] == len(got)
    assert stats["dropped_newest"] + stats["dropped_oldest"] == dropped
    assert len(got) + dropped + stats["dropped_late"] == len(events)
    assert q.send("x.a", 0, None) == "closed"


def test_block_policy_is_lossless_with_a_feed_thread() -> None:
    q = IngestQueue(capacity=16, policy="block")
    bus = Bus()
    got: list[int] = []
    bus.subscribe("feed.*", got.append)
    n = 5_000

    def feed() -> None:
        for i in range(n):
            q.send("feed.ticks", i, i)  # waits (GIL released) while the queue is full

    t = threading.Thread(target=feed)
    t.start()
    while len(got) < n:
        bus.drain(q, timeout=1.0)
    t.join(timeout=10)
    assert got == list(range(n))
    stats = q.stats()
    assert stats["enqueued"] == n
    assert stats["blocked"] > 0
    assert stats["dropped_newest"] + stats["dropped_oldest"] + stats["dropped_late"] == 0


def test_queue_introspection_does_not_wait_for_a_draining_thread() -> None:
    q = IngestQueue(capacity=8)
    bus = Bus()
    got: list[int] = []
    bus.subscribe("t", got.append)
    drained: list[int] = []
    t = threading.Thread(target=lambda: drained.append(bus.drain(q, timeout=2.0)))
    t.start()
    time.sleep(0.05)  # the drain is now waiting, without the GIL
    start = time.monotonic()
    assert q.stats()["enqueued"] == 0
    assert len(q) == 0
    assert q.capacity == 8
    assert time.monotonic() - start < 0.5
    q.send("t", 1, 1)
    t.join(timeout=5)
    assert drained == [1]
    assert got == [1]


def test_send_many_is_one_batch_in_timestamp_order() -> None:
    q = IngestQueue(capacity=4, policy="drop_newest")
    assert q.send_many("a.b", [(3, "x"), (1, "y"), (2, "z"), (0, "w"), (5, "v")]) == 4
    bus = Bus()
    got: list[str] = []
    bus.subscribe("a.*", got.append)
    assert bus.drain(q) == 4
    assert got == ["w", "y", "z", "x"]
    assert q.stats()["dropped_newest"] == 1
    with pytest.raises(InvalidInputError, match=r"^invalid topic: "):
        q.send_many("a.*", [(1, "x")])


def test_reorder_window_and_late_events() -> None:
    q = IngestQueue(capacity=100, policy="block", reorder_window_ns=10)
    bus = Bus()
    got: list[int] = []
    bus.subscribe(">", got.append)
    for ts in (100, 95, 103):
        q.send("t", ts, ts)
    assert bus.drain(q) == 0  # all within 10 ns of the newest (103)
    q.send("t", 112, 112)
    assert bus.drain(q) == 2  # 95 and 100 are now at least 10 ns old
    q.send("t", 99, 99)  # older than what was released: late
    q.close()
    bus.drain(q)
    assert got == [95, 100, 103, 112]
    assert q.stats()["dropped_late"] == 1
    assert len(q) == 0
    assert (q.capacity, q.policy) == (100, "block")
    with pytest.raises(InvalidInputError, match=r"^invalid policy: "):
        IngestQueue(policy="lossy")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"^invalid capacity: "):
        IngestQueue(capacity=0)
