//! Clocks: one interface, a simulated `TestClock` advanced by the data and a `LiveClock`
//! on wall time. Both schedule timers and alerts with the same `TimerQueue`, so events
//! come out in the same order in a backtest and live:
//!
//! * events fire in `(ts_event, seq)` order, where `seq` is the order in which each
//!   firing was scheduled (a repeating timer reschedules itself when it fires); two
//!   timers due at the same nanosecond fire in the order they were set;
//! * a timer set with `interval`, `start`, `stop` fires at `start + k * interval` for
//!   k = 1, 2, ... while that time is `<= stop` (no stop: forever);
//! * an alert fires once at `at`; times in the past are rejected, `at == now` fires on
//!   the next advance/poll.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{CoreError, CoreResult};
use crate::types::UnixNanos;

/// A timer or alert firing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeEvent {
    /// The name the timer or alert was set with.
    pub name: Arc<str>,
    /// When it fired (the scheduled time, not the time it was observed).
    pub ts_event: UnixNanos,
    /// Scheduling sequence number: breaks ties between events due at the same time.
    pub seq: u64,
}

/// What every clock offers; the engine depends on this, not on a concrete clock.
pub trait Clock {
    /// Now, in UTC nanoseconds.
    fn now(&self) -> UnixNanos;

    /// A repeating timer firing every `interval_ns` after `start` (default: now) until
    /// `stop` (inclusive; default: never). Names are unique among pending timers.
    fn set_timer(
        &mut self,
        name: &str,
        interval_ns: u64,
        start: Option<UnixNanos>,
        stop: Option<UnixNanos>,
    ) -> CoreResult<()>;

    /// A one-shot alert at `at` (must not be in the past).
    fn set_time_alert(&mut self, name: &str, at: UnixNanos) -> CoreResult<()>;

    /// Cancels a timer or alert; `false` if no such name is pending.
    fn cancel_timer(&mut self, name: &str) -> bool;

    /// Names of pending timers and alerts, sorted.
    fn timer_names(&self) -> Vec<String>;

    /// The next firing time of `name`.
    fn next_time(&self, name: &str) -> Option<UnixNanos>;

    /// The earliest pending firing time of any timer.
    fn next_deadline(&self) -> Option<UnixNanos>;

    /// Appends every event due at or before now to `out`, in firing order.
    fn drain_due(&mut self, out: &mut Vec<TimeEvent>);
}

#[derive(Debug)]
struct Timer {
    /// 0 for a one-shot alert.
    interval: u64,
    next: u64,
    stop: Option<u64>,
    generation: u64,
}

/// Pending timers ordered by `(time, seq)`. Shared by both clocks.
#[derive(Debug, Default)]
pub struct TimerQueue {
    timers: BTreeMap<Arc<str>, Timer>,
    heap: BinaryHeap<Reverse<(u64, u64, u64)>>, // (time, seq, generation)
    by_generation: BTreeMap<u64, Arc<str>>,
    next_seq: u64,
    next_generation: u64,
}

impl TimerQueue {
    fn check_name(&self, name: &str) -> CoreResult<()> {
        if name.is_empty() {
            return Err(CoreError::invalid("name", "must not be empty"));
        }
        if self.timers.contains_key(name) {
            return Err(CoreError::invalid(
                "name",
                format!("a timer named {name:?} is already set"),
            ));
        }
        Ok(())
    }

    fn insert(&mut self, name: &str, interval: u64, next: u64, stop: Option<u64>) {
        let name: Arc<str> = Arc::from(name);
        let generation = self.next_generation;
        self.next_generation += 1;
        self.push(next, generation);
        self.by_generation.insert(generation, name.clone());
        self.timers.insert(
            name.clone(),
            Timer {
                interval,
                next,
                stop,
                generation,
            },
        );
    }

    fn push(&mut self, at: u64, generation: u64) {
        self.heap.push(Reverse((at, self.next_seq, generation)));
        self.next_seq += 1;
    }

    /// Adds a repeating timer (see the module docs).
    pub fn set_timer(
        &mut self,
        now: UnixNanos,
        name: &str,
        interval_ns: u64,
        start: Option<UnixNanos>,
        stop: Option<UnixNanos>,
    ) -> CoreResult<()> {
        self.check_name(name)?;
        if interval_ns == 0 {
            return Err(CoreError::invalid("interval", "must be > 0 nanoseconds"));
        }
        let start = start.unwrap_or(now);
        let first = start
            .checked_add(interval_ns)
            .ok_or_else(|| CoreError::invalid("interval", "first firing is out of range"))?;
        if first < now {
            return Err(CoreError::invalid(
                "start",
                format!("first firing {first} is before now {now}"),
            ));
        }
        if let Some(stop) = stop {
            if stop < first {
                return Err(CoreError::invalid(
                    "stop",
                    format!("{stop} is before the first firing {first}"),
                ));
            }
        }
        self.insert(name, interval_ns, first.0, stop.map(|s| s.0));
        Ok(())
    }

    /// Adds a one-shot alert.
    pub fn set_time_alert(&mut self, now: UnixNanos, name: &str, at: UnixNanos) -> CoreResult<()> {
        self.check_name(name)?;
        if at < now {
            return Err(CoreError::invalid(
                "at",
                format!("{at} is in the past (now is {now})"),
            ));
        }
        self.insert(name, 0, at.0, None);
        Ok(())
    }

    /// Cancels `name`; its queued firings are skipped lazily.
    pub fn cancel(&mut self, name: &str) -> bool {
        match self.timers.remove(name) {
            Some(t) => {
                self.by_generation.remove(&t.generation);
                true
            }
            None => false,
        }
    }

    /// Sorted names of pending timers.
    #[must_use]
    pub fn names(&self) -> Vec<String> {
        self.timers.keys().map(ToString::to_string).collect()
    }

    /// Next firing time of `name`.
    #[must_use]
    pub fn next_time(&self, name: &str) -> Option<UnixNanos> {
        self.timers.get(name).map(|t| UnixNanos(t.next))
    }

    /// Drops cancelled entries at the top of the heap.
    fn skip_stale(&mut self) {
        while let Some(Reverse((_, _, generation))) = self.heap.peek() {
            if self.by_generation.contains_key(generation) {
                break;
            }
            self.heap.pop();
        }
    }

    /// Earliest pending firing.
    #[must_use]
    pub fn next_deadline(&self) -> Option<UnixNanos> {
        self.heap
            .iter()
            .filter(|Reverse((_, _, g))| self.by_generation.contains_key(g))
            .map(|Reverse((t, s, _))| (*t, *s))
            .min()
            .map(|(t, _)| UnixNanos(t))
    }

    /// Pops every firing due at or before `now`, in `(time, seq)` order.
    pub fn pop_due(&mut self, now: UnixNanos, out: &mut Vec<TimeEvent>) {
        loop {
            self.skip_stale();
            let Some(&Reverse((at, seq, generation))) = self.heap.peek() else {
                return;
            };
            if at > now.0 {
                return;
            }
            self.heap.pop();
            let Some(name) = self.by_generation.get(&generation).cloned() else {
                continue;
            };
            out.push(TimeEvent {
                name: name.clone(),
                ts_event: UnixNanos(at),
                seq,
            });
            let mut reschedule = None;
            if let Some(timer) = self.timers.get_mut(&name) {
                if timer.interval > 0 {
                    let next = at.checked_add(timer.interval);
                    match (next, timer.stop) {
                        (Some(n), Some(stop)) if n <= stop => reschedule = Some(n),
                        (Some(n), None) => reschedule = Some(n),
                        _ => {}
                    }
                }
                if let Some(n) = reschedule {
                    timer.next = n;
                }
            }
            match reschedule {
                Some(n) => self.push(n, generation),
                None => {
                    self.timers.remove(&name);
                    self.by_generation.remove(&generation);
                }
            }
        }
    }

    /// Whether no timer is pending.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.timers.is_empty()
    }
}

/// A simulated clock: time moves only when the data (or a test) says so.
#[derive(Debug, Default)]
pub struct TestClock {
    now: UnixNanos,
    timers: TimerQueue,
}

impl TestClock {
    /// A clock reading `start`.
    #[must_use]
    pub fn new(start: UnixNanos) -> Self {
        Self {
            now: start,
            timers: TimerQueue::default(),
        }
    }

    /// Moves time forward to `to`, appending every timer event due on the way to `out`
    /// in firing order. Time never goes backwards.
    pub fn advance_to(&mut self, to: UnixNanos, out: &mut Vec<TimeEvent>) -> CoreResult<()> {
        if to < self.now {
            return Err(CoreError::invalid(
                "to",
                format!(
                    "{to} is before now {}: time does not go backwards",
                    self.now
                ),
            ));
        }
        self.timers.pop_due(to, out);
        self.now = to;
        Ok(())
    }

    /// `advance_to(to)` for a clock with nothing pending (no timer or alert, not even a
    /// cancelled one still queued): moves the clock and returns `true`. Otherwise (or for a
    /// time before now) changes nothing and returns `false`. A backtest without timers
    /// moves the clock this way on every bar.
    #[inline]
    pub fn advance_idle(&mut self, to: UnixNanos) -> bool {
        if self.timers.heap.is_empty() && to >= self.now {
            self.now = to;
            true
        } else {
            false
        }
    }

    /// `advance_to` returning a fresh vector.
    pub fn advance(&mut self, to: UnixNanos) -> CoreResult<Vec<TimeEvent>> {
        let mut out = Vec::new();
        self.advance_to(to, &mut out)?;
        Ok(out)
    }
}

impl Clock for TestClock {
    fn now(&self) -> UnixNanos {
        self.now
    }
    fn set_timer(
        &mut self,
        name: &str,
        interval_ns: u64,
        start: Option<UnixNanos>,
        stop: Option<UnixNanos>,
    ) -> CoreResult<()> {
        self.timers
            .set_timer(self.now, name, interval_ns, start, stop)
    }
    fn set_time_alert(&mut self, name: &str, at: UnixNanos) -> CoreResult<()> {
        self.timers.set_time_alert(self.now, name, at)
    }
    fn cancel_timer(&mut self, name: &str) -> bool {
        self.timers.cancel(name)
    }
    fn timer_names(&self) -> Vec<String> {
        self.timers.names()
    }
    fn next_time(&self, name: &str) -> Option<UnixNanos> {
        self.timers.next_time(name)
    }
    fn next_deadline(&self) -> Option<UnixNanos> {
        self.timers.next_deadline()
    }
    fn drain_due(&mut self, out: &mut Vec<TimeEvent>) {
        self.timers.pop_due(self.now, out);
    }
}

/// Wall time (UTC), never going backwards even if the system clock steps back.
/// Timers fire when polled (`drain_due`) at or after their time, with their scheduled
/// timestamp; `next_deadline` tells the engine loop how long it may sleep.
#[derive(Debug, Default)]
pub struct LiveClock {
    last: AtomicU64,
    timers: TimerQueue,
}

impl LiveClock {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl Clock for LiveClock {
    fn now(&self) -> UnixNanos {
        let wall = UnixNanos::now().0;
        let prev = self.last.fetch_max(wall, Ordering::Relaxed);
        UnixNanos(prev.max(wall))
    }
    fn set_timer(
        &mut self,
        name: &str,
        interval_ns: u64,
        start: Option<UnixNanos>,
        stop: Option<UnixNanos>,
    ) -> CoreResult<()> {
        let now = self.now();
        self.timers.set_timer(now, name, interval_ns, start, stop)
    }
    /// Wall time moves while the caller computes `at`, so an alert in the past is not an
    /// error here: it fires at the next poll, stamped with the time it was set.
    fn set_time_alert(&mut self, name: &str, at: UnixNanos) -> CoreResult<()> {
        let now = self.now();
        self.timers.set_time_alert(now, name, at.max(now))
    }
    fn cancel_timer(&mut self, name: &str) -> bool {
        self.timers.cancel(name)
    }
    fn timer_names(&self) -> Vec<String> {
        self.timers.names()
    }
    fn next_time(&self, name: &str) -> Option<UnixNanos> {
        self.timers.next_time(name)
    }
    fn next_deadline(&self) -> Option<UnixNanos> {
        self.timers.next_deadline()
    }
    fn drain_due(&mut self, out: &mut Vec<TimeEvent>) {
        let now = self.now();
        self.timers.pop_due(now, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(events: &[TimeEvent]) -> Vec<(String, u64)> {
        events
            .iter()
            .map(|e| (e.name.to_string(), e.ts_event.0))
            .collect()
    }

    /// `advance_idle` moves an idle clock exactly as `advance_to` does, and leaves a clock
    /// with anything queued (or a time in the past) to it.
    #[test]
    fn idle_advance_equals_advance_to_and_refuses_otherwise() {
        let (mut fast, mut slow) = (TestClock::new(UnixNanos(5)), TestClock::new(UnixNanos(5)));
        for to in [5, 6, 100, 1_000_000] {
            assert!(fast.advance_idle(UnixNanos(to)));
            assert!(slow.advance(UnixNanos(to)).unwrap().is_empty());
            assert_eq!(fast.now(), slow.now());
        }
        assert!(!fast.advance_idle(UnixNanos(4)));
        assert_eq!(fast.now(), UnixNanos(1_000_000));
        fast.set_time_alert("x", UnixNanos(2_000_000)).unwrap();
        assert!(!fast.advance_idle(UnixNanos(1_500_000)));
        assert_eq!(fast.now(), UnixNanos(1_000_000));
        // Cancelled but still queued: still the full path.
        assert!(fast.cancel_timer("x"));
        assert!(!fast.advance_idle(UnixNanos(1_500_000)));
        assert!(fast.advance(UnixNanos(3_000_000)).unwrap().is_empty());
        assert!(fast.advance_idle(UnixNanos(3_000_001)));
    }

    #[test]
    fn timers_and_alerts_fire_in_time_then_insertion_order() {
        let mut c = TestClock::new(UnixNanos(0));
        c.set_timer("b", 10, None, Some(UnixNanos(30))).unwrap();
        c.set_timer("a", 10, None, None).unwrap();
        c.set_time_alert("x", UnixNanos(20)).unwrap();
        c.set_time_alert("now", UnixNanos(0)).unwrap();
        let ev = c.advance(UnixNanos(40)).unwrap();
        assert_eq!(
            names(&ev),
            vec![
                ("now".into(), 0),
                ("b".into(), 10),
                ("a".into(), 10),
                ("x".into(), 20),
                ("b".into(), 20),
                ("a".into(), 20),
                ("b".into(), 30),
                ("a".into(), 30),
                ("a".into(), 40),
            ]
        );
        assert_eq!(c.timer_names(), vec!["a".to_string()]);
        assert_eq!(c.next_time("a"), Some(UnixNanos(50)));
        assert_eq!(c.now(), UnixNanos(40));
    }

    #[test]
    fn validation_and_cancel() {
        let mut c = TestClock::new(UnixNanos(100));
        assert!(c.set_timer("t", 0, None, None).is_err());
        assert!(c.set_time_alert("t", UnixNanos(99)).is_err());
        c.set_timer("t", 5, None, None).unwrap();
        assert!(c.set_timer("t", 5, None, None).is_err());
        assert!(c.set_timer("u", 5, None, Some(UnixNanos(101))).is_err());
        assert!(c.cancel_timer("t"));
        assert!(!c.cancel_timer("t"));
        assert!(c.advance(UnixNanos(200)).unwrap().is_empty());
        assert!(c.advance(UnixNanos(199)).is_err());
        // The name is free again after cancelling.
        c.set_time_alert("t", UnixNanos(300)).unwrap();
        assert_eq!(c.next_deadline(), Some(UnixNanos(300)));
    }

    #[test]
    fn live_clock_is_monotonic_and_fires_when_polled() {
        let mut c = LiveClock::new();
        let t0 = c.now();
        assert!(t0.0 > 1_600_000_000_000_000_000);
        c.set_time_alert("soon", t0).unwrap();
        c.set_time_alert("past", UnixNanos(1)).unwrap();
        let mut out = Vec::new();
        c.drain_due(&mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(&*out[0].name, "soon");
        assert!(out[0].ts_event >= t0 && out[1].ts_event >= out[0].ts_event);
        assert!(c.now() >= t0);
    }
}
