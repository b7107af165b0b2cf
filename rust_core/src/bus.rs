//! The event bus: topics, wildcard subscriptions, deterministic dispatch, and a bounded
//! ingest queue for feeds running on other threads.
//!
//! # Topics and patterns
//!
//! A topic is dot-separated non-empty segments, e.g. `data.bars.AAPL.1m`, `orders.filled`.
//! A pattern is a topic in which a segment may be
//!
//! * `*`: exactly one segment (`data.bars.*.1m` matches every symbol's 1-minute bars);
//! * `>`: as the **last** segment only, one or more remaining segments
//!   (`orders.>` matches `orders.new` and `orders.a.b`, not `orders`). This is NATS's
//!   syntax; `**` is not special.
//!
//! # Order
//!
//! Each publish calls the matching handlers by descending `priority`, then by
//! subscription order (ascending id). A topic is matched against the patterns once, the
//! first time it is seen; the resolved handler list is cached and rebuilt on
//! (un)subscribe, so publishing costs one hash lookup (or none, with a [`TopicId`]).
//!
//! # Ingest
//!
//! [`ingest_queue`] returns a sender (cloneable, `Send`) for feed threads and a receiver
//! for the engine thread. The queue is bounded; when it is full the sender follows the
//! declared [`Backpressure`] policy and the counters in [`IngestStats`] record what
//! happened. The receiver keeps a reorder buffer (sorted by `(ts, seq)`, `seq` being
//! the arrival order) and releases events in timestamp order: everything it holds whose
//! `ts <= newest_ts_seen - reorder_window_ns`. An event older than one already released
//! is late: it is dropped and counted, so downstream time never goes backwards.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{CoreError, CoreResult};
use crate::types::UnixNanos;

/// FNV-1a: topics are short ASCII strings; SipHash's DoS resistance buys nothing here.
#[derive(Debug, Clone, Copy)]
pub struct FnvHasher(u64);

impl Default for FnvHasher {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for FnvHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<FnvHasher>>;

/// Identifies a subscription (ids increase in subscription order).
pub type SubscriptionId = u64;

/// A resolved topic: publish with it to skip the string lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicId(u32);

impl TopicId {
    #[must_use]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(Box<str>),
    One,
    Rest,
}

/// A parsed subscription pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: Box<str>,
    segments: Vec<Segment>,
}

impl Pattern {
    /// Parses and validates a pattern (see the module docs).
    pub fn parse(text: &str) -> CoreResult<Self> {
        let mut segments = Vec::new();
        let parts: Vec<&str> = text.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            segments.push(match *part {
                "" => {
                    return Err(CoreError::invalid(
                        "pattern",
                        format!("{text:?} has an empty segment"),
                    ))
                }
                "*" => Segment::One,
                ">" if i + 1 == parts.len() => Segment::Rest,
                ">" => {
                    return Err(CoreError::invalid(
                        "pattern",
                        format!("{text:?}: '>' is only allowed as the last segment"),
                    ))
                }
                p if p.contains(['*', '>']) => {
                    return Err(CoreError::invalid(
                        "pattern",
                        format!("{text:?}: wildcards must be whole segments"),
                    ))
                }
                p => Segment::Literal(p.into()),
            });
        }
        Ok(Self {
            text: text.into(),
            segments,
        })
    }

    /// The pattern as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `topic` (already validated) matches.
    #[must_use]
    pub fn matches(&self, topic: &str) -> bool {
        let mut parts = topic.split('.');
        for seg in &self.segments {
            match seg {
                Segment::Rest => return parts.next().is_some(),
                Segment::One => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                Segment::Literal(l) => {
                    if parts.next() != Some(&**l) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }
}

/// Validates a concrete topic: non-empty segments, no wildcards.
pub fn validate_topic(topic: &str) -> CoreResult<()> {
    if topic
        .split('.')
        .any(|s| s.is_empty() || s.contains(['*', '>']))
    {
        return Err(CoreError::invalid(
            "topic",
            format!("{topic:?} must be non-empty dot-separated segments without wildcards"),
        ));
    }
    Ok(())
}

#[derive(Debug)]
struct Subscription<H> {
    id: SubscriptionId,
    pattern: Pattern,
    priority: i32,
    handler: H,
}

#[derive(Debug)]
struct Topic {
    name: Box<str>,
    /// Indices into `subs`, in dispatch order.
    handlers: Vec<usize>,
}

/// Routes topics to handlers of type `H` (see the module docs for the rules).
///
/// The bus is generic over the handler so the same routing serves Rust closures
/// ([`RustHandler`]) and the Python bindings' handlers.
#[derive(Debug)]
pub struct MessageBus<H> {
    subs: Vec<Subscription<H>>,
    topics: Vec<Topic>,
    index: FnvMap<Box<str>, TopicId>,
    next_id: SubscriptionId,
}

impl<H> Default for MessageBus<H> {
    fn default() -> Self {
        Self {
            subs: Vec::new(),
            topics: Vec::new(),
            index: FnvMap::default(),
            next_id: 1,
        }
    }
}

impl<H> MessageBus<H> {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Subscribes `handler` to `pattern`; higher `priority` runs first.
    pub fn subscribe(
        &mut self,
        pattern: &str,
        priority: i32,
        handler: H,
    ) -> CoreResult<SubscriptionId> {
        let pattern = Pattern::parse(pattern)?;
        let id = self.next_id;
        self.next_id += 1;
        self.subs.push(Subscription {
            id,
            pattern,
            priority,
            handler,
        });
        self.rebuild();
        Ok(id)
    }

    /// Removes a subscription and returns its handler.
    pub fn unsubscribe(&mut self, id: SubscriptionId) -> Option<H> {
        let pos = self.subs.iter().position(|s| s.id == id)?;
        let sub = self.subs.remove(pos);
        self.rebuild();
        Some(sub.handler)
    }

    /// Every handler, in subscription order.
    pub fn handlers(&self) -> impl Iterator<Item = &H> {
        self.subs.iter().map(|s| &s.handler)
    }

    /// Removes every subscription (cached topics stay resolved, to no handlers).
    pub fn clear(&mut self) {
        self.subs.clear();
        self.rebuild();
    }

    /// Number of subscriptions.
    #[must_use]
    pub fn subscription_count(&self) -> usize {
        self.subs.len()
    }

    /// `(id, pattern, priority)` of every subscription, in subscription order.
    pub fn subscriptions(&self) -> impl Iterator<Item = (SubscriptionId, &str, i32)> {
        self.subs
            .iter()
            .map(|s| (s.id, s.pattern.as_str(), s.priority))
    }

    fn resolve(subs: &[Subscription<H>], topic: &str) -> Vec<usize> {
        let mut v: Vec<usize> = (0..subs.len())
            .filter(|&i| subs[i].pattern.matches(topic))
            .collect();
        // Stable order: priority descending, then subscription id ascending.
        v.sort_by(|&a, &b| {
            subs[b]
                .priority
                .cmp(&subs[a].priority)
                .then(subs[a].id.cmp(&subs[b].id))
        });
        v
    }

    fn rebuild(&mut self) {
        for t in &mut self.topics {
            t.handlers = Self::resolve(&self.subs, &t.name);
        }
    }

    /// Resolves (and caches) a topic.
    pub fn topic(&mut self, name: &str) -> CoreResult<TopicId> {
        if let Some(&id) = self.index.get(name) {
            return Ok(id);
        }
        validate_topic(name)?;
        let id = TopicId(
            u32::try_from(self.topics.len())
                .map_err(|_| CoreError::InvalidState("too many topics".into()))?,
        );
        self.topics.push(Topic {
            name: name.into(),
            handlers: Self::resolve(&self.subs, name),
        });
        self.index.insert(name.into(), id);
        Ok(id)
    }

    /// The name of a resolved topic.
    #[must_use]
    pub fn topic_name(&self, id: TopicId) -> Option<&str> {
        self.topics.get(id.index()).map(|t| &*t.name)
    }

    /// Number of handlers `topic` dispatches to.
    #[must_use]
    pub fn handler_count(&self, id: TopicId) -> usize {
        self.topics.get(id.index()).map_or(0, |t| t.handlers.len())
    }

    /// Subscription ids `topic` dispatches to, in order.
    #[must_use]
    pub fn dispatch_order(&self, id: TopicId) -> Vec<SubscriptionId> {
        self.topics.get(id.index()).map_or_else(Vec::new, |t| {
            t.handlers.iter().map(|&i| self.subs[i].id).collect()
        })
    }

    /// Calls `f` on each handler of `topic` in dispatch order; returns how many.
    #[inline]
    pub fn dispatch(&mut self, id: TopicId, mut f: impl FnMut(&mut H)) -> usize {
        let Some(topic) = self.topics.get(id.index()) else {
            return 0;
        };
        for &i in &topic.handlers {
            f(&mut self.subs[i].handler);
        }
        topic.handlers.len()
    }

    /// Like [`Self::dispatch`], stopping at the first error.
    pub fn try_dispatch<E>(
        &mut self,
        id: TopicId,
        mut f: impl FnMut(SubscriptionId, &mut H) -> Result<(), E>,
    ) -> Result<usize, E> {
        let Some(topic) = self.topics.get(id.index()) else {
            return Ok(0);
        };
        for &i in &topic.handlers {
            let sub = &mut self.subs[i];
            f(sub.id, &mut sub.handler)?;
        }
        Ok(topic.handlers.len())
    }
}

/// A Rust handler of messages of type `M`.
pub type RustHandler<M> = Box<dyn FnMut(&M) + Send>;

impl<M> MessageBus<RustHandler<M>> {
    /// Publishes `msg` to `topic`; returns the number of handlers called.
    #[inline]
    pub fn publish(&mut self, topic: &str, msg: &M) -> CoreResult<usize> {
        let id = self.topic(topic)?;
        Ok(self.publish_id(id, msg))
    }

    /// Publishes to a resolved topic.
    #[inline]
    pub fn publish_id(&mut self, topic: TopicId, msg: &M) -> usize {
        self.dispatch(topic, |h| h(msg))
    }
}

// ---------------------------------------------------------------------------------------
// Ingest queue
// ---------------------------------------------------------------------------------------

/// What a sender does when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Backpressure {
    /// Wait until the engine makes room (lossless; the feed slows down).
    #[default]
    Block,
    /// Discard the event being sent (keeps what is queued).
    DropNewest,
    /// Discard the oldest queued event to make room (keeps the freshest data).
    DropOldest,
}

impl Backpressure {
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::DropNewest => "drop_newest",
            Self::DropOldest => "drop_oldest",
        }
    }
}

impl std::str::FromStr for Backpressure {
    type Err = CoreError;
    fn from_str(s: &str) -> CoreResult<Self> {
        match s {
            "block" => Ok(Self::Block),
            "drop_newest" => Ok(Self::DropNewest),
            "drop_oldest" => Ok(Self::DropOldest),
            _ => Err(CoreError::invalid(
                "policy",
                format!("{s:?} is not one of block, drop_newest, drop_oldest"),
            )),
        }
    }
}

/// Counters of an ingest queue (monotonic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestStats {
    /// Events accepted into the queue.
    pub enqueued: u64,
    /// Events released to the engine.
    pub delivered: u64,
    /// Events discarded by `DropNewest`.
    pub dropped_newest: u64,
    /// Events discarded by `DropOldest`.
    pub dropped_oldest: u64,
    /// Events discarded because they were older than one already released (by more than
    /// the queue's `late_ns`).
    pub dropped_late: u64,
    /// Events older than one already released, but by at most `late_ns`: released all the
    /// same, out of order (a live node takes them; see `Engine::accept_late`).
    pub delivered_late: u64,
    /// Times a `Block` sender had to wait for room.
    pub blocked: u64,
    /// Events sent after the receiver was dropped or the queue closed (discarded).
    pub rejected_closed: u64,
}

/// An event with its timestamp and arrival sequence.
#[derive(Debug, Clone)]
pub struct Envelope<M> {
    pub ts: UnixNanos,
    pub seq: u64,
    pub msg: M,
}

impl<M> PartialEq for Envelope<M> {
    fn eq(&self, other: &Self) -> bool {
        self.ts == other.ts && self.seq == other.seq
    }
}
impl<M> Eq for Envelope<M> {}
impl<M> PartialOrd for Envelope<M> {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl<M> Ord for Envelope<M> {
    /// By `(ts, seq)`: timestamp, then arrival.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (self.ts, self.seq).cmp(&(other.ts, other.seq))
    }
}

#[derive(Debug)]
struct State<M> {
    queue: VecDeque<Envelope<M>>,
    next_seq: u64,
    closed: bool,
    receiver_waiting: bool,
    senders_waiting: usize,
    /// `wake` was called: a waiting receiver returns at once, with nothing.
    woken: bool,
}

#[derive(Debug, Default)]
struct Counters {
    enqueued: AtomicU64,
    delivered: AtomicU64,
    dropped_newest: AtomicU64,
    dropped_oldest: AtomicU64,
    dropped_late: AtomicU64,
    delivered_late: AtomicU64,
    blocked: AtomicU64,
    rejected_closed: AtomicU64,
    /// Events held in the receiver's reorder buffer.
    buffered: AtomicUsize,
}

impl Counters {
    fn snapshot(&self) -> IngestStats {
        IngestStats {
            enqueued: self.enqueued.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped_newest: self.dropped_newest.load(Ordering::Relaxed),
            dropped_oldest: self.dropped_oldest.load(Ordering::Relaxed),
            dropped_late: self.dropped_late.load(Ordering::Relaxed),
            delivered_late: self.delivered_late.load(Ordering::Relaxed),
            blocked: self.blocked.load(Ordering::Relaxed),
            rejected_closed: self.rejected_closed.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug)]
struct Shared<M> {
    state: Mutex<State<M>>,
    /// Mirror of `state.queue.len()`, readable without the lock (the receiver spins on it
    /// briefly before parking, which saves a wake-up per event when the feed is busy).
    queued: AtomicUsize,
    not_full: Condvar,
    not_empty: Condvar,
    capacity: usize,
    policy: Backpressure,
    counters: Counters,
}

impl<M> Shared<M> {
    fn lock(&self) -> MutexGuard<'_, State<M>> {
        // A panic while holding the lock leaves the queue structurally valid.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How long the receiver spins, checking for new events, before it parks. Bounded in time,
/// not in `sched_yield` calls: on a loaded machine (2 cores, the API and the sinks beside
/// the engine) each yield could hand the core away and the loop took most of a core.
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(20);

/// What happened to a sent event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// Queued.
    Accepted,
    /// Queued after discarding the oldest queued event.
    AcceptedDroppedOldest,
    /// Discarded (queue full, `DropNewest`).
    DroppedNewest,
    /// Discarded: the queue is closed.
    Closed,
}

/// The feed side of an ingest queue. Clone it for several feeds.
#[derive(Debug)]
pub struct IngestSender<M> {
    shared: Arc<Shared<M>>,
}

impl<M> Clone for IngestSender<M> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

/// The engine side: drains in timestamp order.
#[derive(Debug)]
pub struct IngestReceiver<M> {
    shared: Arc<Shared<M>>,
    /// Held events, sorted by `(ts, seq)`.
    reorder: VecDeque<Envelope<M>>,
    spare: VecDeque<Envelope<M>>,
    scratch: Vec<Envelope<M>>,
    window_ns: u64,
    /// How far behind the last released event a late one may be and still be released.
    late_ns: u64,
    /// Late events to release ahead of the reorder buffer, in arrival order.
    late: VecDeque<Envelope<M>>,
    newest_seen: Option<UnixNanos>,
    last_released: Option<UnixNanos>,
}

/// A bounded ingest queue of `capacity` events with `policy` when full, releasing events
/// `reorder_window_ns` behind the newest timestamp seen (0: release all in order).
pub fn ingest_queue<M>(
    capacity: usize,
    policy: Backpressure,
    reorder_window_ns: u64,
) -> CoreResult<(IngestSender<M>, IngestReceiver<M>)> {
    if capacity == 0 {
        return Err(CoreError::invalid("capacity", "must be > 0"));
    }
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::with_capacity(capacity.min(1 << 16)),
            next_seq: 0,
            closed: false,
            receiver_waiting: false,
            woken: false,
            senders_waiting: 0,
        }),
        queued: AtomicUsize::new(0),
        not_full: Condvar::new(),
        not_empty: Condvar::new(),
        capacity,
        policy,
        counters: Counters::default(),
    });
    Ok((
        IngestSender {
            shared: shared.clone(),
        },
        IngestReceiver {
            shared,
            reorder: VecDeque::new(),
            spare: VecDeque::new(),
            scratch: Vec::new(),
            window_ns: reorder_window_ns,
            late_ns: 0,
            late: VecDeque::new(),
            newest_seen: None,
            last_released: None,
        },
    ))
}

impl<M> IngestSender<M> {
    /// Sends one event stamped `ts`, following the queue's backpressure policy.
    pub fn send(&self, ts: UnixNanos, msg: M) -> SendOutcome {
        let mut evicted = None;
        let st = self.shared.lock();
        let (st, outcome) = self.push_locked(st, ts, msg, &mut evicted);
        self.finish(st, evicted);
        outcome
    }

    /// Sends several events under one lock (cheaper per event than `send`); returns how
    /// many were queued. Stops early if the queue is closed.
    pub fn send_many(&self, events: impl IntoIterator<Item = (UnixNanos, M)>) -> usize {
        let mut evicted = None;
        let mut dropped = Vec::new();
        let mut st = self.shared.lock();
        let mut queued = 0;
        for (ts, msg) in events {
            let (s, outcome) = self.push_locked(st, ts, msg, &mut evicted);
            st = s;
            dropped.extend(evicted.take());
            match outcome {
                SendOutcome::Accepted | SendOutcome::AcceptedDroppedOldest => queued += 1,
                SendOutcome::DroppedNewest => {}
                SendOutcome::Closed => break,
            }
        }
        self.finish(st, None);
        drop(dropped);
        queued
    }

    fn push_locked<'a>(
        &'a self,
        mut st: MutexGuard<'a, State<M>>,
        ts: UnixNanos,
        msg: M,
        evicted: &mut Option<Envelope<M>>,
    ) -> (MutexGuard<'a, State<M>>, SendOutcome) {
        let sh = &*self.shared;
        let mut outcome = SendOutcome::Accepted;
        if st.closed {
            sh.counters.rejected_closed.fetch_add(1, Ordering::Relaxed);
            return (st, SendOutcome::Closed);
        }
        if st.queue.len() >= sh.capacity {
            match sh.policy {
                Backpressure::Block => {
                    sh.counters.blocked.fetch_add(1, Ordering::Relaxed);
                    st.senders_waiting += 1;
                    if st.receiver_waiting {
                        sh.not_empty.notify_one();
                    }
                    while st.queue.len() >= sh.capacity && !st.closed {
                        st = sh
                            .not_full
                            .wait(st)
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                    }
                    st.senders_waiting -= 1;
                    if st.closed {
                        sh.counters.rejected_closed.fetch_add(1, Ordering::Relaxed);
                        return (st, SendOutcome::Closed);
                    }
                }
                Backpressure::DropNewest => {
                    sh.counters.dropped_newest.fetch_add(1, Ordering::Relaxed);
                    return (st, SendOutcome::DroppedNewest);
                }
                Backpressure::DropOldest => {
                    *evicted = st.queue.pop_front();
                    sh.counters.dropped_oldest.fetch_add(1, Ordering::Relaxed);
                    outcome = SendOutcome::AcceptedDroppedOldest;
                }
            }
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        st.queue.push_back(Envelope { ts, seq, msg });
        sh.queued.store(st.queue.len(), Ordering::Release);
        sh.counters.enqueued.fetch_add(1, Ordering::Relaxed);
        (st, outcome)
    }

    fn finish(&self, st: MutexGuard<'_, State<M>>, evicted: Option<Envelope<M>>) {
        let wake = st.receiver_waiting;
        drop(st);
        // Dropped after unlocking: a message's destructor may run arbitrary code.
        drop(evicted);
        if wake {
            self.shared.not_empty.notify_one();
        }
    }

    /// Wakes a receiver waiting in `drain_wait` without sending anything (it returns with
    /// no event): how a node gets its engine thread to run a command at once instead of
    /// after its idle wait.
    pub fn wake(&self) {
        let mut st = self.shared.lock();
        st.woken = true;
        let waiting = st.receiver_waiting;
        drop(st);
        if waiting {
            self.shared.not_empty.notify_one();
        }
    }

    /// Closes the queue: further sends are discarded, blocked senders return `Closed`,
    /// and the receiver drains what remains.
    pub fn close(&self) {
        let mut st = self.shared.lock();
        st.closed = true;
        drop(st);
        self.shared.not_full.notify_all();
        self.shared.not_empty.notify_all();
    }

    /// Events currently queued (not yet pulled by the receiver).
    #[must_use]
    pub fn len(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }

    /// Events pulled by the receiver and held for reordering.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.shared.counters.buffered.load(Ordering::Relaxed)
    }

    /// The queue's counters (readable from any thread, without waiting for the receiver).
    #[must_use]
    pub fn stats(&self) -> IngestStats {
        self.shared.counters.snapshot()
    }

    /// The declared policy.
    #[must_use]
    pub fn policy(&self) -> Backpressure {
        self.shared.policy
    }

    /// The queue's capacity.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<M> IngestReceiver<M> {
    /// Moves everything queued into the reorder buffer (one short lock).
    fn pull(&mut self) -> bool {
        let sh = &*self.shared;
        let mut st = sh.lock();
        std::mem::swap(&mut st.queue, &mut self.spare);
        sh.queued.store(0, Ordering::Release);
        let wake = st.senders_waiting > 0;
        let closed = st.closed;
        drop(st);
        if wake {
            sh.not_full.notify_all();
        }
        let mut batch = std::mem::take(&mut self.scratch);
        for env in self.spare.drain(..) {
            if let Some(last) = self.last_released.filter(|last| env.ts < *last) {
                let c = &self.shared.counters;
                if last.0 - env.ts.0 <= self.late_ns {
                    c.delivered_late.fetch_add(1, Ordering::Relaxed);
                    self.late.push_back(env);
                } else {
                    c.dropped_late.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            }
            batch.push(env);
        }
        if !batch.is_sorted() {
            // `seq` is unique, so an unstable sort is deterministic.
            batch.sort_unstable();
        }
        if let Some(last) = batch.last() {
            self.newest_seen = Some(self.newest_seen.map_or(last.ts, |n| n.max(last.ts)));
        }
        // Feeds are almost always in order: then the batch is simply appended.
        let in_order = match (self.reorder.back(), batch.first()) {
            (Some(held), Some(first)) => held <= first,
            _ => true,
        };
        if in_order {
            self.reorder.extend(batch.drain(..));
        } else {
            let held = std::mem::take(&mut self.reorder);
            self.reorder = merge_sorted(held, &mut batch);
        }
        self.scratch = batch;
        closed
    }

    fn release(&mut self, max: usize, all: bool, out: &mut Vec<Envelope<M>>) -> usize {
        let watermark = match (all, self.newest_seen) {
            (true, _) | (false, None) => u64::MAX,
            (false, Some(n)) => n.0.saturating_sub(self.window_ns),
        };
        let mut n = 0;
        // Late ones first: already behind, they wait no longer (the release time stays).
        while n < max {
            let Some(env) = self.late.pop_front() else {
                break;
            };
            out.push(env);
            n += 1;
        }
        while n < max {
            match self.reorder.front() {
                Some(first) if all || first.ts.0 <= watermark => {}
                _ => break,
            }
            let Some(env) = self.reorder.pop_front() else {
                break;
            };
            self.last_released = Some(env.ts);
            out.push(env);
            n += 1;
        }
        let c = &self.shared.counters;
        c.delivered.fetch_add(n as u64, Ordering::Relaxed);
        c.buffered
            .store(self.reorder.len() + self.late.len(), Ordering::Relaxed);
        n
    }

    /// Appends up to `max` releasable events to `out` in `(ts, seq)` order, without
    /// waiting; returns how many.
    pub fn drain(&mut self, max: usize, out: &mut Vec<Envelope<M>>) -> usize {
        let closed = self.pull();
        self.release(max, closed, out)
    }

    /// Like [`Self::drain`], but waits up to `timeout` for at least one event.
    pub fn drain_wait(
        &mut self,
        max: usize,
        timeout: Duration,
        out: &mut Vec<Envelope<M>>,
    ) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let n = self.drain(max, out);
            if n > 0 {
                return n;
            }
            // A busy feed refills the queue within microseconds: look again for a few
            // microseconds before paying for a sleep and a wake-up.
            let spin_until = Instant::now() + SPIN_BEFORE_PARK;
            while self.shared.queued.load(Ordering::Acquire) == 0 && Instant::now() < spin_until {
                std::hint::spin_loop();
            }
            if self.shared.queued.load(Ordering::Acquire) > 0 {
                continue;
            }
            let sh = &*self.shared;
            let mut st = sh.lock();
            if st.closed && st.queue.is_empty() {
                return 0;
            }
            let now = Instant::now();
            if now >= deadline || std::mem::take(&mut st.woken) {
                return 0;
            }
            if st.queue.is_empty() {
                st.receiver_waiting = true;
                let (g, _) = sh
                    .not_empty
                    .wait_timeout(st, deadline - now)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                st = g;
                st.receiver_waiting = false;
                if std::mem::take(&mut st.woken) && st.queue.is_empty() {
                    return 0;
                }
            }
        }
    }

    /// Releases everything held, in order, regardless of the reorder window.
    pub fn flush(&mut self, out: &mut Vec<Envelope<M>>) -> usize {
        self.pull();
        self.release(usize::MAX, true, out)
    }

    /// Events held in the reorder buffer.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.reorder.len() + self.late.len()
    }

    /// Release events up to `late_ns` older than one already released (at once, out of
    /// order) instead of dropping them; 0 (the default) drops every one.
    pub fn accept_late(&mut self, late_ns: u64) {
        self.late_ns = late_ns;
    }

    /// The queue's counters.
    #[must_use]
    pub fn stats(&self) -> IngestStats {
        self.shared.counters.snapshot()
    }

    /// The declared policy.
    #[must_use]
    pub fn policy(&self) -> Backpressure {
        self.shared.policy
    }

    /// The queue's capacity.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// A new sender for this queue.
    #[must_use]
    pub fn sender(&self) -> IngestSender<M> {
        IngestSender {
            shared: self.shared.clone(),
        }
    }
}

/// Merges two `(ts, seq)`-sorted sequences (emptying `b`).
fn merge_sorted<M>(a: VecDeque<Envelope<M>>, b: &mut Vec<Envelope<M>>) -> VecDeque<Envelope<M>> {
    let mut out = VecDeque::with_capacity(a.len() + b.len());
    let mut a = a.into_iter().peekable();
    let mut b_iter = b.drain(..).peekable();
    loop {
        let take_a = match (a.peek(), b_iter.peek()) {
            (Some(x), Some(y)) => x <= y,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_a { a.next() } else { b_iter.next() };
        out.extend(next);
    }
    out
}

impl<M> Drop for IngestReceiver<M> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.closed = true;
        drop(st);
        self.shared.not_full.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex as StdMutex;

    #[test]
    fn patterns() {
        let m = |p: &str, t: &str| Pattern::parse(p).unwrap().matches(t);
        assert!(m("data.bars.AAPL.1m", "data.bars.AAPL.1m"));
        assert!(m("data.bars.*.1m", "data.bars.MSFT.1m"));
        assert!(!m("data.bars.*.1m", "data.bars.MSFT.5m"));
        assert!(m("orders.*", "orders.filled"));
        assert!(!m("orders.*", "orders.filled.x"));
        assert!(!m("orders.*", "orders"));
        assert!(m("orders.>", "orders.a.b"));
        assert!(!m("orders.>", "orders"));
        assert!(m(">", "x"));
        assert!(m("*.*", "a.b"));
        assert!(!m("a.b", "a.b.c"));
        for bad in ["", "a..b", "a.>.b", "a*.b", "orders.x>"] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
        assert!(validate_topic("a.*").is_err());
        assert!(validate_topic("a.").is_err());
    }

    #[test]
    fn dispatch_by_priority_then_subscription_order() {
        let log = Arc::new(StdMutex::new(Vec::new()));
        let mut bus: MessageBus<RustHandler<u32>> = MessageBus::new();
        let mk = |tag: &'static str| {
            let log = log.clone();
            Box::new(move |m: &u32| log.lock().unwrap().push((tag, *m))) as RustHandler<u32>
        };
        bus.subscribe("data.>", 0, mk("rest")).unwrap();
        bus.subscribe("data.bars.*.1m", 5, mk("hi")).unwrap();
        let low = bus.subscribe("data.bars.AAPL.1m", 0, mk("exact")).unwrap();
        bus.subscribe("orders.*", 9, mk("orders")).unwrap();
        assert_eq!(bus.publish("data.bars.AAPL.1m", &1).unwrap(), 3);
        assert_eq!(bus.publish("orders.new", &2).unwrap(), 1);
        assert_eq!(bus.publish("fills.x", &3).unwrap(), 0);
        assert!(bus.unsubscribe(low).is_some());
        assert_eq!(bus.publish("data.bars.AAPL.1m", &4).unwrap(), 2);
        assert_eq!(
            *log.lock().unwrap(),
            vec![
                ("hi", 1),
                ("rest", 1),
                ("exact", 1),
                ("orders", 2),
                ("hi", 4),
                ("rest", 4)
            ]
        );
        assert!(bus.publish("bad..topic", &0).is_err());
    }

    #[test]
    fn late_events_within_late_ns_are_released_at_once_and_the_rest_dropped() {
        // A live node's minute bar arriving after the next minute's first quote.
        let (tx, mut rx) = ingest_queue::<u32>(16, Backpressure::Block, 0).unwrap();
        rx.accept_late(2_000);
        let mut out = Vec::new();
        tx.send(UnixNanos(60_500), 1); // a quote after the minute's close
        rx.drain(usize::MAX, &mut out);
        tx.send(UnixNanos(60_000), 2); // the minute's bar, 500 ns behind: taken
        tx.send(UnixNanos(61_000), 3);
        tx.send(UnixNanos(50_000), 4); // 10,500 ns behind: dropped
        rx.drain(usize::MAX, &mut out);
        let got: Vec<(u64, u32)> = out.iter().map(|e| (e.ts.0, e.msg)).collect();
        assert_eq!(got, vec![(60_500, 1), (60_000, 2), (61_000, 3)]);
        let s = rx.stats();
        assert_eq!((s.delivered_late, s.dropped_late, s.delivered), (1, 1, 3));
        // The late one did not move the release point back: 60,800 is late now too.
        tx.send(UnixNanos(60_800), 5);
        out.clear();
        rx.drain(usize::MAX, &mut out);
        assert_eq!(out.iter().map(|e| e.msg).collect::<Vec<_>>(), vec![5]);
        assert_eq!(rx.stats().delivered_late, 2);
    }

    #[test]
    fn ingest_releases_in_timestamp_order_and_counts_drops() {
        let (tx, mut rx) = ingest_queue::<u32>(3, Backpressure::DropOldest, 0).unwrap();
        for (ts, m) in [(5, 0), (3, 1), (3, 2), (1, 3)] {
            tx.send(UnixNanos(ts), m);
        }
        let mut out = Vec::new();
        rx.drain(usize::MAX, &mut out);
        let got: Vec<(u64, u32)> = out.iter().map(|e| (e.ts.0, e.msg)).collect();
        assert_eq!(got, vec![(1, 3), (3, 1), (3, 2)]);
        assert_eq!(rx.stats().dropped_oldest, 1);
        // Late: older than what was released.
        tx.send(UnixNanos(2), 9);
        out.clear();
        assert_eq!(rx.drain(usize::MAX, &mut out), 0);
        assert_eq!(rx.stats().dropped_late, 1);

        let (tx, mut rx) = ingest_queue::<u32>(2, Backpressure::DropNewest, 0).unwrap();
        assert_eq!(tx.send(UnixNanos(1), 1), SendOutcome::Accepted);
        tx.send(UnixNanos(1), 2);
        assert_eq!(tx.send(UnixNanos(1), 3), SendOutcome::DroppedNewest);
        out.clear();
        rx.drain(usize::MAX, &mut out);
        assert_eq!(out.iter().map(|e| e.msg).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn send_many_queues_in_order_under_one_lock() {
        let (tx, mut rx) = ingest_queue::<u32>(3, Backpressure::DropNewest, 0).unwrap();
        let n = tx.send_many([
            (UnixNanos(2), 0),
            (UnixNanos(1), 1),
            (UnixNanos(3), 2),
            (UnixNanos(0), 3),
        ]);
        assert_eq!(n, 3);
        assert_eq!(rx.stats().dropped_newest, 1);
        let mut out = Vec::new();
        rx.drain(usize::MAX, &mut out);
        assert_eq!(out.iter().map(|e| e.msg).collect::<Vec<_>>(), vec![1, 0, 2]);
        tx.close();
        assert_eq!(tx.send_many([(UnixNanos(9), 9)]), 0);
    }

    #[test]
    fn reorder_window_holds_recent_events() {
        let (tx, mut rx) = ingest_queue::<u32>(16, Backpressure::Block, 10).unwrap();
        tx.send(UnixNanos(100), 0);
        tx.send(UnixNanos(95), 1);
        let mut out = Vec::new();
        assert_eq!(rx.drain(usize::MAX, &mut out), 0); // both within 10ns of 100
        tx.send(UnixNanos(108), 2);
        assert_eq!(rx.drain(usize::MAX, &mut out), 1); // 95 <= 98
        assert_eq!(out[0].msg, 1);
        assert_eq!(rx.flush(&mut out), 2);
        assert_eq!(out.iter().map(|e| e.msg).collect::<Vec<_>>(), vec![1, 0, 2]);
    }

    #[test]
    fn wake_ends_a_wait_at_once_and_loses_nothing() {
        let (tx, mut rx) = ingest_queue::<u64>(8, Backpressure::Block, 0).unwrap();
        let waker = tx.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            waker.wake();
        });
        let started = Instant::now();
        let mut out = Vec::new();
        assert_eq!(rx.drain_wait(10, Duration::from_secs(10), &mut out), 0);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the wake did not end the wait"
        );
        t.join().unwrap();
        // A wake before the wait ends the next wait too; events are never skipped.
        tx.wake();
        tx.send(UnixNanos(1), 7);
        assert_eq!(rx.drain_wait(10, Duration::from_secs(10), &mut out), 1);
        assert_eq!(out[0].msg, 7);
    }

    #[test]
    fn block_policy_is_lossless_across_threads() {
        let (tx, mut rx) = ingest_queue::<u64>(8, Backpressure::Block, 0).unwrap();
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000_u64 {
                        tx.send(UnixNanos(i), p * 10_000 + i);
                    }
                })
            })
            .collect();
        let mut got = Vec::new();
        let mut last_ts = 0;
        while got.len() < 10_000 {
            let mut out = Vec::new();
            rx.drain_wait(usize::MAX, Duration::from_millis(100), &mut out);
            for e in out {
                assert!(e.ts.0 >= last_ts, "time went backwards");
                last_ts = e.ts.0;
                got.push(e.msg);
            }
            if producers.iter().all(std::thread::JoinHandle::is_finished) && tx.is_empty() {
                let mut rest = Vec::new();
                rx.flush(&mut rest);
                assert!(rest.iter().all(|e| e.ts.0 >= last_ts));
                got.extend(rest.into_iter().map(|e| e.msg));
                break;
            }
        }
        for p in producers {
            p.join().unwrap();
        }
        let s = rx.stats();
        assert_eq!(s.enqueued, 10_000);
        assert_eq!(s.dropped_newest + s.dropped_oldest, 0);
        assert_eq!(got.len() as u64 + s.dropped_late, 10_000);
    }
}
