//! Order-flow state: sliding-window rate limits, per-session counts and the duplicate guard.
//! Fixed-size rings, allocated when a limit is set; nothing allocates per order.

use super::config::FlowLimits;

/// Timestamps of the last `limit` accepted orders; an order is allowed while fewer than
/// `limit` of them lie within `window` nanoseconds before now.
#[derive(Debug, Clone, Default)]
pub struct RateWindow {
    ring: Box<[u64]>,
    /// Index of the oldest entry.
    head: usize,
    len: usize,
    window: u64,
}

impl RateWindow {
    #[must_use]
    pub fn new(limit: u32, window: u64) -> Self {
        Self {
            ring: vec![0; limit as usize].into_boxed_slice(),
            head: 0,
            len: 0,
            window,
        }
    }

    #[must_use]
    pub fn limit(&self) -> usize {
        self.ring.len()
    }

    /// Accepted orders within the window ending at `now` (inclusive of `now − window + 1`).
    #[must_use]
    pub fn count(&self, now: u64) -> usize {
        let from = now.saturating_sub(self.window);
        (0..self.len)
            .filter(|k| self.ring[(self.head + k) % self.ring.len()] > from)
            .count()
    }

    /// Whether one more order fits in the window at `now`.
    #[must_use]
    pub fn allows(&self, now: u64) -> bool {
        let cap = self.ring.len();
        if self.len < cap {
            return true;
        }
        if cap == 0 {
            return false;
        }
        // Full: the oldest of the last `cap` orders must have left the window.
        self.ring[self.head] <= now.saturating_sub(self.window)
    }

    /// Records an accepted order at `now`.
    pub fn record(&mut self, now: u64) {
        let cap = self.ring.len();
        if cap == 0 {
            return;
        }
        if self.len < cap {
            self.ring[(self.head + self.len) % cap] = now;
            self.len += 1;
        } else {
            self.ring[self.head] = now;
            self.head = (self.head + 1) % cap;
        }
    }
}

/// How many recent orders the duplicate guard remembers per scope.
pub const DUPLICATE_MEMORY: usize = 16;

/// Fingerprints of recently accepted orders.
#[derive(Debug, Clone, Copy, Default)]
pub struct DuplicateGuard {
    entries: [(u64, u64); DUPLICATE_MEMORY],
    next: usize,
}

impl DuplicateGuard {
    /// Whether `fingerprint` was accepted within `window` ns before `now`.
    #[must_use]
    pub fn seen(&self, fingerprint: u64, now: u64, window: u64) -> bool {
        let from = now.saturating_sub(window);
        self.entries
            .iter()
            .any(|&(f, t)| f == fingerprint && t > from && t != 0)
    }

    pub fn record(&mut self, fingerprint: u64, now: u64) {
        self.entries[self.next] = (fingerprint, now.max(1));
        self.next = (self.next + 1) % DUPLICATE_MEMORY;
    }
}

/// FNV-1a over the fields that make two orders "the same".
#[must_use]
pub fn fingerprint(instrument: &str, buy: bool, quantity: i64, price: i64, trigger: i64) -> u64 {
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    };
    for b in instrument.bytes() {
        eat(b);
    }
    eat(u8::from(buy));
    for v in [quantity, price, trigger] {
        for b in v.to_le_bytes() {
            eat(b);
        }
    }
    h
}

/// Flow state of one scope (the account or a strategy).
#[derive(Debug, Clone, Default)]
pub struct FlowState {
    pub per_second: Option<RateWindow>,
    pub per_minute: Option<RateWindow>,
    pub session_orders: u32,
    pub duplicates: DuplicateGuard,
}

impl FlowState {
    /// State sized for `limits`.
    #[must_use]
    pub fn new(limits: &FlowLimits) -> Self {
        let mut s = Self::default();
        s.resize(limits);
        s
    }

    /// Re-sizes the rate windows after a limit change (their history is kept when the
    /// limit is unchanged, dropped otherwise).
    pub fn resize(&mut self, limits: &FlowLimits) {
        let fit = |w: &mut Option<RateWindow>, limit: Option<u32>, window: u64| match limit {
            None => *w = None,
            Some(l) => {
                if w.as_ref().is_none_or(|r| r.limit() != l as usize) {
                    *w = Some(RateWindow::new(l, window));
                }
            }
        };
        fit(
            &mut self.per_second,
            limits.max_orders_per_second,
            1_000_000_000,
        );
        fit(
            &mut self.per_minute,
            limits.max_orders_per_minute,
            60_000_000_000,
        );
    }

    pub fn record(&mut self, now: u64, fingerprint: u64) {
        if let Some(w) = self.per_second.as_mut() {
            w.record(now);
        }
        if let Some(w) = self.per_minute.as_mut() {
            w.record(now);
        }
        self.session_orders = self.session_orders.saturating_add(1);
        self.duplicates.record(fingerprint, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn sliding_window_allows_limit_per_window() {
        let mut w = RateWindow::new(3, S);
        let t0 = 10 * S;
        for k in 0..3 {
            assert!(w.allows(t0 + k));
            w.record(t0 + k);
        }
        assert!(!w.allows(t0 + 3));
        assert_eq!(w.count(t0 + 3), 3);
        // The oldest (t0) leaves the window at t0 + 1 s.
        assert!(!w.allows(t0 + S - 1));
        assert!(w.allows(t0 + S));
        w.record(t0 + S);
        assert!(!w.allows(t0 + S));
        assert!(w.allows(t0 + S + 1));
        let zero = RateWindow::new(0, S);
        assert!(!zero.allows(t0));
    }

    #[test]
    fn duplicate_guard_remembers_within_window() {
        let mut g = DuplicateGuard::default();
        let f = fingerprint("AAPL", true, 10, 100, 0);
        assert_ne!(f, fingerprint("AAPL", false, 10, 100, 0));
        assert!(!g.seen(f, 5 * S, S));
        g.record(f, 5 * S);
        assert!(g.seen(f, 5 * S, S));
        assert!(g.seen(f, 6 * S - 1, S));
        assert!(!g.seen(f, 6 * S, S));
    }
}
