//! Python classes for the event bus (`Bus`) and the ingest queue (`IngestQueue`).
//!
//! Messages are any Python objects and are passed to handlers as they are: the bus
//! allocates nothing per message (CPython's tuple free list supplies the argument tuple).
//! Routing, ordering and queueing are the Rust `MessageBus` and `ingest_queue`.
//!
//! Run to completion: a message published while another is being dispatched (from a
//! handler, or from another thread) is queued and delivered, in publish order, right
//! after the current message has reached every handler. Subscription changes made during
//! a dispatch apply from the next message.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use pyo3::{PyTraverseError, PyVisit};

use crate::bus::{
    ingest_queue, Backpressure, Envelope, IngestReceiver, IngestSender, MessageBus, SendOutcome,
    SubscriptionId, TopicId,
};
use crate::types::UnixNanos;
use crate::CoreError;

/// A Rust-side handler on the Python bus: called with each message, no Python call.
/// Other bindings (an engine, an indicator feed) register these with
/// [`PyBus::subscribe_native`]; state lives in the closure (atomics, locks).
pub(crate) type NativeHandler =
    Box<dyn Fn(Python<'_>, &Bound<'_, PyAny>) -> PyResult<()> + Send + Sync>;

enum HandlerKind {
    /// `handler(message)` per message.
    Call(Py<PyAny>),
    /// `handler(messages: list)` per batch.
    Batch(Py<PyAny>),
    /// A Rust-side handler (no Python call).
    Native(NativeHandler),
}

impl std::fmt::Debug for HandlerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Call(h) => write!(f, "Call({h:?})"),
            Self::Batch(h) => write!(f, "Batch({h:?})"),
            Self::Native(_) => f.write_str("Native"),
        }
    }
}

type Handler = Arc<HandlerKind>;

/// The resolved handlers of one topic, shared by in-flight dispatches.
#[derive(Debug, Default)]
struct Snapshot {
    /// Every handler in dispatch order (used by `publish`).
    all: Vec<Handler>,
    /// Per-message handlers in dispatch order (used by `publish_many`).
    per_message: Vec<Handler>,
    /// Batch handlers in dispatch order.
    batch: Vec<Handler>,
}

#[derive(Debug, Default)]
struct State {
    bus: MessageBus<Handler>,
    snapshots: Vec<Option<Arc<Snapshot>>>,
    dispatching: bool,
    pending: VecDeque<(TopicId, Py<PyAny>)>,
    /// Counts of `subscribe_counter` subscriptions.
    counters: HashMap<SubscriptionId, Arc<AtomicU64>>,
}

impl State {
    fn snapshot(&mut self, tid: TopicId) -> Arc<Snapshot> {
        let i = tid.index();
        if self.snapshots.len() <= i {
            self.snapshots.resize(i + 1, None);
        }
        if let Some(s) = &self.snapshots[i] {
            return s.clone();
        }
        let mut snap = Snapshot::default();
        self.bus.dispatch(tid, |h| {
            snap.all.push(h.clone());
            if matches!(**h, HandlerKind::Batch(_)) {
                snap.batch.push(h.clone());
            } else {
                snap.per_message.push(h.clone());
            }
        });
        let snap = Arc::new(snap);
        self.snapshots[i] = Some(snap.clone());
        snap
    }
}

/// An event bus with topic wildcards and deterministic dispatch order.
#[pyclass(frozen, name = "Bus", module = "pi5trading._core")]
#[derive(Debug, Default)]
pub(crate) struct PyBus {
    state: Mutex<State>,
    generation: AtomicU64,
    has_pending: AtomicBool,
}

/// Clears the dispatching flag when the outermost dispatch ends (also on error).
struct DispatchGuard<'a>(&'a PyBus);

impl Drop for DispatchGuard<'_> {
    fn drop(&mut self) {
        self.0.lock().dispatching = false;
    }
}

fn call_one(py: Python<'_>, h: &HandlerKind, msg: &Bound<'_, PyAny>) -> PyResult<()> {
    match h {
        HandlerKind::Call(f) => {
            f.call1(py, (msg,))?;
        }
        HandlerKind::Batch(f) => {
            f.call1(py, (PyList::new(py, [msg])?,))?;
        }
        HandlerKind::Native(h) => h(py, msg)?,
    }
    Ok(())
}

impl PyBus {
    /// Queues messages that an interrupted dispatch did not reach, behind what is already
    /// pending, so a handler's exception loses nothing.
    fn requeue<'py>(&self, items: impl IntoIterator<Item = (&'py str, Bound<'py, PyAny>)>) {
        let mut st = self.lock();
        let mut any = false;
        for (topic, msg) in items {
            if let Ok(tid) = st.bus.topic(topic) {
                st.pending.push_back((tid, msg.unbind()));
                any = true;
            }
        }
        if any {
            self.has_pending.store(true, Ordering::Release);
        }
    }

    /// Publishes `(topic, message)` pairs of mixed topics in order (the engine's outbox,
    /// one call per batch): each message reaches its per-message handlers as by
    /// `publish`; each batch handler is called once, after them, with every message of the
    /// call it subscribed to, in order. Returns the number of handler calls.
    pub(crate) fn publish_pairs(
        &self,
        py: Python<'_>,
        items: &[(Bound<'_, PyString>, Bound<'_, PyAny>)],
    ) -> PyResult<usize> {
        let mut calls = 0;
        // Batch handlers by identity, with their messages, in first-seen order.
        let mut batches: Vec<(Handler, Vec<Bound<'_, PyAny>>)> = Vec::new();
        for (k, (topic, msg)) in items.iter().enumerate() {
            let Some((_tid, snap)) = self.begin(topic.to_str()?, [msg.clone()])? else {
                continue; // queued behind a running dispatch, delivered by it
            };
            let result = {
                let _guard = DispatchGuard(self);
                let mut r = Ok(());
                for h in &snap.per_message {
                    r = call_one(py, h, msg);
                    if r.is_err() {
                        break;
                    }
                }
                r.and_then(|()| self.run_pending(py))
            };
            match result {
                Ok(n) => calls += snap.per_message.len() + n,
                Err(e) => {
                    let rest = items[k + 1..].iter();
                    self.requeue(rest.map(|(t, m)| (t.to_str().unwrap_or(""), m.clone())));
                    return Err(e);
                }
            }
            for h in &snap.batch {
                match batches.iter_mut().find(|(b, _)| Arc::ptr_eq(b, h)) {
                    Some((_, list)) => list.push(msg.clone()),
                    None => batches.push((h.clone(), vec![msg.clone()])),
                }
            }
        }
        for (h, list) in batches {
            if let HandlerKind::Batch(f) = &*h {
                f.call1(py, (PyList::new(py, list)?,))?;
                calls += 1;
            }
        }
        Ok(calls)
    }

    /// Subscribes a Rust-side handler (see [`NativeHandler`]); same ordering rules as
    /// Python handlers.
    pub(crate) fn subscribe_native(
        &self,
        pattern: &str,
        priority: i32,
        handler: NativeHandler,
    ) -> PyResult<SubscriptionId> {
        let mut st = self.lock();
        let id = st
            .bus
            .subscribe(pattern, priority, Arc::new(HandlerKind::Native(handler)))?;
        self.changed(&mut st);
        Ok(id)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Invalidates cached handler lists after a subscription change.
    fn changed(&self, st: &mut State) {
        st.snapshots.clear();
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Resolves `topic`; if a dispatch is running, queues `messages` and returns `None`;
    /// otherwise marks the bus as dispatching and returns the topic's handlers.
    fn begin<'py>(
        &self,
        topic: &str,
        messages: impl IntoIterator<Item = Bound<'py, PyAny>>,
    ) -> PyResult<Option<(TopicId, Arc<Snapshot>)>> {
        let mut st = self.lock();
        let tid = st.bus.topic(topic)?;
        if st.dispatching {
            for m in messages {
                st.pending.push_back((tid, m.unbind()));
            }
            self.has_pending.store(true, Ordering::Release);
            return Ok(None);
        }
        st.dispatching = true;
        Ok(Some((tid, st.snapshot(tid))))
    }

    fn current(&self, tid: TopicId) -> Arc<Snapshot> {
        self.lock().snapshot(tid)
    }

    /// Delivers queued messages until none is left. Caller holds the dispatch.
    fn run_pending(&self, py: Python<'_>) -> PyResult<usize> {
        let mut calls = 0;
        while self.has_pending.load(Ordering::Acquire) {
            let next = {
                let mut st = self.lock();
                match st.pending.pop_front() {
                    Some((tid, msg)) => Some((st.snapshot(tid), msg)),
                    None => {
                        self.has_pending.store(false, Ordering::Release);
                        None
                    }
                }
            };
            let Some((snap, msg)) = next else { break };
            let msg = msg.into_bound(py);
            for h in &snap.all {
                call_one(py, h, &msg)?;
            }
            calls += snap.all.len();
        }
        Ok(calls)
    }

    /// Dispatches `list` on `tid` message by message, then to batch handlers. Caller
    /// holds the dispatch.
    ///
    /// `started` counts the messages whose dispatch began: after an error, messages from
    /// index `started` on were not dispatched at all.
    fn deliver_list(
        &self,
        py: Python<'_>,
        tid: TopicId,
        mut snap: Arc<Snapshot>,
        list: &Bound<'_, PyList>,
        started: &mut usize,
    ) -> PyResult<usize> {
        let mut calls = 0;
        let mut generation = self.generation.load(Ordering::Acquire);
        // Only batch handlers (and nothing queued): no per-message work at all.
        let skip = snap.per_message.is_empty() && !self.has_pending.load(Ordering::Acquire);
        if skip {
            *started = list.len();
        }
        for msg in list.iter().take(if skip { 0 } else { usize::MAX }) {
            *started += 1;
            for h in &snap.per_message {
                match &**h {
                    HandlerKind::Call(f) => {
                        f.call1(py, (&msg,))?;
                    }
                    HandlerKind::Native(h) => h(py, &msg)?,
                    HandlerKind::Batch(_) => {}
                }
            }
            calls += snap.per_message.len();
            if self.has_pending.load(Ordering::Acquire) {
                calls += self.run_pending(py)?;
            }
            let g = self.generation.load(Ordering::Acquire);
            if g != generation {
                generation = g;
                snap = self.current(tid);
            }
        }
        if !snap.batch.is_empty() && !list.is_empty() {
            for h in &snap.batch {
                if let HandlerKind::Batch(f) = &**h {
                    f.call1(py, (list,))?;
                }
            }
            calls += snap.batch.len();
            calls += self.run_pending(py)?;
        }
        Ok(calls)
    }
}

#[pymethods]
impl PyBus {
    #[new]
    fn py_new() -> Self {
        Self::default()
    }

    /// Subscribes a callable to `pattern` (`*` = one segment, trailing `>` = the rest).
    /// Higher `priority` runs first; equal priorities run in subscription order. With
    /// `batch=True` the handler receives a list of messages per call. Returns the id.
    #[pyo3(signature = (pattern, handler, priority = 0, *, batch = false))]
    fn subscribe(
        &self,
        pattern: &str,
        handler: Bound<'_, PyAny>,
        priority: i32,
        batch: bool,
    ) -> PyResult<SubscriptionId> {
        if !handler.is_callable() {
            return Err(PyTypeError::new_err("handler must be callable"));
        }
        let h = if batch {
            HandlerKind::Batch(handler.unbind())
        } else {
            HandlerKind::Call(handler.unbind())
        };
        let mut st = self.lock();
        let id = st.bus.subscribe(pattern, priority, Arc::new(h))?;
        self.changed(&mut st);
        Ok(id)
    }

    /// Subscribes a Rust-side counter (no Python call per message); read it with
    /// `counter(id)`. Useful to measure the bus itself and in tests.
    #[pyo3(signature = (pattern, priority = 0))]
    fn subscribe_counter(&self, pattern: &str, priority: i32) -> PyResult<SubscriptionId> {
        let count = Arc::new(AtomicU64::new(0));
        let c = Arc::clone(&count);
        let id = self.subscribe_native(
            pattern,
            priority,
            Box::new(move |_, _| {
                c.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }),
        )?;
        self.lock().counters.insert(id, count);
        Ok(id)
    }

    /// Messages counted by the counter subscription `id`.
    fn counter(&self, id: SubscriptionId) -> PyResult<u64> {
        let count = self
            .lock()
            .counters
            .get(&id)
            .map(|c| c.load(Ordering::Relaxed));
        count.ok_or_else(|| CoreError::invalid("id", format!("{id} is not a counter")).into())
    }

    /// Removes a subscription; `False` if there was none with this id.
    fn unsubscribe(&self, id: SubscriptionId) -> bool {
        let removed = {
            let mut st = self.lock();
            let removed = st.bus.unsubscribe(id);
            st.counters.remove(&id);
            if removed.is_some() {
                self.changed(&mut st);
            }
            removed
        };
        // The handler (a Python object) is released outside the lock: its destructor
        // may run arbitrary code.
        removed.is_some()
    }

    /// `(id, pattern, priority)` of every subscription, in subscription order.
    fn subscriptions(&self) -> Vec<(SubscriptionId, String, i32)> {
        self.lock()
            .bus
            .subscriptions()
            .map(|(i, p, pr)| (i, p.to_string(), pr))
            .collect()
    }

    /// The subscription ids `topic` is dispatched to, in order.
    fn dispatch_order(&self, topic: &str) -> PyResult<Vec<SubscriptionId>> {
        let mut st = self.lock();
        let tid = st.bus.topic(topic)?;
        Ok(st.bus.dispatch_order(tid))
    }

    /// Publishes `message` on `topic`; returns the number of handlers called (0 if the
    /// message was queued because a dispatch is running).
    fn publish(&self, py: Python<'_>, topic: &str, message: Bound<'_, PyAny>) -> PyResult<usize> {
        let Some((_tid, snap)) = self.begin(topic, [message.clone()])? else {
            return Ok(0);
        };
        let _guard = DispatchGuard(self);
        for h in &snap.all {
            call_one(py, h, &message)?;
        }
        Ok(snap.all.len() + self.run_pending(py)?)
    }

    /// Publishes every message of `messages` on `topic`, in order, as if by `publish`
    /// for each, except that batch handlers are called once, with the whole list, after
    /// the per-message handlers have seen every message. One Python call per message
    /// and handler; no per-message allocation. Returns the number of handler calls.
    fn publish_many(
        &self,
        py: Python<'_>,
        topic: &str,
        messages: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        let list = match messages.cast::<PyList>() {
            Ok(l) => l.clone(),
            Err(_) => PyList::new(py, messages.try_iter()?.collect::<PyResult<Vec<_>>>()?)?,
        };
        let Some((tid, snap)) = self.begin(topic, list.iter())? else {
            return Ok(0);
        };
        let _guard = DispatchGuard(self);
        let mut started = 0;
        self.deliver_list(py, tid, snap, &list, &mut started)
            .inspect_err(|_| {
                self.requeue(list.iter().skip(started).map(|m| (topic, m)));
            })
    }

    /// Delivers messages queued during an interrupted dispatch (after a handler raised).
    fn process_pending(&self, py: Python<'_>) -> PyResult<usize> {
        {
            let mut st = self.lock();
            if st.dispatching {
                return Ok(0);
            }
            st.dispatching = true;
        }
        let _guard = DispatchGuard(self);
        self.run_pending(py)
    }

    /// Messages waiting for the current dispatch to finish.
    #[getter]
    fn pending(&self) -> usize {
        self.lock().pending.len()
    }

    /// Drains up to `max_events` events from `queue` in timestamp order and publishes
    /// them (consecutive events on one topic as one `publish_many`). Waits up to
    /// `timeout` seconds for the first event, without holding the GIL; `None` = no wait.
    /// Returns the number of events published.
    #[pyo3(signature = (queue, max_events = None, timeout = None))]
    fn drain(
        &self,
        py: Python<'_>,
        queue: &Bound<'_, PyIngestQueue>,
        max_events: Option<usize>,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        let q = queue.get();
        let max = max_events.unwrap_or(usize::MAX);
        let timeout = match timeout {
            Some(t) if t.is_finite() && t >= 0.0 => Some(Duration::from_secs_f64(t)),
            Some(t) => {
                return Err(CoreError::invalid("timeout", format!("{t} must be >= 0")).into())
            }
            None => None,
        };
        let mut batch: Vec<Envelope<QueuedMessage>> = Vec::new();
        py.detach(|| {
            let mut rx = q.lock_receiver();
            match timeout {
                Some(t) => rx.drain_wait(max, t, &mut batch),
                None => rx.drain(max, &mut batch),
            }
        });
        let n = batch.len();
        let mut i = 0;
        while i < n {
            let first = batch[i].msg.topic.bind(py);
            let topic = first.to_str()?;
            let mut j = i + 1;
            while j < n {
                let t = batch[j].msg.topic.bind(py);
                // Events sent together share one topic object: compare identity first.
                if !(t.is(first) || t.to_str()? == topic) {
                    break;
                }
                j += 1;
            }
            let list = PyList::new(py, batch[i..j].iter().map(|e| e.msg.message.bind(py)))?;
            if let Some((tid, snap)) = self.begin(topic, list.iter())? {
                let _guard = DispatchGuard(self);
                let mut started = 0;
                if let Err(e) = self.deliver_list(py, tid, snap, &list, &mut started) {
                    // Drained events have left the queue: keep the undelivered ones.
                    let rest = batch[i + started..].iter().map(|e| {
                        let t = e.msg.topic.bind(py).to_str().unwrap_or("");
                        (t, e.msg.message.bind(py).clone())
                    });
                    self.requeue(rest);
                    return Err(e);
                }
            }
            i = j;
        }
        Ok(n)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // Never block the collector: skip if a dispatch holds the lock right now.
        let Ok(st) = self.state.try_lock() else {
            return Ok(());
        };
        for h in st.bus.handlers() {
            match &**h {
                HandlerKind::Call(f) | HandlerKind::Batch(f) => visit.call(f)?,
                HandlerKind::Native(_) => {}
            }
        }
        for (_, m) in &st.pending {
            visit.call(m)?;
        }
        Ok(())
    }

    fn __clear__(&self) {
        let (subs, pending) = {
            let mut st = self.lock();
            st.snapshots.clear();
            let pending = std::mem::take(&mut st.pending);
            let mut old = MessageBus::new();
            std::mem::swap(&mut old, &mut st.bus);
            (old, pending)
        };
        drop(subs);
        drop(pending);
    }
}

/// A message waiting in an ingest queue.
#[derive(Debug)]
pub(crate) struct QueuedMessage {
    pub(crate) topic: Py<PyString>,
    pub(crate) message: Py<PyAny>,
}

/// A bounded, thread-safe queue from feed threads to the engine thread.
#[pyclass(frozen, name = "IngestQueue", module = "pi5trading._core")]
#[derive(Debug)]
pub(crate) struct PyIngestQueue {
    sender: IngestSender<QueuedMessage>,
    receiver: Mutex<IngestReceiver<QueuedMessage>>,
    policy: Backpressure,
}

impl PyIngestQueue {
    /// Takes up to `max` events in `(ts_event, arrival)` order, waiting up to `timeout`
    /// for the first (`None`: no wait) without holding the GIL. What the engine's
    /// `step_queue` drains (the bus's `drain` publishes instead).
    pub(crate) fn take(
        &self,
        py: Python<'_>,
        max: usize,
        timeout: Option<Duration>,
        out: &mut Vec<Envelope<QueuedMessage>>,
    ) {
        py.detach(|| {
            let mut rx = self.lock_receiver();
            match timeout {
                Some(t) => rx.drain_wait(max, t, out),
                None => rx.drain(max, out),
            }
        });
    }

    fn lock_receiver(&self) -> MutexGuard<'_, IngestReceiver<QueuedMessage>> {
        self.receiver
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[pymethods]
impl PyIngestQueue {
    /// `policy` when full: `"block"` (sender waits, GIL released), `"drop_newest"`,
    /// `"drop_oldest"`. Events are released in `(ts_event, arrival)` order, holding back
    /// those within `reorder_window_ns` of the newest timestamp seen.
    #[new]
    /// ``late_ns``: events up to that much older than one already released are released
    /// at once, out of order (a live node's late bars), instead of dropped.
    #[pyo3(signature = (capacity = 65_536, policy = "block", reorder_window_ns = 0, late_ns = 0))]
    fn py_new(
        capacity: usize,
        policy: &str,
        reorder_window_ns: u64,
        late_ns: u64,
    ) -> PyResult<Self> {
        let policy: Backpressure = policy.parse()?;
        let (sender, mut receiver) = ingest_queue(capacity, policy, reorder_window_ns)?;
        receiver.accept_late(late_ns);
        Ok(Self {
            sender,
            receiver: Mutex::new(receiver),
            policy,
        })
    }

    /// Queues `message` for `topic`, stamped `ts_event`. Returns `"accepted"`,
    /// `"accepted_dropped_oldest"`, `"dropped_newest"` or `"closed"`.
    fn send(
        &self,
        py: Python<'_>,
        topic: Bound<'_, PyString>,
        ts_event: i128,
        message: Bound<'_, PyAny>,
    ) -> PyResult<&'static str> {
        crate::bus::validate_topic(topic.to_str()?)?;
        let ts_event = super::types::nanos_arg("ts_event", ts_event)?;
        let msg = QueuedMessage {
            topic: topic.unbind(),
            message: message.unbind(),
        };
        let outcome = if self.policy == Backpressure::Block {
            let sender = &self.sender;
            py.detach(move || sender.send(UnixNanos(ts_event), msg))
        } else {
            self.sender.send(UnixNanos(ts_event), msg)
        };
        Ok(match outcome {
            SendOutcome::Accepted => "accepted",
            SendOutcome::AcceptedDroppedOldest => "accepted_dropped_oldest",
            SendOutcome::DroppedNewest => "dropped_newest",
            SendOutcome::Closed => "closed",
        })
    }

    /// Queues `(ts_event, message)` pairs for `topic` under one lock (one GIL release
    /// under `block`); returns how many were queued.
    fn send_many(
        &self,
        py: Python<'_>,
        topic: Bound<'_, PyString>,
        events: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        crate::bus::validate_topic(topic.to_str()?)?;
        let mut batch = Vec::new();
        for item in events.try_iter()? {
            let (ts, message): (i128, Bound<'_, PyAny>) = item?.extract()?;
            batch.push((
                UnixNanos(super::types::nanos_arg("ts_event", ts)?),
                QueuedMessage {
                    topic: topic.clone().unbind(),
                    message: message.unbind(),
                },
            ));
        }
        let sender = &self.sender;
        Ok(if self.policy == Backpressure::Block {
            py.detach(move || sender.send_many(batch))
        } else {
            sender.send_many(batch)
        })
    }

    /// Wake the receiver waiting for events without sending one (it returns with
    /// nothing): a node's engine thread runs a command at once.
    fn wake(&self) {
        self.sender.wake();
    }

    /// Stops accepting events; blocked senders return `"closed"`; queued events can
    /// still be drained.
    fn close(&self) {
        self.sender.close();
    }

    #[getter]
    fn capacity(&self) -> usize {
        self.sender.capacity()
    }

    #[getter]
    fn policy(&self) -> &'static str {
        self.policy.name()
    }

    /// Events queued and not yet drained (including those held for reordering).
    fn __len__(&self) -> usize {
        // Never takes the receiver's lock: a drain may hold it while waiting.
        self.sender.len() + self.sender.buffered()
    }

    /// Counters: enqueued, delivered, dropped_newest, dropped_oldest, dropped_late,
    /// delivered_late, blocked, rejected_closed.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.sender.stats();
        let d = PyDict::new(py);
        d.set_item("enqueued", s.enqueued)?;
        d.set_item("delivered", s.delivered)?;
        d.set_item("dropped_newest", s.dropped_newest)?;
        d.set_item("dropped_oldest", s.dropped_oldest)?;
        d.set_item("dropped_late", s.dropped_late)?;
        d.set_item("delivered_late", s.delivered_late)?;
        d.set_item("blocked", s.blocked)?;
        d.set_item("rejected_closed", s.rejected_closed)?;
        Ok(d)
    }
}

/// Registers the bus classes.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBus>()?;
    m.add_class::<PyIngestQueue>()?;
    Ok(())
}
