//! A fixed-capacity ring buffer of raw values, allocated once at construction.

/// The last `capacity` raw inputs, oldest first. Pushing into a full window evicts
/// and returns the oldest value; no allocation after `new`.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    buf: Box<[i64]>,
    /// Index of the oldest element.
    head: usize,
    len: usize,
}

impl Window {
    pub(crate) fn new(capacity: usize) -> Self {
        debug_assert!(capacity > 0);
        Self {
            buf: vec![0; capacity].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    /// Append `x`; when the window was full, return the value that fell out.
    #[inline]
    pub(crate) fn push(&mut self, x: i64) -> Option<i64> {
        let cap = self.buf.len();
        if self.len < cap {
            let mut idx = self.head + self.len;
            if idx >= cap {
                idx -= cap;
            }
            self.buf[idx] = x;
            self.len += 1;
            None
        } else {
            let old = std::mem::replace(&mut self.buf[self.head], x);
            self.head += 1;
            if self.head == cap {
                self.head = 0;
            }
            Some(old)
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }

    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_oldest_first() {
        let mut w = Window::new(3);
        assert_eq!(w.push(1), None);
        assert_eq!(w.push(2), None);
        assert!(!w.is_full());
        assert_eq!(w.push(3), None);
        assert!(w.is_full());
        assert_eq!(w.push(4), Some(1));
        assert_eq!(w.push(5), Some(2));
        assert_eq!(w.push(6), Some(3));
        assert_eq!(w.push(7), Some(4));
        assert_eq!(w.len(), 3);
        w.clear();
        assert_eq!(w.len(), 0);
        assert_eq!(w.push(9), None);
    }
}
